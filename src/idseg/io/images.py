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

Pixel-mode and dtype conversion to RGB lives in :mod:`idseg.io.pixels`; :func:`pil_to_rgb` and
:func:`array_to_rgb` are re-exported here.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import struct
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import BinaryIO, TypeAlias

import numpy as np
from PIL import (  # noqa: F401  (importing the plugins registers their openers)
    BmpImagePlugin,
    Image,
    ImageFile,
    JpegImagePlugin,
    MpoImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    WebPImagePlugin,
)

from idseg.errors import (
    ConfigError,
    CorruptImageError,
    ImageError,
    ImageTooLargeError,
    InputError,
    UnsupportedFormatError,
)
from idseg.io.files import IMAGE_EXTENSIONS, iter_image_files
from idseg.io.pixels import array_to_rgb, pil_to_rgb, validate_array

logger = logging.getLogger(__name__)

ImageSource: TypeAlias = (
    str | os.PathLike | bytes | bytearray | memoryview | BinaryIO | np.ndarray | Image.Image
)
"""Everything :func:`load_image` accepts."""

DEFAULT_MAX_PIXELS = 100_000_000
"""Default pixel limit; the environment variable ``IDSEG_MAX_PIXELS`` overrides it at call time."""

ALLOWED_FORMATS: frozenset[str] = frozenset({"JPEG", "PNG", "TIFF", "WEBP", "BMP"})
"""Pillow format names idseg decodes. MPO (multi-picture JPEG) counts as JPEG."""

MAX_PIXELS_ENV = "IDSEG_MAX_PIXELS"

_truncated_warning_given = False

_PLUGIN_ORDER = ("JPEG", "PNG", "TIFF", "WEBP", "BMP")
_FORMAT_ALIASES = {"JPG": "JPEG", "MPO": "JPEG", "TIF": "TIFF"}
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
# What Pillow raises on malformed data (its own Image.open catches the same family).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error)
# Magic bytes of formats we refuse, only to name them in the error message.
_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),
    (b"MM\x00+", "TIFF"),
    (b"BM", "BMP"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"\x00\x00\x02\x00", "CUR"),
    (b"8BPS", "PSD"),
    (b"%PDF", "PDF"),
    (b"%!PS", "EPS"),
    (b"\xc5\xd0\xd3\xc6", "EPS"),
    (b"qoif", "QOI"),
    (b"DDS ", "DDS"),
    (b"icns", "ICNS"),
    (b"\xff\x4f\xff\x51", "JPEG2000"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG2000"),
    (b"<?xml", "XML/SVG"),
    (b"<svg", "SVG"),
)


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
    array values (NaN) are only detected by :func:`load_image`.

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


def _resolve_formats(formats: Collection[str]) -> frozenset[str]:
    names = [formats] if isinstance(formats, str) else list(formats)
    resolved = set()
    for name in names:
        upper = _FORMAT_ALIASES.get(str(name).upper(), str(name).upper())
        if upper not in ALLOWED_FORMATS:
            raise InputError(f"format {name!r} is not allowed; choose from {_allowed_text()}")
        resolved.add(upper)
    if not resolved:
        raise InputError(f"formats must name at least one of {_allowed_text()}")
    return frozenset(resolved)


def _allowed_text(allowed: Collection[str] = ALLOWED_FORMATS) -> str:
    return ", ".join(sorted(allowed))


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


@contextlib.contextmanager
def _open_source(source: object) -> Iterator[BinaryIO]:
    if isinstance(source, (str, os.PathLike)):
        path = Path(os.fspath(source))
        if not path.exists():
            raise ImageError(f"file not found: {path}")
        if path.is_dir():
            raise ImageError(f"expected an image file, got a folder: {path}")
        logger.debug("decoding image file %s", path)
        try:
            handle = path.open("rb")
        except OSError as exc:
            raise ImageError(f"cannot read {path}: {exc.strerror or exc}") from exc
        with handle:
            yield handle
    elif isinstance(source, (bytes, bytearray, memoryview)):
        yield io.BytesIO(bytes(source))
    elif hasattr(source, "read"):
        yield _binary_stream(source)
    else:
        raise InputError(
            "expected a path, bytes, a binary file object, a numpy array or a PIL image; "
            f"got {type(source).__name__}"
        )


def _binary_stream(stream: object) -> BinaryIO:
    if isinstance(stream, io.TextIOBase):
        raise InputError("expected a binary file object, got a text one (open it with 'rb')")
    seekable = getattr(stream, "seekable", None)
    if callable(seekable) and seekable() and stream.tell() == 0:  # type: ignore[attr-defined]
        return stream  # type: ignore[return-value]
    data = stream.read()  # type: ignore[attr-defined]
    if not isinstance(data, (bytes, bytearray)):
        raise InputError(f"expected a binary file object; read() returned {type(data).__name__}")
    return io.BytesIO(data)


def _open_allowed(fp: BinaryIO, allowed: frozenset[str], limit: int | None) -> Image.Image:
    prefix = fp.read(16)
    if not isinstance(prefix, bytes):
        raise InputError("expected a binary file object, got a text one (open it with 'rb')")
    if not prefix:
        raise CorruptImageError("the image data is empty (0 bytes)")
    for fmt in _PLUGIN_ORDER:
        factory, accept = Image.OPEN[fmt]
        verdict = accept(prefix) if accept else True
        if fmt not in allowed or not verdict:
            continue
        if isinstance(verdict, str):  # Pillow's way of saying "recognised but not supported"
            raise UnsupportedFormatError(f"{fmt} data cannot be decoded: {verdict}")
        fp.seek(0)
        img = _run_plugin(factory, fp, fmt)
        _check_pixels(img.width, img.height, limit)
        return img
    found = _sniff(prefix)
    if found is None:
        raise UnsupportedFormatError(f"not a recognised image (allowed: {_allowed_text(allowed)})")
    raise UnsupportedFormatError(
        f"{found} images are not supported here (allowed: {_allowed_text(allowed)})"
    )


def _run_plugin(factory: object, fp: BinaryIO, fmt: str) -> Image.Image:
    try:
        img = factory(fp, "")  # type: ignore[operator]
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"Pillow refused the {fmt} image as too large: {exc}") from exc
    except _DECODE_ERRORS as exc:
        raise CorruptImageError(f"cannot read the {fmt} header (corrupt data): {exc}") from exc
    if _FORMAT_ALIASES.get(img.format or "", img.format) != fmt:  # defensive: plugin mismatch
        raise UnsupportedFormatError(f"expected {fmt} data, found {img.format}")
    return img


def _sniff(prefix: bytes) -> str | None:
    for magic, name in _SIGNATURES:
        if prefix.startswith(magic):
            return name
    if prefix[:4] == b"RIFF" and prefix[8:12] == b"WEBP":
        return "WEBP"
    if prefix[:1] == b"P" and prefix[1:2] in b"1234567" and prefix[2:3] in b" \t\r\n":
        return "PPM"
    if prefix[4:8] == b"ftyp":
        brand = prefix[8:12]
        return "AVIF" if brand.startswith(b"avi") else "HEIF/ISO media"
    return None


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
