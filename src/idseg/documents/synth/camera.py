"""Where a flat document lands in a photo: a camera pose turned into a homography, and placement.

The document is a plane in front of a pinhole camera. :func:`camera_homography` rotates it in its
plane (any angle), tilts it (the camera looks at it obliquely), and projects it; :func:`place`
then scales the projection so the document spans a chosen share of the frame and moves it to a
random spot, fully inside the frame or partly out of it, and away from documents already placed
unless overlapping is allowed. A similarity applied after a projection is again a pinhole
projection (another focal length and principal point), so every homography comes from a plausible
3-D pose. All homographies map flat-document pixel centres to scene pixel centres (see
:mod:`idseg.documents.synth.raster`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from idseg.documents.synth.raster import apply_homography, clip_polygon, image_corners
from idseg.geometry import polygon_area

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pose:
    """How the camera sees a document.

    Attributes:
        roll_deg: Rotation of the document in its own plane (counter-clockwise in the image).
        tilt_deg: Angle between the document's normal and the optical axis.
        tilt_dir_deg: Direction of the tilt axis in the document plane.
        fov_deg: Horizontal field of view of the camera.
    """

    roll_deg: float
    tilt_deg: float
    tilt_dir_deg: float
    fov_deg: float


def random_pose(
    rng: np.random.Generator,
    max_tilt_deg: float,
    fov_deg: tuple[float, float],
    p_upright: float,
) -> Pose:
    """Draw a pose: upright (within 15 degrees) with probability ``p_upright``, else any roll.

    Example:
        >>> pose = random_pose(np.random.default_rng(0), 30.0, (50.0, 60.0), 1.0)
        >>> abs(pose.roll_deg) <= 15 and 0 <= pose.tilt_deg <= 30
        True
    """
    if rng.random() < p_upright:
        roll = float(rng.uniform(-15.0, 15.0))
    else:
        roll = float(rng.uniform(-180.0, 180.0))
    tilt = float(min(abs(rng.normal(0.0, max_tilt_deg / 2.0)), max_tilt_deg))
    return Pose(roll, tilt, float(rng.uniform(0.0, 360.0)), float(rng.uniform(*fov_deg)))


def _rotation(pose: Pose) -> np.ndarray:
    roll = math.radians(pose.roll_deg)
    c, s = math.cos(roll), math.sin(roll)
    rz = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])  # counter-clockwise on screen
    phi, tau = math.radians(pose.tilt_dir_deg), math.radians(pose.tilt_deg)
    axis = np.array([math.cos(phi), math.sin(phi), 0.0])
    k = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    tilt = np.eye(3) + math.sin(tau) * k + (1.0 - math.cos(tau)) * (k @ k)  # Rodrigues
    return tilt @ rz


def camera_homography(
    pose: Pose, flat_wh: tuple[int, int], frame_hw: tuple[int, int], scale: float
) -> np.ndarray:
    """Project a flat ``W x H`` document through ``pose``, about ``scale`` of the frame in size.

    The projection is centred on the origin; :func:`place` scales and moves it.

    Example:
        >>> m = camera_homography(Pose(0, 0, 0, 60), (200, 100), (480, 640), 0.5)
        >>> quad = apply_homography(m, image_corners(200, 100))
        >>> round(float(quad[:, 0].max() - quad[:, 0].min()))
        320
    """
    w, h = flat_wh
    side = float(max(w, h))
    to_plane = np.array([[1 / side, 0, -(w - 1) / 2 / side], [0, 1 / side, -(h - 1) / 2 / side]])
    to_plane = np.vstack([to_plane, [0.0, 0.0, 1.0]])
    focal = (frame_hw[1] / 2.0) / math.tan(math.radians(pose.fov_deg) / 2.0)
    distance = focal / (max(scale, 1e-3) * max(frame_hw))
    rot = _rotation(pose)
    extrinsic = np.column_stack([rot[:, 0], rot[:, 1], [0.0, 0.0, distance]])
    return np.diag([focal, focal, 1.0]) @ extrinsic @ to_plane


def _similarity(s: float, dx: float, dy: float) -> np.ndarray:
    return np.array([[s, 0.0, dx], [0.0, s, dy], [0.0, 0.0, 1.0]])


def _centre_range(extent: float, size: int, margin: float) -> tuple[float, float]:
    """Centres that keep an extent inside ``[-0.5, size - 0.5]`` (or centred if it cannot fit)."""
    lo, hi = -0.5 + extent / 2 + margin, size - 0.5 - extent / 2 - margin
    if lo > hi:
        mid = (size - 1) / 2.0
        return mid, mid
    return lo, hi


def _target_centre(
    rng: np.random.Generator, bbox_wh: tuple[float, float], frame_hw: tuple[int, int], out: bool
) -> tuple[float, float]:
    """A centre for a projected bounding box: inside the frame, or pushed over one or two edges."""
    bw, bh = bbox_wh
    fh, fw = frame_hw
    cx = float(rng.uniform(*_centre_range(bw, fw, 2.0)))
    cy = float(rng.uniform(*_centre_range(bh, fh, 2.0)))
    if not out:
        return cx, cy
    sides = [int(rng.integers(4))]
    if rng.random() < 0.4:  # a corner: one horizontal and one vertical side
        sides.append(int(rng.choice([1, 3] if sides[0] in (0, 2) else [0, 2])))
    for side in sides:
        overhang = float(rng.uniform(0.1, 0.45))
        if side == 0:
            cx = -0.5 + bw / 2 - overhang * bw
        elif side == 1:
            cx = fw - 0.5 - bw / 2 + overhang * bw
        elif side == 2:
            cy = -0.5 + bh / 2 - overhang * bh
        else:
            cy = fh - 0.5 - bh / 2 + overhang * bh
    return cx, cy


def quads_overlap(a: np.ndarray, b: np.ndarray, gap: float = 0.0) -> bool:
    """Whether two convex polygons overlap or come closer than ``gap`` (separating axis test).

    Example:
        >>> sq = np.array([[0, 0], [2, 0], [2, 2], [0, 2.0]])
        >>> quads_overlap(sq, sq + 3), quads_overlap(sq, sq + 1)
        (False, True)
    """
    for poly in (a, b):
        for k in range(len(poly)):
            edge = poly[(k + 1) % len(poly)] - poly[k]
            normal = np.array([-edge[1], edge[0]])
            norm = float(np.hypot(*normal))
            if norm == 0.0:
                continue
            pa, pb = a @ normal / norm, b @ normal / norm
            if pa.max() + gap <= pb.min() or pb.max() + gap <= pa.min():
                return False
    return True


def place(
    rng: np.random.Generator,
    pose: Pose,
    flat_wh: tuple[int, int],
    frame_hw: tuple[int, int],
    scale: float,
    out_of_frame: bool,
    avoid: list[np.ndarray],
    min_in_frame: float = 0.35,
    tries: int = 25,
) -> np.ndarray | None:
    """A homography putting a flat document into the frame, or ``None`` if no spot was found.

    Args:
        rng: Random source.
        pose: Camera pose (see :func:`random_pose`).
        flat_wh: Size of the flat document image.
        frame_hw: Size of the scene.
        scale: Share of the frame the document's projected box spans in its larger direction.
        out_of_frame: Push the document over one or two frame edges.
        avoid: Quads of documents already placed that this one must not overlap.
        min_in_frame: Smallest share of the document's area that must stay inside the frame.
        tries: Positions tried before giving up.

    Example:
        >>> m = place(np.random.default_rng(1), Pose(0, 0, 0, 60), (200, 100), (480, 640), 0.5,
        ...           False, [])
        >>> quad = apply_homography(m, image_corners(200, 100))
        >>> bool(quad[:, 0].min() >= -0.5 and quad[:, 0].max() <= 639.5)
        True
    """
    base = camera_homography(pose, flat_wh, frame_hw, scale)
    corners = image_corners(*flat_wh)
    quad0 = apply_homography(base, corners)
    span = quad0.max(axis=0) - quad0.min(axis=0)
    s = scale / max(span[0] / frame_hw[1], span[1] / frame_hw[0])
    centre0 = (quad0.max(axis=0) + quad0.min(axis=0)) / 2.0
    gap = 0.02 * max(frame_hw)
    for _ in range(tries):
        cx, cy = _target_centre(rng, (span[0] * s, span[1] * s), frame_hw, out_of_frame)
        matrix = _similarity(s, cx - s * centre0[0], cy - s * centre0[1]) @ base
        quad = apply_homography(matrix, corners)
        inside = polygon_area(clip_polygon(quad, frame_hw[1], frame_hw[0]))
        if inside < min_in_frame * polygon_area(quad):
            continue
        if any(quads_overlap(quad, other, gap) for other in avoid):
            continue
        return matrix
    return None
