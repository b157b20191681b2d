"""Occluders: thumbs, fingers and hands holding a document, and objects lying on it.

A hand enters from outside the frame (its forearm runs past the frame edge) and reaches just past
a document edge: 1 to 4 fingers lying over it, or a thumb alone holding a card whose palm and
fingers go under it (:mod:`idseg.documents.synth.hand_shapes` for the geometry,
:mod:`idseg.documents.synth.hands` for skin, shading and nails). Objects (pens,
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
from idseg.documents.synth.hand_shapes import hand_layout
from idseg.documents.synth.hands import render_hand, skin_tone
from idseg.documents.synth.scene_options import SceneOptions
from idseg.documents.synth.sprites import Sprite, cast_shadow, paste

logger = logging.getLogger(__name__)


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


def hand_over(
    rng: np.random.Generator,
    canvas: np.ndarray,
    coverage: np.ndarray,
    quad: np.ndarray,
    unit: float,
    pose: str | None = None,
    holds: bool = True,
) -> bool:
    """Paste a hand over an edge of ``quad``; ``False`` if no edge is in frame.

    The hand (:func:`~idseg.documents.synth.hand_shapes.hand_layout`) comes from outside the
    frame: 1 to 4 fingers over the edge, or a thumb alone with the rest of the hand holding the
    card from below. Its coverage is the union of its outline polygons' antialiased alpha.

    Args:
        rng: Random source.
        canvas: ``H x W x 3`` float32 scene, changed in place.
        coverage: ``H x W`` float32 occluder coverage, changed in place.
        quad: ``4 x 2`` document corners in the scene.
        unit: Pixels per millimetre of the document.
        pose: ``fingers``, ``thumb`` or ``None`` (random), see
            :func:`~idseg.documents.synth.hand_shapes.hand_layout`.
        holds: ``quad`` is a real document the hand's hidden parts pass under (``False`` for an
            imaginary one: then only the ``fingers`` pose makes sense).

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
    parts = hand_layout(rng, found[0], found[1], unit, hw, pose)
    sprite = render_hand(rng, parts, hw, skin_tone(rng), quad if holds else None)
    if sprite is None:  # pragma: no cover - the fingertips lie on an edge point inside the frame
        return False
    _paste_group(rng, canvas, coverage, [sprite], unit)
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
        hand_over(rng, canvas, coverage, fake, unit, pose="fingers", holds=False)
    for quad, u in zip(quads, units, strict=True):
        if rng.random() < opts.p_hand:
            hand_over(rng, canvas, coverage, quad, u)
        if rng.random() < opts.p_object:
            object_over(rng, canvas, coverage, quad, u)
    return coverage >= 0.5
