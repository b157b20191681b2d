"""Redact document fields (portrait, MRZ, barcode, signature, text) and save metadata-free copies.

:func:`redact` changes only the pixels inside the (dilated) class masks; every other pixel is left
exactly as it was. Each connected region of each class is handled on its own, so the blur radius
and pixel-block size scale with that region (a large portrait and a thin MRZ stripe are both made
unreadable). Blurring first averages the region over cells as large as the blur sigma (which
throws the detail away, so no deconvolution can bring it back), then smooths the cells.

:func:`save_redacted` writes a new file built from the pixels alone: no EXIF (so no GPS, camera or
orientation tags), no XMP, ICC profile, comments or PNG text chunks survive from the source.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal, TypeAlias

import cv2
import numpy as np
from PIL import Image

from idseg._text import did_you_mean
from idseg.documents.classes import CLASS_NAMES, FIELD_CLASSES
from idseg.errors import InputError
from idseg.io.atomic import atomic_path
from idseg.io.images import ImageSource, load_image

logger = logging.getLogger(__name__)

Mode: TypeAlias = Literal["blur", "pixelate", "fill"]
Masks: TypeAlias = Mapping[str, np.ndarray] | np.ndarray
"""Per-class boolean masks by class name, or an ``H x W`` integer map of class indices."""

MODES: tuple[str, ...] = ("blur", "pixelate", "fill")
DEFAULT_CLASSES: tuple[str, ...] = ("portrait", "mrz", "barcode", "signature")
#: Default strength per mode: blur sigma, or pixel-block side, as a fraction of a region's short side.
DEFAULT_STRENGTH: dict[str, float] = {"blur": 0.5, "pixelate": 0.34, "fill": 1.0}
#: Formats :func:`save_redacted` writes, by file suffix.
SAVE_FORMATS: dict[str, str] = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
}


def redact(
    image: np.ndarray,
    masks: Masks,
    classes: Sequence[str] | str = DEFAULT_CLASSES,
    mode: Mode = "fill",
    dilate_px: int = 2,
    fill_color: Sequence[int] = (0, 0, 0),
    strength: float | None = None,
) -> np.ndarray:
    """Return a copy of ``image`` with the chosen field classes made unreadable.

    Args:
        image: ``H x W x 3`` ``uint8`` RGB image.
        masks: ``{class name: H x W bool mask}`` (classes missing from the dict are skipped), or
            an ``H x W`` integer map of indices into :data:`~idseg.documents.classes.CLASS_NAMES`.
        classes: Field classes to redact, a sequence or a comma-separated string.
        mode: ``"fill"`` (solid ``fill_color``), ``"blur"`` or ``"pixelate"``.
        dilate_px: Grow every mask by this many pixels first (covers anti-aliased edges).
        fill_color: RGB colour of ``"fill"``.
        strength: Blur sigma (``"blur"``) or block side (``"pixelate"``) as a fraction in
            ``(0, 1]`` of each region's shorter bounding-box side; ``None`` for
            :data:`DEFAULT_STRENGTH`. Ignored by ``"fill"``.

    Returns:
        A new ``H x W x 3`` ``uint8`` array; pixels outside the dilated masks are unchanged.

    Raises:
        InputError: Wrong image, mask or label shape/dtype, unknown class or mode, bad option.

    Example:
        >>> img = np.full((8, 8, 3), 200, np.uint8)
        >>> mrz = np.zeros((8, 8), bool); mrz[6:, :] = True
        >>> out = redact(img, {"mrz": mrz}, mode="fill", dilate_px=0)
        >>> int(out[7, 0, 0]), int(out[0, 0, 0])
        (0, 200)
    """
    _check_image(image)
    names = check_classes(classes)
    if mode not in MODES:
        raise InputError(
            f"unknown mode {mode!r}{did_you_mean(str(mode), MODES)} Expected one of: "
            f"{', '.join(MODES)}"
        )
    dilate = _check_dilate(dilate_px)
    color = _check_color(fill_color)
    frac = _check_strength(strength, mode)
    out = image.copy()
    for name, mask in _class_masks(masks, names, image.shape[:2]).items():
        grown = _dilate(mask, dilate)
        if not grown.any():
            continue
        logger.debug("redacting %s: %d pixels, mode %s", name, int(grown.sum()), mode)
        if mode == "fill":
            out[grown] = color
        else:
            _redact_regions(out, grown, mode, frac)
    return out


def save_redacted(
    image: np.ndarray,
    path: str | os.PathLike[str],
    format: str | None = None,
    quality: int = 92,
) -> Path:
    """Write ``image`` to a new file built from its pixels only, atomically.

    The file is encoded from a fresh Pillow image, so nothing from any source file (EXIF with GPS
    or orientation, XMP, ICC profile, comments, PNG text chunks) can be carried over.

    Args:
        image: ``H x W x 3`` ``uint8`` RGB image.
        path: Destination; its parent folder is created if missing.
        format: ``JPEG``, ``PNG``, ``WEBP``, ``TIFF`` or ``BMP``; ``None`` picks it from the suffix.
        quality: JPEG/WebP quality, 1 to 95.

    Returns:
        The destination path.

    Raises:
        InputError: Wrong image, unknown format or suffix, quality out of range.

    Example:
        >>> save_redacted(redacted, "out/id_redacted.jpg")  # doctest: +SKIP
        PosixPath('out/id_redacted.jpg')
    """
    _check_image(image)
    dest = Path(path)
    fmt = _resolve_format(dest, format)
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 95:
        raise InputError(f"quality must be an integer from 1 to 95, got {quality!r}")
    fresh = Image.fromarray(np.ascontiguousarray(image), "RGB")
    options: dict[str, object] = {}
    if fmt in ("JPEG", "WEBP"):
        options["quality"] = quality
    with atomic_path(dest) as tmp:
        fresh.save(tmp, format=fmt, **options)
    logger.debug("wrote a redacted %s image", fmt)
    return dest


def redact_file(
    src: ImageSource,
    dst: str | os.PathLike[str],
    masks: Masks,
    classes: Sequence[str] | str = DEFAULT_CLASSES,
    mode: Mode = "fill",
    *,
    dilate_px: int = 2,
    fill_color: Sequence[int] = (0, 0, 0),
    strength: float | None = None,
    quality: int = 92,
) -> Path:
    """Load ``src`` upright, redact it and save a metadata-free copy to ``dst``.

    The EXIF orientation is applied on load (:func:`~idseg.io.images.load_image`), so ``masks``
    must match the upright image, and the copy is upright with no orientation tag.

    Args:
        src: Anything :func:`~idseg.io.images.load_image` accepts.
        dst: Destination path; the format comes from its suffix.
        masks: As in :func:`redact`.
        classes: As in :func:`redact`.
        mode: As in :func:`redact`.
        dilate_px: As in :func:`redact`.
        fill_color: As in :func:`redact`.
        strength: As in :func:`redact`.
        quality: As in :func:`save_redacted`.

    Returns:
        The destination path.

    Example:
        >>> redact_file("id.jpg", "id_redacted.jpg", labels, mode="blur")  # doctest: +SKIP
        PosixPath('id_redacted.jpg')
    """
    image = load_image(src)
    out = redact(image, masks, classes, mode, dilate_px, fill_color, strength)
    return save_redacted(out, dst, quality=quality)


def _check_image(image: object) -> None:
    if not isinstance(image, np.ndarray):
        raise InputError(f"image must be a numpy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError(
            f"image must be an H x W x 3 uint8 RGB array, got shape {image.shape} {image.dtype}"
        )


def check_classes(classes: Sequence[str] | str) -> list[str]:
    """Field class names from a sequence or a comma-separated string, checked, de-duplicated.

    Raises:
        InputError: No name, or a name that is not a field class.

    Example:
        >>> check_classes("mrz, portrait,mrz")
        ['mrz', 'portrait']
    """
    names = [c.strip() for c in classes.split(",")] if isinstance(classes, str) else list(classes)
    if not names:
        raise InputError(f"classes must name at least one of: {', '.join(FIELD_CLASSES)}")
    for name in names:
        if name not in FIELD_CLASSES:
            raise InputError(
                f"unknown class {name!r}{did_you_mean(str(name), FIELD_CLASSES)} "
                f"Expected one of: {', '.join(FIELD_CLASSES)}"
            )
    return list(dict.fromkeys(names))


def _resolve_format(dest: Path, format: str | None) -> str:
    if format is None:
        fmt = SAVE_FORMATS.get(dest.suffix.lower())
        if fmt is None:
            raise InputError(
                f"cannot tell the image format from suffix {dest.suffix!r}; expected one of: "
                f"{', '.join(SAVE_FORMATS)}, or pass format="
            )
        return fmt
    fmt = str(format).upper().replace("JPG", "JPEG")
    known = sorted(set(SAVE_FORMATS.values()))
    if fmt not in known:
        raise InputError(
            f"unknown format {format!r}{did_you_mean(fmt, known)} Expected one of: {', '.join(known)}"
        )
    return fmt


def _check_dilate(dilate_px: int) -> int:
    if isinstance(dilate_px, bool) or not isinstance(dilate_px, int) or dilate_px < 0:
        raise InputError(f"dilate_px must be an integer >= 0, got {dilate_px!r}")
    return dilate_px


def _check_color(color: Sequence[int]) -> tuple[int, int, int]:
    vals = tuple(color) if isinstance(color, (tuple, list, np.ndarray)) else ()
    ok = len(vals) == 3 and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 0 <= v <= 255 for v in vals
    )
    if not ok:
        raise InputError(f"fill_color must be three integers from 0 to 255, got {color!r}")
    return int(vals[0]), int(vals[1]), int(vals[2])


def _check_strength(strength: float | None, mode: str) -> float:
    if strength is None:
        return DEFAULT_STRENGTH[mode]
    if isinstance(strength, bool) or not isinstance(strength, (int, float)):
        raise InputError(f"strength must be a number in (0, 1], got {strength!r}")
    if not 0 < strength <= 1:
        raise InputError(f"strength must be in (0, 1], got {strength!r}")
    return float(strength)


def _class_masks(masks: Masks, names: list[str], shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    if isinstance(masks, np.ndarray):
        labels = _check_labels(masks, shape)
        return {name: labels == CLASS_NAMES.index(name) for name in names}
    if not isinstance(masks, Mapping):
        raise InputError(
            f"masks must be a dict of class name to H x W bool mask or an H x W integer class "
            f"map, got {type(masks).__name__}"
        )
    for key in masks:
        if key not in CLASS_NAMES:
            raise InputError(
                f"unknown class {key!r} in masks{did_you_mean(str(key), CLASS_NAMES)} "
                f"Expected one of: {', '.join(CLASS_NAMES)}"
            )
    return {name: _check_mask(masks[name], name, shape) for name in names if name in masks}


def _check_mask(mask: object, name: str, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(mask)
    if arr.shape != tuple(shape) or not (arr.dtype == bool or np.issubdtype(arr.dtype, np.integer)):
        raise InputError(
            f"mask {name!r} must be an H x W bool array of shape {tuple(shape)}, "
            f"got shape {arr.shape} {arr.dtype}"
        )
    return arr if arr.dtype == bool else arr != 0


def _check_labels(labels: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if labels.shape != tuple(shape) or not np.issubdtype(labels.dtype, np.integer):
        raise InputError(
            f"class map must be an H x W integer array of shape {tuple(shape)}, "
            f"got shape {labels.shape} {labels.dtype}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= len(CLASS_NAMES)):
        raise InputError(
            f"class map values must be class indices 0 to {len(CLASS_NAMES) - 1}, "
            f"got {int(labels.min())} to {int(labels.max())}"
        )
    return labels


def _dilate(mask: np.ndarray, px: int) -> np.ndarray:
    if px == 0 or not mask.any():
        return mask
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)


def _redact_regions(out: np.ndarray, mask: np.ndarray, mode: str, frac: float) -> None:
    count, comp, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    for i in range(1, count):
        x, y, w, h = (int(v) for v in stats[i, :4])
        size = max(1, round(frac * min(w, h)))
        if mode == "blur":
            _blur_region(out, comp, i, (x, y, w, h), size)
        else:
            _pixelate_region(out, comp[y : y + h, x : x + w] == i, x, y, size)


def _blur_region(
    out: np.ndarray, comp: np.ndarray, index: int, box: tuple[int, int, int, int], sigma: int
) -> None:
    """Average over ``sigma``-sized cells, then Gaussian-smooth; write back inside ``region``."""
    x, y, w, h = box
    pad = 3 * sigma
    x0, y0 = max(0, x - pad), max(0, y - pad)
    x1, y1 = min(out.shape[1], x + w + pad), min(out.shape[0], y + h + pad)
    crop = out[y0:y1, x0:x1]
    ch, cw = crop.shape[:2]
    cells = cv2.resize(
        crop,
        (max(1, math.ceil(cw / sigma)), max(1, math.ceil(ch / sigma))),
        interpolation=cv2.INTER_AREA,
    )
    smooth = cv2.resize(cells, (cw, ch), interpolation=cv2.INTER_LINEAR)
    smooth = cv2.GaussianBlur(smooth, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT_101)
    sub = comp[y0:y1, x0:x1] == index
    crop[sub] = smooth[sub]


def _pixelate_region(out: np.ndarray, sub: np.ndarray, x: int, y: int, block: int) -> None:
    """Replace each ``block``-square cell of the region by the mean of its masked pixels."""
    h, w = sub.shape
    crop = out[y : y + h, x : x + w]
    nh, nw = math.ceil(h / block), math.ceil(w / block)
    pad = ((0, nh * block - h), (0, nw * block - w))
    weight = np.pad(sub, pad).astype(np.float64).reshape(nh, block, nw, block)
    pixels = np.pad(crop.astype(np.float64), (*pad, (0, 0))).reshape(nh, block, nw, block, 3)
    total = (pixels * weight[..., None]).sum(axis=(1, 3))
    means = total / np.maximum(weight.sum(axis=(1, 3)), 1)[..., None]
    cells = np.rint(means).astype(np.uint8)
    full = np.repeat(np.repeat(cells, block, axis=0), block, axis=1)[:h, :w]
    crop[sub] = full[sub]
