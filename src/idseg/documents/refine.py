"""Refine the document pipeline's masks with SAM2 box prompts (``idseg doc --refine sam2``).

- **Document**: the photo is embedded once for all its documents; each quad's bounding box is a
  prompt; corners are refitted to SAM2's mask (:func:`idseg.documents.corners.fit_corners`).
- **Fields**: the rectified document is embedded; every field's box is a prompt (one batched
  call); SAM2's mask replaces the U-Net's inside the box.

SAM2 answers are trusted only when they agree with the U-Net (mask IoU at least
``min_agreement``; for the document, the refitted quad against the original): a box prompt on
a weak or unrelated checkpoint can return the whole table, and the U-Net answer is then kept.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from idseg.documents.classes import CLASS_NAMES
from idseg.documents.corners import convex_quad, fit_corners
from idseg.documents.evaluate import quad_iou
from idseg.documents.result import Document, DocumentField, image_polygon, mask_outline
from idseg.metrics import mask_iou

if TYPE_CHECKING:
    from idseg.sam.predictor import SAM2Predictor

logger = logging.getLogger(__name__)

__all__ = ["SamRefiner"]


class SamRefiner:
    """Refine documents and fields with a SAM2 predictor.

    Args:
        predictor: A loaded :class:`~idseg.sam.predictor.SAM2Predictor`.
        min_agreement: Smallest IoU between SAM2's answer and the U-Net's for SAM2's to be used.
    """

    def __init__(self, predictor: SAM2Predictor, min_agreement: float = 0.7) -> None:
        self.predictor, self.min_agreement = predictor, min_agreement
        self._lock = threading.Lock()  # the predictor holds one image at a time

    @classmethod
    def from_checkpoint(
        cls, checkpoint: str | Path, config: str | Path | None = None, device: str = "cpu"
    ) -> SamRefiner:
        """Load a SAM2 checkpoint (path, registry name or URL) for refinement.

        Raises:
            ConfigError: No config given and none can be inferred.
            CheckpointError: The checkpoint cannot be loaded.
        """
        from idseg.sam.predictor import SAM2Predictor

        return cls(SAM2Predictor.from_pretrained(checkpoint, config, device=device))

    def refine_quads(self, image: np.ndarray, quads: list[np.ndarray]) -> list[np.ndarray]:
        """Each quad refitted to SAM2's mask for its box (the photo is embedded once)."""
        if not quads:
            return []
        with self._lock:
            self.predictor.set_image(image)
            return [self._refine_quad(image.shape[:2], q) for q in quads]

    def refine_quad(self, image: np.ndarray, quad: np.ndarray) -> np.ndarray:
        """The quad refitted to SAM2's mask for its bounding box, or ``quad`` when they disagree."""
        return self.refine_quads(image, [quad])[0]

    def _refine_quad(self, hw: tuple[int, int], quad: np.ndarray) -> np.ndarray:
        h, w = hw
        x0, y0 = np.clip(quad.min(axis=0), 0, [w, h])
        x1, y1 = np.clip(quad.max(axis=0), 0, [w, h])
        mask = self.predictor.box_to_mask([x0, y0, x1, y1])
        fitted = _fit_mask(mask)
        if fitted is None or not convex_quad(fitted):  # a bent quad has no usable homography
            return quad
        agreement = quad_iou(fitted, quad, (h, w))
        if agreement < self.min_agreement:
            logger.debug(
                "SAM2 document mask disagrees (IoU %.3f); keeping the U-Net quad", agreement
            )
            return quad
        # Keep the U-Net's corner order (its orientation was chosen by the field model).
        shifts = [
            np.linalg.norm(np.roll(fitted, -k, axis=0) - quad, axis=1).sum() for k in range(4)
        ]
        return np.roll(fitted, -int(np.argmin(shifts)), axis=0)

    def refine_fields(self, doc: Document) -> Document:
        """The document with each field's mask replaced by SAM2's where they agree."""
        if not doc.fields:
            return doc
        boxes = np.array([f.box for f in doc.fields], np.float64)
        with self._lock:
            self.predictor.set_image(doc.rectified)
            masks = self.predictor.boxes_to_masks(boxes)
        labels = doc.field_map.copy()
        fields: list[DocumentField] = []
        changed = 0
        for f, sam in zip(doc.fields, masks, strict=True):
            x0, y0, x1, y1 = (round(v) for v in f.box)
            inside = np.zeros_like(sam)
            inside[y0:y1, x0:x1] = True
            sam = sam & inside
            if not sam.any() or mask_iou(sam, f.mask, empty=0.0) < self.min_agreement:
                fields.append(f)
                continue
            labels[f.mask] = 1
            labels[sam] = CLASS_NAMES.index(f.cls)
            fields.append(_updated(f, sam, doc.homography))
            changed += 1
        if not changed:
            return doc
        return replace(doc, field_map=labels, fields=fields, refined="sam2")


def _fit_mask(mask: np.ndarray) -> np.ndarray | None:
    """Corners of a full-resolution binary mask, fitted on its bounding box plus a margin."""
    ys, xs = np.nonzero(mask)
    if len(xs) < 4:
        return None
    h, w = mask.shape
    m = 4
    c0, r0 = max(0, int(xs.min()) - m), max(0, int(ys.min()) - m)
    c1, r1 = min(w, int(xs.max()) + m + 1), min(h, int(ys.max()) + m + 1)
    crop = mask[r0:r1, c0:c1].astype(np.float32)
    frame = (float(-c0), float(-r0), float(w - c0), float(h - r0))  # the photo's borders
    quad = fit_corners(crop, frame=frame, upsample=1)  # a binary mask has no sub-pixel detail
    return None if quad is None else quad + np.array([c0, r0], np.float64)


def _updated(f: DocumentField, mask: np.ndarray, homography: np.ndarray) -> DocumentField:
    box, polygon = mask_outline(mask)
    return replace(
        f,
        mask=mask,
        box=box,
        polygon=polygon,
        image_polygon=image_polygon(polygon, homography),
        area=int(mask.sum()),
    )
