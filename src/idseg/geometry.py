"""Geometry helpers: box conversions, mask <-> polygon; quadrilateral fitting re-exported.

Converters are named ``a_to_b`` (like roboflow/supervision).

Coordinate convention for polygons and quads: **pixel centres**, as in OpenCV. The pixel in column
``c`` and row ``r`` has its centre at ``(x, y) = (c, r)``; a polygon vertex ``(x, y)`` is the centre
of a boundary pixel of the mask, so the exterior of a mask covering columns ``20..39`` and rows
``10..19`` is the rectangle ``(20, 10), (39, 10), (39, 19), (20, 19)``. In continuous
pixel-corner coordinates (the image spans ``[0, W] x [0, H]``) that point is ``(x + 0.5, y + 0.5)``.
:func:`polygons_to_mask` rasterises with the same convention and is the exact inverse of
:func:`mask_to_polygons` for unsimplified polygons (``tolerance=0``).

Quadrilateral fitting lives in :mod:`idseg.quad`; :func:`order_quad` and :func:`fit_quad` are
re-exported here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from idseg.errors import InputError
from idseg.quad import _padded_crop, fit_quad, order_quad
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

    Example:
        >>> square = Polygon(np.array([[0, 0], [4, 0], [4, 3], [0, 3]], float))
        >>> square.area
        12.0

    """

    exterior: np.ndarray
    holes: list[np.ndarray] = field(default_factory=list)

    @property
    def area(self) -> float:
        """Geometric area of the exterior minus the holes.

        It is about half a pixel per boundary pixel less than the mask's pixel count, because
        the vertices sit on boundary pixel centres.

        Example:
            >>> hole = np.array([[1, 1], [2, 1], [2, 2]], float)
            >>> Polygon(np.array([[0, 0], [4, 0], [4, 3], [0, 3]], float), [hole]).area
            11.5

        """
        return polygon_area(self.exterior) - sum(polygon_area(h) for h in self.holes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``{"exterior": [[x, y], ...], "holes": [[[x, y], ...], ...]}``.

        Example:
            >>> Polygon(np.array([[0, 0], [2, 0], [0, 2]])).to_dict()
            {'exterior': [[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]], 'holes': []}

        """
        return {
            "exterior": self.exterior.astype(float).tolist(),
            "holes": [h.astype(float).tolist() for h in self.holes],
        }


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


__all__ = [
    "Polygon",
    "fit_quad",
    "mask_to_box",
    "mask_to_polygons",
    "order_quad",
    "polygon_area",
    "polygons_to_mask",
    "xywh_to_xyxy",
    "xyxy_to_xywh",
]
