"""Fonts bundled with idseg (``idseg/assets/fonts``) for rendering synthetic documents.

The fonts ship inside the package (licences in ``assets/fonts/LICENSES.md``) and are laid out with
Pillow's basic layout engine, so text renders to the same pixels on every machine with the same
Pillow build, whatever fonts or shaping libraries the system has.
"""

from __future__ import annotations

import functools
import io
import logging
from importlib import resources

from PIL import ImageFont

from idseg._text import did_you_mean
from idseg.errors import InputError

logger = logging.getLogger(__name__)

#: Font name -> file in ``idseg/assets/fonts``.
FONT_FILES: dict[str, str] = {
    "sans": "DejaVuSans.ttf",
    "sans-bold": "DejaVuSans-Bold.ttf",
    "mono": "DejaVuSansMono.ttf",
    "serif": "DejaVuSerif.ttf",
    "serif-bold": "DejaVuSerif-Bold.ttf",
    "liberation-serif": "LiberationSerif-Regular.ttf",
    "ocrb": "OCRB.otf",
}

#: Every bundled font name.
FONT_NAMES: tuple[str, ...] = tuple(FONT_FILES)

#: The machine-readable-zone font (OCR-B, as ICAO 9303 prescribes).
MRZ_FONT = "ocrb"

_MAX_SIZE_PX = 2000


def text_fonts() -> list[str]:
    """Names of the fonts suitable for visual-zone text (every font except the MRZ font).

    Example:
        >>> "sans" in text_fonts() and MRZ_FONT not in text_fonts()
        True
    """
    return [name for name in FONT_NAMES if name != MRZ_FONT]


def _check_name(name: str) -> str:
    if name not in FONT_FILES:
        raise InputError(
            f"unknown font {name!r}{did_you_mean(name, FONT_NAMES)} Expected one of: "
            f"{', '.join(FONT_NAMES)}"
        )
    return FONT_FILES[name]


@functools.cache
def font_bytes(name: str) -> bytes:
    """The bytes of a bundled font file, read from the installed package (cached).

    Args:
        name: One of :data:`FONT_NAMES`.

    Returns:
        The TrueType/OpenType file contents.

    Raises:
        InputError: Unknown font name.

    Example:
        >>> font_bytes("ocrb")[:4]
        b'OTTO'
    """
    filename = _check_name(name)
    data = resources.files("idseg").joinpath("assets", "fonts", filename).read_bytes()
    logger.debug("loaded font %s (%d bytes)", filename, len(data))
    return data


def font(name: str, size_px: int) -> ImageFont.FreeTypeFont:
    """A bundled font at a pixel size (validated on every call, loaded once per name and size).

    Args:
        name: One of :data:`FONT_NAMES`.
        size_px: Em size in pixels, 1 to 2000.

    Returns:
        A Pillow font using the basic layout engine (identical on every machine).

    Raises:
        InputError: Unknown name or size out of range.

    Example:
        >>> f = font("sans", 24)
        >>> f.size, f.getname()[0]
        (24, 'DejaVu Sans')
    """
    _check_name(name)
    if (
        isinstance(size_px, bool)
        or not isinstance(size_px, int)
        or not 1 <= size_px <= _MAX_SIZE_PX
    ):
        raise InputError(
            f"font size must be an integer from 1 to {_MAX_SIZE_PX} px, got {size_px!r}"
        )
    return _load_font(name, size_px)


@functools.lru_cache(maxsize=512)
def _load_font(name: str, size_px: int) -> ImageFont.FreeTypeFont:
    """Load a font; checked arguments only (``True`` and ``1`` share a cache key)."""
    return ImageFont.truetype(
        io.BytesIO(font_bytes(name)), size_px, layout_engine=ImageFont.Layout.BASIC
    )


def mrz_font(size_px: int) -> ImageFont.FreeTypeFont:
    """The OCR-B font at a pixel size.

    Example:
        >>> mrz_font(30).getname()[0]
        'OCR B'
    """
    return font(MRZ_FONT, size_px)


def fits(name: str, text: str, size_px: int, width_px: float, height_px: float) -> bool:
    """Whether ``text`` in font ``name`` at ``size_px`` fits a ``width_px`` x ``height_px`` box.

    The box is compared with the ink bounding box of the text drawn at the origin
    (``getbbox``): its right and bottom ends must not pass the box's width and height.

    Args:
        name: One of :data:`FONT_NAMES`.
        text: The text (one line).
        size_px: Font size in pixels.
        width_px: Available width in pixels.
        height_px: Available height in pixels.

    Returns:
        ``True`` when the text's ink stays inside the box.

    Example:
        >>> fits("ocrb", "P<UTO", 20, 500, 60), fits("ocrb", "P<UTO", 200, 500, 60)
        (True, False)
    """
    _, _, right, bottom = font(name, size_px).getbbox(text)
    return bool(right <= width_px and bottom <= height_px)


def fit_size(name: str, text: str, width_px: float, height_px: float) -> int:
    """The largest font size at which ``text`` fits inside a ``width_px`` x ``height_px`` box.

    The box is compared with the ink bounding box of the text drawn at the origin (``getbbox``),
    so the result does not depend on the renderer.

    Args:
        name: One of :data:`FONT_NAMES`.
        text: The text (one line).
        width_px: Available width in pixels.
        height_px: Available height in pixels.

    Returns:
        A size from 1 to 2000 (1 when even size 1 does not fit).

    Example:
        >>> size = fit_size("ocrb", "P<UTOERIKSSON<<ANNA<MARIA", 500, 60)
        >>> font("ocrb", size).getbbox("P<UTOERIKSSON<<ANNA<MARIA")[2] <= 500
        True
    """
    low, high = 1, _MAX_SIZE_PX
    while low < high:
        mid = (low + high + 1) // 2
        if fits(name, text, mid, width_px, height_px):
            low = mid
        else:
            high = mid - 1
    return low
