"""Find documents in a photo with the localiser U-Net and fit their corners.

The localiser predicts ``background``, ``document`` and ``edge`` (a band inside each document's
outline, see :mod:`idseg.data.prepare`). Two passes:

1. **Whole photo**, letterboxed to the model's size: document interiors (``document`` pixels)
   split into connected regions, one per document even when documents touch or overlap; each
   region grows back over its edge band and gets coarse corners.
2. **Each document again**, cut out of the full-resolution photo with a margin and letterboxed
   to ``refine_size``: the document now spans most of the model's input, so its outline is
   several times finer; the corners are refitted (:func:`idseg.documents.corners.fit_corners`)
   and mapped back to the photo.

Regions smaller than ``min_area`` of the photo, or with a mean document probability under
``min_score``, are dropped, so a photo without a document returns an empty list.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from idseg.documents.corners import fit_corners
from idseg.errors import InputError
from idseg.models.unet import UNet
from idseg.models.unet_io import letterbox_image

logger = logging.getLogger(__name__)

__all__ = ["Localized", "Localizer"]


@dataclass
class Localized:
    """A document found by the localiser.

    Attributes:
        quad: ``4 x 2`` corners in photo coordinates, clockwise from the top-left corner as
            seen in the photo (continuous coordinates; may leave the frame).
        score: Mean document probability over the region (0 to 1).
        fill: Region area / quad area (near 1 for a well-fitted document).
    """

    quad: np.ndarray
    score: float
    fill: float


def _probabilities(
    model: UNet, image: np.ndarray, size: int
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Softmax probabilities on the letterbox canvas and the photo's window ``(x0, y0, x1, y1)``."""
    canvas, box = letterbox_image(image, size)
    device = next(model.parameters()).device
    x = torch.from_numpy(canvas).to(device).permute(2, 0, 1)[None].float().div_(255.0)
    with torch.inference_mode():
        logits = model(x.contiguous(memory_format=torch.channels_last))
        probs = torch.softmax(logits.float(), dim=1)[0].cpu().numpy()
    window = (box.left, box.top, box.left + box.new_width, box.top + box.new_height)
    return probs, window


def _regions(
    probs: np.ndarray, window: tuple[int, int, int, int], min_pixels: float, edge_px: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(interior mask, document probability restricted to the grown region)`` per document."""
    doc = 1.0 - probs[0]
    interior = (probs.argmax(axis=0) == 1).astype(np.uint8)
    x0, y0, x1, y1 = window
    interior[:y0], interior[y1:], interior[:, :x0], interior[:, x1:] = 0, 0, 0, 0
    count, labels, stats, _ = cv2.connectedComponentsWithStats(interior, connectivity=4)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * edge_px + 1, 2 * edge_px + 1))
    out = []
    for i in range(1, count):
        if stats[i, cv2.CC_STAT_AREA] < min_pixels:
            continue
        part = (labels == i).astype(np.uint8)
        grown = cv2.dilate(part, kernel) > 0
        out.append((part > 0, np.where(grown & (doc > 0.5), doc, 0.0).astype(np.float32)))
    return out


class Localizer:
    """Two-pass document localisation with a background/document/edge U-Net.

    Args:
        model: The localiser (3 classes: background, document, edge), in eval mode.
        size: Input side of the first pass (the model's training size).
        refine_size: Input side of the second pass on each document (0 turns it off).
        min_area: Smallest document as a share of the photo's area.
        min_score: Smallest mean document probability of a region.
        max_documents: At most this many documents, largest first.

    Example:
        >>> from idseg.documents.pipeline import DocumentPipeline
        >>> docs = DocumentPipeline().localizer.localize(image)  # doctest: +SKIP
    """

    def __init__(
        self,
        model: UNet,
        size: int,
        refine_size: int = 256,
        min_area: float = 0.004,
        min_score: float = 0.6,
        max_documents: int = 10,
    ) -> None:
        if model.config.num_classes != 3:
            raise InputError(
                f"the localiser needs 3 classes (background, document, edge), got {model.config.num_classes}"
            )
        self.model, self.size, self.refine_size = model, size, refine_size
        self.min_area, self.min_score, self.max_documents = min_area, min_score, max_documents

    def _coarse(self, image: np.ndarray) -> list[Localized]:
        w = image.shape[1]
        probs, window = _probabilities(self.model, image, self.size)
        scale = (window[2] - window[0]) / w
        min_pixels = self.min_area * (window[2] - window[0]) * (window[3] - window[1])
        found = []
        for interior, prob in _regions(probs, window, min_pixels, edge_px=3):
            quad = fit_corners(prob, frame=window)
            if quad is None:
                continue
            quad = (quad - np.array(window[:2], np.float64)) / scale
            score = float(prob[interior].mean())
            found.append(Localized(quad, score, _fill(prob > 0.5, quad * scale + window[:2])))
        return found

    def _refine(self, image: np.ndarray, coarse: Localized) -> Localized:
        h, w = image.shape[:2]
        x0, y0 = coarse.quad.min(axis=0)
        x1, y1 = coarse.quad.max(axis=0)
        mx, my = 0.12 * (x1 - x0) + 4, 0.12 * (y1 - y0) + 4
        c0, r0 = max(0, int(x0 - mx)), max(0, int(y0 - my))
        c1, r1 = min(w, int(np.ceil(x1 + mx))), min(h, int(np.ceil(y1 + my)))
        if c1 - c0 < 8 or r1 - r0 < 8:
            return coarse
        crop = np.ascontiguousarray(image[r0:r1, c0:c1])
        probs, window = _probabilities(self.model, crop, self.refine_size)
        scale = (window[2] - window[0]) / (c1 - c0)
        offset = np.array([c0, r0], np.float64)
        target = (coarse.quad - offset) * scale + np.array(window[:2], np.float64)
        best = _best_overlap(_regions(probs, window, 16, edge_px=4), target)
        if best is None:
            return coarse
        interior, prob = best
        # Only the photo's own borders hide a side; the crop's other borders are fitted through
        # (a region reaching them is still cut there, which the frame test handles as well).
        quad = fit_corners(prob, frame=window)
        if quad is None:
            return coarse
        photo_quad = (quad - np.array(window[:2], np.float64)) / scale + offset
        return Localized(photo_quad, float(prob[interior].mean()), _fill(prob > 0.5, quad))

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
        if self.refine_size:
            found = [self._refine(image, d) for d in found]
        kept = [d for d in found if d.score >= self.min_score and d.fill >= 0.6]
        kept.sort(key=lambda d: -_area(d.quad))
        out: list[Localized] = []
        for d in kept:
            if all(_iou(d.quad, k.quad) < 0.5 for k in out):
                out.append(d)
        logger.debug("localised %d document(s) (%d candidates)", len(out), len(found))
        return out[: self.max_documents]


def _area(quad: np.ndarray) -> float:
    return float(abs(cv2.contourArea(quad.astype(np.float32))))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    inter, _ = cv2.intersectConvexConvex(a.astype(np.float32), b.astype(np.float32))
    union = _area(a) + _area(b) - inter
    return float(inter / union) if union > 0 else 0.0


def _fill(region: np.ndarray, quad: np.ndarray) -> float:
    """Share of the quad covered by the region (1 for a perfect fit)."""
    qmask = np.zeros(region.shape, np.uint8)
    cv2.fillPoly(qmask, [np.round((quad - 0.5) * 16).astype(np.int32)], 1, shift=4)
    inside = int(qmask.sum())
    return float((region & (qmask > 0)).sum() / inside) if inside else 0.0


def _best_overlap(
    regions: list[tuple[np.ndarray, np.ndarray]], target: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    if not regions:
        return None
    qmask = np.zeros(regions[0][0].shape, np.uint8)
    cv2.fillPoly(qmask, [np.round((target - 0.5) * 16).astype(np.int32)], 1, shift=4)
    overlaps = [int((r[0] & (qmask > 0)).sum()) for r in regions]
    best = int(np.argmax(overlaps))
    return regions[best] if overlaps[best] > 0 else None
