"""Clutter: everyday objects lying around (pens, coins, notes, receipts, cards, phones, clips).

Each maker draws one object as a :class:`~idseg.documents.synth.sprites.Sprite` from a centre, an
angle and ``unit`` (pixels per millimetre, so objects keep believable sizes beside documents).
Objects are background in the ground truth. None of them looks like an identity document: paper
carries only ruled lines, word-like dashes or scribbles (no portrait, no MRZ, no field layout), and
blank cards are plain.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import cv2
import numpy as np

from idseg.documents.synth.backgrounds import smooth_noise
from idseg.documents.synth.shading import light_direction, lit, rounded_height
from idseg.documents.synth.sprites import (
    Sprite,
    capsule,
    cast_shadow,
    disc,
    paste,
    rounded_rect_alpha,
    upright,
)

logger = logging.getLogger(__name__)

Maker = Callable[[np.random.Generator, tuple[float, float], float, float], Sprite]

_PEN_COLOURS = np.array(
    [[20, 40, 150], [15, 15, 18], [170, 20, 25], [235, 235, 235], [30, 120, 60]], np.float32
)
_METALS = np.array([[212, 175, 55], [192, 192, 196], [184, 115, 51], [170, 160, 120]], np.float32)
_NOTES = np.array(
    [[255, 240, 120], [255, 190, 200], [170, 230, 255], [190, 255, 170], [250, 250, 245]],
    np.float32,
)
_INKS = np.array([[30, 30, 35], [25, 45, 140], [70, 70, 75], [120, 20, 20]], np.float32)


def _pick(rng: np.random.Generator, palette: np.ndarray, jitter: float = 12.0) -> np.ndarray:
    colour = palette[int(rng.integers(len(palette)))] + rng.normal(0.0, jitter, 3)
    return np.clip(colour, 0, 255).astype(np.float32)


def solid_look(
    rng: np.random.Generator, img: np.ndarray, alpha: np.ndarray, bevel: float, shine: float
) -> np.ndarray:
    """Shade a flat picture as a solid: rounded edges ``bevel`` pixels wide, one light, a gloss.

    Also adds faint blotchy texture, so no object is one flat colour.

    Example:
        >>> img = np.full((20, 30, 3), 150, np.float32)
        >>> out = solid_look(np.random.default_rng(0), img, np.ones((20, 30), np.float32), 4.0, 0.2)
        >>> out.shape, bool(out.std() > 1.0)
        ((20, 30, 3), True)
    """
    h, w = alpha.shape
    inside = np.zeros((h + 2, w + 2), bool)
    inside[1:-1, 1:-1] = alpha >= 0.5  # the picture's border is the object's edge
    height = rounded_height(inside, max(bevel, 1.0))[1:-1, 1:-1]
    height = cv2.GaussianBlur(height, (0, 0), max(0.8, 0.15 * bevel))  # no medial-axis ridges
    ambient, gloss = float(rng.uniform(0.35, 0.55)), float(rng.uniform(10.0, 40.0))
    shade, spec = lit(height, light_direction(rng), ambient, shine, gloss)
    shade *= 1.0 + 0.04 * smooth_noise(rng, h, w, max(2.0, w / 12.0))
    return np.asarray(img, np.float32) * shade[:, :, None] + (spec * np.float32(255.0))[:, :, None]


def pen(rng: np.random.Generator, centre: tuple[float, float], angle: float, unit: float) -> Sprite:
    """A ballpoint pen: a shaded barrel with a cone tip.

    Example:
        >>> bool(pen(np.random.default_rng(0), (50.0, 50.0), 30.0, 0.5).alpha.max() > 0.99)
        True
    """
    length, radius = rng.uniform(120, 150) * unit, rng.uniform(3.5, 5.0) * unit
    d = np.array([math.cos(math.radians(angle)), math.sin(math.radians(angle))])
    c = np.asarray(centre, np.float64)
    a, b = c - d * length / 2, c + d * length / 2
    body = capsule(tuple(a), tuple(b), radius, _pick(rng, _PEN_COLOURS), shading=0.5)
    tip = b + d * radius * 2.2
    side = np.array([-d[1], d[0]]) * radius
    pts = np.array([b + side, b - side, tip])
    _stamp_polygon(body, pts, np.array([200, 200, 205], np.float32))
    return body


def _stamp_polygon(sprite: Sprite, pts: np.ndarray, colour: np.ndarray) -> None:
    """Draw an antialiased polygon (frame coordinates) into a sprite, growing nothing."""
    h, w = sprite.alpha.shape
    local = np.round((pts - [sprite.x0, sprite.y0]) * 16).astype(np.int32)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [local], 255, cv2.LINE_AA, shift=4)
    a = (mask.astype(np.float32) / 255.0)[:, :, None]
    sprite.rgb = sprite.rgb * (1 - a) + colour * a
    sprite.alpha = np.maximum(sprite.alpha, a[:, :, 0])


def coin(
    rng: np.random.Generator, centre: tuple[float, float], angle: float, unit: float
) -> Sprite:
    """A metal coin with a rim and an embossed-looking texture.

    Example:
        >>> coin(np.random.default_rng(0), (20.0, 20.0), 0.0, 1.0).alpha.shape[0] > 16
        True
    """
    radius = rng.uniform(8.0, 14.5) * unit
    sprite = disc(centre, radius, _pick(rng, _METALS, 8.0), shading=0.35)
    bumps = rng.normal(0.0, 10.0, (8, 8)).astype(np.float32)
    sprite.rgb += cv2.resize(bumps, sprite.alpha.shape[::-1], interpolation=cv2.INTER_CUBIC)[
        :, :, None
    ]
    return sprite


def _text_lines(
    rng: np.random.Generator, img: np.ndarray, margin: int, pitch: float, ink: np.ndarray
) -> None:
    """Word-like dashes on lines: text seen from afar, not a document layout."""
    h, w = img.shape[:2]
    stroke = max(1, round(pitch * rng.uniform(0.25, 0.4)))
    y = margin + pitch
    while y < h - margin:
        x, end = float(margin), w - margin - rng.uniform(0, 0.4) * (w - 2 * margin)
        while x < end:
            word = rng.uniform(1.5, 6.0) * pitch
            img[int(y) - stroke : int(y), int(x) : int(min(x + word, end))] = ink
            x += word + pitch * rng.uniform(0.5, 1.0)
        y += pitch * rng.uniform(1.3, 1.8)


def _scribble(rng: np.random.Generator, img: np.ndarray, ink: np.ndarray) -> None:
    h, w = img.shape[:2]
    pts = np.cumsum(rng.normal(0, 1, (40, 2)), axis=0)
    pts = (pts - pts.min(0)) / np.maximum(np.ptp(pts, axis=0), 1e-6) * [w * 0.7, h * 0.6] + [
        w * 0.15,
        h * 0.2,
    ]
    cv2.polylines(
        img,
        [np.round(pts * 16).astype(np.int32)],
        False,
        ink.tolist(),
        max(1, w // 60),
        cv2.LINE_AA,
        4,
    )


def note(
    rng: np.random.Generator, centre: tuple[float, float], angle: float, unit: float
) -> Sprite:
    """A sticky note (scribbles), a till receipt (word dashes) or a ruled notebook leaf (scribbles).

    Loose paper never carries a document's look: printed-looking lines only on narrow receipts,
    handwriting-like scribbles on notes and notebook leaves.

    Example:
        >>> note(np.random.default_rng(0), (40.0, 40.0), 10.0, 0.5).rgb.shape[2]
        3
    """
    style = int(rng.integers(3))
    size_mm = [
        (76, 76),
        (rng.uniform(57, 80), rng.uniform(120, 220)),
        (rng.uniform(100, 150), rng.uniform(140, 210)),
    ][style]
    w, h = max(8, round(size_mm[0] * unit)), max(8, round(size_mm[1] * unit))
    colour = _pick(rng, _NOTES if style == 0 else _NOTES[-1:], 4.0)
    img = np.broadcast_to(colour, (h, w, 3)).copy()
    ink = _pick(rng, _INKS, 10.0)
    if style == 1:
        _text_lines(rng, img, max(2, round(5 * unit)), max(3.0, rng.uniform(3.0, 5.0) * unit), ink)
    else:
        if style == 2:
            pitch = max(3.0, 8.0 * unit)
            for y in np.arange(pitch * 2, h, pitch):
                img[int(y), :] = [150, 180, 220]
        _scribble(rng, img, ink)
    curl = np.linspace(rng.uniform(0.9, 1.0), rng.uniform(1.0, 1.06), h, dtype=np.float32)
    img *= curl[:, None, None]  # paper is never evenly lit
    return upright(img, np.ones((h, w), np.float32), centre, angle)


def card(
    rng: np.random.Generator, centre: tuple[float, float], angle: float, unit: float
) -> Sprite:
    """A blank plastic card (no print at all) with rounded corners and a soft sheen.

    Example:
        >>> card(np.random.default_rng(0), (40.0, 40.0), 0.0, 0.5).alpha.shape
        (31, 47)
    """
    w, h = max(8, round(85.6 * unit)), max(6, round(54.0 * unit))
    colour = rng.uniform(20, 240, 3).astype(np.float32)
    ramp = np.linspace(0.9, 1.1, w, dtype=np.float32)[None, :, None]
    alpha = rounded_rect_alpha(h, w, 3.18 * unit)
    img = solid_look(rng, np.broadcast_to(colour, (h, w, 3)) * ramp, alpha, 0.8 * unit, 0.15)
    return upright(img, alpha, centre, angle)


def phone(
    rng: np.random.Generator, centre: tuple[float, float], angle: float, unit: float
) -> Sprite:
    """A smartphone lying face up: a dark body and a dim glassy screen.

    Example:
        >>> phone(np.random.default_rng(0), (60.0, 60.0), 0.0, 0.5).alpha.shape[0] > 70
        True
    """
    w, h = max(10, round(rng.uniform(68, 78) * unit)), max(16, round(rng.uniform(140, 160) * unit))
    body = _pick(rng, np.array([[25, 25, 28], [200, 200, 205], [40, 50, 80]], np.float32), 6.0)
    img = np.broadcast_to(body, (h, w, 3)).copy()
    m = max(1, round(3 * unit))
    screen = np.linspace(20, 60, h - 2 * m, dtype=np.float32)[:, None, None]
    img[m : h - m, m : w - m] = screen + np.float32(rng.uniform(0, 15))
    alpha = rounded_rect_alpha(h, w, 8 * unit)
    return upright(solid_look(rng, img, alpha, 3.0 * unit, 0.3), alpha, centre, angle)


def clip(
    rng: np.random.Generator, centre: tuple[float, float], angle: float, unit: float
) -> Sprite:
    """A paper clip: a thin bent wire loop.

    Example:
        >>> bool(clip(np.random.default_rng(0), (40.0, 40.0), 0.0, 2.0).alpha.max() > 0.5)
        True
    """
    w, h = max(12, round(32 * unit)), max(6, round(9 * unit))
    img = np.broadcast_to(_pick(rng, _METALS[1:2], 10.0), (h + 4, w + 4, 3)).copy()
    mask = np.zeros((h + 4, w + 4), np.uint8)
    t = max(1, round(0.9 * unit))
    path = np.array(
        [[w, h], [2, h], [2, 2], [w - 2, 2], [w - 2, h - 3], [6, h - 3], [6, 5], [w - 8, 5]]
    )
    cv2.polylines(mask, [path.astype(np.int32)], False, 255, t, cv2.LINE_AA)
    return upright(img, mask.astype(np.float32) / 255.0, centre, angle)


def shape(
    rng: np.random.Generator, centre: tuple[float, float], angle: float, unit: float
) -> Sprite:
    """A random object: an ellipse or a polygon in a random colour (erasers, lids, boxes), shaded.

    Example:
        >>> bool(shape(np.random.default_rng(0), (40.0, 40.0), 0.0, 1.0).alpha.max() > 0.99)
        True
    """
    w, h = (max(6, round(rng.uniform(15, 80) * unit)) for _ in range(2))
    mask = np.zeros((h, w), np.uint8)
    if rng.random() < 0.5:
        cv2.ellipse(mask, (((w - 1) / 2, (h - 1) / 2), (w - 1, h - 1), 0.0), 255, -1, cv2.LINE_AA)
    else:
        k = int(rng.integers(3, 8))
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        pts = np.stack([(w - 1) / 2 * (1 + np.cos(ang)), (h - 1) / 2 * (1 + np.sin(ang))], 1)
        cv2.fillPoly(mask, [np.round(pts * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
    colour = rng.uniform(0, 255, 3).astype(np.float32)
    alpha = mask.astype(np.float32) / 255.0
    bevel = rng.uniform(0.1, 0.6) * min(w, h) / 2  # from a bevelled box to a dome
    img = solid_look(rng, np.broadcast_to(colour, (h, w, 3)), alpha, bevel, rng.uniform(0.0, 0.3))
    return upright(img, alpha, centre, angle)


#: Clutter makers by name, with their relative frequencies.
MAKERS: dict[str, tuple[Maker, float]] = {
    "pen": (pen, 2.0),
    "coin": (coin, 2.0),
    "note": (note, 2.0),
    "card": (card, 0.7),
    "phone": (phone, 0.7),
    "clip": (clip, 1.0),
    "shape": (shape, 2.0),
}


def random_object(rng: np.random.Generator, centre: tuple[float, float], unit: float) -> Sprite:
    """One clutter object of a random kind at ``centre``, at a random angle.

    Example:
        >>> random_object(np.random.default_rng(0), (30.0, 30.0), 0.5).alpha.ndim
        2
    """
    names = list(MAKERS)
    weights = np.array([MAKERS[n][1] for n in names])
    name = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    return MAKERS[name][0](rng, centre, float(rng.uniform(0, 360)), unit)


def add_clutter(rng: np.random.Generator, canvas: np.ndarray, count: int, unit: float) -> None:
    """Scatter ``count`` objects over a float32 ``canvas`` in place, each with a soft shadow.

    Example:
        >>> canvas = np.full((60, 80, 3), 128, np.float32)
        >>> add_clutter(np.random.default_rng(0), canvas, 3, 0.4)
        >>> bool((canvas != 128).any())
        True
    """
    h, w = canvas.shape[:2]
    for _ in range(count):
        centre = (float(rng.uniform(-0.1, 1.1) * w), float(rng.uniform(-0.1, 1.1) * h))
        sprite = random_object(rng, centre, unit)
        _shadowed(rng, canvas, sprite, unit)


def _shadowed(rng: np.random.Generator, canvas: np.ndarray, sprite: Sprite, unit: float) -> None:
    lift = rng.uniform(0.5, 3.0) * unit
    cast_shadow(canvas, sprite, (lift, lift), max(0.5, lift), float(rng.uniform(0.25, 0.5)))
    paste(canvas, sprite)
