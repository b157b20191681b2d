"""Render one flat synthetic identity document with its exact field geometry.

:func:`render_document` picks a template (:mod:`idseg.documents.synth.layouts`), a random identity,
jitters the template's zones and paints background, fields and overlays. It returns the image, an
alpha with the card's rounded corners, the fields and, per field, the exact pixels of its content.

Geometry conventions (shared with :mod:`idseg.documents.synth.raster`): coordinates are pixel
centres, so pixel ``(c, r)`` covers ``[c - 0.5, c + 0.5] x [r - 0.5, r + 0.5]`` and the document
spans ``(-0.5, -0.5)`` to ``(W - 0.5, H - 0.5)``. A field's polygon is the tight axis-aligned
rectangle around its ink pixels' squares, clockwise from the top-left: its corners lie on pixel
edges, and the pixels whose centres lie inside it are exactly the ink's bounding box.

What a field covers (see :mod:`idseg.documents.synth.painters`): for ``text`` the value only
(labels are printed background); ``mrz`` one field over all lines; ``portrait`` the photo
rectangle (the ghost image is background); ``signature`` the strokes; ``barcode`` the bars without
quiet zones. Fields of different names never overlap: each is drawn inside its own zone and
zones never overlap (a hologram may be laid over them, as on real cards; it changes no field).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np

from idseg.documents.classes import KINDS
from idseg.documents.synth import decor
from idseg.documents.synth.identity import random_identity
from idseg.documents.synth.layouts import Template, drawn_templates, get_template
from idseg.documents.synth.painters import (
    Ctx,
    Painted,
    paint_barcode,
    paint_mrz,
    paint_portrait,
    paint_signature,
    paint_text,
)
from idseg.documents.synth.styles import vary_style
from idseg.documents.synth.zones import Zone
from idseg.errors import InputError

logger = logging.getLogger(__name__)

#: Accepted resolutions, pixels per millimetre (8 px/mm = 203 dpi).
PX_PER_MM_RANGE = (2.0, 40.0)


@dataclass
class Field:
    """One field of a rendered document.

    Attributes:
        cls: One of :data:`idseg.documents.classes.FIELD_CLASSES`.
        polygon: ``K x 2`` float32 ``(x, y)`` pixel coordinates, a closed polygon (here always
            the 4 corners of a rectangle, clockwise from the top-left).
        name: Field name, unique in the document (``surname``, ``mrz``, ``portrait``...).
        text: The text drawn (MRZ lines joined by newlines), ``None`` for images and strokes.
    """

    cls: str
    polygon: np.ndarray
    name: str
    text: str | None = None


@dataclass
class RenderedDocument:
    """A flat document and its ground truth.

    Attributes:
        kind: Document kind (key of :data:`idseg.documents.classes.KINDS`).
        template: Template name.
        image: ``H x W x 3`` uint8 RGB.
        alpha: ``H x W`` float32 in ``[0, 1]``: 1 inside the document, antialiased corners.
        fields: The fields, in drawing order.
        ink: Field name -> ``H x W`` bool, the pixels where that field's content was drawn.
        px_per_mm: Resolution.
    """

    kind: str
    template: str
    image: np.ndarray
    alpha: np.ndarray
    fields: list[Field]
    ink: dict[str, np.ndarray]
    px_per_mm: float


def _choose(
    rng: np.random.Generator, kind: str | None, template: str | None, real: bool
) -> Template:
    if template is not None:
        t = get_template(template)
        if kind is not None and kind != t.kind:
            raise InputError(f"template {template!r} is a {t.kind} document, not {kind!r}")
        return t
    names = drawn_templates(kind, real)
    return get_template(names[int(rng.integers(len(names)))])


def rounded_alpha(h: int, w: int, radius_px: float) -> np.ndarray:
    """Coverage of a ``w x h`` rectangle with corners rounded at ``radius_px`` (antialiased).

    Example:
        >>> a = rounded_alpha(40, 60, 10.0)
        >>> float(a[0, 0]), float(a[20, 30]), float(a[0, 30])
        (0.0, 1.0, 1.0)
    """
    alpha = np.ones((h, w), np.float32)
    r = min(radius_px, h / 2, w / 2)
    n = int(np.ceil(r))
    if n <= 0:
        return alpha
    c = np.arange(n, dtype=np.float32) + 0.5  # pixel centres in edge coordinates
    d = np.hypot(*np.meshgrid(r - c, r - c, indexing="ij"))
    corner = np.where((c[:, None] < r) & (c[None, :] < r), np.clip(r - d + 0.5, 0.0, 1.0), 1.0)
    alpha[:n, :n] = np.minimum(alpha[:n, :n], corner)
    alpha[:n, w - n :] = np.minimum(alpha[:n, w - n :], corner[:, ::-1])
    alpha[h - n :, :n] = np.minimum(alpha[h - n :, :n], corner[::-1, :])
    alpha[h - n :, w - n :] = np.minimum(alpha[h - n :, w - n :], corner[::-1, ::-1])
    return alpha


def _field(zone: Zone, painted: Painted, hw: tuple[int, int]) -> tuple[Field, np.ndarray] | None:
    local = painted.cov > 0
    if not local.any():
        return None
    ink = np.zeros(hw, bool)
    h, w = local.shape
    ink[painted.y0 : painted.y0 + h, painted.x0 : painted.x0 + w] = local
    rows, cols = np.flatnonzero(local.any(axis=1)), np.flatnonzero(local.any(axis=0))
    x0, x1 = painted.x0 + cols[0] - 0.5, painted.x0 + cols[-1] + 0.5
    y0, y1 = painted.y0 + rows[0] - 0.5, painted.y0 + rows[-1] + 0.5
    poly = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)
    return Field(zone.cls, poly, zone.name, painted.text), ink


_PAINTERS = {
    "text": paint_text,
    "mrz": paint_mrz,
    "portrait": paint_portrait,
    "signature": paint_signature,
    "barcode": paint_barcode,
}


def _paint(ctx: Ctx, zone: Zone) -> Painted | None:
    return _PAINTERS[zone.cls](ctx, zone)


def render_document(
    rng: np.random.Generator,
    kind: str | None = None,
    template: str | None = None,
    px_per_mm: float = 8.0,
    restyle: bool = False,
    real: bool = False,
) -> RenderedDocument:
    """Render a random document of a kind and/or template.

    Args:
        rng: The only source of randomness; the same state gives identical pixels and fields.
        kind: ``td1``, ``td1v``, ``td2``, ``td3``, ``a4`` or ``letter`` (default: any template's
            kind).
        template: A template name from :func:`~idseg.documents.synth.layouts.list_templates`
            (default: one of the kind's templates, chosen by ``rng``; the US-style fronts of
            :data:`~idseg.documents.synth.layouts.REAL_CARD_TEMPLATES` only when ``real``).
        px_per_mm: Resolution, 2 to 40 pixels per millimetre.
        restyle: Draw the template in a variant of its style
            (:func:`~idseg.documents.synth.styles.vary_style`); the template's name is kept.
        real: Draw it more like a real card: photographic portraits
            (:func:`~idseg.documents.synth.photo.photo_finish`), card-wide background art
            (:func:`~idseg.documents.synth.art.card_art`) and some values in red or blue.

    Returns:
        The document; its size is the kind's size in mm times ``px_per_mm``, rounded.

    Raises:
        InputError: Unknown kind or template, a template of another kind, or a bad resolution.

    Example:
        >>> from idseg.documents.classes import FIELD_CLASSES
        >>> doc = render_document(np.random.default_rng(0), kind="td1", px_per_mm=4.0)
        >>> doc.image.shape[:2], {f.cls for f in doc.fields} <= set(FIELD_CLASSES)
        ((216, 342), True)
    """
    lo, hi = PX_PER_MM_RANGE
    if not isinstance(px_per_mm, (int, float)) or not lo <= px_per_mm <= hi:
        raise InputError(f"px_per_mm must be a number from {lo} to {hi}, got {px_per_mm!r}")
    t = _choose(rng, kind, template, real)
    if restyle:
        t = dataclasses.replace(t, style=vary_style(t.style, rng))
    k = KINDS[t.kind]
    h, w = round(k.height_mm * px_per_mm), round(k.width_mm * px_per_mm)
    ident = random_identity(rng)
    zones, decos = t.layout(rng)
    canvas = decor.background(t.style, h, w, px_per_mm, rng)
    ctx = Ctx(canvas, float(px_per_mm), t, ident, rng, float(rng.uniform(0.88, 1.0)), real=real)
    decor.under(ctx, decos)
    fields: list[Field] = []
    ink: dict[str, np.ndarray] = {}
    for zone in zones:
        painted = _paint(ctx, zone)
        made = None if painted is None else _field(zone, painted, (h, w))
        if made is not None:
            fields.append(made[0])
            ink[zone.name] = made[1]
    decor.over(ctx, decos)
    np.clip(canvas, 0.0, 255.0, out=canvas)
    canvas += 0.5
    image = canvas.astype(np.uint8)
    alpha = rounded_alpha(h, w, k.corner_radius_mm * px_per_mm)
    logger.debug("rendered %s (%s): %d fields, %dx%d px", t.name, t.kind, len(fields), w, h)
    return RenderedDocument(t.kind, t.name, image, alpha, fields, ink, float(px_per_mm))
