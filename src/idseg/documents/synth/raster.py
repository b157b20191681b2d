"""Exact polygon geometry for scene ground truth: homographies, clipping, rasterising.

Coordinates are **pixel centres**, as in OpenCV and :mod:`idseg.geometry`: the pixel in column
``c`` and row ``r`` has its centre at ``(x, y) = (c, r)`` and covers ``[c - 0.5, c + 0.5] x
[r - 0.5, r + 0.5]``. An image of ``W x H`` pixels therefore spans the rectangle ``(-0.5, -0.5)`` to
``(W - 0.5, H - 0.5)``; that rectangle is what :func:`image_corners` returns and what a flat
document's quad is made of.

:func:`fill_polygon` marks exactly the pixels whose centre lies inside a polygon (even-odd rule),
the same rule a bilinear ``cv2.warpPerspective`` of an all-ones alpha follows at the ``0.5`` level,
so rasterised quads and warped alphas agree pixel for pixel away from the edges.
"""

from __future__ import annotations

import logging

import numpy as np

from idseg.errors import InputError

logger = logging.getLogger(__name__)


def image_corners(width: int, height: int) -> np.ndarray:
    """The four corners of a ``width x height`` image, clockwise from the top-left.

    Example:
        >>> image_corners(4, 2).tolist()
        [[-0.5, -0.5], [3.5, -0.5], [3.5, 1.5], [-0.5, 1.5]]
    """
    x1, y1 = width - 0.5, height - 0.5
    return np.array([[-0.5, -0.5], [x1, -0.5], [x1, y1], [-0.5, y1]], dtype=np.float64)


def apply_homography(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map ``N x 2`` points through a ``3 x 3`` homography.

    Raises:
        InputError: A point maps to infinity (it lies on the camera's horizon).

    Example:
        >>> apply_homography(np.diag([2.0, 3.0, 1.0]), np.array([[1.0, 1.0]])).tolist()
        [[2.0, 3.0]]
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    homo = np.hstack([pts, np.ones((len(pts), 1))]) @ np.asarray(matrix, np.float64).T
    if np.any(np.abs(homo[:, 2]) < 1e-12):
        raise InputError("a point maps to infinity under the homography")
    return homo[:, :2] / homo[:, 2:3]


def translation(dx: float, dy: float) -> np.ndarray:
    """A ``3 x 3`` translation matrix.

    Example:
        >>> translation(2, 3)[:2, 2].tolist()
        [2.0, 3.0]
    """
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])


def resize_matrix(fx: float, fy: float) -> np.ndarray:
    """Map pixel-centre coordinates of an image to those of the image resized by ``(fx, fy)``.

    Pixel edges scale (``x_edge' = fx * x_edge``); with centres at integers that is
    ``x' = (x + 0.5) * fx - 0.5``.

    Example:
        >>> apply_homography(resize_matrix(0.5, 0.5), np.array([[-0.5, 3.5]])).tolist()
        [[-0.5, 1.5]]
    """
    return np.array([[fx, 0.0, 0.5 * fx - 0.5], [0.0, fy, 0.5 * fy - 0.5], [0.0, 0.0, 1.0]])


def clip_polygon(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Clip a polygon to the image rectangle (Sutherland-Hodgman); ``0 x 2`` when nothing is left.

    Example:
        >>> clip_polygon(np.array([[-5.0, 0], [5, 0], [5, 2], [-5, 2]]), 4, 4).tolist()
        [[-0.5, 0.0], [3.5, 0.0], [3.5, 2.0], [-0.5, 2.0]]
    """
    poly = [tuple(p) for p in np.asarray(points, np.float64).reshape(-1, 2)]
    x1, y1 = width - 0.5, height - 0.5
    for axis, limit, keep_below in (
        (0, -0.5, False),
        (0, x1, True),
        (1, -0.5, False),
        (1, y1, True),
    ):
        poly = _clip_half_plane(poly, axis, limit, keep_below)
        if not poly:
            return np.zeros((0, 2), np.float64)
    return np.array(poly, dtype=np.float64)


def inside(point: tuple[float, float], axis: int, limit: float, keep_below: bool) -> bool:
    """Whether ``point`` lies on the kept side of the line ``coordinate[axis] == limit``.

    The half-plane test of Sutherland-Hodgman clipping (:func:`clip_polygon`); points on the
    line count as inside.

    Args:
        point: ``(x, y)``.
        axis: ``0`` to test ``x``, ``1`` to test ``y``.
        limit: Position of the clipping line on that axis.
        keep_below: Keep ``coordinate <= limit`` (else ``coordinate >= limit``).

    Returns:
        ``True`` when the point is kept.

    Example:
        >>> inside((2.0, 9.0), 0, 3.5, True), inside((2.0, 9.0), 1, 3.5, True)
        (True, False)
    """
    return point[axis] <= limit if keep_below else point[axis] >= limit


def _clip_half_plane(
    poly: list[tuple[float, float]], axis: int, limit: float, keep_below: bool
) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for k, cur in enumerate(poly):
        prev = poly[k - 1]
        if inside(cur, axis, limit, keep_below) != inside(prev, axis, limit, keep_below):
            t = (limit - prev[axis]) / (cur[axis] - prev[axis])
            cross = [prev[0] + t * (cur[0] - prev[0]), prev[1] + t * (cur[1] - prev[1])]
            cross[axis] = limit
            out.append((cross[0], cross[1]))
        if inside(cur, axis, limit, keep_below):
            out.append(cur)
    return out


def polygon_bbox(points: np.ndarray, width: int, height: int) -> tuple[int, int, int, int] | None:
    """Pixel box ``(x0, y0, x1, y1)`` (exclusive ends) of the centres a polygon may contain.

    Returns ``None`` when the polygon misses the image.

    Example:
        >>> polygon_bbox(np.array([[1.2, 1.0], [3.6, 1.0], [3.6, 2.5]]), 10, 10)
        (2, 1, 4, 3)
    """
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    x0 = max(0, int(np.ceil(pts[:, 0].min())))
    y0 = max(0, int(np.ceil(pts[:, 1].min())))
    x1 = min(width, int(np.floor(pts[:, 0].max())) + 1)
    y1 = min(height, int(np.floor(pts[:, 1].max())) + 1)
    if x0 >= x1 or y0 >= y1:
        return None
    return x0, y0, x1, y1


def fill_polygon(target: np.ndarray, points: np.ndarray, value: int | bool = True) -> np.ndarray:
    """Set ``target`` to ``value`` at every pixel whose centre lies inside the polygon.

    Inside means the even-odd rule on horizontal scanlines through pixel centres: a centre exactly
    on a left edge is in, on a right edge is out (half-open spans ``[x_in, x_out)``), so two
    polygons sharing an edge never both claim a pixel.

    Args:
        target: ``H x W`` array, changed in place.
        points: ``K x 2`` vertices ``(x, y)`` in pixel-centre coordinates (any orientation).
        value: What to write.

    Returns:
        ``target``.

    Example:
        >>> fill_polygon(np.zeros((4, 6), bool), np.array([[1, 0.5], [4, 0.5], [4, 2.5], [1, 2.5]])).astype(int)
        array([[0, 0, 0, 0, 0, 0],
               [0, 1, 1, 1, 0, 0],
               [0, 1, 1, 1, 0, 0],
               [0, 0, 0, 0, 0, 0]])
    """
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    if target.ndim != 2:
        raise InputError(f"target must be a 2-D H x W array, got shape {target.shape}")
    h, w = target.shape
    box = polygon_bbox(pts, w, h) if len(pts) >= 3 else None
    if box is None:
        return target
    x0, y0, x1, y1 = box
    inside = polygon_window(pts, box)
    target[y0:y1, x0:x1][inside] = value
    return target


def polygon_window(points: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Boolean ``(y1 - y0) x (x1 - x0)`` mask of the pixel centres of ``box`` inside the polygon.

    Example:
        >>> polygon_window(np.array([[0, 0], [2, 0], [2, 2], [0, 2.0]]), (0, 0, 3, 1)).tolist()
        [[True, True, False]]
    """
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    x0, y0, x1, y1 = box
    ys = np.arange(y0, y1, dtype=np.float64)[:, None]  # R x 1
    a, b = pts, np.roll(pts, -1, axis=0)
    ya, yb = a[:, 1][None, :], b[:, 1][None, :]
    spans = ((ya <= ys) & (ys < yb)) | ((yb <= ys) & (ys < ya))  # R x K
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (ys - ya) / (yb - ya)
    xs = np.where(spans, a[:, 0][None, :] + t * (b[:, 0] - a[:, 0])[None, :], np.inf)
    xs.sort(axis=1)
    cols = x1 - x0
    # Column index of the first centre at or right of each crossing, relative to x0.
    first = np.clip(np.ceil(xs - x0), 0, cols)
    first = np.where(np.isfinite(xs), first, cols).astype(np.int64)
    edges = np.zeros((len(ys), cols + 1), np.int32)
    rows = np.repeat(np.arange(len(ys)), xs.shape[1])
    signs = np.tile(np.where(np.arange(xs.shape[1]) % 2 == 0, 1, -1), len(ys))
    np.add.at(edges, (rows, first.ravel()), signs)
    return np.cumsum(edges[:, :cols], axis=1) > 0
