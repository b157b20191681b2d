"""Rectify a localised document the right way up and segment its fields.

The quad from the localiser is ordered from the top-left corner *as seen in the photo*; a card
held sideways or upside down would come out rotated. :func:`orientations` lists the corner
orders worth trying (an ID-1 card landscape or in portrait format, a TD2/TD3 landscape, a page
portrait, each either way up); the field model (trained on upright documents only) segments each
candidate in one batch and the one it is most confident about (over the pixels it calls a field)
wins. Field regions are then cut into :class:`DocumentField` objects with masks, boxes, outlines
on the rectified document and in the photo, and scores.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from idseg.documents.classes import CLASS_NAMES
from idseg.documents.rectify import Rectified, rectify, side_lengths, snap_kind
from idseg.documents.result import DocumentField, image_polygon, mask_outline
from idseg.errors import InputError
from idseg.models.unet import UNet
from idseg.models.unet_io import letterbox_image

logger = logging.getLogger(__name__)

__all__ = ["MIN_FIELD_SCORES", "FieldSegmenter", "orientations"]

_ID_KINDS = ("td1", "td1v", "td2", "td3")
_PAGE_KINDS = ("a4", "letter")


def orientations(quad: np.ndarray) -> list[tuple[np.ndarray, str | None]]:
    """Candidate corner orders (rolled quads) with the kind each implies.

    Every reading whose width/height matches a known format is tried, each with its 180-degree
    turn: an ID-1-shaped quad is a landscape card (``td1``) as it lies or turned by 90 degrees a
    portrait-format card (``td1v``), four candidates; a TD2/TD3 quad standing on its short side
    is tried turned by 90 and 270 degrees; pages the other way round, and a shape that fits both
    an ID and a page reading (A4 is 1 / 1.414, TD2/TD3 1.42) gets all four. Otherwise the quad's
    own orientation and its 180-degree turn.

    Example:
        >>> q = np.array([[0, 0], [54, 0], [54, 85.6], [0, 85.6]])  # an ID-1 card standing up
        >>> [(o[0].tolist(), kind) for o, kind in orientations(q)]
        [([0.0, 0.0], 'td1v'), ([54.0, 85.6], 'td1v'), ([54.0, 0.0], 'td1'), ([0.0, 85.6], 'td1')]
    """
    horizontal, vertical = side_lengths(quad)
    aspect = horizontal / max(vertical, 1e-6)
    q = np.asarray(quad, dtype=np.float64)
    out: list[tuple[np.ndarray, str | None]] = []
    for kinds in (_ID_KINDS, _PAGE_KINDS):
        upright, turned = snap_kind(aspect, kinds), snap_kind(1.0 / aspect, kinds)
        if upright is not None:
            out += [(q, upright), (np.roll(q, -2, axis=0), upright)]
        if turned is not None:
            out += [(np.roll(q, -1, axis=0), turned), (np.roll(q, -3, axis=0), turned)]
    if out:
        return out
    if aspect < 1.0:
        # An unknown tall shape: IDs are far more common landscape; try both sideways turns too.
        return [(np.roll(q, -k, axis=0), None) for k in range(4)]
    return [(q, None), (np.roll(q, -2, axis=0), None)]


#: Smallest mean probability of a field by class. Barcodes need 0.9: on the documents of 300
#: validation photos (``idseg synth --seed 7 --real 0.5``, not a test set), 184 of the 301 barcode
#: regions the shipped model found end to end lay mostly off any true barcode (stripy print and
#: tables on loosely fitted documents); the floor removed 109 of them and 6 of the 117 true ones.
MIN_FIELD_SCORES: dict[str, float] = {"barcode": 0.9}


class FieldSegmenter:
    """Field segmentation of rectified documents with the field U-Net.

    Args:
        model: The field model (classes of :data:`~idseg.documents.classes.CLASS_NAMES`).
        size: Its input side.
        min_area: Smallest field as a share of the rectified document's area.
        max_side: Longer side of the rectified images.
        min_scores: Smallest mean probability of a field, by class (default
            :data:`MIN_FIELD_SCORES`); weaker regions become plain document.
    """

    def __init__(
        self,
        model: UNet,
        size: int,
        min_area: float = 0.0008,
        max_side: int = 1600,
        min_scores: Mapping[str, float] | None = None,
    ) -> None:
        self.model, self.size, self.min_area, self.max_side = model, size, min_area, max_side
        self.min_scores = dict(MIN_FIELD_SCORES if min_scores is None else min_scores)
        for name, value in self.min_scores.items():
            if name not in CLASS_NAMES[2:] or not 0.0 <= value <= 1.0:
                raise InputError(
                    f"min_scores maps field classes ({', '.join(CLASS_NAMES[2:])}) to "
                    f"probabilities in [0, 1]; got {name!r}: {value!r}"
                )

    def _probs(self, images: list[np.ndarray]) -> list[np.ndarray]:
        canvases, boxes = zip(*(letterbox_image(im, self.size) for im in images), strict=True)
        x = torch.from_numpy(np.stack(canvases)).permute(0, 3, 1, 2).float().div_(255.0)
        device = next(self.model.parameters()).device
        with torch.inference_mode():
            logits = self.model(x.to(device).contiguous(memory_format=torch.channels_last))
            probs = torch.softmax(logits.float(), dim=1).cpu()
        out = []
        for p, box in zip(probs, boxes, strict=True):
            rows, cols = box.window
            out.append(p[:, rows, cols].numpy())
        return out

    def segment(
        self, image: np.ndarray, quad: np.ndarray, width: int | None = None
    ) -> tuple[Rectified, np.ndarray, float]:
        """Rectify in the most plausible orientation; return it, its class probabilities and confidence.

        Returns:
            The rectified document, ``C x H x W`` probabilities at the rectified size, and the
            field model's mean confidence for that orientation.
        """
        candidates = [
            rectify(image, q, kind=kind, width=width, max_side=self.max_side)
            for q, kind in orientations(quad)
        ]
        probs = self._probs([c.image for c in candidates])
        scores = [_confidence(p, self.min_area) for p in probs]
        best = max(range(len(scores)), key=scores.__getitem__)  # first of equals, as argmax
        chosen = candidates[best]
        h, w = chosen.image.shape[:2]
        full = F.interpolate(
            torch.from_numpy(probs[best])[None], size=(h, w), mode="bilinear", align_corners=False
        )[0].numpy()
        return chosen, full, scores[best][1]

    def fields(
        self, probs: np.ndarray, homography: np.ndarray
    ) -> tuple[np.ndarray, list[DocumentField]]:
        """The class map and field regions of a rectified document's probabilities."""
        labels = probs.argmax(axis=0).astype(np.uint8)
        h, w = labels.shape
        min_pixels = max(4, int(self.min_area * h * w))
        found: list[DocumentField] = []
        for cls in range(2, len(CLASS_NAMES)):
            _, comp, stats, _ = cv2.connectedComponentsWithStats(
                (labels == cls).astype(np.uint8), connectivity=8
            )
            small = stats[:, cv2.CC_STAT_AREA] < min_pixels
            small[0] = False
            labels[small[comp]] = 1  # specks become plain document
            floor = self.min_scores.get(CLASS_NAMES[cls], 0.0)
            for i in np.argsort(-stats[1:, cv2.CC_STAT_AREA]) + 1:
                area = int(stats[i, cv2.CC_STAT_AREA])
                if area < min_pixels:
                    continue
                mask = comp == i
                score = float(probs[cls][mask].mean())
                if score < floor:
                    labels[mask] = 1  # an unsure field becomes plain document
                    continue
                found.append(self._field(cls, mask, score, area, homography))
        return labels, found

    @staticmethod
    def _field(
        cls: int, mask: np.ndarray, score: float, area: int, homography: np.ndarray
    ) -> DocumentField:
        box, polygon = mask_outline(mask)
        return DocumentField(
            cls=CLASS_NAMES[cls],
            score=score,
            box=box,
            polygon=polygon,
            image_polygon=image_polygon(polygon, homography),
            mask=mask,
            area=area,
        )


def _confidence(probs: np.ndarray, min_area: float = 0.0) -> tuple[int, float]:
    """How plausible an orientation is: what the map found, then its mean top probability there.

    The first item ranks what was predicted: 2 for field pixels (at least ``min_area`` of the
    map, as :meth:`FieldSegmenter.fields` keeps, and at least 4), 1 for document pixels only, 0
    for neither; the second is the mean top probability over the field pixels (document pixels
    if too few, half the overall mean if neither). So a reading that finds fields always beats
    one that finds none, whose plain-card confidence could otherwise be higher, and a speck of
    field does not count as finding one.

    Fields carry the orientation (text, faces and codes upside down or sideways look unlike
    upright ones), while plain card background, busy with art on real cards, barely does.
    Measured on documents rectified from their true quads (``benchmarks/doc_targets.py``,
    ``upright_true_quads``) with the bundled field model: 216 of the 232 held-out synthetic
    documents wholly inside their photos, 73 of 78 held-out portrait-format cards (the misses are
    under 15 % visible), 72 of 80 held-out US-style fronts; 8 of the 8 specimen cards. With the
    previous field model, the mean over document and field pixels chose about as well (217 and
    74 against 217 and 73) but turned the hand-held Hawaii licence upside down.

    Example:
        >>> p = np.zeros((3, 2, 2)); p[0] = 0.9; p[1] = 0.1; p[1, 0, 0], p[0, 0, 0] = 0.8, 0.2
        >>> rank, conf = _confidence(p)
        >>> rank, round(conf, 3)
        (1, 0.8)
        >>> p = np.zeros((3, 3, 3)); p[1] = 0.6; p[2] = 0.4; p[2, :2, :2], p[1, :2, :2] = 0.9, 0.1
        >>> rank, conf = _confidence(p)
        >>> rank, round(conf, 3)
        (2, 0.9)
        >>> p[2, :2, :2], p[1, :2, :2] = 0.4, 0.6; p[2, 0, 0], p[1, 0, 0] = 0.9, 0.1  # one pixel
        >>> rank, conf = _confidence(p)
        >>> rank, round(conf, 3)
        (1, 0.633)
    """
    top = probs.argmax(axis=0)
    best = probs.max(axis=0)
    fields = top >= 2
    if fields.sum() >= max(4, min_area * top.size):
        return 2, float(best[fields].mean())
    document = top >= 1
    if document.any():
        return 1, float(best[document].mean())
    return 0, float(best.mean()) * 0.5
