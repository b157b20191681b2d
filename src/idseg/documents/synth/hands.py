"""Paint synthetic hands: skin, soft volume shading, outline, creases, nails, texture.

:func:`render_hand` turns the outline polygons of :func:`~idseg.documents.synth.hand_shapes.
hand_layout` into one :class:`~idseg.documents.synth.sprites.Sprite`. Its alpha is the union of
the parts' antialiased polygons, nothing else: nails, knuckle creases, shading and texture only
change colours inside it, so the occluder mask (alpha ``>= 0.5``) is exactly the hand's outline.

The look: a skin tone drawn from a continuous range (very light to very dark, with warm or olive
undertones), each part shaded as a rounded solid under one light (:mod:`idseg.documents.synth.
shading`), a darker rim a few pixels wide, darker creases where digits touch, faint knuckle
creases at the joints of extended digits, nails (natural or polished) with a cuticle line and a
gloss, and a blotchy plus fine-grained skin texture.
"""

from __future__ import annotations

import logging
import math

import cv2
import numpy as np

from idseg.documents.synth.backgrounds import smooth_noise
from idseg.documents.synth.hand_shapes import HandPart
from idseg.documents.synth.shading import light_direction, lit, rounded_height
from idseg.documents.synth.sprites import Sprite

logger = logging.getLogger(__name__)

#: Anchors of the skin-tone range, very light to very dark (sRGB); tones are drawn between them.
SKIN_TONES = np.array(
    [[244, 214, 192], [236, 196, 168], [224, 178, 142], [203, 150, 112], [176, 121, 84],
     [146, 96, 64], [114, 73, 50], [84, 54, 39], [60, 40, 32]],
    np.float32,
)  # fmt: skip
_NAIL = np.array([246, 214, 206], np.float32)
_POLISH = np.array(
    [[180, 20, 40], [220, 90, 120], [120, 20, 50], [230, 180, 170], [110, 40, 80], [200, 60, 50]],
    np.float32,
)


def skin_tone(rng: np.random.Generator) -> np.ndarray:
    """A skin colour anywhere in the range of :data:`SKIN_TONES`, with a random undertone.

    Example:
        >>> tones = np.array([skin_tone(np.random.default_rng(s)) for s in range(200)])
        >>> bool(tones.mean(axis=1).max() - tones.mean(axis=1).min() > 120)
        True
    """
    x = rng.uniform(0.0, len(SKIN_TONES) - 1.0)
    k = min(int(x), len(SKIN_TONES) - 2)
    tone = SKIN_TONES[k] + (SKIN_TONES[k + 1] - SKIN_TONES[k]) * np.float32(x - k)
    warm, olive = rng.uniform(-1.0, 1.0), rng.uniform(0.0, 1.0)
    tone = tone + np.float32(warm * 6.0) * np.array([1.0, -0.5, -0.5], np.float32)
    tone = tone + np.float32(olive * 6.0) * np.array([0.2, 0.5, -1.0], np.float32)
    return np.clip(tone * np.float32(rng.uniform(0.95, 1.05)), 0, 255).astype(np.float32)


def _fill(shape: tuple[int, int], poly: np.ndarray, x0: int, y0: int) -> np.ndarray:
    """Antialiased coverage (float32) of ``poly`` (frame pixel centres) in a window at x0, y0."""
    mask = np.zeros(shape, np.uint8)
    local = np.round((poly - [x0, y0]) * 16.0).astype(np.int32)
    cv2.fillPoly(mask, [local], 255, cv2.LINE_AA, shift=4)
    return mask.astype(np.float32) / np.float32(255.0)


def _window(poly: np.ndarray, w: int, h: int, pad: int) -> tuple[int, int, int, int] | None:
    x0 = max(0, math.floor(poly[:, 0].min()) - pad)
    y0 = max(0, math.floor(poly[:, 1].min()) - pad)
    x1 = min(w, math.ceil(poly[:, 0].max()) + pad + 1)
    y1 = min(h, math.ceil(poly[:, 1].max()) + pad + 1)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def _solid(
    parts: list[HandPart], w: int, h: int, ox: int, oy: int, cover: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Union alpha, height, where two digits touch, and where a part goes under the document.

    A part marked ``under`` keeps its full height (it goes on beneath the document) but loses
    its alpha where the ``cover`` polygon lies.
    """
    alpha = np.zeros((h, w), np.float32)
    height = np.zeros((h, w), np.float32)
    owner = np.zeros((h, w), np.uint8)
    palm = np.zeros((h, w), bool)
    hidden = np.zeros((h, w), np.float32)
    under = cover is not None and any(p.under for p in parts)
    covered = _fill((h, w), cover, ox, oy) if under and cover is not None else None
    for k, part in enumerate(parts, start=1):
        win = _window(part.polygon - [ox, oy], w, h, 2)
        if win is None:
            continue
        x0, y0, x1, y1 = win
        a = _fill((y1 - y0, x1 - x0), part.polygon, ox + x0, oy + y0)
        inside = a >= 0.5
        hgt = rounded_height(inside, part.radius)
        np.maximum(height[y0:y1, x0:x1], hgt, out=height[y0:y1, x0:x1])
        if part.under and covered is not None:
            np.maximum(hidden[y0:y1, x0:x1], a, out=hidden[y0:y1, x0:x1])
            a = a * (1.0 - covered[y0:y1, x0:x1])
        view = alpha[y0:y1, x0:x1]
        view += (1.0 - view) * a
        if part.name == "arm":
            palm = np.zeros((h, w), bool)
            palm[y0:y1, x0:x1] = inside
        else:
            owner[y0:y1, x0:x1][inside] = k
    grown = cv2.dilate(owner, np.ones((3, 3), np.uint8))
    shrunk = cv2.erode(np.where(owner > 0, owner, 255).astype(np.uint8), np.ones((3, 3), np.uint8))
    seams = ((owner > 0) & ((grown != owner) | (shrunk != owner)) & ~palm).astype(np.float32)
    if covered is not None:  # the document's edge shades what goes under it
        hidden *= np.exp(
            -cv2.distanceTransform((covered < 0.5).astype(np.uint8), cv2.DIST_L2, 3) / 3.0
        )
    return alpha, height, seams, hidden


def _creases(parts: list[HandPart], shape: tuple[int, int], ox: int, oy: int) -> np.ndarray:
    """Faint skin folds across the back of extended digits at their joints."""
    crease = np.zeros(shape, np.uint8)
    for part in parts:
        for point, d, half in part.joints:
            if half < 4.0:
                continue
            across = np.array([d[1], -d[0]])
            for j in (-1.0, 0.0, 1.0):
                centre = point + d * (j * 0.16 * half) - [ox, oy]
                s = np.linspace(-0.62, 0.62, 9)[:, None]
                arc = centre + across * s * half + d * (0.12 * half * (1.0 - (s / 0.62) ** 2))
                pts = np.round(arc * 16.0).astype(np.int32)
                cv2.polylines(crease, [pts], False, 255, 1, cv2.LINE_AA, shift=4)
    return cv2.GaussianBlur(crease.astype(np.float32) / np.float32(255.0), (0, 0), 0.7)


def _nails(
    rng: np.random.Generator,
    rgb: np.ndarray,
    shade: np.ndarray,
    parts: list[HandPart],
    skin: np.ndarray,
    ox: int,
    oy: int,
) -> None:
    """Paint nails (natural or polished), glossy, with a darker cuticle line, in place."""
    polished = rng.random() < 0.12
    colour = _POLISH[int(rng.integers(len(_POLISH)))] if polished else skin * 0.6 + _NAIL * 0.4
    h, w = shade.shape
    for part in parts:
        if part.nail is None:
            continue
        win = _window(part.nail - [ox, oy], w, h, 2)
        if win is None:
            continue
        x0, y0, x1, y1 = win
        a = _fill((y1 - y0, x1 - x0), part.nail, ox + x0, oy + y0)
        rim = cv2.GaussianBlur(a, (0, 0), 0.8) - cv2.erode(a, np.ones((3, 3), np.uint8))
        nail = colour * shade[y0:y1, x0:x1, None]
        nail *= 1.0 - 0.22 * np.clip(rim, 0.0, 1.0)[:, :, None]
        view = rgb[y0:y1, x0:x1]
        view += (nail - view) * a[:, :, None]


def _body_light(
    rng: np.random.Generator, height: np.ndarray, digit_r: float
) -> tuple[np.ndarray, np.ndarray]:
    """Shade and highlight of the hand's volume under a random light, with a light falloff.

    Wide digits (``digit_r >= 10`` pixels) are lit on a half-size copy and enlarged back: the
    volume's shading has no detail finer than a few pixels there (the rim is added at full size).
    """
    h, w = height.shape
    f = 2 if digit_r >= 10.0 else 1
    if f > 1:
        height = cv2.resize(height, (-(-w // f), -(-h // f)), interpolation=cv2.INTER_AREA) / f
    # A distance field has kinks along the medial axis and staircase steps: smooth them away.
    height = cv2.GaussianBlur(height, (0, 0), float(np.clip(0.08 * digit_r, 0.7, 3.0)) / f)
    light = light_direction(rng)
    ambient, shine, gloss = (float(rng.uniform(*r)) for r in ((0.3, 0.45), (0.04, 0.14), (8, 22)))
    shade, spec = lit(height, light, ambient, shine, gloss, depth=0.6 * digit_r / f)
    sh, sw = height.shape
    ys, xs = np.ogrid[0:sh, 0:sw]
    ramp = (xs * np.float32(light[0]) + ys * np.float32(light[1])) / np.float32(max(sh, sw))
    shade *= 1.0 + np.float32(rng.uniform(0.0, 0.25)) * (ramp - ramp.mean())
    if f > 1:
        shade = cv2.resize(shade, (w, h), interpolation=cv2.INTER_LINEAR)
        spec = cv2.resize(spec, (w, h), interpolation=cv2.INTER_LINEAR)
    return shade, spec


def render_hand(
    rng: np.random.Generator,
    parts: list[HandPart],
    hw: tuple[int, int],
    skin: np.ndarray,
    cover: np.ndarray | None = None,
) -> Sprite | None:
    """Paint hand ``parts`` (bottom to top) as one sprite clipped near a frame of size ``hw``.

    Args:
        rng: Random source (light, texture, nails).
        parts: Outlines from :func:`~idseg.documents.synth.hand_shapes.hand_layout`.
        hw: Frame ``(height, width)``; the sprite covers at most the frame plus 2 pixels.
        skin: RGB skin colour (:func:`skin_tone`).
        cover: Outline of the document the hand holds (frame pixels): parts marked ``under``
            are hidden where it lies and shaded along its edge.

    Returns:
        The sprite, or ``None`` when the hand misses the frame.

    Example:
        >>> from idseg.documents.synth.hand_shapes import hand_layout
        >>> rng = np.random.default_rng(0)
        >>> parts = hand_layout(rng, np.array([80.0, 50]), np.array([0.0, 1]), 1.0, (120, 160))
        >>> s = render_hand(rng, parts, (120, 160), skin_tone(rng))
        >>> s.alpha.shape == s.rgb.shape[:2], float(s.alpha.max())
        (True, 1.0)
    """
    fh, fw = hw
    pts = np.concatenate([p.polygon for p in parts])
    x0, y0 = max(math.floor(pts[:, 0].min()) - 2, -2), max(math.floor(pts[:, 1].min()) - 2, -2)
    x1, y1 = (
        min(math.ceil(pts[:, 0].max()) + 3, fw + 2),
        min(math.ceil(pts[:, 1].max()) + 3, fh + 2),
    )
    if x1 <= x0 or y1 <= y0:
        return None
    w, h = x1 - x0, y1 - y0
    alpha, height, seams, hidden = _solid(parts, w, h, x0, y0, cover)
    digit_r = float(np.median([p.radius for p in parts if p.name != "arm"] or [4.0]))
    shade, spec = _body_light(rng, height, digit_r)
    edge = cv2.distanceTransform((alpha >= 0.5).astype(np.uint8), cv2.DIST_L2, 3)
    rim = float(np.clip(0.09 * digit_r, 0.8, 3.0))
    shade *= 1.0 - 0.3 * np.exp(-edge / np.float32(rim))
    plain = shade.copy()  # nails lie over the skin's folds
    shade *= 1.0 - 0.35 * cv2.GaussianBlur(seams, (0, 0), max(0.6, 0.5 * rim))
    shade *= 1.0 - 0.2 * _creases(parts, (h, w), x0, y0)
    if hidden.any():
        shade *= 1.0 - 0.35 * hidden
    blotch = smooth_noise(rng, h, w, max(2.0, w / max(4.0 * digit_r, 1.0)))
    grain = rng.random((h, w), dtype=np.float32) - np.float32(0.5)  # uniform: sd 0.29
    texture = shade * (1.0 + 0.045 * blotch + 0.06 * grain)
    # Blotches are also a little redder or paler: skin is never one flat colour.
    redder = skin * np.array([0.02, -0.012, -0.012], np.float32)
    rgb = blotch[:, :, None] * redder + skin
    rgb *= texture[:, :, None]
    _nails(rng, rgb, plain, parts, skin, x0, y0)
    rgb += (spec * np.float32(255.0))[:, :, None]
    return Sprite(x0, y0, alpha, np.clip(rgb, 0.0, 255.0, out=rgb))
