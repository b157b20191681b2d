"""U-Net checkpoints of ``idseg train unet``: letterboxing, loading and prediction.

Images reach the model *letterboxed*: scaled (aspect ratio kept) so the longer side is ``size``,
centred on a ``size x size`` canvas filled with :data:`PAD_VALUE`. Pixel centres follow the usual
convention (pixel ``(0, 0)`` covers ``[0, 1) x [0, 1)``), so the resized image, the mask resized
with nearest-exact sampling and the un-letterboxed logits line up to the sub-pixel.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from idseg.errors import CheckpointError, InputError
from idseg.models.unet import UNet, UNetConfig

logger = logging.getLogger(__name__)

__all__ = [
    "PAD_VALUE",
    "Letterbox",
    "UNetInfo",
    "letterbox",
    "letterbox_image",
    "load_unet",
    "predict_mask",
    "predict_proba",
]

#: RGB fill of the letterbox canvas (about the ImageNet mean, so it normalises to about 0).
PAD_VALUE: tuple[int, int, int] = (124, 116, 104)


@dataclass(frozen=True)
class Letterbox:
    """Where an ``height x width`` image lies on the ``size x size`` canvas.

    Attributes:
        height: Source height.
        width: Source width.
        size: Canvas side.
        new_height: Height of the resized image on the canvas.
        new_width: Width of the resized image on the canvas.
        top: First canvas row of the image.
        left: First canvas column of the image.

    Example:
        >>> letterbox(480, 640, 256)
        Letterbox(height=480, width=640, size=256, new_height=192, new_width=256, top=32, left=0)
    """

    height: int
    width: int
    size: int
    new_height: int
    new_width: int
    top: int
    left: int

    @property
    def window(self) -> tuple[slice, slice]:
        """Row and column slices of the image on the canvas."""
        return (
            slice(self.top, self.top + self.new_height),
            slice(self.left, self.left + self.new_width),
        )


def letterbox(height: int, width: int, size: int) -> Letterbox:
    """Geometry of the letterbox of an ``height x width`` image on a ``size`` square.

    Raises:
        InputError: A non-positive dimension.

    Example:
        >>> letterbox(100, 50, 64).window
        (slice(0, 64, None), slice(16, 48, None))
    """
    if min(height, width, size) < 1:
        raise InputError(
            f"expected positive image and canvas sizes, got {height}x{width} on {size}"
        )
    scale = size / max(height, width)
    new_h = min(size, max(1, round(height * scale)))
    new_w = min(size, max(1, round(width * scale)))
    return Letterbox(height, width, size, new_h, new_w, (size - new_h) // 2, (size - new_w) // 2)


def letterbox_image(image: np.ndarray, size: int) -> tuple[np.ndarray, Letterbox]:
    """Resize ``image`` (``H x W x 3`` uint8 RGB) onto a ``size x size`` canvas.

    Downscaling uses area averaging, upscaling bilinear interpolation.

    Example:
        >>> canvas, box = letterbox_image(np.zeros((30, 60, 3), np.uint8), 32)
        >>> canvas.shape, box.window
        ((32, 32, 3), (slice(8, 24, None), slice(0, 32, None)))
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError(f"expected an H x W x 3 uint8 RGB image, got {image.dtype} {image.shape}")
    box = letterbox(image.shape[0], image.shape[1], size)
    canvas = place_on_canvas(
        image, (box.new_height, box.new_width), (size, size), (box.top, box.left)
    )
    return canvas, box


def place_on_canvas(
    image: np.ndarray,
    new_hw: tuple[int, int],
    canvas_hw: tuple[int, int],
    top_left: tuple[int, int] = (0, 0),
) -> np.ndarray:
    """Resize ``image`` to ``new_hw`` and put it on a :data:`PAD_VALUE` canvas at ``top_left``.

    Downscaling uses area averaging, upscaling bilinear interpolation.

    Example:
        >>> place_on_canvas(np.zeros((4, 6, 3), np.uint8), (2, 3), (4, 4), (1, 0))[:, :, 0].tolist()
        [[124, 124, 124, 124], [0, 0, 0, 124], [0, 0, 0, 124], [124, 124, 124, 124]]
    """
    new_h, new_w = new_hw
    shrink = new_h < image.shape[0]
    resized = cv2.resize(
        image, (new_w, new_h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    )
    canvas = np.empty((*canvas_hw, 3), np.uint8)
    canvas[:] = PAD_VALUE
    top, left = top_left
    canvas[top : top + new_h, left : left + new_w] = resized
    return canvas


@dataclass(frozen=True)
class UNetInfo:
    """What a U-Net checkpoint says about its model.

    Attributes:
        architecture: The model's :class:`~idseg.models.unet.UNetConfig`.
        classes: Class names by output class value (two names for a binary model).
        binary: Whether the model has one sigmoid channel (class 1 where it is above 0.5).
        size: Side of the letterboxed input it was trained on.
        epoch: Epochs trained.
        metrics: Validation metrics of that epoch.
        config: The full resolved training configuration.

    Example:
        >>> UNetInfo(UNetConfig(widths=(4, 8)), ("bg", "doc"), True, 64).num_classes
        2
    """

    architecture: UNetConfig
    classes: tuple[str, ...]
    binary: bool
    size: int
    epoch: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        """Number of classes in the predicted class map."""
        return len(self.classes)


def load_unet(path: str | Path, device: str | torch.device = "cpu") -> tuple[UNet, UNetInfo]:
    """Load a checkpoint of ``idseg train unet`` (``last.pt`` or ``best.pt``) for inference.

    The file is read with ``torch.load(weights_only=True)``; weights must match the recorded
    architecture key for key and shape.

    Args:
        path: The checkpoint.
        device: Where to put the model.

    Returns:
        The model in eval mode (channels-last memory format) and its :class:`UNetInfo`.

    Raises:
        CheckpointError: Missing or unreadable file, not a U-Net checkpoint, or keys/shapes that
            do not match (the message names them).

    Example:
        >>> model, info = load_unet("runs/doc/best.pt")  # doctest: +SKIP
        >>> info.classes, info.size  # doctest: +SKIP
        (('background', 'document'), 256)
    """
    from idseg.models.checkpoints import load_state_dict_strict

    file = Path(path)
    if not file.is_file():
        raise CheckpointError(f"U-Net checkpoint not found: {str(file)!r}")
    try:
        ckpt = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError, EOFError, ...
        raise CheckpointError(
            f"cannot read {file.name!r} as a weights-only PyTorch file: {exc}"
        ) from exc
    info = _info(ckpt, file.name)
    model = UNet(info.architecture)
    load_state_dict_strict(model, ckpt["model"], file.name)
    model = model.to(device).to(memory_format=torch.channels_last).eval()
    return model, info


def _info(ckpt: Any, name: str) -> UNetInfo:
    try:
        config = ckpt["config"]
        resolved = config["resolved"]
        arch = UNetConfig.from_dict(resolved["unet"])
        classes = tuple(str(c) for c in config["class_names"])
        binary = bool(config["train"].get("binary", False))
        size = int(config["image_size"])
        if not isinstance(ckpt["model"], dict):
            raise TypeError("'model' is not a state dict")
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"{name!r} is not a U-Net checkpoint of idseg train unet: expected 'model' and "
            f"'config' with class_names, image_size and resolved.unet ({type(exc).__name__}: {exc})"
        ) from exc
    if arch.num_classes != (1 if binary else len(classes)) or (binary and len(classes) != 2):
        raise CheckpointError(
            f"{name!r}: the model has {arch.num_classes} output channel(s) but the config lists "
            f"{len(classes)} classes (binary={binary})"
        )
    epoch = int(ckpt.get("epoch", 0))
    return UNetInfo(arch, classes, binary, size, epoch, dict(ckpt.get("metrics") or {}), config)


@torch.no_grad()
def predict_proba(model: UNet, image: np.ndarray, size: int) -> np.ndarray:
    """Class probabilities at the image's resolution.

    The image is letterboxed to ``size``, the logits inside the letterbox window are resized
    bilinearly to ``H x W``, then softmax (sigmoid for a binary model) is applied.

    Args:
        model: A U-Net (its device is used; eval mode is expected).
        image: ``H x W x 3`` uint8 RGB.
        size: The letterbox side (the checkpoint's :attr:`UNetInfo.size`).

    Returns:
        ``C x H x W`` float32 probabilities summing to 1 per pixel; a binary model gives
        ``C = 2`` (background, foreground).

    Example:
        >>> model = UNet(UNetConfig(widths=(4, 8), num_classes=3)).eval()
        >>> predict_proba(model, np.zeros((20, 30, 3), np.uint8), 16).shape
        (3, 20, 30)
    """
    canvas, box = letterbox_image(image, size)
    device = next(model.parameters()).device
    x = torch.from_numpy(canvas).to(device).permute(2, 0, 1)[None].float().div_(255.0)
    logits = model(x.contiguous(memory_format=torch.channels_last))
    rows, cols = box.window
    logits = F.interpolate(
        logits[..., rows, cols].float(),
        size=(box.height, box.width),
        mode="bilinear",
        align_corners=False,
    )[0]
    if logits.shape[0] == 1:
        fg = torch.sigmoid(logits[0])
        probs = torch.stack([1.0 - fg, fg])
    else:
        probs = torch.softmax(logits, dim=0)
    return probs.cpu().numpy().astype(np.float32, copy=False)


def predict_mask(model: UNet, image: np.ndarray, size: int) -> np.ndarray:
    """Class map (``H x W`` uint8 class values) at the image's resolution.

    The arg-max of :func:`predict_proba` (a binary model: foreground where its probability is
    above 0.5).

    Example:
        >>> model = UNet(UNetConfig(widths=(4, 8), num_classes=1)).eval()
        >>> predict_mask(model, np.zeros((20, 30, 3), np.uint8), 16).shape
        (20, 30)
    """
    probs = predict_proba(model, image, size)
    if probs.shape[0] == 2:
        return (probs[1] > 0.5).astype(np.uint8)
    return probs.argmax(axis=0).astype(np.uint8)


def slim_checkpoint(src: str | Path, dst: str | Path) -> Path:
    """Copy a training checkpoint without its optimiser state (what idseg ships and deploys).

    Keeps ``model``, ``config``, ``epoch`` and ``metrics``; the result loads with
    :func:`load_unet`. Written atomically.

    Raises:
        CheckpointError: ``src`` is not a U-Net checkpoint.

    Example:
        >>> slim_checkpoint("runs/doc/best.pt", "doc_localizer.pt")  # doctest: +SKIP
        PosixPath('doc_localizer.pt')
    """
    from idseg.io.atomic import atomic_path

    file = Path(src)
    try:
        ckpt = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError, EOFError, ...
        raise CheckpointError(f"cannot read {file.name!r} as a weights-only file: {exc}") from exc
    _info(ckpt, file.name)  # validates
    slim = {k: ckpt[k] for k in ("model", "config", "epoch", "metrics") if k in ckpt}
    slim["model"] = {k: v.contiguous() for k, v in slim["model"].items()}
    with atomic_path(dst) as tmp:
        torch.save(slim, tmp)
    return Path(dst)
