"""Barcodes printed on synthetic documents: PDF417 (via ``pdf417gen``) and Code 128 (own encoder).

Each barcode comes back as a boolean ``bars`` array (``True`` where a dark module is printed) at an
integer number of pixels per module, with its quiet zone, plus the same image in RGB. The PDF417
symbol usually carries an AAMVA-like record (:func:`idseg.documents.synth.aamva.aamva_text`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from idseg.errors import InputError

logger = logging.getLogger(__name__)

Colour = tuple[int, int, int]

#: Code 128 symbol patterns: widths of bar, space, bar, space, bar, space (value 0 to 105) and the
#: stop symbol (106, with a final bar). 103/104/105 are Start A/B/C.
CODE128_PATTERNS: tuple[str, ...] = (
    "212222", "222122", "222221", "121223", "121322", "131222", "122213", "122312", "132212", "221213",
    "221312", "231212", "112232", "122132", "122231", "113222", "123122", "123221", "223211", "221132",
    "221231", "213212", "223112", "312131", "311222", "321122", "321221", "312212", "322112", "322211",
    "212123", "212321", "232121", "111323", "131123", "131321", "112313", "132113", "132311", "211313",
    "231113", "231311", "112133", "112331", "132131", "113123", "113321", "133121", "313121", "211331",
    "231131", "213113", "213311", "213131", "311123", "311321", "331121", "312113", "312311", "332111",
    "314111", "221411", "431111", "111224", "111422", "121124", "121421", "141122", "141221", "112214",
    "112412", "122114", "122411", "142112", "142211", "241211", "221114", "413111", "241112", "134111",
    "111242", "121142", "121241", "114212", "124112", "124211", "411212", "421112", "421211", "212141",
    "214121", "412121", "111143", "111341", "131141", "114113", "114311", "411113", "411311", "113141",
    "114131", "311141", "411131", "211412", "211214", "211232", "2331112",
)  # fmt: skip
CODE128_START_B = 104
CODE128_STOP = 106
_BLACK: Colour = (0, 0, 0)
_WHITE: Colour = (255, 255, 255)


@dataclass(frozen=True)
class Barcode:
    """A rendered barcode.

    Attributes:
        kind: ``"pdf417"`` or ``"code128"``.
        text: The encoded text.
        bars: ``H x W`` bool, ``True`` on dark modules (quiet zone included, all ``False``).
        rgb: ``H x W x 3`` uint8, ink on paper.
        module_px: Pixels per module (the narrowest bar width).
    """

    kind: str
    text: str
    bars: np.ndarray
    rgb: np.ndarray
    module_px: int


def _paint(bars: np.ndarray, ink: Colour, paper: Colour) -> np.ndarray:
    rgb = np.empty((*bars.shape, 3), dtype=np.uint8)
    rgb[...] = paper
    rgb[bars] = ink
    return rgb


def _positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def code128_values(text: str) -> list[int]:
    """Code 128 symbol values of ``text`` in code set B: start, data, checksum, stop.

    The checksum is the start value plus each data value times its position, modulo 103.

    Raises:
        InputError: Empty text or a character outside ASCII 32-126.

    Example:
        >>> code128_values("PJJ123C")
        [104, 48, 42, 42, 17, 18, 19, 35, 55, 106]
    """
    if not text or any(not 32 <= ord(c) <= 126 for c in text):
        raise InputError("Code 128-B text must be 1+ printable ASCII characters (32-126)")
    data = [ord(c) - 32 for c in text]
    checksum = (CODE128_START_B + sum(i * v for i, v in enumerate(data, start=1))) % 103
    return [CODE128_START_B, *data, checksum, CODE128_STOP]


def code128_modules(text: str) -> np.ndarray:
    """Code 128-B modules of ``text`` (no quiet zone): ``True`` = bar, 11 per symbol, 13 for stop.

    Example:
        >>> "".join("1" if m else "0" for m in code128_modules("A")[:11])  # Start B
        '11010010000'
    """
    out: list[bool] = []
    for value in code128_values(text):
        for i, width in enumerate(CODE128_PATTERNS[value]):
            out.extend([i % 2 == 0] * int(width))
    return np.array(out, dtype=bool)


def code128(
    text: str,
    *,
    module_px: int = 2,
    height_px: int = 60,
    quiet_modules: int = 10,
    ink: Colour = _BLACK,
    paper: Colour = _WHITE,
) -> Barcode:
    """Render a Code 128-B barcode.

    Args:
        text: Printable ASCII text.
        module_px: Pixels per module.
        height_px: Bar height in pixels.
        quiet_modules: Blank modules on each side (the standard asks for at least 10).
        ink: Bar colour.
        paper: Background colour.

    Returns:
        The barcode, ``height_px`` x ``(modules + 2 * quiet_modules) * module_px`` pixels.

    Example:
        >>> code = code128("ID 42", module_px=1, height_px=10)
        >>> code.bars.shape, code.rgb.shape
        ((10, 110), (10, 110, 3))
    """
    module_px = _positive("module_px", module_px)
    height_px = _positive("height_px", height_px)
    row = np.pad(code128_modules(text), quiet_modules)
    bars = np.repeat(np.repeat(row[None, :], height_px, axis=0), module_px, axis=1)
    return Barcode("code128", text, bars, _paint(bars, ink, paper), module_px)


def fit_code128(
    text: str,
    width_px: int,
    height_px: int,
    *,
    quiet_modules: int = 10,
    ink: Colour = _BLACK,
    paper: Colour = _WHITE,
) -> Barcode:
    """The Code 128-B barcode with the widest modules that fit ``width_px``, ``height_px`` tall.

    Raises:
        InputError: The box is narrower than one pixel per module.

    Example:
        >>> fit_code128("ID 42", 300, 40).bars.shape
        (40, 220)
    """
    modules = code128_modules(text).size + 2 * quiet_modules
    if width_px < modules:
        raise InputError(f"Code 128 needs at least {modules} px of width here, got {width_px}")
    return code128(text, module_px=width_px // modules, height_px=height_px,
                   quiet_modules=quiet_modules, ink=ink, paper=paper)  # fmt: skip


def pdf417_codes(text: str, *, columns: int = 6, security_level: int = 3) -> list[list[int]]:
    """PDF417 low-level codewords per row (start, left indicator, data, right indicator, stop).

    Raises:
        InputError: The text does not fit a PDF417 symbol with these settings.

    Example:
        >>> rows = pdf417_codes("HELLO", columns=2, security_level=2)
        >>> len(rows[0]), hex(rows[0][0]), hex(rows[0][-1])
        (6, '0x1fea8', '0x3fa29')
    """
    import pdf417gen

    try:
        return [list(row) for row in pdf417gen.encode(text, columns, security_level)]
    except ValueError as exc:
        raise InputError(f"cannot encode PDF417: {exc}") from None


def pdf417_modules(codes: list[list[int]]) -> np.ndarray:
    """Rows x modules bool matrix of PDF417 codewords (17 modules each, 18 for the stop pattern).

    Example:
        >>> pdf417_modules(pdf417_codes("HELLO", columns=2, security_level=2)).shape
        (6, 103)
    """
    bits = ["".join(format(code, "b") for code in row) for row in codes]
    return np.array([[b == "1" for b in row] for row in bits], dtype=bool)


def pdf417(
    text: str,
    *,
    module_px: int = 2,
    row_ratio: int = 3,
    columns: int = 6,
    security_level: int = 3,
    quiet_modules: int = 2,
    ink: Colour = _BLACK,
    paper: Colour = _WHITE,
) -> Barcode:
    """Render a PDF417 symbol.

    Args:
        text: Text to encode (UTF-8).
        module_px: Pixels per module.
        row_ratio: Row height in modules (the standard asks for at least 3).
        columns: Data columns, 1 to 30.
        security_level: Error-correction level, 0 to 8 (AAMVA asks for at least 3).
        quiet_modules: Blank modules around the symbol (the standard asks for at least 2).
        ink: Bar colour.
        paper: Background colour.

    Returns:
        The barcode: ``(rows * row_ratio + 2q) * module_px`` by ``(17 * (columns + 4) + 1 + 2q) *
        module_px`` pixels.

    Example:
        >>> pdf417("HELLO", module_px=1, columns=2, security_level=2).bars.shape
        (22, 107)
    """
    module_px = _positive("module_px", module_px)
    row_ratio = _positive("row_ratio", row_ratio)
    matrix = np.pad(pdf417_modules(pdf417_codes(text, columns=columns, security_level=security_level)),
                    ((0, 0), (quiet_modules, quiet_modules)))  # fmt: skip
    bars = np.repeat(np.repeat(matrix, row_ratio * module_px, axis=0), module_px, axis=1)
    bars = np.pad(bars, ((quiet_modules * module_px, quiet_modules * module_px), (0, 0)))
    return Barcode("pdf417", text, bars, _paint(bars, ink, paper), module_px)


def fit_pdf417(
    text: str,
    width_px: int,
    height_px: int,
    *,
    security_level: int = 3,
    row_ratio: int = 3,
    quiet_modules: int = 2,
    ink: Colour = _BLACK,
    paper: Colour = _WHITE,
) -> Barcode:
    """The PDF417 symbol with the column count and module size that best fill a box.

    Chooses the largest module size at which some column count fits, then the column count that
    covers the most area.

    Raises:
        InputError: No layout fits the box.

    Example:
        >>> code = fit_pdf417("HELLO WORLD", 300, 100)
        >>> code.bars.shape[0] <= 100 and code.bars.shape[1] <= 300
        True
    """
    from pdf417gen.compaction import compact

    words = len(list(compact(text.encode("utf-8")))) + 1 + 2 ** (security_level + 1)
    best: tuple[int, int, int] | None = None
    for columns in range(1, 31):
        rows = math.ceil(words / columns)
        if not 3 <= rows <= 90:
            continue
        w_mod = 17 * (columns + 4) + 1 + 2 * quiet_modules
        h_mod = rows * row_ratio + 2 * quiet_modules
        module = min(width_px // w_mod, height_px // h_mod)
        if module >= 1:
            key = (module, w_mod * h_mod * module * module, -columns)
            if best is None or key > best:
                best = key
    if best is None:
        raise InputError(f"no PDF417 layout of this text fits {width_px} x {height_px} px")
    return pdf417(text, module_px=best[0], row_ratio=row_ratio, columns=-best[2],
                  security_level=security_level, quiet_modules=quiet_modules, ink=ink,
                  paper=paper)  # fmt: skip
