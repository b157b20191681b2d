"""Typed results of the document pipeline: :class:`DocumentResult` > :class:`Document` > fields.

Coordinates: photo coordinates are continuous (pixel ``(c, r)`` covers ``[c, c + 1)``), like
the dataset files; rectified coordinates are continuous in the rectified image. Each
:class:`Document` keeps the homography between the two (pixel-centre convention, as
:func:`idseg.documents.rectify.rectify` returns it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from idseg.documents.classes import CLASS_NAMES
from idseg.documents.rectify import map_points
from idseg.errors import InputError

logger = logging.getLogger(__name__)

__all__ = ["Document", "DocumentField", "DocumentResult"]


def _r(values: Any, digits: int = 2) -> list[Any]:
    return np.round(np.asarray(values, dtype=np.float64), digits).tolist()


@dataclass
class DocumentField:
    """One field region on a rectified document.

    Attributes:
        cls: Class name (``portrait``, ``mrz``, ``text``, ``signature``, ``barcode``).
        score: Mean probability of the class over the region (0 to 1).
        box: ``(x0, y0, x1, y1)`` on the rectified document (continuous coordinates).
        polygon: Outline on the rectified document, ``N x 2``.
        image_polygon: The same outline in photo coordinates.
        mask: Boolean mask on the rectified document.
        area: Pixels of the region on the rectified document.
    """

    cls: str
    score: float
    box: tuple[float, float, float, float]
    polygon: np.ndarray
    image_polygon: np.ndarray
    mask: np.ndarray = field(repr=False)
    area: int = 0

    def crop(self, rectified: np.ndarray, pad: float = 0.05) -> np.ndarray:
        """The field cut out of the rectified document, padded by a share of its size.

        Example:
            >>> f = DocumentField("mrz", 1.0, (2, 2, 6, 4), np.zeros((0, 2)), np.zeros((0, 2)), np.zeros((8, 8), bool))
            >>> f.crop(np.zeros((8, 8, 3), np.uint8), pad=0).shape
            (2, 4, 3)
        """
        x0, y0, x1, y1 = self.box
        px, py = pad * (x1 - x0), pad * (y1 - y0)
        h, w = rectified.shape[:2]
        c0, r0 = max(0, int(np.floor(x0 - px))), max(0, int(np.floor(y0 - py)))
        c1, r1 = min(w, int(np.ceil(x1 + px))), min(h, int(np.ceil(y1 + py)))
        return rectified[r0:r1, c0:c1].copy()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (no mask)."""
        return {
            "class": self.cls,
            "score": round(self.score, 4),
            "box": _r(self.box),
            "area": self.area,
            "polygon": _r(self.polygon),
            "image_polygon": _r(self.image_polygon),
        }


@dataclass
class Document:
    """One document found in a photo.

    Attributes:
        quad: ``4 x 2`` corners in photo coordinates, clockwise from the document's own top-left
            (as the field model saw it upright); corners may lie outside the photo.
        score: Localisation confidence (mean document probability over its region, 0 to 1).
        kind: ``td1``, ``td1v``, ``td2``, ``td3``, ``a4``, ``letter`` or ``None`` (aspect not
            recognised).
        aspect: Width / height of the rectified document.
        rectified: The upright document, ``H x W x 3`` uint8 RGB.
        homography: 3 x 3 matrix from photo pixel centres to rectified pixel centres.
        field_map: ``H x W`` uint8 class indices on the rectified document
            (:data:`~idseg.documents.classes.CLASS_NAMES`; 0 where the document is hidden).
        fields: Field regions, largest first within each class.
        orientation_score: Confidence of the field model in the chosen orientation.
        truncated: A corner lies outside the photo, or a side runs along its edge (that side is
            the frame, not the document's own edge).
        refined: ``"sam2"`` when SAM2 refined the masks, else ``None``.
        completed: The quad includes parts of the document that a hand or an object covers
            (a localiser with the ``hidden`` class saw them covered and completed the quad).
    """

    quad: np.ndarray
    score: float
    kind: str | None
    aspect: float
    rectified: np.ndarray = field(repr=False)
    homography: np.ndarray = field(repr=False)
    field_map: np.ndarray = field(repr=False)
    fields: list[DocumentField] = field(default_factory=list)
    orientation_score: float = 0.0
    truncated: bool = False
    refined: str | None = None
    completed: bool = False

    def fields_of(self, cls: str) -> list[DocumentField]:
        """The fields of one class."""
        return [f for f in self.fields if f.cls == cls]

    def photo_labels(self, height: int, width: int) -> np.ndarray:
        """The document's class map drawn into the photo frame (0 outside the document).

        Example:
            >>> d = Document(np.array([[0, 0], [4, 0], [4, 2], [0, 2]], float), 1.0, None, 2.0,
            ...     np.zeros((2, 4, 3), np.uint8), np.eye(3), np.ones((2, 4), np.uint8))
            >>> int(d.photo_labels(3, 5).sum())
            8
        """
        inverse = _inverse(self.homography)
        return cv2.warpPerspective(
            self.field_map,
            inverse,
            (width, height),
            flags=cv2.INTER_NEAREST,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (no pixels)."""
        h, w = self.rectified.shape[:2]
        return {
            "quad": _r(self.quad),
            "score": round(self.score, 4),
            "kind": self.kind,
            "aspect": round(self.aspect, 4),
            "rectified_size": [w, h],
            "homography": np.asarray(self.homography).round(8).tolist(),
            "orientation_score": round(self.orientation_score, 4),
            "truncated": self.truncated,
            "refined": self.refined,
            "completed": self.completed,
            "fields": [f.to_dict() for f in self.fields],
        }


@dataclass
class DocumentResult:
    """Everything the pipeline found in one photo.

    Attributes:
        height: Photo height.
        width: Photo width.
        documents: Documents, largest first; empty when the photo shows none.
        timings: Milliseconds per stage (``localize``, ``rectify``, ``fields``, ``total``).
        models: Names and sizes of the models used.
    """

    height: int
    width: int
    documents: list[Document] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    models: dict[str, Any] = field(default_factory=dict)

    @property
    def found(self) -> bool:
        """Whether any document was found."""
        return bool(self.documents)

    def label_map(self) -> np.ndarray:
        """Photo-frame class map of all documents (fields of every document drawn last).

        Use it with :func:`idseg.documents.redact.redact` or to score against ground truth.
        """
        out = np.zeros((self.height, self.width), np.uint8)
        maps = [d.photo_labels(self.height, self.width) for d in self.documents]
        for labels in maps:  # documents first, largest first ...
            out[labels > 0] = 1
        for labels in maps:  # ... then every document's fields, so none is painted over
            out[labels > 1] = labels[labels > 1]
        return out

    def quads(self) -> list[np.ndarray]:
        """The documents' quads."""
        return [d.quad for d in self.documents]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: image size, documents, timings, models and the class names."""
        return {
            "image": {"height": self.height, "width": self.width},
            "found": self.found,
            "documents": [d.to_dict() for d in self.documents],
            "classes": list(CLASS_NAMES),
            "timings_ms": {k: round(v, 2) for k, v in self.timings.items()},
            "models": self.models,
        }


def mask_outline(mask: np.ndarray) -> tuple[tuple[float, float, float, float], np.ndarray]:
    """Box ``(x0, y0, x1, y1)`` and outline (largest polygon) of a non-empty field mask.

    Both in continuous coordinates; a mask too thin for a polygon gets its box as outline.

    Example:
        >>> m = np.zeros((6, 8), bool); m[2, 1:7] = True
        >>> box, outline = mask_outline(m)
        >>> box, outline.tolist()
        ((1.0, 2.0, 7.0, 3.0), [[1.0, 2.0], [7.0, 2.0], [7.0, 3.0], [1.0, 3.0]])
    """
    from idseg.geometry import mask_to_polygons

    ys, xs = np.nonzero(mask)
    box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
    polys = mask_to_polygons(mask, tolerance=1.0)
    if polys:  # pixel centres -> continuous coordinates
        outline = np.asarray(max(polys, key=lambda p: len(p.exterior)).exterior, np.float64) + 0.5
        if len(outline) >= 3:
            return box, outline.reshape(-1, 2)
    x0, y0, x1, y1 = box
    return box, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])


def _inverse(homography: np.ndarray) -> np.ndarray:
    """The inverse of a homography, or :class:`InputError` when it has none.

    Example:
        >>> _inverse(np.zeros((3, 3)))
        Traceback (most recent call last):
        ...
        idseg.errors.InputError: a homography must be an invertible 3 x 3 matrix; this one is singular
    """
    h = np.asarray(homography, dtype=np.float64)
    if h.shape != (3, 3) or not np.isfinite(h).all() or abs(np.linalg.det(h)) < 1e-12:
        raise InputError("a homography must be an invertible 3 x 3 matrix; this one is singular")
    return np.linalg.inv(h)


def image_polygon(polygon: np.ndarray, homography: np.ndarray) -> np.ndarray:
    """Map a rectified-frame polygon (continuous) to photo coordinates (continuous).

    Example:
        >>> image_polygon(np.array([[1.0, 1.0]]), np.eye(3)).tolist()
        [[1.0, 1.0]]
    """
    if len(polygon) == 0:
        return np.zeros((0, 2))
    return map_points(np.asarray(polygon) - 0.5, _inverse(homography)) + 0.5
