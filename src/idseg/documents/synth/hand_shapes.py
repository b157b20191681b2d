"""Geometry of synthetic hands: forearm, palm, thumb and fingers as outline polygons.

A hand is laid out in its own frame, in millimetres, seen from the back (a right hand; a left
hand is its mirror image): ``x`` runs across the knuckles towards the thumb, ``y`` along the
fingers, and the knuckle line lies at ``y = 0``. Each digit is a chain of jointed segments (three
for a finger, metacarpal, proximal and distal for the thumb) whose width tapers joint by joint
and ends in a rounded tip; extended digits carry a nail. Fingers that are not extended are curled
into a loose fist (short blunt stubs). :func:`hand_layout` places the hand with a similarity
transform so that the chosen digits' tips lie just inside a document edge, and maps every
outline to frame pixels (pixel centres, see :mod:`idseg.documents.synth.raster`).

Two poses: ``fingers`` (1 to 4 extended fingers over the edge, the thumb sometimes beside them)
and ``thumb`` (a thumb alone over the edge, the rest of the hand holding the card from below: its
palm and fingers are marked :attr:`HandPart.under`, and the painter hides them where the
document lies).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace

import numpy as np

logger = logging.getLogger(__name__)

#: Finger names from the thumb side.
FINGERS = ("index", "middle", "ring", "little")
#: Knuckle position (mm), length from knuckle to tip (mm), base half-width (mm), angle (degrees).
_FINGER_SPECS = {
    "index": ((26.0, -6.0), 74.0, 9.4, 5.0),
    "middle": ((8.5, -3.0), 81.0, 9.6, 1.0),
    "ring": ((-9.0, -5.0), 76.0, 9.0, -4.0),
    "little": ((-25.5, -13.0), 60.0, 7.9, -10.0),
}
#: Share of a finger's length per segment (proximal, middle, distal).
_SEGMENTS = (0.47, 0.29, 0.24)
#: Half-width at the base, the two joints and the tip, as shares of the base half-width.
_TAPER = (1.0, 0.92, 0.84, 0.77)
#: Palm and wrist outline of a right hand (mm), from the little finger's knuckle round the thumb side.
_PALM = np.array(
    [[-37, -14], [-31, 4], [-12, 9], [10, 10], [29, 5], [39, -4], [43, -26], [46, -50],
     [40, -72], [30, -92], [28, -102], [-28, -102], [-33, -90], [-40, -58], [-41, -34]],
    np.float64,
)  # fmt: skip


@dataclass(frozen=True)
class HandPart:
    """One part of a hand in frame pixels.

    Attributes:
        name: ``arm`` (palm, wrist and forearm), ``thumb`` or a finger name.
        polygon: ``K x 2`` closed outline (pixel centres).
        radius: Half its thickness in pixels (how round it is shaded).
        joints: Per joint of an extended digit: ``(point, unit direction, half-width)`` in pixels.
        nail: ``N x 2`` nail outline in pixels, or ``None``.
        under: The part passes under the document (hidden where the document lies).
    """

    name: str
    polygon: np.ndarray
    radius: float
    joints: tuple[tuple[np.ndarray, np.ndarray, float], ...] = ()
    nail: np.ndarray | None = None
    under: bool = False


@dataclass(frozen=True)
class _Digit:
    """A digit in the hand's frame (millimetres)."""

    name: str
    outline: np.ndarray
    half: float
    joints: tuple[tuple[np.ndarray, np.ndarray, float], ...]
    nail: np.ndarray | None
    tip: np.ndarray
    direction: np.ndarray


def _unit(angle: float) -> np.ndarray:
    """Direction ``angle`` radians from ``+y`` towards ``+x``."""
    return np.array([math.sin(angle), math.cos(angle)])


def digit_outline(
    base: np.ndarray,
    angle: float,
    lengths: tuple[float, ...],
    half_widths: tuple[float, ...],
    bends: tuple[float, ...],
    cap: float = 1.08,
) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray, float]], np.ndarray]:
    """Outline of a digit: jointed segments, tapering half-widths and a rounded tip.

    Args:
        base: Start of the first segment ``(x, y)``.
        angle: Direction of the first segment, radians from ``+y`` towards ``+x``.
        lengths: Segment lengths, base to tip (the tip's rounding lies within the last one).
        half_widths: ``len(lengths) + 1`` half-widths: at the base, each joint and the tip.
        bends: ``len(lengths) - 1`` turns at the joints, radians.
        cap: Length of the rounded end over its half-width (1: a half disc, less: blunter).

    Returns:
        The closed outline (``K x 2``), the joints ``(point, direction, half-width)`` and the
        tip point.

    Example:
        >>> poly, joints, tip = digit_outline(np.zeros(2), 0.0, (30.0, 20.0), (8.0, 7.0, 6.0), (0.0,))
        >>> tip.tolist(), len(joints), round(float(poly[:, 0].max()), 2)
        ([0.0, 50.0], 1, 8.0)
    """
    stations, dirs = [np.asarray(base, np.float64)], []
    heading = angle
    for k, length in enumerate(lengths):
        if k:
            heading += bends[k - 1]
        dirs.append(_unit(heading))
        stations.append(stations[-1] + dirs[-1] * length)
    tip_r = half_widths[-1]
    pts, widths = [], []
    for k, length in enumerate(lengths):
        last = k == len(lengths) - 1
        span = max(length - tip_r * cap, 0.0) if last else length
        steps = max(2, math.ceil(span / max(half_widths[k] * 0.5, 1e-6)))
        for t in np.linspace(0.0, 1.0, steps, endpoint=False):
            pts.append(stations[k] + dirs[k] * span * t)
            bulge = 1.0 + 0.035 * math.exp(-(((1.0 - t) * length) ** 2) / max(tip_r, 1e-6) ** 2)
            widths.append((half_widths[k] + (half_widths[k + 1] - half_widths[k]) * t) * bulge)
    centre = stations[-1] - dirs[-1] * tip_r * cap
    pts.append(centre)
    widths.append(tip_r)
    line = np.array(pts)
    tangent = np.gradient(line, axis=0)
    tangent /= np.maximum(np.hypot(tangent[:, 0], tangent[:, 1]), 1e-9)[:, None]
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)  # to the digit's right (-x)
    w = np.array(widths)[:, None]
    right, left = line + normal * w, line - normal * w
    d, n = dirs[-1], np.array([dirs[-1][1], -dirs[-1][0]])
    cap_pts = [
        centre + tip_r * (math.cos(a) * n + cap * math.sin(a) * d)
        for a in np.linspace(0, np.pi, 13)
    ]
    outline = np.concatenate([right, np.array(cap_pts[1:-1]), left[::-1]])
    joints = [(stations[k], dirs[k], half_widths[k]) for k in range(1, len(lengths))]
    return outline, joints, stations[-1]


def nail_outline(tip: np.ndarray, direction: np.ndarray, half_width: float) -> np.ndarray:
    """A nail on a digit's back: a rounded plate ending just short of the tip.

    Example:
        >>> nail = nail_outline(np.array([0.0, 50.0]), np.array([0.0, 1.0]), 6.0)
        >>> bool(nail[:, 1].max() < 50.0 and abs(nail[:, 0]).max() < 6.0)
        True
    """
    across = np.array([direction[1], -direction[0]])
    half_len, half_wid = 0.85 * half_width, 0.68 * half_width
    centre = tip - direction * (half_len + 0.18 * half_width)
    t = np.linspace(0.0, 2.0 * np.pi, 28, endpoint=False)
    c, s = np.cos(t), np.sin(t)
    # A superellipse, squarer towards the free edge (s > 0) than at the cuticle.
    power = np.where(s > 0, 0.45, 0.8)
    u = np.sign(c) * np.abs(c) ** power * half_wid
    v = np.sign(s) * np.abs(s) ** 0.8 * half_len
    return centre + u[:, None] * across + v[:, None] * direction


def _finger(
    rng: np.random.Generator, name: str, size: float, spread: float, curl: float | None
) -> _Digit:
    """A finger, extended or (``curl`` is ``None``) curled into a fist.

    ``curl`` bends the outer joints by that many radians more, seen foreshortened from above.
    """
    (kx, ky), length, half, angle = _FINGER_SPECS[name]
    knuckle = np.array([kx, ky]) * size
    angle_r = math.radians(angle * spread + rng.normal(0.0, 1.5))
    half *= size * rng.uniform(0.95, 1.05)
    tucked = 12.0 * size  # the finger starts under the palm's edge: no seam at the knuckle
    base = knuckle - _unit(angle_r) * tucked
    lengths: tuple[float, ...]
    if curl is not None:
        bent = rng.uniform(0.0, 0.6, 2) + curl
        parts = [s * length * size for s in _SEGMENTS]
        lengths = (parts[0] + tucked, parts[1] * math.cos(bent[0]), parts[2] * math.cos(bent[1]))
        bends = tuple(float(b) for b in rng.normal(0.0, math.radians(4.0), 2))
        widths = tuple(half * t * rng.uniform(0.97, 1.03) for t in _TAPER)
    else:  # curled under: the proximal segment, foreshortened, ends in a blunt folded knuckle
        fold = _SEGMENTS[0] * rng.uniform(0.7, 0.9) + _SEGMENTS[1] * rng.uniform(0.1, 0.25)
        lengths = (tucked + fold * length * size,)
        bends = ()
        widths = (half * 1.02, half * 1.05)
    cap = 1.08 if curl is not None else 0.55
    outline, joints, tip = digit_outline(base, angle_r, lengths, widths, bends, cap)
    direction = _unit(angle_r + sum(bends))
    nail = None if curl is None else nail_outline(tip, direction, widths[-1])
    return _Digit(name, outline, half, tuple(joints), nail, tip, direction)


def _thumb(rng: np.random.Generator, size: float, extended: bool) -> _Digit:
    """The thumb, from its base in the palm; tucked beside the index when not ``extended``."""
    angle = math.radians(rng.uniform(25.0, 50.0) if extended else rng.uniform(55.0, 80.0))
    base = np.array([22.0, -70.0]) * size
    half = 11.5 * size * rng.uniform(0.95, 1.06)
    reach = 1.0 if extended else rng.uniform(0.55, 0.75)
    lengths = (38.0 * size, 30.0 * size * reach, 26.0 * size * reach)
    bends = (float(rng.normal(-0.05, 0.08)), float(rng.normal(0.0, 0.1)))
    widths = (half * 1.45, half * 1.04, half * 0.98, half * 0.84)
    outline, joints, tip = digit_outline(base, angle, lengths, widths, bends)
    direction = _unit(angle + sum(bends))
    nail = nail_outline(tip, direction, widths[-1]) if extended else None
    return _Digit("thumb", outline, half, tuple(joints[1:]), nail, tip, direction)


def _chaikin(poly: np.ndarray, rounds: int = 2) -> np.ndarray:
    """Round a closed polygon's corners by corner cutting."""
    for _ in range(rounds):
        nxt = np.roll(poly, -1, axis=0)
        poly = np.stack([0.75 * poly + 0.25 * nxt, 0.25 * poly + 0.75 * nxt], 1).reshape(-1, 2)
    return poly


def _arm(size: float, arm_mm: float) -> np.ndarray:
    """Palm, wrist and forearm (running ``arm_mm`` past the wrist and widening a little)."""
    palm = _PALM * size
    far = -102.0 * size - arm_mm
    forearm = np.array(
        [[29.0, -104.0], [33.5, -150.0], [34.0, far / size], [-34.0, far / size],
         [-33.5, -150.0], [-29.0, -104.0]]
    ) * size  # fmt: skip
    return _chaikin(np.concatenate([palm[:10], forearm, palm[12:]]))


def _frame_part(digit: _Digit, a: np.ndarray, t: np.ndarray, unit: float) -> HandPart:
    joints = tuple(
        (a @ q + t, (a @ d) / max(float(np.hypot(*(a @ d))), 1e-9), w * unit)
        for q, d, w in digit.joints
    )
    nail = None if digit.nail is None else digit.nail @ a.T + t
    return HandPart(digit.name, digit.outline @ a.T + t, digit.half * unit, joints, nail)


def _exit_distance(point: np.ndarray, direction: np.ndarray, hw: tuple[int, int]) -> float:
    """How far from ``point`` along ``direction`` a ray leaves the frame (0 if already out)."""
    best = math.inf
    for axis, size in ((0, hw[1]), (1, hw[0])):
        d = float(direction[axis])
        if abs(d) > 1e-9:
            best = min(best, ((-0.5 if d < 0 else size - 0.5) - float(point[axis])) / d)
    return max(0.0, best)


def hand_layout(
    rng: np.random.Generator,
    edge_point: np.ndarray,
    inward: np.ndarray,
    unit: float,
    hw: tuple[int, int],
    pose: str | None = None,
) -> list[HandPart]:
    """A hand reaching over a document edge from outside the frame, as parts in drawing order.

    Args:
        rng: Random source.
        edge_point: A point on the document edge (frame pixels).
        inward: Unit normal of that edge pointing into the document.
        unit: Pixels per millimetre.
        hw: Frame ``(height, width)``; the forearm runs past the frame's edge.
        pose: ``fingers`` or ``thumb`` (default: drawn at random).

    Returns:
        Parts bottom to top: the arm (palm, wrist, forearm), then digits.

    Example:
        >>> parts = hand_layout(np.random.default_rng(1), np.array([100.0, 60]), np.array([0.0, -1]), 1.0, (120, 200), "thumb")
        >>> [p.name for p in parts][-1], parts[-1].nail is not None
        ('thumb', True)
    """
    pose = pose or ("thumb" if rng.random() < 0.45 else "fingers")
    size = float(rng.uniform(0.86, 1.12))
    if pose == "thumb":  # a grip: fingers under the card, the thumb on it
        digits = [_finger(rng, f, size, 0.6, float(rng.uniform(0.2, 0.6))) for f in FINGERS]
        thumb = _thumb(rng, size, True)
        digits.append(thumb)
        tip = thumb.tip
        share = rng.uniform(0.35, 1.0)
        into = (1.0 - share) * np.array([0.0, 1.0]) + share * thumb.direction
    else:
        count = int(rng.choice([1, 2, 3, 4], p=[0.3, 0.3, 0.2, 0.2]))
        spread = float(rng.uniform(0.5, 1.8))
        fingers = [
            _finger(rng, f, size, spread, float(rng.uniform(0.0, 0.3)) if i < count else None)
            for i, f in enumerate(FINGERS)
        ]
        tucked = [_thumb(rng, size, False)] if rng.random() < 0.6 else []
        digits = tucked + fingers[count:] + fingers[:count]
        tip = np.mean([d.tip for d in fingers[:count]], axis=0)
        mean = np.mean([d.direction for d in fingers[:count]], axis=0)
        into = _turn(math.radians(rng.uniform(-32.0, 32.0))) @ mean
    mirror = np.diag([-1.0, 1.0]) if rng.random() < 0.5 else np.eye(2)
    source = mirror @ into
    turn = math.atan2(inward[1], inward[0]) - math.atan2(source[1], source[0])
    a = unit * _turn(turn) @ mirror
    t = edge_point + inward * rng.uniform(5.0, 26.0) * unit - a @ tip
    wrist = a @ np.array([0.0, -102.0 * size]) + t
    back = -(a @ np.array([0.0, 1.0])) / unit
    arm_mm = _exit_distance(wrist, back, hw) / unit + 60.0
    parts = [HandPart("arm", _arm(size, arm_mm) @ a.T + t, 11.0 * size * unit)]
    parts += [_frame_part(d, a, t, unit) for d in digits]
    if pose == "thumb":  # the palm and fingers go under the card
        parts = [p if p.name == "thumb" else replace(p, under=True) for p in parts]
    return parts


def _turn(angle: float) -> np.ndarray:
    """Rotation matrix by ``angle`` radians."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s], [s, c]])
