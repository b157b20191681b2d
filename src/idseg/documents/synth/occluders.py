"""Occluders: thumbs, fingers and hands holding a document, and objects lying on it.

A finger enters from outside the frame and ends just past a document edge, the way a thumb holds
a card; when the frame edge is far away, a palm and a forearm carry the fingers in. Objects (pens,
coins, notes...) from :mod:`idseg.documents.synth.clutter` may also lie across a document. Every
occluder is pasted onto the canvas with a soft cast shadow and adds its alpha to a coverage map:
where the coverage is ``>= 0.5`` the class mask says background and the scene's occluder mask says
``True``.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from idseg.documents.synth.clutter import random_object
from idseg.documents.synth.scene_options import SceneOptions
from idseg.documents.synth.sprites import Sprite, capsule, cast_shadow, paste

logger = logging.getLogger(__name__)

#: Skin tones from very light to very dark (sRGB).
SKIN_TONES = np.array(
    [[255, 224, 196], [241, 194, 160], [224, 172, 135], [198, 134, 96], [160, 105, 70],
     [120, 78, 52], [84, 55, 38]],
    np.float32,
)  # fmt: skip


def _exit_distance(point: np.ndarray, direction: np.ndarray, hw: tuple[int, int]) -> float:
    """How far from ``point`` along ``direction`` the ray leaves the frame (0 if already out)."""
    best = math.inf
    for axis, size in ((0, hw[1]), (1, hw[0])):
        d = float(direction[axis])
        if abs(d) < 1e-9:
            continue
        limit = -0.5 if d < 0 else size - 0.5
        best = min(best, (limit - float(point[axis])) / d)
    return max(0.0, best)


def _edge_point(
    rng: np.random.Generator, quad: np.ndarray, hw: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray] | None:
    """A point on a document edge inside the frame and the inward unit normal there."""
    centre = quad.mean(axis=0)
    for _ in range(12):
        k = int(rng.integers(4))
        a, b = quad[k], quad[(k + 1) % 4]
        p = a + (b - a) * rng.uniform(0.15, 0.85)
        if not (0 <= p[0] <= hw[1] - 1 and 0 <= p[1] <= hw[0] - 1):
            continue
        edge = b - a
        n = np.array([-edge[1], edge[0]]) / max(float(np.hypot(*edge)), 1e-9)
        if np.dot(centre - p, n) < 0:
            n = -n
        return p, n
    return None


def _skin(rng: np.random.Generator) -> np.ndarray:
    tone = SKIN_TONES[int(rng.integers(len(SKIN_TONES)))] * rng.uniform(0.92, 1.05)
    return np.clip(tone + rng.normal(0, 6, 3), 0, 255).astype(np.float32)


def _finger(
    rng: np.random.Generator, base: np.ndarray, tip: np.ndarray, radius: float, skin: np.ndarray
) -> list[Sprite]:
    """A finger from ``base`` to ``tip`` with a nail near the tip."""
    sprites = [capsule(tuple(base), tuple(tip), radius, skin, shading=0.4)]
    axis = (tip - base) / max(float(np.hypot(*(tip - base))), 1e-9)
    if rng.random() < 0.8:
        nail = np.clip(skin * 0.6 + np.array([255, 205, 200], np.float32) * 0.4, 0, 255)
        a = tip - axis * radius * 0.35
        b = tip - axis * radius * 1.2
        sprites.append(capsule(tuple(a), tuple(b), radius * 0.62, nail, shading=0.25))
    return sprites


def _palm(
    rng: np.random.Generator,
    tips: list[np.ndarray],
    n: np.ndarray,
    unit: float,
    hw: tuple[int, int],
) -> tuple[list[np.ndarray], list[tuple[tuple[float, float], tuple[float, float], float]]]:
    """Finger bases and the palm and forearm capsules of a hand reaching ``tips`` along ``n``.

    Fingers leave the palm straight towards their tips; a lone finger (a thumb) leaves a palm
    that sits to one side.
    """
    along = np.array([-n[1], n[0]])
    p = np.mean(tips, axis=0)
    finger = rng.uniform(45.0, 65.0) * unit
    half_w, half_l = rng.uniform(38.0, 45.0) * unit, rng.uniform(36.0, 42.0) * unit
    shift = along * float(rng.choice([-1.0, 1.0])) * half_w * 1.1 if len(tips) == 1 else 0.0 * along
    centre = p - n * (finger + half_l) + shift
    r = min(half_w, half_l)
    palm = (_pt(centre - along * (half_w - r)), _pt(centre + along * (half_w - r)), r)
    arm_end = centre - n * (_exit_distance(centre, -n, hw) + 80 * unit)
    arm = (_pt(centre), _pt(arm_end), rng.uniform(28.0, 34.0) * unit)
    if len(tips) == 1:
        bases = [centre - shift * 0.5]
    else:
        bases = [t - n * float((t - centre) @ n) for t in tips]
    return bases, [arm, palm]


def _pt(v: np.ndarray) -> tuple[float, float]:
    return float(v[0]), float(v[1])


def hand_over(
    rng: np.random.Generator,
    canvas: np.ndarray,
    coverage: np.ndarray,
    quad: np.ndarray,
    unit: float,
) -> bool:
    """Paste a thumb or a few fingers over an edge of ``quad``; ``False`` if no edge is in frame.

    Args:
        rng: Random source.
        canvas: ``H x W x 3`` float32 scene, changed in place.
        coverage: ``H x W`` float32 occluder coverage, changed in place.
        quad: ``4 x 2`` document corners in the scene.
        unit: Pixels per millimetre of the document.

    Example:
        >>> canvas, cov = np.full((120, 160, 3), 200, np.float32), np.zeros((120, 160), np.float32)
        >>> quad = np.array([[30.0, 30], [130, 30], [130, 90], [30, 90]])
        >>> hand_over(np.random.default_rng(0), canvas, cov, quad, 1.0), bool(cov.max() > 0.99)
        (True, True)
    """
    hw = canvas.shape[:2]
    found = _edge_point(rng, quad, hw)
    if found is None:
        return False
    p, n = found
    skin = _skin(rng)
    count = 1 if rng.random() < 0.6 else int(rng.integers(2, 5))
    radius = rng.uniform(8.5, 11.0) * unit if count == 1 else rng.uniform(7.0, 8.5) * unit
    along = np.array([-n[1], n[0]])
    offsets = (np.arange(count) - (count - 1) / 2) * radius * 2.1
    tips = [p + n * rng.uniform(0.3, 1.6) * radius * 2 + along * off for off in offsets]
    sprites: list[Sprite] = []
    if _exit_distance(p, -n, hw) < 70 * unit:  # the frame edge is close: fingers come from it
        bases = [t - n * (_exit_distance(t, -n, hw) + 3 * radius) for t in tips]
    else:  # a palm and a forearm carry the fingers in from the frame edge
        bases, palm = _palm(rng, tips, n, unit, hw)
        sprites.extend(capsule(a, b, r, skin * 0.96, 0.3) for a, b, r in palm)
    for tip, base in zip(tips, bases, strict=True):
        sprites.extend(_finger(rng, base, tip, radius * rng.uniform(0.93, 1.05), skin))
    _paste_group(rng, canvas, coverage, sprites, unit)
    return True


def object_over(
    rng: np.random.Generator,
    canvas: np.ndarray,
    coverage: np.ndarray,
    quad: np.ndarray,
    unit: float,
) -> None:
    """Paste a clutter object (pen, coin, note...) lying across the document ``quad``.

    Example:
        >>> canvas, cov = np.full((120, 160, 3), 200, np.float32), np.zeros((120, 160), np.float32)
        >>> quad = np.array([[30.0, 30], [130, 30], [130, 90], [30, 90]])
        >>> object_over(np.random.default_rng(2), canvas, cov, quad, 0.8); bool(cov.max() > 0.5)
        True
    """
    w = rng.dirichlet(np.ones(4))
    centre = w @ quad
    sprite = random_object(rng, (float(centre[0]), float(centre[1])), unit)
    _paste_group(rng, canvas, coverage, [sprite], unit)


def _paste_group(
    rng: np.random.Generator,
    canvas: np.ndarray,
    coverage: np.ndarray,
    sprites: list[Sprite],
    unit: float,
) -> None:
    lift = rng.uniform(2.0, 8.0) * unit
    direction = rng.uniform(0, 2 * np.pi)
    offset = (lift * math.cos(direction), lift * math.sin(direction))
    strength = float(rng.uniform(0.25, 0.5))
    for sprite in sprites:
        cast_shadow(canvas, sprite, offset, max(1.0, lift * 0.8), strength)
    for sprite in sprites:
        paste(canvas, sprite, coverage)


def add_occluders(
    rng: np.random.Generator,
    canvas: np.ndarray,
    quads: list[np.ndarray],
    units: list[float],
    unit: float,
    opts: SceneOptions,
) -> np.ndarray:
    """Paste hands and objects over documents (per ``opts``); return the occluder mask.

    Args:
        rng: Random source.
        canvas: ``H x W x 3`` float32 scene, changed in place.
        quads: Document quads in the scene (none: a negative, which may get an empty hand).
        units: Pixels per millimetre of each document.
        unit: Pixels per millimetre for a negative's hand.
        opts: Probabilities ``p_hand`` and ``p_object``.

    Returns:
        ``H x W`` bool, where the occluders' coverage is ``>= 0.5``.

    Example:
        >>> from idseg.documents.synth.scene_options import SceneOptions
        >>> canvas = np.full((120, 160, 3), 200, np.float32)
        >>> quad = np.array([[30.0, 30], [130, 30], [130, 90], [30, 90]])
        >>> mask = add_occluders(np.random.default_rng(0), canvas, [quad], [1.0], 1.0, SceneOptions(p_hand=1.0))
        >>> bool(mask.any())
        True
    """
    h, w = canvas.shape[:2]
    coverage = np.zeros((h, w), np.float32)
    if not quads and rng.random() < opts.p_hand:  # a hand with nothing in it: a hard negative
        x0, y0 = rng.uniform(0.2, 0.5) * w, rng.uniform(0.2, 0.5) * h
        fake = np.array(
            [[x0, y0], [x0 + w * 0.3, y0], [x0 + w * 0.3, y0 + h * 0.3], [x0, y0 + h * 0.3]]
        )
        hand_over(rng, canvas, coverage, fake, unit)
    for quad, u in zip(quads, units, strict=True):
        if rng.random() < opts.p_hand:
            hand_over(rng, canvas, coverage, quad, u)
        if rng.random() < opts.p_object:
            object_over(rng, canvas, coverage, quad, u)
    return coverage >= 0.5
