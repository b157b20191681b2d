"""Training augmentation that keeps an image and its class mask aligned.

Geometry is one random homography per sample (rotation, scale, translation, a little
perspective, optional flips and quarter turns) applied to the image with bilinear and to the
mask with nearest sampling, so every mask pixel keeps its image pixel. Pixels that come from
outside the source get :data:`~idseg.models.unet_io.PAD_VALUE` in the image and the ignore
value in the mask: they count for nothing in the loss and the metrics. Photometric changes
(brightness, contrast, saturation, hue, blur, noise, JPEG) touch the image only.

Flips are off by default: a mirrored document shows mirrored text and a mirrored layout (the
portrait on the wrong side), which is still right for *segmentation* (the masks flip too) but
teaches layouts that real documents never have. Turn them on with ``hflip``/``vflip`` (a
probability, or ``true`` for 0.5, as in the original wrapper's ``{"hflip": true}``).

All randomness comes from the ``numpy.random.Generator`` passed in, so a sample's augmentation
depends only on the seed the dataset derives for it (seed, epoch, index), never on workers.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import cv2
import numpy as np

from idseg._text import did_you_mean
from idseg.errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["AugmentConfig", "augment_pair", "photometric", "random_homography"]


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation strengths (0 turns an effect off).

    Attributes:
        enabled: Master switch (``False``: letterbox only).
        hflip: Probability of a horizontal flip.
        vflip: Probability of a vertical flip.
        rotate90: Probability of a quarter turn (90, 180 or 270 degrees, equally likely).
        rotate: Largest rotation, degrees either way.
        scale: Range of the zoom factor (log-uniform).
        translate: Largest shift as a fraction of the side.
        perspective: Largest corner jitter as a fraction of the side.
        brightness: Largest brightness change (fraction of 255).
        contrast: Largest contrast change (factor ``1 +- contrast``).
        saturation: Largest saturation change (factor ``1 +- saturation``).
        hue: Largest hue shift in degrees.
        blur: Probability of a Gaussian blur (sigma 0.5 to 1.5 px).
        noise: Probability of Gaussian noise (sigma 2 to 8 grey levels).
        jpeg: Probability of a JPEG round trip (quality 40 to 90).

    Example:
        >>> AugmentConfig.from_dict({"hflip": True, "rotate": 10}).hflip
        0.5
    """

    enabled: bool = True
    hflip: float = 0.0
    vflip: float = 0.0
    rotate90: float = 0.0
    rotate: float = 10.0
    scale: tuple[float, float] = (0.75, 1.25)
    translate: float = 0.05
    perspective: float = 0.03
    brightness: float = 0.15
    contrast: float = 0.2
    saturation: float = 0.2
    hue: float = 5.0
    blur: float = 0.2
    noise: float = 0.2
    jpeg: float = 0.2

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | bool | None) -> AugmentConfig:
        """Read a config's ``augmentation`` value (a mapping, or ``false`` to switch it off).

        ``true`` for a flip means probability 0.5; a number for ``scale`` means ``1 +- x``.

        Raises:
            ConfigError: Unknown key or bad value.

        Example:
            >>> AugmentConfig.from_dict(False).enabled, AugmentConfig.from_dict({"scale": 0.1}).scale
            (False, (0.9, 1.1))
        """
        if data is None or data is True:
            return cls()
        if data is False:
            return cls(enabled=False)
        if not isinstance(data, Mapping):
            raise ConfigError(f"augmentation must be a mapping or a boolean, got {data!r}")
        names = [f.name for f in fields(cls)]
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key not in names:
                raise ConfigError(
                    f"augmentation: unknown key {key!r}{did_you_mean(key, names)} (expected some of {', '.join(names)})"
                )
            values[key] = _value(key, value)
        return replace(cls(), **values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping that :meth:`from_dict` reads back."""
        data = asdict(self)
        data["scale"] = list(self.scale)
        return data


def _value(key: str, value: Any) -> Any:
    if key == "enabled":
        if not isinstance(value, bool):
            raise ConfigError(f"augmentation.enabled must be true or false, got {value!r}")
        return value
    if key in ("hflip", "vflip", "rotate90") and isinstance(value, bool):
        return 0.5 if value else 0.0
    if key == "scale":
        pair = (
            (1 - float(value), 1 + float(value)) if isinstance(value, int | float) else tuple(value)
        )
        if len(pair) != 2 or not 0 < float(pair[0]) <= float(pair[1]):
            raise ConfigError(
                f"augmentation.scale must be x or [low, high] with 0 < low <= high, got {value!r}"
            )
        return (float(pair[0]), float(pair[1]))
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"augmentation.{key} must be a non-negative number, got {value!r}")
    if key in ("hflip", "vflip", "rotate90", "blur", "noise", "jpeg") and value > 1:
        raise ConfigError(f"augmentation.{key} is a probability (0 to 1), got {value!r}")
    return float(value)


def random_homography(rng: np.random.Generator, size: int, cfg: AugmentConfig) -> np.ndarray:
    """A random 3x3 homography of the ``size x size`` canvas onto itself, about its centre.

    Example:
        >>> off = AugmentConfig(enabled=False)
        >>> np.allclose(random_homography(np.random.default_rng(0), 64, off), np.eye(3))
        True
    """
    if not cfg.enabled:
        return np.eye(3)
    c = (size - 1) / 2.0
    to_origin = np.array([[1, 0, -c], [0, 1, -c], [0, 0, 1]], np.float64)
    flip = np.diag(
        [-1.0 if rng.random() < cfg.hflip else 1.0, -1.0 if rng.random() < cfg.vflip else 1.0, 1.0]
    )
    quarter = int(rng.integers(1, 4)) if rng.random() < cfg.rotate90 else 0
    angle = math.radians(90 * quarter + rng.uniform(-cfg.rotate, cfg.rotate))
    zoom = math.exp(rng.uniform(math.log(cfg.scale[0]), math.log(cfg.scale[1])))
    cos, sin = math.cos(angle) * zoom, math.sin(angle) * zoom
    rot = np.array([[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]], np.float64)
    shift = rng.uniform(-cfg.translate, cfg.translate, 2) * size
    back = np.array([[1, 0, c + shift[0]], [0, 1, c + shift[1]], [0, 0, 1]], np.float64)
    h = back @ rot @ flip @ to_origin
    if cfg.perspective > 0:
        corners = np.array([[0, 0], [size, 0], [size, size], [0, size]], np.float32)
        jitter = rng.uniform(-cfg.perspective, cfg.perspective, (4, 2)) * size
        h = cv2.getPerspectiveTransform(corners, (corners + jitter).astype(np.float32)) @ h
    return h / h[2, 2]


def augment_pair(
    image: np.ndarray,
    mask: np.ndarray,
    rng: np.random.Generator,
    cfg: AugmentConfig,
    pad_value: tuple[int, int, int],
    ignore_index: int = 255,
) -> tuple[np.ndarray, np.ndarray]:
    """Warp a square image and its mask by one random homography, then change the image's colours.

    Args:
        image: ``S x S x 3`` uint8 RGB.
        mask: ``S x S`` uint8 class values.
        rng: Source of randomness.
        cfg: Strengths.
        pad_value: Image colour of pixels from outside the source.
        ignore_index: Mask value of pixels from outside the source.

    Returns:
        The new image and mask, the same shapes and types.

    Example:
        >>> img, m = np.zeros((8, 8, 3), np.uint8), np.ones((8, 8), np.uint8)
        >>> out, out_mask = augment_pair(img, m, np.random.default_rng(0), AugmentConfig(), (0, 0, 0))
        >>> out.shape, out_mask.shape, set(np.unique(out_mask)) <= {1, 255}
        ((8, 8, 3), (8, 8), True)
    """
    if not cfg.enabled:
        return image, mask
    size = image.shape[0]
    h = random_homography(rng, size, cfg)
    warped = cv2.warpPerspective(
        image,
        h,
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=pad_value,
    )
    warped_mask = cv2.warpPerspective(
        mask,
        h,
        (size, size),
        flags=cv2.INTER_NEAREST,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=ignore_index,
    )
    return photometric(warped, rng, cfg), warped_mask


def photometric(image: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Random brightness, contrast, saturation, hue, blur, noise and JPEG (image only).

    Example:
        >>> img = np.full((4, 4, 3), 128, np.uint8)
        >>> photometric(img, np.random.default_rng(0), AugmentConfig(enabled=False)) is img
        True
    """
    if not cfg.enabled:
        return image
    out = image.astype(np.float32)
    if cfg.saturation or cfg.hue:
        hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV_FULL).astype(np.float32)
        hsv[..., 0] = (hsv[..., 0] + rng.uniform(-cfg.hue, cfg.hue) * 256 / 360) % 256
        hsv[..., 1] *= 1 + rng.uniform(-cfg.saturation, cfg.saturation)
        hsv = np.clip(hsv, 0, 255).astype(np.uint8)
        out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL).astype(np.float32)
    gain = 1 + rng.uniform(-cfg.contrast, cfg.contrast)
    bias = rng.uniform(-cfg.brightness, cfg.brightness) * 255
    out = (out - out.mean()) * gain + out.mean() + bias
    if rng.random() < cfg.blur:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 1.5))
    if rng.random() < cfg.noise:
        out = out + rng.normal(0, rng.uniform(2, 8), out.shape).astype(np.float32)
    result = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < cfg.jpeg:
        quality = int(rng.integers(40, 91))
        ok, data = cv2.imencode(".jpg", result[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        decoded = cv2.imdecode(data, cv2.IMREAD_COLOR) if ok else None
        if decoded is not None:
            result = np.ascontiguousarray(decoded[..., ::-1])
    return result
