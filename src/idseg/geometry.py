"""Geometry helpers: box conversions, mask <-> polygon, quadrilateral fitting.

Converters are named ``a_to_b`` (like roboflow/supervision).

Coordinate convention for polygons and quads: **pixel centres**, as in OpenCV. The pixel in column
``c`` and row ``r`` has its centre at ``(x, y) = (c, r)``; a polygon vertex ``(x, y)`` is the centre
of a boundary pixel of the mask, so the exterior of a mask covering columns ``20..39`` and rows
``10..19`` is the rectangle ``(20, 10), (39, 10), (39, 19), (20, 19)``. In continuous
pixel-corner coordinates (the image spans ``[0, W] x [0, H]``) that point is ``(x + 0.5, y + 0.5)``.
:func:`polygons_to_mask` rasterises with the same convention and is the exact inverse of
:func:`mask_to_polygons` for unsimplified polygons (``tolerance=0``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from idseg.errors import InputError
from idseg.sam.results import mask_bbox_xyxy

logger = logging.getLogger(__name__)

mask_to_box = mask_bbox_xyxy
"""Tight XYXY box of a mask, inclusive max (alias of :func:`idseg.sam.results.mask_bbox_xyxy`)."""


def _as_boxes(boxes: Sequence[float] | np.ndarray) -> np.ndarray:
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.shape[-1:] != (4,) or arr.ndim not in (1, 2):
        raise InputError(f"boxes must have shape (4,) or (N, 4), got shape {arr.shape}")
    return arr


def xywh_to_xyxy(boxes: Sequence[float] | np.ndarray) -> np.ndarray:
    """Convert ``(x, y, w, h)`` boxes to ``(x0, y0, x1, y1)`` with ``x1 = x + w``.

    Args:
        boxes: One box (length-4 sequence) or an ``N x 4`` array.

    Returns:
        A float64 array of the same rank as the input.

    Example:
        >>> xywh_to_xyxy([10, 20, 30, 40]).tolist()
        [10.0, 20.0, 40.0, 60.0]

    """
    arr = _as_boxes(boxes).copy()
    arr[..., 2:] += arr[..., :2]
    return arr


def xyxy_to_xywh(boxes: Sequence[float] | np.ndarray) -> np.ndarray:
    """Convert ``(x0, y0, x1, y1)`` boxes to ``(x, y, w, h)`` with ``w = x1 - x0``.

    Example:
        >>> xyxy_to_xywh([[10, 20, 40, 60]]).tolist()
        [[10.0, 20.0, 30.0, 40.0]]

    """
    arr = _as_boxes(boxes).copy()
    arr[..., 2:] -= arr[..., :2]
    return arr


def polygon_area(points: np.ndarray) -> float:
    """Area of a simple polygon by the shoelace formula (always >= 0).

    Example:
        >>> polygon_area(np.array([[0, 0], [4, 0], [4, 3], [0, 3]]))
        12.0

    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) < 3:
        return 0.0
    x, y = pts[:, 0], pts[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


@dataclass(frozen=True, eq=False)
class Polygon:
    """A polygon with holes, in pixel-centre coordinates (see the module docstring).

    Attributes:
        exterior: ``K x 2`` float array of ``(x, y)`` vertices of the outer boundary.
        holes: ``M x 2`` float arrays, one per hole.

    """

    exterior: np.ndarray
    holes: list[np.ndarray] = field(default_factory=list)

    @property
    def area(self) -> float:
        """Geometric area of the exterior minus the holes.

        It is about half a pixel per boundary pixel less than the mask's pixel count, because
        the vertices sit on boundary pixel centres.
        """
        return polygon_area(self.exterior) - sum(polygon_area(h) for h in self.holes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``{"exterior": [[x, y], ...], "holes": [[[x, y], ...], ...]}``."""
        return {
            "exterior": self.exterior.astype(float).tolist(),
            "holes": [h.astype(float).tolist() for h in self.holes],
        }


def _binary_u8(mask: np.ndarray, name: str = "mask") -> np.ndarray:
    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise InputError(f"{name} must be a 2-D H x W array, got shape {arr.shape}")
    if arr.dtype == bool:
        return np.ascontiguousarray(arr).view(np.uint8)  # no copy for the usual case
    return (arr != 0).astype(np.uint8)


def _padded_crop(mask: np.ndarray) -> tuple[np.ndarray, tuple[int, int]] | None:
    """Cut a mask to its foreground box plus a 1-pixel zero border; ``None`` when empty.

    Returns:
        The padded crop and the ``offset`` that maps its contours back to image coordinates.
    """
    u8 = _binary_u8(mask)
    x, y, w, h = cv2.boundingRect(u8)
    if w == 0 or h == 0:
        return None
    crop = u8[y : y + h, x : x + w]
    return cv2.copyMakeBorder(crop, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0), (x - 1, y - 1)


def _simplify(contour: np.ndarray, tolerance: float) -> np.ndarray:
    if tolerance > 0:
        contour = cv2.approxPolyDP(contour, tolerance, True)
    return contour.reshape(-1, 2).astype(np.float64)


def mask_to_polygons(
    mask: np.ndarray, tolerance: float = 1.0, min_area: float = 0.0
) -> list[Polygon]:
    """Trace a binary mask into polygons with holes.

    Uses ``cv2.findContours`` with ``RETR_CCOMP``: every outer boundary becomes a polygon, the
    boundaries of holes in it become its holes, and an island inside a hole is its own polygon.

    Args:
        mask: ``H x W`` array; non-zero pixels are foreground.
        tolerance: ``cv2.approxPolyDP`` epsilon in pixels; 0 keeps every contour vertex.
        min_area: Exteriors and holes with a smaller geometric area are dropped.

    Returns:
        The polygons, in OpenCV's contour order. Contours with fewer than 3 vertices are dropped.

    Example:
        >>> m = np.zeros((30, 40), bool); m[10:20, 20:40] = True
        >>> mask_to_polygons(m, tolerance=0)[0].exterior.tolist()
        [[20.0, 10.0], [20.0, 19.0], [39.0, 19.0], [39.0, 10.0]]

    """
    if not np.isfinite(tolerance) or tolerance < 0:
        raise InputError(f"tolerance must be a finite number >= 0, got {tolerance!r}")
    cropped = _padded_crop(mask)
    if cropped is None:
        return []
    padded, offset = cropped
    contours, hierarchy = cv2.findContours(
        padded, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE, offset=offset
    )
    if hierarchy is None:
        return []
    hier = hierarchy.reshape(-1, 4)

    def keep(pts: np.ndarray) -> bool:
        return len(pts) >= 3 and polygon_area(pts) >= min_area

    polygons: list[Polygon] = []
    for i, contour in enumerate(contours):
        if hier[i, 3] != -1:
            continue  # a hole; collected with its parent below
        exterior = _simplify(contour, tolerance)
        if not keep(exterior):
            continue
        holes: list[np.ndarray] = []
        child = hier[i, 2]
        while child != -1:
            hole = _simplify(contours[child], tolerance)
            if keep(hole):
                holes.append(hole)
            child = hier[child, 0]
        polygons.append(Polygon(exterior, holes))
    return polygons


def _to_int_pts(points: np.ndarray) -> np.ndarray:
    return np.rint(np.asarray(points, dtype=np.float64)).astype(np.int32).reshape(-1, 1, 2)


def polygons_to_mask(polygons: Sequence[Polygon], hw: tuple[int, int]) -> np.ndarray:
    """Rasterise polygons (pixel-centre coordinates) into a boolean ``H x W`` mask.

    Each polygon's exterior is filled including its boundary pixels; each hole is cleared
    except its own boundary pixels (OpenCV traces holes along the foreground pixels around
    them). Polygons are combined by union, so an island inside another polygon's hole survives.

    Example:
        >>> m = np.zeros((30, 40), bool); m[10:20, 20:40] = True
        >>> bool((polygons_to_mask(mask_to_polygons(m, tolerance=0), (30, 40)) == m).all())
        True

    """
    h, w = int(hw[0]), int(hw[1])
    out = np.zeros((h, w), dtype=np.uint8)
    for poly in polygons:
        ext = _to_int_pts(poly.exterior)
        x0, y0 = np.maximum(ext.reshape(-1, 2).min(axis=0), 0)
        x1, y1 = ext.reshape(-1, 2).max(axis=0)
        if x0 >= w or y0 >= h or x1 < 0 or y1 < 0:
            continue
        x1, y1 = min(int(x1), w - 1), min(int(y1), h - 1)
        local = np.zeros((y1 - y0 + 1, x1 - x0 + 1), dtype=np.uint8)
        shift = np.array([x0, y0], dtype=np.int32)
        cv2.fillPoly(local, [ext - shift], 1)
        holes = [_to_int_pts(hole) - shift for hole in poly.holes]
        if holes:
            cv2.fillPoly(local, holes, 0)
            cv2.polylines(local, holes, True, 1)
        out[y0 : y1 + 1, x0 : x1 + 1] |= local
    return out.astype(bool)


def order_quad(points: np.ndarray) -> np.ndarray:
    """Order 4 corners clockwise (image coordinates, y down), starting from the top-left.

    Corners are sorted by angle around their centroid, then rotated to start at the corner with
    the smallest ``x + y``. When two corners tie (a square rotated by 45 degrees), the upper one
    (smaller ``y``) starts, so the result is deterministic.

    Args:
        points: ``4 x 2`` array of ``(x, y)`` corners in any order.

    Returns:
        A float64 ``4 x 2`` array: top-left, top-right, bottom-right, bottom-left.

    Example:
        >>> order_quad(np.array([[10, 10], [0, 0], [0, 10], [10, 0]])).tolist()
        [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]]

    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape != (4, 2) or not np.isfinite(pts).all():
        raise InputError(f"a quad must be a finite 4 x 2 array of (x, y), got shape {pts.shape}")
    centre = pts.mean(axis=0)
    angles = np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0])
    pts = pts[np.argsort(angles, kind="stable")]
    sums = pts.sum(axis=1)
    eps = 1e-9 * max(1.0, float(np.abs(pts).max()))
    ties = np.flatnonzero(sums <= sums.min() + eps)
    start = int(ties[np.argmin(pts[ties, 1])])
    return np.roll(pts, -start, axis=0)


def _approx_quad(hull: np.ndarray) -> np.ndarray:
    """Reduce a convex hull to 4 corners with growing epsilon, else its minimum-area rectangle."""
    perimeter = cv2.arcLength(hull, True)
    for frac in np.linspace(0.002, 0.2, 100):
        approx = cv2.approxPolyDP(hull, float(frac * perimeter), True)
        if len(approx) == 4:
            return approx.reshape(4, 2).astype(np.float64)
        if len(approx) < 4:
            break
    return cv2.boxPoints(cv2.minAreaRect(hull)).astype(np.float64)


def _segment_distances(pts: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """``N x 4`` distances from points to the 4 sides (segments) of a quad."""
    a = quad
    d = np.roll(quad, -1, axis=0) - quad
    rel = pts[:, None, :] - a[None, :, :]
    t = np.clip((rel * d).sum(-1) / np.maximum((d * d).sum(-1), 1e-12), 0.0, 1.0)
    return np.linalg.norm(rel - t[..., None] * d[None], axis=-1)


def _side_lines(
    quad: np.ndarray, pts: np.ndarray, trim: float
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Fit a line ``(point, direction)`` to the contour points along each side of ``quad``."""
    nearest = np.argmin(_segment_distances(pts, quad), axis=1)
    lines: list[tuple[np.ndarray, np.ndarray]] = []
    for i in range(4):
        a, b = quad[i], quad[(i + 1) % 4]
        d = b - a
        sel = pts[nearest == i]
        t = (sel - a) @ d / max(float(d @ d), 1e-12)
        sel = sel[(t >= trim) & (t <= 1.0 - trim)]
        if len(sel) < 2:
            lines.append((a, d))
            continue
        vx, vy, x0, y0 = cv2.fitLine(sel.astype(np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
        lines.append((np.array([x0, y0], np.float64), np.array([vx, vy], np.float64)))
    return lines


def _refine_quad(quad: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Intersect lines fitted to the straight middle part of each side (robust to round corners)."""
    lines = _side_lines(quad, pts, trim=0.12)
    refined = quad.copy()
    for i in range(4):
        (p, u), (q, v) = lines[i - 1], lines[i]
        cross = u[0] * v[1] - u[1] * v[0]
        if abs(cross) < 1e-6 * np.linalg.norm(u) * np.linalg.norm(v):
            continue  # (near) parallel neighbours: keep the candidate corner
        s = ((q - p)[0] * v[1] - (q - p)[1] * v[0]) / cross
        refined[i] = p + s * u
    diagonal = float(np.linalg.norm(pts.max(axis=0) - pts.min(axis=0)))
    if np.linalg.norm(refined - quad, axis=1).max() > 0.25 * max(diagonal, 1.0):
        logger.debug("quad refinement moved a corner too far; keeping the coarse fit")
        return quad
    return refined


def fit_quad(mask: np.ndarray) -> np.ndarray | None:
    """Fit a 4-corner quadrilateral to the largest connected region of a binary mask.

    The largest external contour is reduced to 4 corners through its convex hull
    (``approxPolyDP`` with growing epsilon, else ``minAreaRect``); then each side is refined by
    fitting a line to the contour points along its middle part and intersecting neighbouring
    lines, so rounded corners land where the straight sides meet.

    Args:
        mask: ``H x W`` array; non-zero pixels are foreground.

    Returns:
        A float32 ``4 x 2`` array ordered by :func:`order_quad` (pixel-centre coordinates), or
        ``None`` when the mask is empty or its largest region is a point or a line.

    Example:
        >>> m = np.zeros((100, 100), np.uint8); m[20:61, 10:81] = 1
        >>> fit_quad(m).round().tolist()
        [[10.0, 20.0], [80.0, 20.0], [80.0, 60.0], [10.0, 60.0]]

    """
    cropped = _padded_crop(mask)
    if cropped is None:
        return None
    padded, offset = cropped
    contours, _ = cv2.findContours(padded, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE, offset=offset)
    if not contours:
        return None
    contour = max(contours, key=lambda c: (cv2.contourArea(c), len(c)))
    hull = cv2.convexHull(contour)
    if len(hull) < 3 or cv2.contourArea(hull) <= 0:
        return None
    pts = contour.reshape(-1, 2).astype(np.float64)
    quad = _approx_quad(hull)
    for _ in range(2):
        quad = _refine_quad(quad, pts)
    return order_quad(quad).astype(np.float32)
