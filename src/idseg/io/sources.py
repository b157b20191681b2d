"""Input sources of :func:`idseg.io.images.load_image`: opening them and telling their format.

Paths, bytes and binary file objects are opened as seekable binary streams
(:func:`_open_source`). The first 16 bytes pick the Pillow plugin: only the allow-listed formats
(JPEG/MPO, PNG, TIFF, WebP, BMP) are tried, each by its own plugin's check, so no other Pillow
plugin ever sees the data (:func:`_open_by_magic`). Data of any other format is named by its
magic bytes in the error message (:func:`_sniff`). :mod:`idseg.io.images` re-exports
:data:`ALLOWED_FORMATS`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import struct
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import BinaryIO

from PIL import (  # noqa: F401  (importing the plugins registers their openers)
    BmpImagePlugin,
    Image,
    JpegImagePlugin,
    MpoImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    WebPImagePlugin,
)

from idseg.errors import (
    CorruptImageError,
    ImageError,
    ImageTooLargeError,
    InputError,
    UnsupportedFormatError,
)

logger = logging.getLogger(__name__)

ALLOWED_FORMATS: frozenset[str] = frozenset({"JPEG", "PNG", "TIFF", "WEBP", "BMP"})
"""Pillow format names idseg decodes. MPO (multi-picture JPEG) counts as JPEG."""

_PLUGIN_ORDER = ("JPEG", "PNG", "TIFF", "WEBP", "BMP")
_FORMAT_ALIASES = {"JPG": "JPEG", "MPO": "JPEG", "TIF": "TIFF"}
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


def _open_by_magic(fp: BinaryIO, allowed: frozenset[str]) -> Image.Image:
    """Open ``fp`` with the one allowed Pillow plugin that accepts its first 16 bytes.

    Only the header is read; the pixel count is for the caller to check before decoding.
    """
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
        return _run_plugin(factory, fp, fmt)
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


__all__ = ["ALLOWED_FORMATS"]
