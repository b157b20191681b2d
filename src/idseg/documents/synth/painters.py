"""Painting the zones of a template onto a document canvas, returning each field's exact ink.

A painter draws one zone onto the ``float32`` RGB canvas of :class:`Ctx` and returns a
:class:`Painted`: the coverage of the field's content in the zone's pixel box (labels are
background and never part of it) and the text drawn. Field classes:

* ``text``: value text only (one line, several lines, or a ruled table: grid and cell text);
* ``mrz``: every MRZ character of every line, in OCR-B at a 2.54 mm pitch;
* ``portrait``: the whole photo rectangle;
* ``signature``: the pen strokes;
* ``barcode``: the dark bars or modules (quiet zones are background).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from idseg.documents.classes import KINDS
from idseg.documents.synth import barcode, content, draw, strokes
from idseg.documents.synth.aamva import aamva_text
from idseg.documents.synth.identity import Identity
from idseg.documents.synth.layouts import Template
from idseg.documents.synth.mrz import mrz_lines
from idseg.documents.synth.patterns import blend, blend_image
from idseg.documents.synth.portrait import draw_portrait
from idseg.documents.synth.styles import label_text
from idseg.documents.synth.zones import LABEL_MM, LINE_PITCH, MRZ_PITCH_MM, MRZ_SPECS, Zone
from idseg.errors import InputError

logger = logging.getLogger(__name__)

#: Colour of the MRZ (black print, as ICAO 9303 requires for the reading band).
MRZ_INK = (18, 18, 22)
#: Colour of signature pens, picked per document.
PEN_INKS = ((16, 28, 110), (20, 20, 28), (40, 40, 120))
#: Coloured value inks of :attr:`Ctx.real` documents (red dates, blue numbers).
VALUE_INKS = ((190, 25, 35), (150, 20, 30), (25, 45, 150))


@dataclass
class Ctx:
    """Everything a painter needs: the canvas and the document being made.

    ``text_scale`` (at most 1) shrinks the visual-zone text of one document, for variety; the MRZ
    keeps its standard size. ``real`` draws the document more like a real card: photographic
    portraits (sometimes faded into the card), card-wide art and some values in red or blue.
    """

    canvas: np.ndarray
    ppm: float
    template: Template
    ident: Identity
    rng: np.random.Generator
    text_scale: float = 1.0
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    real: bool = False


@dataclass
class Painted:
    """A field's coverage ``cov`` (float32 0..1, local box at ``(x0, y0)``) and its text."""

    cov: np.ndarray
    x0: int
    y0: int
    text: str | None = None


def box_px(ctx: Ctx, x: float, y: float, w: float, h: float) -> tuple[int, int, int, int]:
    """A box in mm as pixel bounds ``(x0, y0, x1, y1)`` (exclusive ends), clipped to the canvas.

    Example:
        >>> import numpy as np
        >>> from idseg.documents.synth.layouts import get_template
        >>> c = Ctx(np.zeros((10, 20, 3), np.float32), 2.0, get_template("td1_blue_wave"), None, None)
        >>> box_px(c, 1.0, 1.0, 20.0, 2.0)
        (2, 2, 20, 6)
    """
    hh, ww = ctx.canvas.shape[:2]
    x0, y0 = round(x * ctx.ppm), round(y * ctx.ppm)
    x1, y1 = round((x + w) * ctx.ppm), round((y + h) * ctx.ppm)
    return max(x0, 0), max(y0, 0), min(x1, ww), min(y1, hh)


def _lay(ctx: Ctx, cov: np.ndarray, x0: int, y0: int, color: tuple[int, int, int]) -> None:
    h, w = cov.shape
    blend(ctx.canvas[y0 : y0 + h, x0 : x0 + w], cov, color)


def _label(ctx: Ctx, zone: Zone) -> None:
    if not zone.label:
        return
    style = ctx.template.style
    x0, y0, x1, y1 = box_px(ctx, zone.x, zone.y, zone.w, zone.label_h)
    text = label_text(zone.label, style.languages)
    cov, _ = draw.text_line(style.label_font, text, LABEL_MM * ctx.ppm, x1 - x0, y1 - y0)
    _lay(ctx, cov, x0, y0, style.label_color)


def _value_box(ctx: Ctx, zone: Zone) -> tuple[int, int, int, int]:
    return box_px(ctx, zone.x, zone.y + zone.label_h, zone.w, zone.h - zone.label_h)


def _single(ctx: Ctx, zone: Zone, value: str) -> Painted:
    style = ctx.template.style
    x0, y0, x1, y1 = _value_box(ctx, zone)
    cap = zone.size * ctx.ppm * ctx.text_scale
    cov, text = draw.text_line(style.text_font, value, cap, x1 - x0, y1 - y0)
    _lay(ctx, cov, x0, y0, _value_ink(ctx))
    return Painted(cov, x0, y0, text)


def _value_ink(ctx: Ctx) -> tuple[int, int, int]:
    """The style's ink; on ``real`` documents, one value in five is printed in red or blue."""
    if ctx.real and ctx.rng.random() < 0.2:
        return VALUE_INKS[int(ctx.rng.integers(len(VALUE_INKS)))]
    return ctx.template.style.ink


def _multi(ctx: Ctx, zone: Zone, lines: list[str]) -> Painted:
    style = ctx.template.style
    x0, y0, x1, y1 = _value_box(ctx, zone)
    cap, pitch = zone.size * ctx.ppm * ctx.text_scale, zone.size * LINE_PITCH * ctx.ppm
    cov, drawn = draw.text_lines(style.text_font, lines, cap, pitch, x1 - x0, y1 - y0)
    _lay(ctx, cov, x0, y0, style.ink)
    return Painted(cov, x0, y0, "\n".join(drawn))


def _paragraph_lines(ctx: Ctx, zone: Zone, width: int) -> list[str]:
    name = ctx.template.style.text_font
    size = draw.size_for_cap(name, zone.size * ctx.ppm * ctx.text_scale)
    lines = draw.wrap(name, content.paragraph(ctx.rng, 30 * zone.lines), size, width, zone.lines)
    keep = max(1, int(len(lines[-1].split()) * ctx.rng.uniform(0.3, 1.0)))
    lines[-1] = " ".join(lines[-1].split()[:keep]).rstrip(",") + "."
    return lines


def _table(ctx: Ctx, zone: Zone) -> Painted:
    style = ctx.template.style
    x0, y0, x1, y1 = _value_box(ctx, zone)
    w, h = x1 - x0, y1 - y0
    year = ctx.ident.issue_date.year
    rows = content.table_rows(ctx.rng, zone.lines, style.date_format, year)
    cov = np.zeros((h, w), np.float32)
    cols = [0, round(0.2 * w), round(0.58 * w), round(0.8 * w), w - 1]
    pitch = h / len(rows)
    rule = max(1, round(0.2 * ctx.ppm))
    for r in range(len(rows) + 1):
        y = min(round(r * pitch), h - rule)
        cov[y : y + rule, :] = 1.0
    for c in cols:
        c = min(c, w - rule)
        cov[:, c : c + rule] = 1.0
    cap = zone.size * ctx.ppm * ctx.text_scale
    pad = rule + max(1, round(0.8 * ctx.ppm))
    cells = []
    for r, row in enumerate(rows):
        font = style.title_font if r == 0 else style.text_font
        top, bottom = round(r * pitch) + rule, round((r + 1) * pitch)
        inset = max(0, round((bottom - top - cap * 1.45) / 2))
        for c, cell in enumerate(row):
            cx0, cx1 = cols[c] + pad, cols[c + 1] - pad
            sub, drawn = draw.text_line(font, cell, cap, cx1 - cx0, bottom - top - inset)
            area = cov[top + inset : bottom, cx0:cx1]
            np.maximum(area, sub, out=area)
            cells.append(drawn)
    _lay(ctx, cov, x0, y0, style.ink)
    text = "\n".join("\t".join(cells[i : i + 4]) for i in range(0, len(cells), 4))
    return Painted(cov, x0, y0, text)


def paint_text(ctx: Ctx, zone: Zone) -> Painted | None:
    """Draw a text zone's label and value; ``None`` when the value is empty.

    Example:
        >>> from idseg.documents.synth.render import render_document
        >>> doc = render_document(np.random.default_rng(0), template="td3_navy_guilloche")
        >>> next(f.text for f in doc.fields if f.name == "doc_type")
        'P'
    """
    t, ident, rng = ctx.template, ctx.ident, ctx.rng
    _label(ctx, zone)
    key = zone.content
    if key == "paragraph":
        x0, _, x1, _ = _value_box(ctx, zone)
        return _multi(ctx, zone, _paragraph_lines(ctx, zone, x1 - x0))
    if key == "recipient":
        return _multi(ctx, zone, content.recipient(ident, rng))
    if key == "table":
        return _table(ctx, zone)
    if KINDS[t.kind].is_page:
        value = content.page_value(key, ident, rng, t.style.date_format, t.title)
    else:
        value = content.id_value(key, ident, rng, t.style.date_format, t.doc_code)
    return _single(ctx, zone, value) if value.strip() else None


def paint_mrz(ctx: Ctx, zone: Zone) -> Painted:
    """Draw the MRZ lines of the document's identity at the standard's line positions.

    Example:
        >>> from idseg.documents.synth.render import render_document
        >>> doc = render_document(np.random.default_rng(0), template="td3_navy_guilloche")
        >>> [len(s) for s in next(f.text for f in doc.fields if f.cls == "mrz").split()]
        [44, 44]
    """
    kind = ctx.template.kind
    lines = mrz_lines(kind, ctx.ident, ctx.template.doc_code)
    x0, y0, x1, y1 = box_px(ctx, zone.x, zone.y, zone.w, zone.h)
    bottom = (zone.y + zone.h) * ctx.ppm
    centres = [bottom - c * ctx.ppm - y0 for c in MRZ_SPECS[kind].centres]
    pitch = MRZ_PITCH_MM * ctx.ppm
    cov = draw.mrz_block(lines, zone.size * ctx.ppm, pitch, centres, x1 - x0, y1 - y0)
    _lay(ctx, cov, x0, y0, MRZ_INK)
    return Painted(cov, x0, y0, "\n".join(lines))


def paint_portrait(ctx: Ctx, zone: Zone) -> Painted:
    """Paste a procedural portrait filling the zone; keeps it for a ghost image.

    Example:
        >>> from idseg.documents.synth.render import render_document
        >>> doc = render_document(np.random.default_rng(0), template="td3_navy_guilloche")
        >>> bool(doc.ink["portrait"].sum() > 10_000)
        True
    """
    x0, y0, x1, y1 = box_px(ctx, zone.x, zone.y, zone.w, zone.h)
    rgb, person = draw_portrait(ctx.rng, x1 - x0, y1 - y0, photo=ctx.real)
    if ctx.real and ctx.rng.random() < 0.25:  # the photo's edges fade into the card
        alpha = _feather(y1 - y0, x1 - x0, float(ctx.rng.uniform(0.06, 0.18)))
        blend_image(ctx.canvas[y0:y1, x0:x1], alpha, rgb.astype(np.float32))
    else:
        ctx.canvas[y0:y1, x0:x1] = rgb.astype(np.float32)
    ctx.extras["portrait"], ctx.extras["person"] = rgb, person
    return Painted(np.ones((y1 - y0, x1 - x0), np.float32), x0, y0)


def _feather(h: int, w: int, share: float) -> np.ndarray:
    """``H x W`` alpha: 1 inside, ramping to about 0.2 at the edges over ``share`` of each side."""
    ramp_y = np.clip(np.minimum(np.arange(h), np.arange(h)[::-1]) / max(share * h, 1.0), 0, 1)
    ramp_x = np.clip(np.minimum(np.arange(w), np.arange(w)[::-1]) / max(share * w, 1.0), 0, 1)
    return (0.2 + 0.8 * np.minimum(ramp_y[:, None], ramp_x[None, :])).astype(np.float32)


def paint_signature(ctx: Ctx, zone: Zone) -> Painted:
    """Draw the zone's label and a procedural signature below it.

    Example:
        >>> from idseg.documents.synth.render import render_document
        >>> doc = render_document(np.random.default_rng(0), template="td3_navy_guilloche")
        >>> bool(doc.ink["signature"].any())
        True
    """
    _label(ctx, zone)
    x0, y0, x1, y1 = _value_box(ctx, zone)
    pen = ctx.rng.uniform(0.25, 0.45) * ctx.ppm
    cov = strokes.signature(ctx.rng, x1 - x0, y1 - y0, pen)
    _lay(ctx, cov, x0, y0, PEN_INKS[int(ctx.rng.integers(len(PEN_INKS)))])
    return Painted(cov, x0, y0)


def _barcode_text(ctx: Ctx, symbology: str) -> str:
    if symbology == "pdf417":
        return aamva_text(ctx.ident)
    ref = int(ctx.rng.integers(10**7, 10**8))
    return f"{ctx.ident.issuing_state}{ref}{ctx.ident.document_number}"


def _fit_symbol(symbology: str, text: str, w: int, h: int) -> barcode.Barcode | None:
    """The largest symbol of ``text``, halved until it fits ``w x h`` px (``None`` if nothing does).

    A Code 128 too narrow even for one character gets a 2-module quiet zone as a last try (narrow
    symbols such as the one under a US licence's portrait, at the lowest resolutions).
    """
    fit = barcode.fit_pdf417 if symbology == "pdf417" else barcode.fit_code128
    while True:
        try:
            return fit(text, w, h)
        except InputError:
            if len(text) <= 1:
                break
            text = text[: len(text) // 2]
    if symbology == "code128":  # one character with the narrowest quiet zone we draw
        try:
            return barcode.fit_code128(text, w, h, quiet_modules=2)
        except InputError:
            pass
    logger.debug("no %s symbol fits %dx%d px", symbology, w, h)
    return None


def paint_barcode(ctx: Ctx, zone: Zone) -> Painted | None:
    """Draw a PDF417 (AAMVA-like record) or Code 128 symbol, as large as fits, centred.

    The symbol's area (quiet zone included) is lightened so that it reads; the field's ink is
    the dark modules only. At low resolutions, where the whole record cannot fit one module per
    pixel, the encoded text is halved until it fits (``None`` if nothing fits).

    Example:
        >>> from idseg.documents.synth.render import render_document
        >>> doc = render_document(np.random.default_rng(0), template="td1_dl_back_pdf417")
        >>> bool(doc.ink["barcode"].any())
        True
    """
    x0, y0, x1, y1 = box_px(ctx, zone.x, zone.y, zone.w, zone.h)
    code = _fit_symbol(zone.content, _barcode_text(ctx, zone.content), x1 - x0, y1 - y0)
    if code is None:
        return None
    text = code.text
    h, w = code.bars.shape
    bx, by = x0 + (x1 - x0 - w) // 2, y0 + (y1 - y0 - h) // 2
    blend(ctx.canvas[by : by + h, bx : bx + w], np.ones((h, w), np.float32), (255, 255, 255), 0.7)
    cov = code.bars.astype(np.float32)
    _lay(ctx, cov, bx, by, MRZ_INK)
    return Painted(cov, bx, by, text)
