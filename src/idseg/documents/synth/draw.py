"""Text rasterising for synthetic documents: coverage layers that fit their boxes exactly.

Every function returns a ``float32`` coverage layer in ``[0, 1]`` of the requested box size;
text is fitted (smaller font, then fewer characters) so that no glyph is cut by the box, and the
layer itself is the box, so a field's ink can never leave its zone. Fonts come from
:mod:`idseg.documents.synth.fonts` (bundled, basic layout: the same pixels on every machine).
"""

from __future__ import annotations

import functools
import logging

import numpy as np
from PIL import Image, ImageDraw

from idseg.documents.synth.fonts import MRZ_FONT, font

logger = logging.getLogger(__name__)

#: A font is never shrunk below this share of its target size to fit a box; text is cut instead.
MIN_SCALE = 0.6


@functools.cache
def cap_ratio(name: str) -> float:
    """Cap height of a font as a share of its em size (measured on ``H``).

    Example:
        >>> 0.6 < cap_ratio("sans") < 0.8
        True
    """
    _, top, _, bottom = font(name, 200).getbbox("H", anchor="ls")
    return (bottom - top) / 200.0


def size_for_cap(name: str, cap_px: float) -> int:
    """The em size (px, at least 1) that gives capitals ``cap_px`` pixels high.

    Example:
        >>> size_for_cap("sans", 73.0) in (99, 100, 101)
        True
    """
    return max(1, round(cap_px / cap_ratio(name)))


def _fit(name: str, text: str, size: int, w: int, h: int) -> tuple[int, str, tuple[float, ...]]:
    """Shrink, then cut, ``text`` until its ink box fits ``w x h``; returns size, text, bbox."""
    floor = max(1, int(size * MIN_SCALE))
    while True:
        box = font(name, size).getbbox(text, anchor="ls")
        if (box[2] - box[0] <= w and box[3] - box[1] <= h) or not text.strip():
            return size, text, box
        if size > floor:
            size -= 1
        else:
            text = text[:-1].rstrip()


def text_line(name: str, text: str, cap_px: float, w: int, h: int) -> tuple[np.ndarray, str]:
    """Coverage of one line of text, left-aligned in a ``w x h`` box, and the text drawn.

    The capitals sit near the top of the box, leaving room below for descenders; the line moves
    (and, if need be, shrinks) so that accents and descenders stay inside the box.

    Example:
        >>> cov, drawn = text_line("sans", "ÉRIKSSON", 20.0, 200, 29)
        >>> drawn, cov.shape, bool(cov[0].max() == 0 or cov.max() > 0)
        ('ÉRIKSSON', (29, 200), True)
    """
    im = Image.new("L", (max(w, 1), max(h, 1)))
    size, text, (left, top, _, bottom) = _fit(name, text, size_for_cap(name, cap_px), w, h)
    if text.strip():
        cap = cap_ratio(name) * size
        base = round(min(max((h - cap) * 0.3 + cap, -top), h - bottom))
        ImageDraw.Draw(im).text((-left, base), text, fill=255, font=font(name, size), anchor="ls")
    return np.asarray(im, dtype=np.float32)[: max(h, 0), : max(w, 0)] / 255.0, text


def text_lines(
    name: str, lines: list[str], cap_px: float, pitch_px: float, w: int, h: int
) -> tuple[np.ndarray, list[str]]:
    """Coverage of several left-aligned lines (``pitch_px`` apart) in a ``w x h`` box.

    Lines that would not fit are dropped; each kept line is fitted like :func:`text_line`.

    Example:
        >>> cov, drawn = text_lines("serif", ["one", "two", "three"], 10.0, 18.0, 100, 40)
        >>> drawn, cov.shape
        (['one', 'two'], (40, 100))
    """
    out = np.zeros((h, w), np.float32)
    line_h = round(pitch_px)
    row_h = min(h, round(cap_px * 1.45))
    drawn: list[str] = []
    for i, line in enumerate(lines):
        y0 = round(i * pitch_px)
        if y0 + row_h > h:
            break
        cov, text = text_line(name, line, cap_px, w, row_h)
        out[y0 : y0 + row_h] = np.maximum(out[y0 : y0 + row_h], cov)
        drawn.append(text)
    logger.debug("drew %d of %d lines (pitch %d px)", len(drawn), len(lines), line_h)
    return out, drawn


def wrap(name: str, words: list[str], size: int, width: int, max_lines: int) -> list[str]:
    """Greedy word wrap of ``words`` into at most ``max_lines`` lines of ``width`` px.

    Example:
        >>> wrap("sans", "a b c d e f".split(), 20, 60, 2)
        ['a b c', 'd e f']
    """
    f = font(name, size)
    lines: list[str] = []
    current = ""
    for word in words:
        trial = f"{current} {word}".strip()
        if f.getlength(trial) <= width or not current:
            current = trial
            continue
        lines.append(current)
        if len(lines) == max_lines:
            return lines
        current = word
    if current and len(lines) < max_lines:
        lines.append(current)
    return lines


def mrz_block(
    lines: list[str], cap_px: float, pitch_px: float, centres: list[float], w: int, h: int
) -> np.ndarray:
    """Coverage of MRZ lines in OCR-B, one character per ``pitch_px`` cell.

    Args:
        lines: The MRZ lines.
        cap_px: Character height in pixels.
        pitch_px: Character pitch in pixels (2.54 mm).
        centres: Vertical centre of each line, px from the box top.
        w: Box width in pixels.
        h: Box height in pixels.

    Example:
        >>> cov = mrz_block(["P<UTO", "L8989"], 19.0, 20.3, [12.0, 40.0], 110, 52)
        >>> cov.shape, bool(cov[:, :20].max() > 0.9)
        ((52, 110), True)
    """
    im = Image.new("L", (w, h))
    draw = ImageDraw.Draw(im)
    f = font(MRZ_FONT, size_for_cap(MRZ_FONT, cap_px))
    for line, centre in zip(lines, centres, strict=True):
        base = centre + cap_px / 2
        for i, ch in enumerate(line):
            draw.text(((i + 0.5) * pitch_px, base), ch, fill=255, font=f, anchor="ms")
    return np.asarray(im, dtype=np.float32) / 255.0
