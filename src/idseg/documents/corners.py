"""Fit a document's four corners to its probability map: sub-pixel, robust, out-of-frame aware.

:func:`fit_corners` works on one document's probability map (any resolution):

1. the map is upsampled bilinearly (``upsample`` times) and thresholded at 0.5, so the outline
   is traced at a fraction of a pixel;
2. the convex hull of the outline gives coarse corners twice (fingers and notches over an
   edge do not dent the hull): four of its own vertices (:func:`~idseg.quad.approx_quad`), and
   the quad around it whose sides are extended over a corner the hull cuts off, as it does
   where a thumb covers one (:func:`~idseg.quad.enclosing_quad`);
3. each side's line is fitted to the outline points along its straight middle part (rounded
   corners are left out) within :data:`SIDE_BAND` of the coarse side, points far from the line
   are dropped (a thumb over the edge) and the line refitted; points on the frame's border are
   never used, so a side cut by the frame edge is extrapolated from its visible part and a
   corner out of frame lands outside the image;
4. neighbouring lines are intersected, twice over (the second round starts from the first's
   corners);
5. of the two fits, the one whose sides pass within half a pixel of more outline points
   wins (points backed by the edge band, when given and there are enough of them).

Coordinates follow idseg's continuous convention: pixel ``(c, r)`` covers ``[c, c + 1)``.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from idseg.quad import approx_quad, enclosing_quad, order_quad, segment_distances

logger = logging.getLogger(__name__)

# Outline points further than this (map pixels) from a coarse side's line are not fitted to it:
# the rim of a thumb over the side, or the far part of a corner the hull cut off.
SIDE_BAND = 2.5

__all__ = ["convex_quad", "fit_corners", "snap_to_edges"]


def _outline(prob: np.ndarray, upsample: int) -> np.ndarray | None:
    """Outline points (continuous coordinates of ``prob``) of its largest region above 0.5."""
    h, w = prob.shape
    big = cv2.resize(prob, (w * upsample, h * upsample), interpolation=cv2.INTER_LINEAR)
    binary = (big > 0.5).astype(np.uint8)
    padded = cv2.copyMakeBorder(binary, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    contours, _ = cv2.findContours(padded, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return None
    contour = max(contours, key=cv2.contourArea)
    if cv2.contourArea(contour) < 4 * upsample * upsample:
        return None
    pts = contour.reshape(-1, 2).astype(np.float64) - 1.0  # undo the padding
    # Up-sampled pixel centres (u + 0.5) / f; outline pixels are the outermost inside ones, whose
    # outer boundary lies half an up-sampled pixel further out (corrected per side later).
    return (pts + 0.5) / upsample


def _backed(pts: np.ndarray, edge: np.ndarray) -> np.ndarray:
    """Whether each outline point has the edge band (above 0.3) within a pixel of it."""
    near = cv2.dilate(np.ascontiguousarray(edge, dtype=np.float32), np.ones((3, 3), np.uint8))
    h, w = near.shape
    cols = np.clip(np.floor(pts[:, 0]).astype(int), 0, w - 1)
    rows = np.clip(np.floor(pts[:, 1]).astype(int), 0, h - 1)
    return near[rows, cols] > 0.3


def _coarse(points: np.ndarray) -> list[np.ndarray]:
    """Coarse corners from the outline's convex hull: its own four, and the sides extended."""
    hull = cv2.convexHull(points.astype(np.float32))
    restored = enclosing_quad(hull)
    return [approx_quad(hull)] + ([restored] if restored is not None else [])


def _fit_line(pts: np.ndarray, dist: int = cv2.DIST_L2) -> tuple[np.ndarray, np.ndarray]:
    vx, vy, x0, y0 = cv2.fitLine(pts.astype(np.float32), dist, 0, 0.01, 0.01).ravel()
    return np.array([x0, y0], np.float64), np.array([vx, vy], np.float64)


def _robust_line(pts: np.ndarray, rounds: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """A line through outline points, robust to a thumb or a notch over the side.

    Least squares without the far points, a few rounds, then one Huber fit on what is left.
    """
    p, u = _fit_line(pts)
    keep = np.ones(len(pts), bool)
    for _ in range(rounds):
        normal = np.array([-u[1], u[0]])
        residual = np.abs((pts - p) @ normal)
        limit = max(0.75, 3.0 * float(np.median(residual)))
        new = residual <= limit
        if new.sum() < max(4, len(pts) // 3) or (new == keep).all():
            break
        keep = new
        p, u = _fit_line(pts[keep])
    return _fit_line(pts[keep], cv2.DIST_HUBER)


def _side_points(
    quad: np.ndarray,
    pts: np.ndarray,
    usable: np.ndarray,
    trim: float,
    backed: np.ndarray | None = None,
) -> list[np.ndarray]:
    """The usable outline points of each side of a coarse quad, for fitting its line.

    A point belongs to the side it is nearest to, away from both ends (``trim``), and within
    :data:`SIDE_BAND` of the side's line when at least four are; else all of them count. Of
    those, the points ``backed`` by the edge band are used when they are at least half (and 4).
    """
    a, d = quad, np.roll(quad, -1, axis=0) - quad
    rel = pts[:, None, :] - a[None]
    t = (rel * d).sum(-1) / np.maximum((d * d).sum(-1), 1e-12)
    dist = np.linalg.norm(rel - np.clip(t, 0, 1)[..., None] * d[None], axis=-1)
    nearest = np.argmin(dist, axis=1)
    inner = (t >= trim) & (t <= 1 - trim)  # there, the distance to the side is to its line
    within = inner & (dist <= SIDE_BAND)
    out = []
    for i in range(4):
        sel = (nearest == i) & usable
        side = _banded(pts, sel & inner[:, i], sel & within[:, i])
        if backed is not None:
            strong = _banded(pts, sel & inner[:, i] & backed, sel & within[:, i] & backed)
            side = strong if len(strong) >= max(4, len(side) // 2) else side
        out.append(side)
    return out


def _banded(pts: np.ndarray, side: np.ndarray, close: np.ndarray) -> np.ndarray:
    """A side's points near its coarse line when there are at least four, else all of them."""
    return pts[close] if np.count_nonzero(close) >= 4 else pts[side]


def _intersect(lines: list[tuple[np.ndarray, np.ndarray]], fallback: np.ndarray) -> np.ndarray:
    corners = fallback.copy()
    for i in range(4):
        (p, u), (q, v) = lines[i - 1], lines[i]
        cross = u[0] * v[1] - u[1] * v[0]
        if abs(cross) < 0.05:  # sides within 3 degrees of parallel: no stable corner
            continue
        s = ((q - p)[0] * v[1] - (q - p)[1] * v[0]) / cross
        corners[i] = p + s * u
    return corners


def _through(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The line through two points, with a unit direction (like :func:`_fit_line`)."""
    d = b - a
    return a, d / max(float(np.linalg.norm(d)), 1e-12)


def _side_line(
    a: np.ndarray, b: np.ndarray, frame: tuple[float, float, float, float], tol: float = 1.5
) -> tuple[np.ndarray, np.ndarray]:
    """A side with no usable outline points: the frame border it lies on, else the coarse side."""
    x0, y0, x1, y1 = frame
    for axis, limit in ((0, x0), (0, x1), (1, y0), (1, y1)):
        if abs(a[axis] - limit) <= tol and abs(b[axis] - limit) <= tol:
            p = a.copy()
            p[axis] = limit
            d = np.array([0.0, 1.0]) if axis == 0 else np.array([1.0, 0.0])
            return p, d
    return _through(a, b)


def _outward(
    lines: list[tuple[np.ndarray, np.ndarray]], centre: np.ndarray, by: float
) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for p, u in lines:
        normal = np.array([-u[1], u[0]]) / max(float(np.linalg.norm(u)), 1e-12)
        if (p - centre) @ normal < 0:
            normal = -normal
        out.append((p + by * normal, u))
    return out


def fit_corners(
    prob: np.ndarray,
    frame: tuple[float, float, float, float] | None = None,
    upsample: int = 4,
    trim: float = 0.12,
    edge: np.ndarray | None = None,
) -> np.ndarray | None:
    """Four corners fitted to a document's probability map.

    Args:
        prob: ``H x W`` float probabilities of "document" for one document (other documents
            zeroed out).
        frame: ``(x0, y0, x1, y1)`` of the photo inside ``prob`` in continuous coordinates
            (the letterbox window); outline points within one pixel of it are not used for
            fitting. ``None``: the whole map.
        upsample: Sub-pixel factor of the outline.
        trim: Share of each side left out at both ends (rounded corners).
        edge: The localiser's edge-band probability (same shape as ``prob``). A document's own
            outline has the band just inside it; where the region spills past the document
            (white paper around a white card) or stops at an occluder, it has none. Each side
            is then fitted to its outline points backed by the band (above 0.3 within a pixel)
            when at least half of them are, else to all of them.

    Returns:
        ``4 x 2`` float64 corners ordered clockwise from the top-left (continuous coordinates
        of ``prob``), possibly outside the frame; ``None`` when there is no region (or no fit
        gives finite corners).

    Example:
        >>> p = np.zeros((60, 80), np.float32); p[10:40, 20:70] = 1.0
        >>> fit_corners(p).round(1).tolist()
        [[20.0, 10.0], [70.0, 10.0], [70.0, 40.0], [20.0, 40.0]]
    """
    pts = _outline(np.ascontiguousarray(prob, dtype=np.float32), upsample)
    if pts is None:
        return None
    frame = frame if frame is not None else (0.0, 0.0, *prob.shape[::-1])
    x0, y0, x1, y1 = frame
    margin = 1.0
    usable = (
        (pts[:, 0] > x0 + margin)
        & (pts[:, 0] < x1 - margin)
        & (pts[:, 1] > y0 + margin)
        & (pts[:, 1] < y1 - margin)
    )
    backed = _backed(pts, edge) if edge is not None else None
    fit = _SideFit(pts, usable, backed, frame, trim, upsample)
    strong = usable & backed if backed is not None and (usable & backed).sum() >= 16 else usable
    best: tuple[int, np.ndarray] | None = None
    for coarse in _coarse(pts):  # the hull's own corners first: they win ties
        quad = fit.refine(coarse)
        if not np.isfinite(quad).all():
            continue
        support = _support(quad, pts[strong])
        if best is None or support > best[0]:
            best = (support, quad)
    return order_quad(best[1]) if best is not None else None


def _support(quad: np.ndarray, pts: np.ndarray, tol: float = 0.5) -> int:
    """How many outline points lie within ``tol`` pixels of a quad's sides."""
    if not len(pts):
        return 0
    return int((segment_distances(pts, quad).min(axis=1) < tol).sum())


class _SideFit:
    """Refines coarse corners into lines fitted to one outline (see :func:`fit_corners`)."""

    def __init__(
        self,
        pts: np.ndarray,
        usable: np.ndarray,
        backed: np.ndarray | None,
        frame: tuple[float, float, float, float],
        trim: float,
        upsample: int,
    ) -> None:
        self.pts, self.usable, self.backed = pts, usable, backed
        self.frame, self.trim, self.upsample = frame, trim, upsample
        self.diagonal = max(float(np.linalg.norm(pts.max(axis=0) - pts.min(axis=0))), 1.0)

    def _lines(self, quad: np.ndarray) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[bool]]:
        """Each side's fitted line, and whether it was fitted (else the frame or coarse side)."""
        sides = _side_points(quad, self.pts, self.usable, self.trim, self.backed)
        fitted = [len(s) >= 4 for s in sides]
        lines = [
            _robust_line(s) if ok else _side_line(quad[i], quad[(i + 1) % 4], self.frame)
            for i, (s, ok) in enumerate(zip(sides, fitted, strict=True))
        ]
        return lines, fitted

    def refine(self, quad: np.ndarray) -> np.ndarray:
        """Two rounds of side lines and their crossings; the corners before a round that jumps."""
        for _ in range(2):
            lines, fitted = self._lines(quad)
            refined = _intersect(lines, quad)
            if np.linalg.norm(refined - quad, axis=1).max() > 0.35 * self.diagonal:
                logger.debug("corner refinement moved too far; keeping the coarse corners")
                return quad
            quad = refined
        shifted = _outward(lines, quad.mean(axis=0), 0.5 / self.upsample)
        # Sides fitted to the outline move out by half an outline pixel; frame sides stay put.
        return _intersect(
            [s if ok else ln for s, ln, ok in zip(shifted, lines, fitted, strict=True)], quad
        )


def _peak(step: np.ndarray, best: np.ndarray) -> np.ndarray:
    """Sub-sample offset (in samples, within +-0.5) of each row's maximum, by a parabola."""
    rows = np.arange(len(best))
    lo = step[rows, np.clip(best - 1, 0, step.shape[1] - 1)]
    mid = step[rows, best]
    hi = step[rows, np.clip(best + 1, 0, step.shape[1] - 1)]
    denom = lo - 2 * mid + hi
    safe = np.where(np.abs(denom) > 1e-9, denom, -1.0)
    return np.clip(np.where(np.abs(denom) > 1e-9, 0.5 * (lo - hi) / safe, 0.0), -0.5, 0.5)


def snap_to_edges(
    gray: np.ndarray, quad: np.ndarray, search: float, samples: int = 40, min_step: float = 8.0
) -> np.ndarray:
    """Move each side of a quad onto the strongest nearby intensity edge of the photo.

    Along each side (its middle 70 %, clear of rounded corners) the photo is sampled across the
    side, ``search`` pixels either way, every half pixel; where the largest intensity step is at
    least ``min_step`` grey levels, it marks the edge. A line is fitted through those points
    (robustly) when at least a third of the samples found one; otherwise the side stays. Corners
    moving more than ``2 * search`` are refused (the quad is returned unchanged).

    Args:
        gray: ``H x W`` float32 grey image of the photo.
        quad: ``4 x 2`` corners (continuous coordinates), clockwise.
        search: Largest shift of a side in pixels.
        samples: Sample positions along each side.
        min_step: Smallest intensity step that counts as an edge.

    Example:
        >>> g = np.zeros((60, 80), np.float32); g[10:40, 20:70] = 200.0
        >>> q = np.array([[21.0, 11.0], [69.0, 11.0], [69.0, 39.0], [21.0, 39.0]])
        >>> snap_to_edges(g, q, search=3.0).round(1).tolist()
        [[20.0, 10.0], [70.0, 10.0], [70.0, 40.0], [20.0, 40.0]]
    """
    centre = quad.mean(axis=0)
    offsets = np.arange(-search, search + 0.25, 0.5)
    lines: list[tuple[np.ndarray, np.ndarray]] = []
    moved = [False] * 4
    for i in range(4):
        a, b = quad[i], quad[(i + 1) % 4]
        p, u = _through(a, b)
        normal = np.array([-u[1], u[0]])
        if (a - centre) @ normal < 0:
            normal = -normal
        t = np.linspace(0.15, 0.85, samples)
        base = a[None] + t[:, None] * (b - a)[None]
        pts = base[:, None, :] + offsets[None, :, None] * normal[None, None, :]
        # Continuous coordinates -> pixel-centre coordinates for sampling.
        mx, my = (pts[..., 0] - 0.5).astype(np.float32), (pts[..., 1] - 0.5).astype(np.float32)
        vals = cv2.remap(gray, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        step = np.abs(np.diff(vals, axis=1))
        best = step.argmax(axis=1)
        strong = step[np.arange(samples), best] >= min_step
        if strong.sum() < samples // 3:
            lines.append((p, u))
            continue
        where = (offsets[best] + offsets[best + 1]) / 2.0 + 0.5 * _peak(step, best)
        found = base[strong] + where[strong, None] * normal[None]
        lines.append(_robust_line(found))
        moved[i] = True
    if not any(moved):
        return quad
    snapped = _intersect(lines, quad)
    if not np.isfinite(snapped).all() or np.linalg.norm(snapped - quad, axis=1).max() > 2 * search:
        return quad
    before = abs(cv2.contourArea(quad.astype(np.float32)))
    after = abs(cv2.contourArea(snapped.astype(np.float32)))
    if not 0.8 * before <= after <= 1.25 * before:
        return quad
    return snapped


def convex_quad(quad: np.ndarray) -> bool:
    """Whether a quad is a convex quadrilateral (its corners in order, no side crossing another).

    Three corners on a line count as not convex: such a quad has no invertible homography.

    Example:
        >>> convex_quad(np.array([[0, 0], [4, 0], [4, 3], [0, 3]], float))
        True
        >>> convex_quad(np.array([[0, 0], [4, 0], [1, 1], [0, 3]], float))  # a dent
        False
        >>> convex_quad(np.array([[0, 0], [2, 0], [4, 0], [0, 3]], float))  # a triangle
        False
    """
    return bool(cv2.isContourConvex(np.asarray(quad, np.float32).reshape(-1, 1, 2)))
