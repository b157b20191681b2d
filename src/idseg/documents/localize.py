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

A 4-class localiser also predicts ``hidden``: document parts that a hand, a pen or an object
covers. A document seen only in part is then completed to its whole quad where that quad has a
document's shape (:func:`idseg.documents.regions.complete`), and refitted whole in its cut-out,
falling back to what is seen when the completion does not hold there.

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

from idseg.documents.corners import convex_quad, snap_to_edges
from idseg.documents.evaluate import quad_iou
from idseg.documents.regions import (
    best_overlap,
    best_quad,
    complete,
    completion_holds,
    find_regions,
    kind_of,
    quad_area,
    quad_sides,
    reaches_edge,
    seen,
    share_inside,
    touches,
    whole,
)
from idseg.errors import InputError
from idseg.models.unet import UNet
from idseg.models.unet_io import place_on_canvas

logger = logging.getLogger(__name__)

__all__ = ["Localized", "Localizer"]

# The cut-out sees a document several times finer than the first pass: its refit is kept unless
# the first pass's quad agrees with its own region by more than this much better.
REFIT_TIE = 0.005
# A cut-out's document overlapping the first pass's quad this much is that document refitted,
# not a piece of it (:func:`_keep_whole`).
SAME_DOCUMENT_IOU = 0.9


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


class _CutOut(NamedTuple):
    """Where a cut-out of the photo lies on the model's canvas."""

    window: tuple[int, int, int, int]
    scale: np.ndarray  # canvas pixels per photo pixel, x and y
    offset: np.ndarray  # the cut-out's top-left corner in the photo
    frame: tuple[int, int, int, int]  # the whole photo, (0, 0, w, h)


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
        regions = find_regions(seen(probs), window, min_pixels, edge_px=3)
        found = []
        for k, (interior, prob) in enumerate(regions):
            fitted = best_quad(prob, window, probs[2])
            if fitted is None:
                continue
            done = None
            if probs.shape[0] == 4:  # the whole document where something covers part of it
                others = np.zeros(prob.shape, bool)
                for j, (_, other) in enumerate(regions):
                    if j != k:
                        others |= other > 0.5
                done = complete(probs, prob > 0.5, others, window)
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
        cut_out = _CutOut(
            window, _scales(window, r1 - r0, c1 - c0), np.array([c0, r0], np.float64), (0, 0, w, h)
        )
        # Sides of the cut-out inside the photo: a region reaching them is only part of a document.
        inner = (c0 > 0, r0 > 0, c1 < w, r1 < h)
        min_pixels = self.min_area * h * w * float(cut_out.scale.prod())  # as in the first pass
        if coarse.completed:  # the whole document again; its visible part where that fails
            out = self._refit(whole(probs), cut_out, coarse, inner, min_pixels, completed=True)
            if out is not None:
                return out
        out = self._refit(seen(probs), cut_out, coarse, inner, min_pixels, completed=False)
        return _keep_whole(coarse, out or [coarse], (h, w))

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
        window, scale, offset, frame = cut_out
        target = (coarse.quad - offset) * scale + np.array(window[:2], np.float64)
        regions = find_regions(probs, window, min(16.0, min_pixels), edge_px=3)
        best = best_overlap(regions, target)
        out: list[Localized] = []
        for k, (interior, prob) in enumerate(regions):
            cut = any(t and i for t, i in zip(touches(prob > 0.5, window), inner, strict=True))
            if k != best and (cut or interior.sum() < min_pixels):
                continue
            fitted = best_quad(prob, window, probs[2])
            if fitted is None:
                continue
            quad, fit = fitted
            photo_quad = (quad - np.array(window[:2], np.float64)) / scale + offset
            if (
                k == best
                and completed
                and not completion_holds(photo_quad, fit, coarse.quad, frame)
            ):
                return None
            found = Localized(photo_quad, float(prob[interior].mean()), fit, completed)
            # A refit running out of the cut-out wins no tie: part of it may lie beyond.
            worse = fit < coarse.fill - (0.0 if cut else REFIT_TIE)
            if k == best and worse and (cut or quad_iou(photo_quad, coarse.quad) > 0.5):
                found = coarse  # the refit is worse than the first pass, or runs out of the cut-out
            out.append(found)
        return out

    def _closer(self, image: np.ndarray, found: Localized, size: int) -> list[Localized]:
        """A poorly fitting document looked at again at ``size``; it stays a candidate itself.

        What the closer look finds inside the document replaces it when it fits better on the
        whole (area-weighted agreement) or has a document's shape where the first had none
        (neighbours merged at one scale separate at the next); a shadow or a hand may instead
        split one document into poorly fitting pieces, and then the document stays
        (:func:`_keep_whole`, applied by :meth:`_refine`). A completed document is not looked at
        again: its whole quad already passed the shape checks, and its seen pieces would only
        compete with it.
        """
        if found.fill >= 0.9 or found.completed:
            return [found]
        closer = self._refine(image, found, size)
        share = [share_inside(c.quad, found.quad) for c in closer]
        if any(c is found for c in closer) or max(share, default=0.0) > 0.5:
            return closer  # the document kept, or the pieces that won replace it
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
        # A document is convex; a bent fit (a sliver along the photo's edge) has no rectification.
        h, w = image.shape[:2]
        kept = [
            d
            for d in found
            if d.score >= self.min_score
            and d.fill >= 0.6
            and convex_quad(d.quad)
            and _large_enough(d.quad, w, h, self.min_area)
        ]
        kept.sort(key=lambda d: -(d.fill * d.score))  # of overlapping candidates, the best fit
        out: list[Localized] = []
        for d in kept:
            if all(quad_iou(d.quad, k.quad) < 0.5 for k in out):
                out.append(d)
        logger.debug("localised %d document(s) (%d candidates)", len(out), len(found))
        out.sort(key=lambda d: -quad_area(d.quad))
        out = out[: self.max_documents]
        if self.snap and out:
            gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
            for d in out:
                side = float(np.mean(quad_sides(d.quad)))
                snapped = snap_to_edges(gray, d.quad, search=float(np.clip(0.008 * side, 1.5, 8.0)))
                if convex_quad(snapped):
                    d.quad = snapped
        return out


def _large_enough(quad: np.ndarray, w: int, h: int, min_area: float) -> bool:
    """Whether a fitted quad covers at least ``min_area`` of the photo.

    The region it was fitted to passed that test, but a quad fitted to a ragged region can be
    much smaller (a speck on a passport cover's emblem). Whether its sides make a document's
    shape is the pipeline's call (:meth:`DocumentPipeline._plausible`): an occluded document's
    quad may be fitted to an odd visible part.

    Example:
        >>> card = np.array([[10, 10], [96, 10], [96, 64], [10, 64]], float)
        >>> _large_enough(card, 200, 100, 0.004)
        True
        >>> _large_enough(card / 10 + 20, 200, 100, 0.004)  # 8.6 x 5.4 px: too small
        False
    """
    return quad_area(quad) >= min_area * w * h


def _split_wins(whole: Localized, parts: list[Localized], hw: tuple[int, int]) -> bool:
    """Whether pieces found inside a document replace it.

    They do when they fit better on the whole (area-weighted agreement), unless the whole has a
    document's shape and none of them could be a document (none has a known kind's shape or
    reaches the photo's edge: the two sides of a pen across a card, say); or when they have a
    document's shape where it has none (a document reaching the photo's edge may be cut there:
    its shape says nothing).
    """
    areas = [quad_area(c.quad) for c in parts]
    h, w = hw
    if np.average([c.fill for c in parts], weights=areas) > whole.fill:
        # A document-shaped whole stays when none of its pieces could be a document.
        return kind_of(whole.quad) is None or any(
            kind_of(c.quad) or reaches_edge(c.quad, w, h) for c in parts
        )
    return (
        kind_of(whole.quad) is None
        and not reaches_edge(whole.quad, w, h)
        and any(kind_of(c.quad) for c in parts)
    )


def _keep_whole(coarse: Localized, refit: list[Localized], hw: tuple[int, int]) -> list[Localized]:
    """The cut-out pass's documents, unless it split the first pass's document for the worse.

    A stray band across one document (a table rule on a letter) may cut it in two at the
    cut-out's scale: pieces inside the first pass's quad that fit worse than it, where it has a
    document's shape, are dropped and the first pass's document stays (documents the first
    pass merged split here still: their union fits poorly or has no kind). The document itself
    refitted (IoU of at least :data:`SAME_DOCUMENT_IOU` with the first pass's quad) is no piece.
    """
    inside = [c for c in refit if c is not coarse and share_inside(c.quad, coarse.quad) > 0.5]
    same = [c for c in inside if quad_iou(c.quad, coarse.quad) >= SAME_DOCUMENT_IOU]
    pieces = [c for c in inside if all(c is not d for d in same)]
    if not pieces or _split_wins(coarse, pieces, hw):
        return refit
    # The pieces lose: the document stays, refitted when the cut-out found it whole too.
    whole = same[0] if same else coarse
    return [whole, *(c for c in refit if c is not coarse and all(c is not d for d in inside))]


def _scales(window: tuple[int, int, int, int], h: int, w: int) -> np.ndarray:
    """Canvas pixels per photo pixel along x and y (the letterbox rounds each side apart)."""
    return np.array([(window[2] - window[0]) / w, (window[3] - window[1]) / h], np.float64)
