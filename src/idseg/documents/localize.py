"""Find documents in a photo with the localiser U-Net and fit their corners.

The localiser predicts ``background``, ``document`` and ``edge`` (a band inside each document's
outline, see :mod:`idseg.data.prepare`). Two passes:

1. **Whole photo**, resized to about ``size * size`` pixels with its aspect ratio kept: document
   interiors (``document`` pixels) split into connected regions, one per document even when
   documents touch or overlap; each region grows back over its edge band and gets corners.
2. **Each document again**, cut out of the full-resolution photo with a margin and resized the
   same way: the document now spans most of the model's input, so its outline is several times
   finer; the corners are refitted (:func:`idseg.documents.corners.fit_corners`) and mapped back
   to the photo. A document that still fits its quad poorly gets a third look at 4/3 of the size
   (neighbours merged at one scale often separate at the next). Every whole document found in a
   cut-out is kept; of overlapping candidates the best fit wins.

Regions smaller than ``min_area`` of the photo, or with a mean document probability under
``min_score``, are dropped, so a photo without a document returns an empty list.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np
import torch

from idseg.data.convert_geometry import rasterize_polygon
from idseg.documents.corners import fit_corners, snap_to_edges
from idseg.documents.evaluate import quad_iou
from idseg.documents.rectify import snap_kind
from idseg.errors import InputError
from idseg.models.unet import UNet
from idseg.models.unet_io import place_on_canvas
from idseg.quad import order_quad

logger = logging.getLogger(__name__)

__all__ = ["Localized", "Localizer"]


@dataclass
class Localized:
    """A document found by the localiser.

    Attributes:
        quad: ``4 x 2`` corners in photo coordinates, clockwise from the top-left corner as
            seen in the photo (continuous coordinates; may leave the frame).
        score: Mean document probability over the region (0 to 1).
        fill: IoU of the region and the quad (:func:`agreement`; near 1 for a good fit).
        completed: The quad includes parts of the document that something covers (a localiser
            with the ``hidden`` class completed it, :func:`complete`).
    """

    quad: np.ndarray
    score: float
    fill: float
    completed: bool = False


def _probabilities(
    model: UNet, image: np.ndarray, size: int
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Softmax probabilities on the model's canvas and the photo's window ``(x0, y0, x1, y1)``.

    The photo keeps its aspect ratio and gets about ``size * size`` pixels (its longer side at
    most ``3 * size``), padded at the bottom and right to the model's multiple: a wide photo of
    three cards side by side is not squeezed into a thin strip of a square letterbox.
    """
    canvas, window = _canvas(image, size, model.multiple)
    device = next(model.parameters()).device
    x = torch.from_numpy(canvas).to(device).permute(2, 0, 1)[None].float().div_(255.0)
    with torch.inference_mode():
        logits = model(x.contiguous(memory_format=torch.channels_last))
        probs = torch.softmax(logits.float(), dim=1)[0].cpu().numpy()
    return probs, window


def seen(probs: np.ndarray) -> np.ndarray:
    """Background / document / edge as seen: a 4th ``hidden`` channel counts as background.

    Example:
        >>> seen(np.array([0.1, 0.2, 0.3, 0.4]).reshape(4, 1, 1)).ravel().round(2).tolist()
        [0.5, 0.2, 0.3]
    """
    if probs.shape[0] == 3:
        return probs
    return np.stack([probs[0] + probs[3], probs[1], probs[2]])


def whole(probs: np.ndarray) -> np.ndarray:
    """Background / document / edge with a 4th ``hidden`` channel counted as document.

    Example:
        >>> whole(np.array([0.1, 0.2, 0.3, 0.4]).reshape(4, 1, 1)).ravel().round(2).tolist()
        [0.1, 0.6, 0.3]
    """
    if probs.shape[0] == 3:
        return probs
    return np.stack([probs[0], probs[1] + probs[3], probs[2]])


def _canvas(
    image: np.ndarray, size: int, multiple: int
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The photo resized to about ``size * size`` pixels and padded to ``multiple``.

    Example:
        >>> canvas, window = _canvas(np.zeros((444, 1200, 3), np.uint8), 192, 16)
        >>> canvas.shape, window
        ((128, 320, 3), (0, 0, 316, 117))
    """
    h, w = image.shape[:2]
    scale = min(size / np.sqrt(h * w), 3 * size / max(h, w))
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    ph, pw = -(-new_h // multiple) * multiple, -(-new_w // multiple) * multiple
    return place_on_canvas(image, (new_h, new_w), (ph, pw)), (0, 0, new_w, new_h)


def _regions(
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
            if fitted is None or fitted[1] < 0.7 or _kind_of(fitted[0]) is None:
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
    sides = _sides(quad)
    return float((sides[0] + sides[2]) / max(sides[1] + sides[3], 1e-9))


def _holds(quad: np.ndarray, fit: float, coarse: np.ndarray) -> bool:
    """Whether a completed document's refit is still a whole document near the first pass's."""
    return fit >= 0.8 and _kind_of(quad) is not None and quad_iou(quad, coarse) >= 0.7


class _CutOut(NamedTuple):
    """Where a cut-out of the photo lies on the model's canvas."""

    window: tuple[int, int, int, int]
    scale: np.ndarray  # canvas pixels per photo pixel, x and y
    offset: np.ndarray  # the cut-out's top-left corner in the photo


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
    quad well (agreement >= 0.85), has the shape of a known document kind with opposite sides
    within a factor 1.6 of each other (perspective), and covers at least 90 % of the region:
    otherwise the seen region's own quad stands.

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
    covered = part & (probs.argmax(axis=0) == 3)
    if covered.sum() < max(4.0, min_hidden * region.sum()):
        return None
    fitted = best_quad(np.where(part, doc, 0.0).astype(np.float32), window)
    if fitted is None or fitted[1] < 0.85 or _kind_of(fitted[0]) is None:
        return None
    sides = _sides(fitted[0])
    if (
        max(sides[0] / sides[2], sides[2] / sides[0], sides[1] / sides[3], sides[3] / sides[1])
        > 1.6
    ):
        return None  # opposite sides this unequal: a spill, not a document in perspective
    if rasterize_polygon(fitted[0], region.shape)[region].mean() < 0.9:
        return None
    return fitted


class Localizer:
    """Two-pass document localisation with a background/document/edge U-Net.

    Args:
        model: The localiser (3 classes: background, document, edge), in eval mode.
        size: Input side of the first pass (the model's training size).
        refine_size: Input side of the second pass on each document (``None``: the model's
            own size, where it works best; 0 turns the pass off).
        min_area: Smallest document as a share of the photo's area.
        min_score: Smallest mean document probability of a region.
        max_documents: At most this many documents, largest first.
        snap: Finally move each side onto the strongest intensity edge of the full-resolution
            photo within about 0.8 % of its length (:func:`~idseg.documents.corners.snap_to_edges`).

    Example:
        >>> from idseg.documents.pipeline import DocumentPipeline
        >>> docs = DocumentPipeline().localizer.localize(image)  # doctest: +SKIP
    """

    def __init__(
        self,
        model: UNet,
        size: int,
        refine_size: int | None = None,
        min_area: float = 0.004,
        min_score: float = 0.6,
        max_documents: int = 10,
        snap: bool = True,
    ) -> None:
        if model.config.num_classes not in (3, 4):
            raise InputError(
                "the localiser needs 3 classes (background, document, edge) or 4 (and hidden), "
                f"got {model.config.num_classes}"
            )
        self.model, self.size, self.refine_size = model, size, refine_size
        self.min_area, self.min_score, self.max_documents = min_area, min_score, max_documents
        self.snap = snap

    def _coarse(self, image: np.ndarray) -> list[Localized]:
        probs, window = _probabilities(self.model, image, self.size)
        scale = _scales(window, image.shape[0], image.shape[1])
        min_pixels = self.min_area * (window[2] - window[0]) * (window[3] - window[1])
        regions = _regions(seen(probs), window, min_pixels, edge_px=3)
        masks = [prob > 0.5 for _, prob in regions]
        found = []
        for k, (interior, prob) in enumerate(regions):
            fitted = best_quad(prob, window)
            if fitted is None:
                continue
            others = np.logical_or.reduce(
                [m for j, m in enumerate(masks) if j != k] or [masks[k] & False]
            )
            done = complete(probs, masks[k], others, window) if probs.shape[0] == 4 else None
            quad, fit = done or fitted
            quad = (quad - np.array(window[:2], np.float64)) / scale
            found.append(Localized(quad, float(prob[interior].mean()), fit, done is not None))
        return found

    def _refine(
        self, image: np.ndarray, coarse: Localized, size: int | None = None
    ) -> list[Localized]:
        """The document again, cut out with a margin; documents the coarse pass merged split here.

        Returns the refit of the coarse document (or the coarse one when the refit agrees less
        with its region) plus any other whole document inside the cut-out.
        """
        h, w = image.shape[:2]
        x0, y0 = coarse.quad.min(axis=0)
        x1, y1 = coarse.quad.max(axis=0)
        mx, my = 0.12 * (x1 - x0) + 4, 0.12 * (y1 - y0) + 4
        c0, r0 = max(0, int(x0 - mx)), max(0, int(y0 - my))
        c1, r1 = min(w, int(np.ceil(x1 + mx))), min(h, int(np.ceil(y1 + my)))
        if c1 - c0 < 8 or r1 - r0 < 8:
            return [coarse]
        crop = np.ascontiguousarray(image[r0:r1, c0:c1])
        probs, window = _probabilities(self.model, crop, size or self.refine_size or self.size)
        cut_out = _CutOut(window, _scales(window, r1 - r0, c1 - c0), np.array([c0, r0], np.float64))
        # Sides of the cut-out inside the photo: a region reaching them is only part of a document.
        inner = (c0 > 0, r0 > 0, c1 < w, r1 < h)
        min_pixels = self.min_area * h * w * float(cut_out.scale.prod())  # as in the first pass
        if coarse.completed:  # the whole document again; its visible part where that fails
            out = self._refit(whole(probs), cut_out, coarse, inner, min_pixels, completed=True)
            if out is not None:
                return out
        out = self._refit(seen(probs), cut_out, coarse, inner, min_pixels, completed=False)
        return out or [coarse]

    def _refit(
        self,
        probs: np.ndarray,
        cut_out: _CutOut,
        coarse: Localized,
        inner: tuple[bool, ...],
        min_pixels: float,
        completed: bool,
    ) -> list[Localized] | None:
        """The documents of a cut-out's background / document / edge map (see :meth:`_refine`).

        ``None`` when ``completed`` and the refit of the coarse document has no document's shape,
        agrees poorly with its region or moved far from the first pass's quad (the completion
        did not hold at this scale).
        """
        window, scale, offset = cut_out
        target = (coarse.quad - offset) * scale + np.array(window[:2], np.float64)
        regions = _regions(probs, window, min(16.0, min_pixels), edge_px=3)
        best = _best_overlap(regions, target)
        out: list[Localized] = []
        for k, (interior, prob) in enumerate(regions):
            cut = any(t and i for t, i in zip(_touches(prob > 0.5, window), inner, strict=True))
            if k != best and (cut or interior.sum() < min_pixels):
                continue
            fitted = best_quad(prob, window)
            if fitted is None:
                continue
            quad, fit = fitted
            photo_quad = (quad - np.array(window[:2], np.float64)) / scale + offset
            if k == best and completed and not _holds(photo_quad, fit, coarse.quad):
                return None
            found = Localized(photo_quad, float(prob[interior].mean()), fit, completed)
            if k == best and fit < coarse.fill and (cut or quad_iou(photo_quad, coarse.quad) > 0.5):
                found = coarse  # the refit is worse than the first pass, or runs out of the cut-out
            out.append(found)
        return out

    def _closer(self, image: np.ndarray, found: Localized, size: int) -> list[Localized]:
        """A poorly fitting document looked at again at ``size``; it stays a candidate itself.

        What the closer look finds inside the document replaces it when it fits better on the
        whole (area-weighted agreement) or has a document's shape where the first had none
        (neighbours merged at one scale separate at the next); a shadow or a hand may instead
        split one document into poorly fitting pieces, and then the document stays.
        """
        if found.fill >= 0.9:
            return [found]
        closer = self._refine(image, found, size)
        if any(c is found for c in closer):
            return closer
        share = [_inside(c.quad, found.quad) for c in closer]
        parts = [c for c, inside in zip(closer, share, strict=True) if inside > 0.5]
        areas = [_area(c.quad) for c in parts]
        if parts and (
            np.average([c.fill for c in parts], weights=areas) > found.fill
            or (_kind_of(found.quad) is None and any(_kind_of(c.quad) for c in parts))
        ):
            return closer  # the closer look fits better: its documents replace the first one
        return [found, *(c for c, inside in zip(closer, share, strict=True) if inside < 0.5)]

    def localize(self, image: np.ndarray) -> list[Localized]:
        """The documents in an ``H x W x 3`` uint8 RGB photo, largest first.

        Raises:
            InputError: Not an RGB uint8 image.
        """
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InputError(
                f"expected an H x W x 3 uint8 RGB image, got {image.dtype} {image.shape}"
            )
        found = self._coarse(image)
        if self.refine_size != 0:
            found = [r for d in found for r in self._refine(image, d)]
            # A poor fit is often two documents merged even at the cut-out's scale: look closer.
            size = round((self.refine_size or self.size) * 4 / 3)
            found = [r for d in found for r in self._closer(image, d, size)]
        kept = [d for d in found if d.score >= self.min_score and d.fill >= 0.6]
        kept.sort(key=lambda d: -(d.fill * d.score))  # of overlapping candidates, the best fit
        out: list[Localized] = []
        for d in kept:
            if all(quad_iou(d.quad, k.quad) < 0.5 for k in out):
                out.append(d)
        logger.debug("localised %d document(s) (%d candidates)", len(out), len(found))
        out.sort(key=lambda d: -_area(d.quad))
        out = out[: self.max_documents]
        if self.snap and out:
            gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
            for d in out:
                side = float(np.mean(_sides(d.quad)))
                d.quad = snap_to_edges(gray, d.quad, search=float(np.clip(0.008 * side, 1.5, 8.0)))
        return out


def _kind_of(quad: np.ndarray) -> str | None:
    """The document kind a quad's side ratio matches, either way up in the photo.

    A card standing on its short side, or a page lying on its long one, is still that document
    (:func:`~idseg.documents.rectify.snap_kind` of the ratio or of its inverse).

    Example:
        >>> _kind_of(np.array([[0, 0], [54, 0], [54, 86], [0, 86]], float))
        'td1'
    """
    aspect = _aspect(quad)
    return snap_kind(aspect) or snap_kind(1.0 / max(aspect, 1e-9))


def _inside(quad: np.ndarray, other: np.ndarray) -> float:
    """Share of ``quad``'s area inside ``other`` (convex hulls of both)."""
    a = cv2.convexHull(quad.astype(np.float32))
    b = cv2.convexHull(other.astype(np.float32))
    overlap, _ = cv2.intersectConvexConvex(a, b)
    return float(overlap) / max(float(cv2.contourArea(a)), 1e-9)


def _sides(quad: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.roll(quad, -1, axis=0) - quad, axis=1)


def _scales(window: tuple[int, int, int, int], h: int, w: int) -> np.ndarray:
    """Canvas pixels per photo pixel along x and y (the letterbox rounds each side apart)."""
    return np.array([(window[2] - window[0]) / w, (window[3] - window[1]) / h], np.float64)


def _area(quad: np.ndarray) -> float:
    return float(abs(cv2.contourArea(quad.astype(np.float32))))


def _touches(region: np.ndarray, window: tuple[int, int, int, int]) -> tuple[bool, ...]:
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
    left, top, right, bottom = _touches(region, window)
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
    prob: np.ndarray, window: tuple[int, int, int, int]
) -> tuple[np.ndarray, float] | None:
    """The better of the line-fitted corners and the region's minimum-area rectangle.

    Returns:
        The quad (continuous coordinates of ``prob``) and its :func:`agreement` with the region,
        or ``None`` for an empty region.
    """
    region = prob > 0.5
    candidates = [
        q
        for q in (fit_corners(prob, frame=window), _rect_quad(region))
        if q is not None and _area(q) >= 4.0 and min(_sides(q)) >= 2.0
    ]
    if not candidates:
        return None
    scored = [(agreement(region, q, window), i) for i, q in enumerate(candidates)]
    score, index = max(scored)
    return candidates[index], score


def _best_overlap(regions: list[tuple[np.ndarray, np.ndarray]], target: np.ndarray) -> int:
    """Index of the region overlapping ``target`` most (-1: none overlaps it)."""
    if not regions:
        return -1
    qmask = rasterize_polygon(target, regions[0][0].shape)
    overlaps = [int((r[0] & qmask).sum()) for r in regions]
    best = int(np.argmax(overlaps))
    return best if overlaps[best] > 0 else -1
