"""File writers: binary masks and label maps as PNG, any JSON-ready object as JSON.

Every file is written atomically (see :mod:`idseg.io.atomic`): a failed or interrupted write
leaves the previous file, or nothing, and no temporary file. :mod:`idseg.formats` re-exports
:func:`save_mask_png`, :func:`save_mask_pngs`, :func:`save_label_png` and :func:`write_json`,
and shares the mask checks ``_mask_2d`` and ``_masks_3d``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from idseg.errors import InputError
from idseg.io.atomic import atomic_path, atomic_write_json

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]


def _mask_2d(mask: np.ndarray, name: str = "mask") -> np.ndarray:
    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise InputError(f"{name} must be a 2-D H x W array, got shape {arr.shape}")
    return arr if arr.dtype == bool else arr != 0


def _masks_3d(masks: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    arr = np.asarray(masks)
    if arr.ndim != 3:
        raise InputError(f"masks must be an N x H x W array, got shape {arr.shape}")
    return arr if arr.dtype == bool else arr != 0


def _write_png(image: np.ndarray, path: PathLike) -> Path:
    dest = Path(path)
    if dest.suffix.lower() != ".png":
        raise InputError(f"a PNG path must end with .png, got suffix {dest.suffix!r}")
    with atomic_path(dest) as tmp:
        ok, buf = cv2.imencode(".png", np.ascontiguousarray(image))
        if not ok:
            raise OSError(f"OpenCV could not encode a PNG of shape {image.shape}")
        tmp.write_bytes(buf.tobytes())
    logger.debug("wrote %s", dest)
    return dest


def save_mask_png(mask: np.ndarray, path: PathLike) -> Path:
    """Write a mask as a single-channel 8-bit PNG (0 background, 255 foreground), atomically.

    Example:
        >>> save_mask_png(segments[0].mask, "out/mask_000.png")  # doctest: +SKIP
        PosixPath('out/mask_000.png')

    """
    return _write_png(_mask_2d(mask).astype(np.uint8) * 255, path)


def save_mask_pngs(
    masks: np.ndarray | Sequence[np.ndarray], folder: PathLike, prefix: str = "mask"
) -> list[Path]:
    """Write ``N x H x W`` masks as ``{prefix}_{i:03d}.png`` files in ``folder``.

    Example:
        >>> save_mask_pngs(segments.masks, "out")[:1]  # doctest: +SKIP
        [PosixPath('out/mask_000.png')]

    """
    if not prefix or any(sep in prefix for sep in ("/", "\\", "\0")) or prefix in {".", ".."}:
        raise InputError(f"prefix must be a plain file-name part, got {prefix!r}")
    arr = _masks_3d(masks)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return [save_mask_png(m, folder / f"{prefix}_{i:03d}.png") for i, m in enumerate(arr)]


def save_rgb_png(image: np.ndarray, path: PathLike) -> Path:
    """Write an ``H x W x 3`` uint8 RGB image (a crop, an overlay) as PNG, atomically.

    Example:
        >>> save_rgb_png(overlay, "out/overlay.png")  # doctest: +SKIP
        PosixPath('out/overlay.png')
    """
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise InputError(
            f"image must be H x W x 3 uint8 RGB, got shape {arr.shape} dtype {arr.dtype}"
        )
    return _write_png(arr[:, :, ::-1], path)


def save_label_png(label_map: np.ndarray, path: PathLike) -> Path:
    """Write a class-index map as a PNG: 8-bit for values up to 255, else 16-bit.

    ``uint8`` and ``uint16`` maps keep their depth; other integer types are narrowed when their
    values fit in ``[0, 65535]``.

    Example:
        >>> save_label_png(labels.astype(np.uint8), "out/labels.png")  # doctest: +SKIP
        PosixPath('out/labels.png')

    """
    arr = np.asarray(label_map)
    if arr.ndim != 2 or not (arr.dtype == bool or np.issubdtype(arr.dtype, np.integer)):
        raise InputError(
            f"label_map must be a 2-D integer array, got shape {arr.shape} dtype {arr.dtype}"
        )
    if arr.dtype not in (np.uint8, np.uint16):
        low, high = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
        if low < 0 or high > 65535:
            raise InputError(f"label values must lie in [0, 65535], got [{low}, {high}]")
        arr = arr.astype(np.uint8 if high <= 255 else np.uint16)
    return _write_png(arr, path)


def write_json(obj: Any, path: PathLike) -> Path:
    """Write ``obj`` as indented UTF-8 JSON, atomically.

    Example:
        >>> write_json(segments.to_coco(), "out/coco.json")  # doctest: +SKIP
        PosixPath('out/coco.json')

    """
    return atomic_write_json(path, obj)


__all__ = [
    "PathLike",
    "save_label_png",
    "save_mask_png",
    "save_mask_pngs",
    "save_rgb_png",
    "write_json",
]
