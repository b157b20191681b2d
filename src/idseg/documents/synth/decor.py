"""Document background: gradient, security pattern, header band, title, emblem, ghost, hologram.

Nothing drawn here is a field: these pixels belong to the ``document`` class. Backgrounds and
bands go under the fields; the ghost portrait (a faded copy of the photo) and the holographic
overlay go on top, the hologram possibly over part of the portrait as on real cards.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from idseg.documents.classes import KINDS
from idseg.documents.synth import draw, patterns
from idseg.documents.synth.art import card_art
from idseg.documents.synth.painters import Ctx, box_px
from idseg.documents.synth.portrait import draw_portrait
from idseg.documents.synth.styles import Style, title_text
from idseg.documents.synth.zones import Deco

logger = logging.getLogger(__name__)

_WHITE = (255, 255, 255)
#: Patterns of larger documents (pages) are drawn at half resolution and enlarged.
_FULL_RES_PATTERN_PX = 1_500_000


def background(style: Style, h: int, w: int, ppm: float, rng: np.random.Generator) -> np.ndarray:
    """The ``H x W x 3`` float32 canvas: gradient with the style's security pattern over it.

    Example:
        >>> from idseg.documents.synth.layouts import get_template
        >>> c = background(get_template("td1_blue_wave").style, 20, 30, 8.0, np.random.default_rng(0))
        >>> c.shape, c.dtype
        ((20, 30, 3), dtype('float32'))
    """
    c0, c1 = style.background
    canvas = patterns.gradient(h, w, c0, c1, style.gradient_angle)
    if style.pattern != "none":
        f = 2 if h * w > _FULL_RES_PATTERN_PX else 1  # large pages: faint, half-resolution pattern
        cov = patterns.pattern(style.pattern, -(-h // f), -(-w // f), ppm / f, rng)
        if f > 1:
            cov = cv2.resize(cov, (cov.shape[1] * f, cov.shape[0] * f))[:h, :w]
        patterns.blend(canvas, cov, style.pattern_color, style.pattern_alpha)
    return canvas


def _band(ctx: Ctx, d: Deco) -> None:
    x0, y0, x1, y1 = box_px(ctx, d.x, d.y, d.w, d.h)
    cov = np.ones((y1 - y0, x1 - x0), np.float32)
    patterns.blend(ctx.canvas[y0:y1, x0:x1], cov, ctx.template.style.accent, 0.88)
    stripe = max(1, round(0.35 * ctx.ppm))
    patterns.blend(ctx.canvas[y1 - stripe : y1, x0:x1], cov[:stripe], _WHITE, 0.5)


def _on_band(ctx: Ctx, d: Deco, decos: tuple[Deco, ...]) -> bool:
    return any(b.kind == "band" and b.y <= d.y and d.y + d.h <= b.y + b.h for b in decos)


def _title(ctx: Ctx, d: Deco, color: tuple[int, int, int]) -> None:
    style = ctx.template.style
    x0, y0, x1, y1 = box_px(ctx, d.x, d.y, d.w, d.h)
    text = title_text(ctx.template.title, style.languages)
    cov, _ = draw.text_line(style.title_font, text, d.h * 0.62 * ctx.ppm, x1 - x0, y1 - y0)
    patterns.blend(ctx.canvas[y0:y1, x0:x1], cov, color)


def _logo(ctx: Ctx, d: Deco, color: tuple[int, int, int]) -> None:
    x0, y0, x1, y1 = box_px(ctx, d.x, d.y, d.w, d.h)
    size = min(x1 - x0, y1 - y0)
    cov = patterns.logo(ctx.template.style.logo, size)
    patterns.blend(ctx.canvas[y0 : y0 + size, x0 : x0 + size], cov, color, 0.9)


def _rule(ctx: Ctx, d: Deco) -> None:
    x0, y0, x1, y1 = box_px(ctx, d.x, d.y, d.w, d.h)
    cov = np.ones((max(y1 - y0, 1), x1 - x0), np.float32)
    patterns.blend(ctx.canvas[y0 : y0 + cov.shape[0], x0:x1], cov, ctx.template.style.accent)


def under(ctx: Ctx, decos: tuple[Deco, ...]) -> None:
    """Draw the bands, titles, emblems and rules (before the fields).

    Example:
        >>> from idseg.documents.synth.render import render_document
        >>> render_document(np.random.default_rng(0), template="td2_teal_guilloche").image.shape
        (592, 840, 3)
    """
    accent = ctx.template.style.accent
    if ctx.real:
        card_art(ctx)
    for d in decos:
        if d.kind == "band":
            _band(ctx, d)
    for d in decos:
        color = _WHITE if _on_band(ctx, d, decos) else accent
        if d.kind == "title" and not KINDS[ctx.template.kind].is_page:
            _title(ctx, d, color)
        elif d.kind == "logo":
            _logo(ctx, d, color)
        elif d.kind == "rule":
            _rule(ctx, d)


def _ghost(ctx: Ctx, d: Deco) -> None:
    x0, y0, x1, y1 = box_px(ctx, d.x, d.y, d.w, d.h)
    rgb, person = ctx.extras.get("portrait"), ctx.extras.get("person")
    if rgb is None or person is None:  # a card back: the holder's photo is on the front
        rgb, person = draw_portrait(ctx.rng, x1 - x0, y1 - y0)
    ph, pw = person.shape
    scale = min((x1 - x0) / pw, (y1 - y0) / ph)
    w, h = max(1, round(pw * scale)), max(1, round(ph * scale))
    gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    gray = cv2.resize(gray, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    mask = cv2.resize(person.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    shade = 1.0 - (1.0 - gray) * 0.45 * mask
    ctx.canvas[y0 : y0 + h, x0 : x0 + w] *= shade[..., None]


def _hologram(ctx: Ctx, d: Deco) -> None:
    x0, y0, x1, y1 = box_px(ctx, d.x, d.y, d.w, d.h)
    rgb, alpha = patterns.hologram(y1 - y0, x1 - x0, ctx.rng)
    patterns.blend_image(ctx.canvas[y0:y1, x0:x1], alpha, rgb)


def over(ctx: Ctx, decos: tuple[Deco, ...]) -> None:
    """Draw the ghost portrait and the holographic overlay (after the fields), per the style.

    Example:
        >>> from idseg.documents.synth.render import render_document
        >>> render_document(np.random.default_rng(0), template="td3_navy_guilloche").template
        'td3_navy_guilloche'
    """
    style = ctx.template.style
    for d in decos:
        if d.kind == "ghost" and style.ghost:
            _ghost(ctx, d)
        elif d.kind == "hologram" and style.hologram:
            _hologram(ctx, d)
