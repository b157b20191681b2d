"""Pixel normalisation: PIL images and numpy arrays to ``H x W x 3`` C-contiguous ``uint8`` RGB.

:func:`idseg.io.images.load_image` decodes and checks its input, then hands the pixels to
:func:`pil_to_rgb` or :func:`array_to_rgb`. The rules, all deterministic:

* 16-bit samples are scaled by ``255 / 65535`` with rounding, never clipped.
* Pillow mode ``I`` (32-bit integer) is read as 16-bit when all values lie in ``0..65535``, else
  the int32 range (``0..2**31-1`` if no value is negative, the full signed range otherwise) is
  mapped onto ``0..255``.
* Pillow mode ``F`` (float) is read as ``[0, 1]`` if its maximum is at most 1, else as ``0..255``,
  else as 16-bit, else stretched to its maximum; negatives clip to 0, NaN/inf are refused.
* Float arrays are read as ``[0, 1]`` (scaled by 255, clipped); ``bool`` arrays become 0/255.
* Transparent pixels are composited over white, because documents are usually scanned or
  photographed on white.
"""

from __future__ import annotations

import logging

import numpy as np
from PIL import Image

from idseg.errors import CorruptImageError, InputError, UnsupportedFormatError

logger = logging.getLogger(__name__)

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_CONVERTIBLE_MODES = ("1", "P", "RGBX", "CMYK", "YCbCr", "HSV")
_INT32 = np.iinfo(np.int32)


def pil_to_rgb(img: Image.Image) -> np.ndarray:
    """Convert a loaded PIL image of any supported mode to a C-contiguous ``H x W x 3`` uint8 array.

    Args:
        img: A PIL image (already loaded; the EXIF orientation is not applied here).

    Returns:
        A new array; see the module docstring for how each mode is scaled.

    Raises:
        UnsupportedFormatError: A pixel mode that cannot be converted to RGB (e.g. ``LAB``).
        CorruptImageError: A mode ``F`` image with NaN or infinite values.

    Example:
        >>> pil_to_rgb(Image.new("L", (3, 2), 7))[0, 0].tolist()
        [7, 7, 7]

    """
    mode = img.mode
    if mode == "RGB" and "transparency" not in img.info:
        return np.array(img, dtype=np.uint8, order="C")
    if mode == "L" and "transparency" not in img.info:
        return _gray_to_rgb(np.asarray(img, dtype=np.uint8))
    if mode in _SIXTEEN_BIT_MODES:
        return _gray_to_rgb(_scale_16bit(np.asarray(img)))
    if mode == "I":
        return _gray_to_rgb(_scale_int32(np.asarray(img)))
    if mode == "F":
        return _gray_to_rgb(_scale_float_mode(np.asarray(img)))
    if mode in _ALPHA_MODES or "transparency" in img.info:
        return _composite_over_white(np.asarray(_convert(img, "RGBA")))
    if mode not in _CONVERTIBLE_MODES:  # e.g. LAB: Pillow would reinterpret, not convert
        raise UnsupportedFormatError(f"pixel mode {mode!r} is not supported")
    return np.array(_convert(img, "RGB"), dtype=np.uint8, order="C")


def array_to_rgb(arr: np.ndarray) -> np.ndarray:
    """Convert a numpy image to a new C-contiguous ``H x W x 3`` uint8 array.

    Args:
        arr: ``H x W``, ``H x W x 1``, ``H x W x 3`` or ``H x W x 4`` array of dtype ``uint8``,
            ``uint16``, ``bool`` or float in ``[0, 1]``.

    Returns:
        A new array; see the module docstring for how each dtype is scaled.

    Raises:
        InputError: Wrong shape or dtype, an empty array, or NaN/inf in a float array.

    Example:
        >>> array_to_rgb(np.array([[True, False]]))[0].tolist()
        [[255, 255, 255], [0, 0, 0]]

    """
    validate_array(arr)
    kind = _array_kind(arr)
    if kind == "bool":
        data = arr.astype(np.uint8) * np.uint8(255)
    elif kind == "u16":
        data = _scale_16bit(arr)
    elif kind == "float":
        if not np.isfinite(arr).all():
            raise InputError(
                f"float image array contains NaN or infinite values (dtype {arr.dtype})"
            )
        data = np.rint(np.clip(arr.astype(np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)
    else:
        data = arr.astype(np.uint8, copy=False)
    if data.ndim == 2 or data.shape[2] == 1:
        return _gray_to_rgb(data.reshape(data.shape[:2]))
    if data.shape[2] == 4:
        return _composite_over_white(data)
    return np.array(data, dtype=np.uint8, order="C", copy=True)


def validate_array(arr: np.ndarray) -> None:
    """Check the shape and dtype of a numpy image (its values are checked on conversion).

    Raises:
        InputError: Not ``H x W`` or ``H x W x 1|3|4``, an unsupported dtype, or an empty image.

    Example:
        >>> validate_array(np.zeros((2, 3, 4), np.uint16))

    """
    expected = (
        "expected an array of shape HxW, HxWx1, HxWx3 or HxWx4 with dtype uint8, uint16, bool "
        "or float in [0, 1]"
    )
    got = f"got shape {arr.shape} dtype {arr.dtype}"
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        raise InputError(f"{expected}; {got}")
    if _array_kind(arr) is None:
        raise InputError(f"{expected}; {got}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(f"expected a non-empty image array; {got}")


def _array_kind(arr: np.ndarray) -> str | None:
    """Classify an array dtype as "bool", "u8", "u16" or "float" (any byte order), else None."""
    kind, size = arr.dtype.kind, arr.dtype.itemsize
    if kind == "u" and size in (1, 2):
        return f"u{8 * size}"
    return {"b": "bool", "f": "float"}.get(kind)


def _convert(img: Image.Image, mode: str) -> Image.Image:
    try:
        return img.convert(mode)
    except (ValueError, OSError) as exc:
        raise UnsupportedFormatError(
            f"pixel mode {img.mode!r} cannot be converted to {mode}"
        ) from exc


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))


def _composite_over_white(rgba: np.ndarray) -> np.ndarray:
    rgb = rgba[:, :, :3].astype(np.uint32)
    alpha = rgba[:, :, 3:4].astype(np.uint32)
    out = (rgb * alpha + 255 * (255 - alpha) + 127) // 255
    return np.ascontiguousarray(out.astype(np.uint8))


def _scale_16bit(values: np.ndarray) -> np.ndarray:
    wide = values.astype(np.uint32)
    return ((wide * 255 + 32767) // 65535).astype(np.uint8)


def _scale_int32(values: np.ndarray) -> np.ndarray:
    low, high = int(values.min()), int(values.max())
    if low >= 0 and high <= 65535:
        return _scale_16bit(values)
    floor = 0 if low >= 0 else int(_INT32.min)
    span = float(int(_INT32.max) - floor)
    return np.rint((values.astype(np.float64) - floor) * (255.0 / span)).astype(np.uint8)


def _scale_float_mode(values: np.ndarray) -> np.ndarray:
    if not np.isfinite(values).all():
        raise CorruptImageError("the float image contains NaN or infinite values")
    data = np.clip(values.astype(np.float64), 0.0, None)
    high = float(data.max())
    scale = next(
        (255.0 / top for top in (1.0, 255.0, 65535.0) if high <= top), 255.0 / max(high, 1.0)
    )
    return np.rint(np.clip(data * scale, 0.0, 255.0)).astype(np.uint8)


__all__ = ["array_to_rgb", "pil_to_rgb", "validate_array"]
