"""Quadrilateral fitting: the four corners of a document, card or page from its mask.

Coordinates are pixel centres, as in :mod:`idseg.geometry`, which re-exports :func:`order_quad`
and :func:`fit_quad` and traces its polygons on the same padded crop (``_padded_crop``, kept here
so that this module does not import :mod:`idseg.geometry`).
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from idseg.errors import InputError

logger = logging.getLogger(__name__)


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


def approx_quad(hull: np.ndarray) -> np.ndarray:
    """Reduce a convex hull to 4 corners with growing epsilon, else its minimum-area rectangle.

    Example:
        >>> approx_quad(np.array([[[0, 0]], [[4, 0]], [[4, 2]], [[0, 2]]], np.float32)).shape
        (4, 2)
    """
    perimeter = cv2.arcLength(hull, True)
    for frac in np.linspace(0.002, 0.2, 100):
        approx = cv2.approxPolyDP(hull, float(frac * perimeter), True)
        if len(approx) == 4:
            return approx.reshape(4, 2).astype(np.float64)
        if len(approx) < 4:
            break
    return cv2.boxPoints(cv2.minAreaRect(hull)).astype(np.float64)


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def _cheapest_cut(poly: np.ndarray, turn: float) -> tuple[float, int, np.ndarray] | None:
    """The edge whose removal adds least area: ``(area, index, new corner)``, ``None``: none.

    Edge ``i`` runs from ``poly[i]`` to ``poly[i + 1]``; removing it extends its two neighbours
    to their crossing, which must lie beyond it (the neighbours turn the way the polygon does).
    """
    n = len(poly)
    best: tuple[float, int, np.ndarray] | None = None
    for i in range(n):
        a, b, c, d = poly[i - 1], poly[i], poly[(i + 1) % n], poly[(i + 2) % n]
        u, w = b - a, d - c
        den = float(_cross(u, w))
        if turn * den <= 1e-9:
            continue  # parallel or diverging neighbours: they never meet beyond this edge
        corner = b + float(_cross(c - b, w)) / den * u
        added = 0.5 * abs(float(_cross(corner - b, c - b)))
        if best is None or added < best[0]:
            best = (added, i, corner)
    return best


def enclosing_quad(hull: np.ndarray, max_grow: float = 0.25) -> np.ndarray | None:
    """The four corners around a convex hull, cut-off corners restored by extending the sides.

    :func:`approx_quad` keeps four of the hull's own vertices, so a corner that a thumb covers
    (the hull cuts it off with a short slanted edge) is lost and a side runs diagonally instead.
    Here the hull, first simplified (``approxPolyDP`` at 0.4 % of its perimeter), loses edges
    one at a time: each time, the edge whose two neighbours, extended until they meet, add the
    least area. A slanted edge across a hidden corner goes first, and its neighbours meet at
    the corner.

    Args:
        hull: Convex hull points (``N x 1 x 2`` or ``N x 2``), in order.
        max_grow: Largest area added in all, as a share of the hull's area.

    Returns:
        A float64 ``4 x 2`` array in the hull's order, or ``None`` when the hull has fewer than
        four vertices or restoring its corners would add more than ``max_grow`` of its area.

    Raises:
        InputError: ``hull`` is not a finite array of 2-D points, or ``max_grow`` is negative
            or not finite.

    Example:
        >>> cut = np.array([[0, 2], [2, 0], [10, 0], [10, 6], [0, 6]], np.float32)  # a corner off
        >>> enclosing_quad(cut).round(1).tolist()
        [[0.0, 0.0], [10.0, 0.0], [10.0, 6.0], [0.0, 6.0]]
    """
    arr = np.asarray(hull, np.float64)
    if arr.size == 0 or arr.shape[-1] != 2 or not np.isfinite(arr).all():
        raise InputError(f"a hull must be finite (x, y) points, got shape {arr.shape}")
    if not (np.isfinite(max_grow) and max_grow >= 0):
        raise InputError(f"max_grow must be a share of 0 or more, got {max_grow}")
    pts = arr.astype(np.float32).reshape(-1, 1, 2)
    poly = cv2.approxPolyDP(pts, 0.004 * cv2.arcLength(pts, True), True)
    poly = poly.reshape(-1, 2).astype(np.float64)
    if len(poly) < 4:
        return None
    area = 0.5 * float(np.sum(_cross(poly, np.roll(poly, -1, axis=0))))
    turn, budget = float(np.sign(area)), max_grow * abs(area)
    while len(poly) > 4:
        cut = _cheapest_cut(poly, turn)
        if cut is None or cut[0] > budget:
            return None
        budget -= cut[0]
        poly[cut[1]] = cut[2]
        poly = np.delete(poly, (cut[1] + 1) % len(poly), axis=0)
    return poly


def segment_distances(pts: np.ndarray, quad: np.ndarray) -> np.ndarray:
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
    nearest = np.argmin(segment_distances(pts, quad), axis=1)
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
    quad = approx_quad(hull)
    for _ in range(2):
        quad = _refine_quad(quad, pts)
    return order_quad(quad).astype(np.float32)


__all__ = ["approx_quad", "enclosing_quad", "fit_quad", "order_quad", "segment_distances"]
