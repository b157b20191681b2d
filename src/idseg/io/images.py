"""Safe image decoding: every image idseg reads goes through :func:`load_image`.

Guarantees:

* Only allow-listed formats are parsed (JPEG/MPO, PNG, TIFF, WebP, BMP). Data is matched on its
  magic bytes and handed to that one Pillow plugin; no other Pillow plugin ever sees it.
* The pixel count is checked against ``max_pixels`` from the header, before any pixel is decoded.
  Pillow's global ``Image.MAX_IMAGE_PIXELS`` is neither read for this nor modified. (A few Pillow
  plugins still apply that global internally; an image over twice its value is then refused with
  :class:`ImageTooLargeError` even when ``max_pixels`` allows it.)
* Truncated or corrupt data raises :class:`CorruptImageError`; ``ImageFile.LOAD_TRUNCATED_IMAGES``
  is never set here (a warning is logged once if another component set it).
* The EXIF orientation is applied (all 8 values, as ``PIL.ImageOps.exif_transpose`` does).
* The result is always an ``H x W x 3`` C-contiguous ``uint8`` RGB array. Transparent pixels are
  composited over white, because documents are usually scanned or photographed on white.

Opening paths, bytes and file objects and choosing the plugin by magic bytes lives in
:mod:`idseg.io.sources` (:data:`ALLOWED_FORMATS` is re-exported here); pixel-mode and dtype
conversion to RGB lives in :mod:`idseg.io.pixels` (:func:`pil_to_rgb` and :func:`array_to_rgb`
are re-exported here).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection
from typing import BinaryIO, TypeAlias

import numpy as np
from PIL import Image, ImageFile

from idseg.errors import ConfigError, CorruptImageError, ImageTooLargeError, InputError
from idseg.io.files import IMAGE_EXTENSIONS, iter_image_files
from idseg.io.pixels import array_to_rgb, pil_to_rgb, validate_array
from idseg.io.sources import (
    _DECODE_ERRORS,
    ALLOWED_FORMATS,
    _open_by_magic,
    _open_source,
    _resolve_formats,
)

logger = logging.getLogger(__name__)

ImageSource: TypeAlias = (
    str | os.PathLike | bytes | bytearray | memoryview | BinaryIO | np.ndarray | Image.Image
)
"""Everything :func:`load_image` accepts."""

DEFAULT_MAX_PIXELS = 100_000_000
"""Default pixel limit; the environment variable ``IDSEG_MAX_PIXELS`` overrides it at call time."""

MAX_PIXELS_ENV = "IDSEG_MAX_PIXELS"

_truncated_warning_given = False

_EXIF_ORIENTATION = 0x0112
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def load_image(
    source: ImageSource,
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    formats: Collection[str] = ALLOWED_FORMATS,
) -> np.ndarray:
    """Decode an image safely into an ``H x W x 3`` C-contiguous ``uint8`` RGB array.

    Args:
        source: A file path, encoded bytes, a binary file object, a numpy array or a PIL image.
            Arrays may be ``H x W``, ``H x W x 1``, ``H x W x 3`` or ``H x W x 4`` of dtype
            ``uint8``, ``uint16`` (scaled to 8 bits), ``bool`` (0/255) or float in ``[0, 1]``
            (scaled by 255, clipped; NaN/inf refused). PIL images skip the format check.
        max_pixels: Largest ``width * height`` accepted, checked before decoding; ``None`` for
            no limit. When it equals :data:`DEFAULT_MAX_PIXELS`, ``IDSEG_MAX_PIXELS`` (a positive
            integer, or ``0``/``none`` for no limit) replaces it if set. Applies to every source.
        formats: Allowed formats, a non-empty subset of :data:`ALLOWED_FORMATS`.

    Returns:
        A new array, EXIF orientation applied, alpha composited over white (modes ``RGBA``,
        ``LA``, ``PA``, and ``P``/``L``/``RGB`` with a transparency key). 16-bit samples are
        scaled by ``255 / 65535`` with rounding, never clipped. Pillow mode ``I`` (32-bit
        integer) is read as 16-bit when all values lie in ``0..65535``, else the int32 range
        (``0..2**31-1`` if no value is negative, the full signed range otherwise) is mapped onto
        ``0..255``. Mode ``F`` (float) is read as ``[0, 1]`` if its maximum is at most 1, else as
        ``0..255``, else as 16-bit, else stretched to its maximum; negatives clip to 0 and
        NaN/inf raise :class:`CorruptImageError`.

    Raises:
        ImageError: Missing file, a folder, or unreadable file.
        UnsupportedFormatError: Data in a format not allowed, not an image, or an unknown mode.
        ImageTooLargeError: More pixels than ``max_pixels``.
        CorruptImageError: Empty, truncated or corrupt data.
        InputError: Wrong argument type, array shape, dtype or values.

    Example:
        >>> load_image(np.zeros((2, 3), np.uint8)).shape
        (2, 3, 3)

    """
    limit = _resolve_max_pixels(max_pixels)
    if isinstance(source, np.ndarray):
        validate_array(source)
        _check_pixels(source.shape[1], source.shape[0], limit)
        return array_to_rgb(source)
    if isinstance(source, Image.Image):
        _check_pixels(source.width, source.height, limit)
        return _decode(source)
    allowed = _resolve_formats(formats)
    _warn_if_truncated_images_allowed()
    with _open_source(source) as fp:
        return _decode(_open_allowed(fp, allowed, limit))


def image_size(
    source: ImageSource,
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    formats: Collection[str] = ALLOWED_FORMATS,
) -> tuple[int, int]:
    """Return ``(height, width)`` as :func:`load_image` would, reading only the header.

    The same format, pixel-limit, shape and dtype checks run; the EXIF orientation is honoured
    (orientations 5 to 8 swap height and width). Pixel data is not decoded, so truncated data and
    array values (NaN) are only detected by :func:`load_image`. The arguments and errors are
    those of :func:`load_image`.

    Example:
        >>> image_size(np.zeros((2, 3, 4), np.uint8))
        (2, 3)

    """
    limit = _resolve_max_pixels(max_pixels)
    if isinstance(source, np.ndarray):
        validate_array(source)
        _check_pixels(source.shape[1], source.shape[0], limit)
        return int(source.shape[0]), int(source.shape[1])
    if isinstance(source, Image.Image):
        _check_pixels(source.width, source.height, limit)
        return _oriented_size(source)
    allowed = _resolve_formats(formats)
    with _open_source(source) as fp:
        return _oriented_size(_open_allowed(fp, allowed, limit))


def max_pixels_from_env() -> int | None:
    """The pixel limit in force: ``IDSEG_MAX_PIXELS`` if set, else the default.

    Raises:
        ConfigError: ``IDSEG_MAX_PIXELS`` is not a positive integer, ``0`` or ``none``. Batches
            call this once up front, so a bad value fails before any model is loaded.

    Example:
        >>> from unittest import mock
        >>> with mock.patch.dict(os.environ, {"IDSEG_MAX_PIXELS": "none"}):
        ...     max_pixels_from_env() is None
        True

    """
    return _resolve_max_pixels(DEFAULT_MAX_PIXELS)


def _resolve_max_pixels(max_pixels: int | None) -> int | None:
    if max_pixels is None:
        return None
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, (int, np.integer)):
        raise InputError(f"max_pixels must be a positive integer or None, got {max_pixels!r}")
    if max_pixels < 1:
        raise InputError(f"max_pixels must be a positive integer or None, got {max_pixels}")
    if max_pixels == DEFAULT_MAX_PIXELS:
        env = os.environ.get(MAX_PIXELS_ENV, "").strip()
        if env:
            return _parse_env_limit(env)
    return int(max_pixels)


def _parse_env_limit(value: str) -> int | None:
    if value.lower() in ("0", "none"):
        return None
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if limit < 1:
        raise ConfigError(
            f"{MAX_PIXELS_ENV} must be a positive integer, or 0/none for no limit; got {value!r}"
        )
    return limit


def _check_pixels(width: int, height: int, limit: int | None) -> None:
    if limit is not None and width * height > limit:
        raise ImageTooLargeError(
            f"image is {width}x{height} = {width * height} pixels, more than the limit of "
            f"{limit} (raise it with max_pixels or {MAX_PIXELS_ENV})"
        )


def _warn_if_truncated_images_allowed() -> None:
    global _truncated_warning_given
    if ImageFile.LOAD_TRUNCATED_IMAGES and not _truncated_warning_given:
        _truncated_warning_given = True
        logger.warning(
            "PIL.ImageFile.LOAD_TRUNCATED_IMAGES was set by another component: "
            "truncated images may be accepted"
        )


def _open_allowed(fp: BinaryIO, allowed: frozenset[str], limit: int | None) -> Image.Image:
    """Open ``fp`` as one of the ``allowed`` formats and check its pixel count, not decoding it."""
    img = _open_by_magic(fp, allowed)
    _check_pixels(img.width, img.height, limit)
    return img


def _decode(img: Image.Image) -> np.ndarray:
    label = img.format or "image"
    try:
        img.load()
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"Pillow refused the {label} image as too large: {exc}") from exc
    except _DECODE_ERRORS as exc:
        raise CorruptImageError(
            f"cannot decode the {label} data (truncated or corrupt): {exc}"
        ) from exc
    method = _TRANSPOSE.get(_orientation(img, header_only=False))
    if method is not None:
        img = img.transpose(method)
    return pil_to_rgb(img)


def _orientation(img: Image.Image, *, header_only: bool) -> int:
    try:
        if header_only and img.format == "PNG" and "exif" not in img.info:
            # PngImageFile.getexif() decodes the whole image to look for a late eXIf chunk.
            exif = Image.Image.getexif(img)
        else:
            exif = img.getexif()
        value = exif.get(_EXIF_ORIENTATION, 1)
    except (*_DECODE_ERRORS, KeyError) as exc:
        logger.debug("ignoring unreadable EXIF data: %s", exc)
        return 1
    return value if isinstance(value, int) and value in range(1, 9) else 1


def _oriented_size(img: Image.Image) -> tuple[int, int]:
    if _orientation(img, header_only=True) >= 5:
        return img.width, img.height
    return img.height, img.width


__all__ = [
    "ALLOWED_FORMATS",
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS_ENV",
    "ImageSource",
    "array_to_rgb",
    "image_size",
    "iter_image_files",
    "load_image",
    "pil_to_rgb",
]
