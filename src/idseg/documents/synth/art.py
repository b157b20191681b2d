"""Card-wide background art of the kind real cards print under their fields.

Real driving licences and ID cards are busier than a gradient and a fine-line pattern: large
translucent shapes and landscapes, rainbow bands, and the issuer's name as a huge faint word behind
the data. :func:`card_art` draws such layers on a document canvas before its fields, so field
models learn to find text, portraits and signatures on busy grounds. Everything drawn here is
document background, never a field.
"""

from __future__ import annotations

import cv2
import numpy as np

from idseg.documents.synth import draw, patterns
from idseg.documents.synth.painters import Ctx


def _hue_colour(rng: np.random.Generator, saturation: float, value: float) -> tuple[int, int, int]:
    hsv = np.array([[[rng.uniform(0, 180), saturation * 255, value * 255]]], np.float32)
    r, g, b = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)[0, 0]
    return int(r), int(g), int(b)


def _blobs(ctx: Ctx, h: int, w: int) -> None:
    """Two to five large soft shapes in random hues."""
    rng = ctx.rng
    sh, sw = max(2, h // 4), max(2, w // 4)
    for _ in range(int(rng.integers(2, 6))):
        cov = np.zeros((sh, sw), np.float32)
        centre = (int(rng.uniform(0, sw)), int(rng.uniform(0, sh)))
        axes = (int(rng.uniform(0.15, 0.6) * sw) + 1, int(rng.uniform(0.15, 0.6) * sh) + 1)
        cv2.ellipse(cov, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
        soft = cv2.GaussianBlur(cov, (0, 0), max(1.0, 0.05 * sw))
        big = np.asarray(cv2.resize(soft, (w, h), interpolation=cv2.INTER_LINEAR), np.float32)
        colour = _hue_colour(rng, rng.uniform(0.3, 0.8), rng.uniform(0.6, 1.0))
        patterns.blend(ctx.canvas, big, colour, float(rng.uniform(0.1, 0.35)))


def _rainbow(ctx: Ctx, h: int, w: int) -> None:
    """A diagonal band whose hue runs across it, as on some holographic overlays."""
    rng = ctx.rng
    angle = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (xx * np.cos(angle) + yy * np.sin(angle)) / max(h, w)
    centre, half = rng.uniform(t.min(), t.max()), rng.uniform(0.08, 0.25)
    across = (t - centre) / half
    cov = np.clip(1.0 - np.abs(across), 0.0, 1.0).astype(np.float32)
    hue = ((across + 1.0) * 75.0 + rng.uniform(0, 180)) % 180
    hsv = np.stack([hue, np.full_like(hue, 170), np.full_like(hue, 255)], axis=-1)
    rgb = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    patterns.blend_image(ctx.canvas, cov * np.float32(rng.uniform(0.15, 0.4)), rgb)


def _watermark(ctx: Ctx, h: int, w: int) -> None:
    """The issuer's name as one huge faint word somewhere on the card."""
    rng = ctx.rng
    style = ctx.template.style
    place = ctx.ident.place_of_birth.split(",")[0].split("-")[0].strip()
    word = place.upper() if rng.random() < 0.5 else place
    if not word:
        return
    cap = float(rng.uniform(0.18, 0.4)) * h
    bh = min(h, int(cap * 1.6) + 1)
    y0 = int(rng.uniform(0, max(1, h - bh)))
    cov, _ = draw.text_line(style.title_font, word, cap, w, bh)
    colour = _hue_colour(rng, rng.uniform(0.2, 0.7), rng.uniform(0.4, 0.9))
    patterns.blend(ctx.canvas[y0 : y0 + bh], cov, colour, float(rng.uniform(0.08, 0.25)))


def card_art(ctx: Ctx) -> None:
    """Draw busy background art over the whole canvas (before bands and fields).

    Always soft shapes; a rainbow band on a third of documents and a huge faint word on half.

    Example:
        >>> from idseg.documents.synth.render import render_document
        >>> plain = render_document(np.random.default_rng(0), template="td1_blue_wave")
        >>> busy = render_document(np.random.default_rng(0), template="td1_blue_wave", real=True)
        >>> plain.image.shape == busy.image.shape, bool((plain.image != busy.image).any())
        (True, True)
    """
    h, w = ctx.canvas.shape[:2]
    _blobs(ctx, h, w)
    if ctx.rng.random() < 0.35:
        _rainbow(ctx, h, w)
    if ctx.rng.random() < 0.5:
        _watermark(ctx, h, w)
