"""Documents in a localiser's probability maps: regions, their quads, and completion.

The localiser (:mod:`idseg.documents.localize`) runs the model; this module reads its
background / document / edge (and, for a 4-class model, hidden) probabilities on the model's
canvas: which connected regions are documents (:func:`find_regions`), the quad that fits a region
best (:func:`best_quad`, :func:`agreement`), and a document's whole quad where something covers
part of it (:func:`complete`). Coordinates are continuous coordinates of the canvas.
"""

from __future__ import annotations

import cv2
import numpy as np

from idseg.data.convert_geometry import rasterize_polygon
from idseg.documents.corners import fit_corners
from idseg.documents.evaluate import quad_iou
from idseg.documents.rectify import SNAP_TOLERANCE, snap_kind
from idseg.quad import order_quad

__all__ = [
    "agreement",
    "best_overlap",
    "best_quad",
    "complete",
    "completion_holds",
    "document_shaped",
    "find_regions",
    "kind_of",
    "quad_area",
    "quad_sides",
    "reaches_edge",
    "seen",
    "share_inside",
    "sides_alike",
    "touches",
    "whole",
]


def _fold_hidden(probs: np.ndarray, into: int) -> np.ndarray:
    """Background / document / edge, a 4th ``hidden`` channel added to channel ``into``."""
    if probs.shape[0] == 3:
        return probs
    out = probs[:3].copy()
    out[into] += probs[3]
    return out


def seen(probs: np.ndarray) -> np.ndarray:
    """Background / document / edge as seen: a 4th ``hidden`` channel counts as background.

    Example:
        >>> seen(np.array([0.1, 0.2, 0.3, 0.4]).reshape(4, 1, 1)).ravel().round(2).tolist()
        [0.5, 0.2, 0.3]
    """
    return _fold_hidden(probs, 0)


def whole(probs: np.ndarray) -> np.ndarray:
    """Background / document / edge with a 4th ``hidden`` channel counted as document.

    Example:
        >>> whole(np.array([0.1, 0.2, 0.3, 0.4]).reshape(4, 1, 1)).ravel().round(2).tolist()
        [0.1, 0.6, 0.3]
    """
    return _fold_hidden(probs, 1)


def find_regions(
    probs: np.ndarray, window: tuple[int, int, int, int], min_pixels: float, edge_px: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(interior mask, document probability restricted to the region)`` per document.

    Each connected document area (document or edge) is one document unless its interiors
    (document pixels, split by edge bands) form two or more sizeable parts AND the area as a
    whole is not quad-shaped: then each part, grown back over its edge band, is a document.
    A stray band across one document (a model error) thus does not split it in two.
    """
    doc = 1.0 - probs[0]
    x0, y0, x1, y1 = window
    inside = np.zeros(doc.shape, bool)
    inside[y0:y1, x0:x1] = True
    any_doc = ((doc > 0.5) & inside).astype(np.uint8)
    interior = ((probs.argmax(axis=0) == 1) & inside).astype(np.uint8)
    count, areas, stats, _ = cv2.connectedComponentsWithStats(any_doc, connectivity=8)
    _, parts, part_stats, _ = cv2.connectedComponentsWithStats(interior, connectivity=4)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * edge_px + 1, 2 * edge_px + 1))
    out = []
    for i in range(1, count):
        if stats[i, cv2.CC_STAT_AREA] < min_pixels:
            continue
        area = areas == i
        ids = [j for j in np.unique(parts[area]) if j > 0]
        big = [
            j
            for j in ids
            if part_stats[j, cv2.CC_STAT_AREA] >= max(min_pixels, 0.08 * stats[i, cv2.CC_STAT_AREA])
        ]
        whole = np.where(area, doc, 0.0).astype(np.float32)
        if len(big) >= 2:
            fitted = best_quad(whole, window)
            if fitted is None or fitted[1] < 0.9:
                for j in big:
                    part = parts == j
                    grown = cv2.dilate(part.astype(np.uint8), kernel) > 0
                    out.append((part, np.where(grown & area, doc, 0.0).astype(np.float32)))
                continue
        core = (parts > 0) & area
        out.append((core if core.any() else area, whole))
    return _join_pieces(out, probs, window)


def _join_pieces(
    regions: list[tuple[np.ndarray, np.ndarray]],
    probs: np.ndarray,
    window: tuple[int, int, int, int],
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Join regions that are pieces of one document cut apart by an occluder (a pen, a finger).

    Two regions join when one quad covers both (at least 80 % of each), agrees with them
    reasonably (>= 0.7: the occluder's strip is missing from them) and has the shape of a known
    document kind, when the smaller is at least 15 % of the larger, and when, where they face
    the gap between them inside that quad, the model sees little edge band (mean probability
    <= 0.6): the band follows documents' own outlines, so documents lying side by side keep
    theirs, while the sides a pen cuts are weaker.
    """
    joined = True
    while joined and len(regions) > 1:
        joined = False
        order = sorted(range(len(regions)), key=lambda k: -int(regions[k][0].sum()))
        for a, b in ((a, b) for i, a in enumerate(order) for b in order[i + 1 :]):
            if regions[b][0].sum() < 0.15 * regions[a][0].sum():
                continue  # a crumb next to a document is no piece of it
            prob = np.maximum(regions[a][1], regions[b][1])
            fitted = best_quad(prob, window)
            if fitted is None or fitted[1] < 0.7 or kind_of(fitted[0]) is None:
                continue
            qmask = rasterize_polygon(fitted[0], prob.shape)
            if min(float(qmask[regions[k][0]].mean()) for k in (a, b)) < 0.8:
                continue  # the quad does not cover both: no document made of the two
            if _cut_edge(prob > 0.5, qmask, probs[2]) > 0.6:
                continue
            regions[a] = (regions[a][0] | regions[b][0], prob)
            del regions[b]
            joined = True
            break
    return regions


def _cut_edge(pieces: np.ndarray, qmask: np.ndarray, edge: np.ndarray) -> float:
    """Mean edge probability of the pieces' pixels along the gap between them inside a quad."""
    gap = qmask & ~pieces
    if not gap.any():
        return 0.0
    near = cv2.dilate(gap.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    border = near & pieces
    return float(edge[border].mean()) if border.any() else 0.0


def _aspect(quad: np.ndarray) -> float:
    """Mean top/bottom side length over mean left/right side length."""
    sides = quad_sides(quad)
    return float((sides[0] + sides[2]) / max(sides[1] + sides[3], 1e-9))


#: How far a completed quad's side ratio may be from a document kind's (either way up).
COMPLETE_KIND_TOLERANCE = 0.12
#: Largest ratio of opposite sides of a completed quad (perspective; beyond it: a spill).
COMPLETE_MAX_TAPER = 1.6


def document_shaped(quad: np.ndarray, window: tuple[int, int, int, int] | None = None) -> bool:
    """Whether a completed quad can be a whole document.

    Opposite sides within :data:`COMPLETE_MAX_TAPER` of each other, and a side ratio within
    :data:`COMPLETE_KIND_TOLERANCE` of a document kind's, either way up (wider than the 6 % of
    :func:`~idseg.documents.rectify.snap_kind`: perspective changes the ratio of the sides as
    seen); a quad leaving ``window`` (cut by the photo's edge) needs no kind.

    Example:
        >>> document_shaped(np.array([[0, 0], [90, 0], [90, 54], [0, 54]], float))
        True
        >>> document_shaped(np.array([[0, 0], [54, 0], [54, 54], [0, 54]], float))
        False
    """
    if not sides_alike(quad, COMPLETE_MAX_TAPER):
        return False
    if window is not None:
        x0, y0, x1, y1 = window
        if (quad[:, 0] < x0 - 1).any() or (quad[:, 1] < y0 - 1).any():
            return True
        if (quad[:, 0] > x1 + 1).any() or (quad[:, 1] > y1 + 1).any():
            return True
    return kind_of(quad, COMPLETE_KIND_TOLERANCE) is not None


def completion_holds(
    quad: np.ndarray, fit: float, coarse: np.ndarray, frame: tuple[int, int, int, int]
) -> bool:
    """Whether a completed document's refit is still a whole document near the first pass's.

    ``quad`` and ``coarse`` are photo coordinates, ``frame`` the photo's ``(0, 0, w, h)``.
    """
    return fit >= 0.8 and document_shaped(quad, frame) and quad_iou(quad, coarse) >= 0.7


def complete(
    probs: np.ndarray,
    region: np.ndarray,
    others: np.ndarray,
    window: tuple[int, int, int, int],
    min_hidden: float = 0.03,
) -> tuple[np.ndarray, float] | None:
    """A document's whole quad, the parts a hand or an object covers included.

    ``probs`` are a 4-class localiser's probabilities (background, document, edge, hidden). The
    document as seen (``region``) grows into the connected area where background is unlikely,
    other documents (``others``) left out; a quad is fitted to that area. It is returned only
    when that area has some ``hidden`` pixels (at least ``min_hidden`` of the region), fits its
    quad well (agreement >= 0.85), can be a whole document (:func:`document_shaped`), and covers
    at least 90 % of the region: otherwise the seen region's own quad stands.

    Returns:
        The quad (continuous coordinates of ``probs``) and its agreement with the area, or
        ``None``.
    """
    doc = 1.0 - probs[0]
    area = (doc > 0.5) & ~others
    _, comp = cv2.connectedComponents(area.astype(np.uint8), connectivity=8)
    ids = comp[region & area]
    ids = ids[ids > 0]
    if ids.size == 0:
        return None
    part = comp == np.bincount(ids).argmax()
    covered = int((probs[:, part].argmax(axis=0) == 3).sum())  # hidden wins there
    if covered < max(4.0, min_hidden * region.sum()):
        return None
    fitted = best_quad(np.where(part, doc, 0.0).astype(np.float32), window)
    if fitted is None or fitted[1] < 0.85 or not document_shaped(fitted[0], window):
        return None
    if rasterize_polygon(fitted[0], region.shape)[region].mean() < 0.9:
        return None
    return fitted


def kind_of(quad: np.ndarray, tolerance: float = SNAP_TOLERANCE) -> str | None:
    """The document kind a quad's side ratio matches, either way up in the photo.

    A card standing on its short side, or a page lying on its long one, is still that document
    (:func:`~idseg.documents.rectify.snap_kind` of the ratio or of its inverse, within
    ``tolerance``).

    Example:
        >>> kind_of(np.array([[0, 0], [86, 0], [86, 54], [0, 54]], float))
        'td1'
        >>> kind_of(np.array([[0, 0], [54, 0], [54, 86], [0, 86]], float))  # or a td1 on its side
        'td1v'
        >>> kind_of(np.array([[0, 0], [60, 0], [60, 54], [0, 54]], float)) is None
        True
    """
    aspect = _aspect(quad)
    inverse = 1.0 / max(aspect, 1e-9)
    return snap_kind(aspect, tolerance=tolerance) or snap_kind(inverse, tolerance=tolerance)


def reaches_edge(quad: np.ndarray, w: int, h: int) -> bool:
    """Whether a corner lies near a ``w x h`` photo's edge, or beyond it.

    Near: within 1 % of the shorter side, at least 3 px. The document may be cut there, so its
    shape says little.

    Example:
        >>> reaches_edge(np.array([[4, 50], [200, 50], [200, 150], [4, 150]], float), 640, 480)
        True
        >>> reaches_edge(np.array([[40, 50], [200, 50], [200, 150], [40, 150]], float), 640, 480)
        False
    """
    near = max(3.0, 0.01 * min(w, h))
    return bool(((quad < near) | (quad > np.array([w, h], np.float64) - near)).any())


def share_inside(quad: np.ndarray, other: np.ndarray) -> float:
    """Share of ``quad``'s area inside ``other`` (convex hulls of both)."""
    a = cv2.convexHull(quad.astype(np.float32))
    b = cv2.convexHull(other.astype(np.float32))
    overlap, _ = cv2.intersectConvexConvex(a, b)
    return float(overlap) / max(float(cv2.contourArea(a)), 1e-9)


def quad_sides(quad: np.ndarray) -> np.ndarray:
    """Lengths of a quad's four sides, from corner 0 to 1, 1 to 2, 2 to 3 and 3 to 0."""
    return np.linalg.norm(np.roll(quad, -1, axis=0) - quad, axis=1)


#: Largest ratio of opposite sides of a document's quad. Synthetic scenes tilted up to 40 degrees
#: reach 2.6 (5662 documents of ``idseg synth --seed 5``); real photos rarely 1.6.
MAX_SIDE_RATIO = 3.0


def sides_alike(quad: np.ndarray, ratio: float = MAX_SIDE_RATIO) -> bool:
    """Whether each pair of a quad's opposite sides is within ``ratio`` of each other.

    Perspective makes opposite sides of a document differ, but not by much; a quad fitted to a
    ragged blob can be nearly a triangle whose side ratio still happens to match a kind.

    Example:
        >>> sides_alike(np.array([[10, 10], [96, 10], [90, 64], [16, 64]], float))
        True
        >>> sides_alike(np.array([[166, 39], [186, 40], [205, 89], [116, 118]], float))
        False
    """
    a, b, c, d = quad_sides(quad)
    return bool(max(a, c) <= ratio * min(a, c) and max(b, d) <= ratio * min(b, d))


def quad_area(quad: np.ndarray) -> float:
    """A quad's area (absolute, either corner order)."""
    return float(abs(cv2.contourArea(quad.astype(np.float32))))


def touches(region: np.ndarray, window: tuple[int, int, int, int]) -> tuple[bool, ...]:
    """Whether the region reaches the window's left, top, right and bottom border."""
    x0, y0, x1, y1 = window
    return (
        bool(region[y0:y1, x0 : x0 + 2].any()),
        bool(region[y0 : y0 + 2, x0:x1].any()),
        bool(region[y0:y1, x1 - 2 : x1].any()),
        bool(region[y1 - 2 : y1, x0:x1].any()),
    )


def agreement(region: np.ndarray, quad: np.ndarray, window: tuple[int, int, int, int]) -> float:
    """IoU of a region and a quad; the quad may leave the window only where the region does.

    The part of the quad beyond a window border the region does not reach counts against it, so a
    wild corner far outside the photo scores low, while a document cut by the frame does not.

    Example:
        >>> r = np.zeros((20, 20), bool); r[5:15, 5:15] = True
        >>> round(agreement(r, np.array([[5, 5], [15, 5], [15, 15], [5, 15]], float), (0, 0, 20, 20)), 3)
        1.0
    """
    big = 1e6
    left, top, right, bottom = touches(region, window)
    x0, y0, x1, y1 = window
    clip = np.array(
        [
            [-big if left else x0, -big if top else y0],
            [big if right else x1, -big if top else y0],
            [big if right else x1, big if bottom else y1],
            [-big if left else x0, big if bottom else y1],
        ],
        np.float32,
    )
    hull = cv2.convexHull(quad.astype(np.float32))
    counted, _ = cv2.intersectConvexConvex(clip, hull)
    h, w = region.shape
    canvas = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    on_canvas, _ = cv2.intersectConvexConvex(canvas, hull)
    qmask = rasterize_polygon(quad, region.shape)
    # Pixels on the canvas are counted as pixels, the counted part beyond it as area.
    quad_size = float(qmask.sum()) + max(0.0, float(counted) - float(on_canvas))
    inter = float((region & qmask).sum())
    union = float(region.sum()) + quad_size - inter
    return min(1.0, inter / union) if union > 0 else 0.0


def _rect_quad(region: np.ndarray) -> np.ndarray | None:
    pts = cv2.findNonZero(region.astype(np.uint8))
    if pts is None or len(pts) < 3:
        return None
    return order_quad(cv2.boxPoints(cv2.minAreaRect(pts)).astype(np.float64) + 0.5)


def best_quad(
    prob: np.ndarray, window: tuple[int, int, int, int], edge: np.ndarray | None = None
) -> tuple[np.ndarray, float] | None:
    """The better of the line-fitted corners and the region's minimum-area rectangle.

    Returns:
        The quad (continuous coordinates of ``prob``) and its :func:`agreement` with the region,
        or ``None`` for an empty region.
    """
    region = prob > 0.5
    candidates = [
        q
        for q in (fit_corners(prob, frame=window, edge=edge), _rect_quad(region))
        if q is not None and quad_area(q) >= 4.0 and min(quad_sides(q)) >= 2.0
    ]
    if not candidates:
        return None
    scored = [(agreement(region, q, window), i) for i, q in enumerate(candidates)]
    score, index = max(scored)
    return candidates[index], score


def best_overlap(regions: list[tuple[np.ndarray, np.ndarray]], target: np.ndarray) -> int:
    """Index of the region overlapping ``target`` most (-1: none overlaps it)."""
    if not regions:
        return -1
    qmask = rasterize_polygon(target, regions[0][0].shape)
    overlaps = [int((r[0] & qmask).sum()) for r in regions]
    best = int(np.argmax(overlaps))
    return best if overlaps[best] > 0 else -1
