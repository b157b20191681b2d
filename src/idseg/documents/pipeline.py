"""The document pipeline: find documents, fit corners, rectify, segment fields.

:class:`DocumentPipeline` runs two small U-Nets that ship inside the package
(``idseg/models/bundled``, trained by ``recipes/bundled_models.sh`` on idseg's synthetic data;
see ``docs/MODEL_CARD.md``), so it works offline on a fresh machine:

1. the localiser finds every document and its four corners (:mod:`idseg.documents.localize`);
2. each document is rectified to its true aspect ratio, the right way up, and the field model
   segments portrait, MRZ, text, signature and barcode on it (:mod:`idseg.documents.fields`);
3. fields come back as masks, boxes and outlines on the rectified document and in the photo.

Optionally SAM2 refines the masks from box prompts (:mod:`idseg.documents.refine`).

Example:
    >>> from idseg.documents.pipeline import analyze_document
    >>> result = analyze_document("card.jpg")  # doctest: +SKIP
    >>> [(d.kind, [f.cls for f in d.fields]) for d in result.documents]  # doctest: +SKIP
    [('td1', ['portrait', 'mrz', 'text', 'text'])]
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from idseg.data.prepare import LOCALIZER_CLASSES, LOCALIZER_HIDDEN_CLASSES
from idseg.documents.classes import CLASS_NAMES
from idseg.documents.fields import MIN_FIELD_SCORES, FieldSegmenter
from idseg.documents.localize import Localized, Localizer
from idseg.documents.regions import reaches_edge, sides_alike
from idseg.documents.result import Document, DocumentResult, image_polygon
from idseg.errors import CheckpointError
from idseg.io.images import ImageSource, load_image
from idseg.models.unet_io import UNetInfo, load_unet

if TYPE_CHECKING:
    from idseg.documents.refine import SamRefiner
    from idseg.models.unet import UNet

logger = logging.getLogger(__name__)

__all__ = [
    "BUNDLED_FIELDS",
    "BUNDLED_LOCALIZER",
    "DocumentPipeline",
    "PipelineSettings",
    "analyze_document",
    "bundled_model",
]

#: File names of the models shipped in ``idseg/models/bundled``.
BUNDLED_LOCALIZER = "doc_localizer.pt"
BUNDLED_FIELDS = "doc_fields.pt"


def bundled_model(name: str) -> Path:
    """Path of a model file shipped with idseg.

    Raises:
        CheckpointError: The file is not in the installed package.

    Example:
        >>> bundled_model(BUNDLED_LOCALIZER).name
        'doc_localizer.pt'
    """
    path = Path(str(resources.files("idseg.models") / "bundled" / name))
    if not path.is_file():
        raise CheckpointError(
            f"the bundled model {name!r} is missing from the installed package ({path}); "
            "reinstall idseg or pass your own checkpoint"
        )
    return path


def _load(path: Path, device: str) -> tuple[UNet, UNetInfo]:
    """Load a checkpoint once per (file, version on disk, device); models are shared, read-only."""
    file = path.resolve()
    try:
        stat = file.stat()
    except OSError:
        return load_unet(file, device=device)  # raises the usual CheckpointError
    return _load_cached(str(file), stat.st_mtime_ns, stat.st_size, device)


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, mtime_ns: int, size: int, device: str) -> tuple[UNet, UNetInfo]:
    return load_unet(path, device=device)


@dataclass(frozen=True)
class PipelineSettings:
    """Knobs of :class:`DocumentPipeline` (the defaults suit photos of ID cards and pages).

    Attributes:
        refine_size: Input side of the localiser's second pass on each document (``None``: the
            localiser's own size; 0: off).
        min_area: Smallest document as a share of the photo.
        min_score: Smallest mean document probability of a found document.
        max_documents: At most this many documents per photo.
        field_min_area: Smallest field as a share of the rectified document.
        barcode_min_score: Smallest mean probability of a barcode field (see
            :data:`~idseg.documents.fields.MIN_FIELD_SCORES`); weaker ones become plain document.
        max_side: Longer side of rectified documents (they keep the photo's resolution below).
        fields: Run the field model (``False``: localise and rectify only).
        unknown_min_score: A document whose shape matches no known kind (TD1 either way, TD2/TD3/A4/Letter)
            must reach this score to be kept: a stray blob on a passport cover or a poster is
            usually neither card- nor page-shaped nor confidently a document.
        truncated_min_score: The same bar for a document cut by the photo's edge, whose visible
            part has no document's shape.
    """

    refine_size: int | None = None
    min_area: float = 0.004
    min_score: float = 0.6
    max_documents: int = 10
    field_min_area: float = 0.0008
    barcode_min_score: float = MIN_FIELD_SCORES["barcode"]
    max_side: int = 1600
    fields: bool = True
    unknown_min_score: float = 0.9
    truncated_min_score: float = 0.75


class DocumentPipeline:
    """Localise, rectify and segment documents in photos.

    Args:
        localizer: Localiser checkpoint (``idseg train unet`` output with classes background,
            document, edge); default: the bundled model.
        fields: Field model checkpoint (classes of
            :data:`~idseg.documents.classes.CLASS_NAMES`); default: the bundled model.
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        settings: See :class:`PipelineSettings`.
        refiner: Optional SAM2 refiner (``--refine sam2``).

    Raises:
        CheckpointError: A checkpoint is missing, unreadable or has the wrong classes.

    Example:
        >>> pipe = DocumentPipeline()
        >>> pipe.models["localizer"]["classes"]
        ['background', 'document', 'edge']
    """

    def __init__(
        self,
        localizer: str | Path | None = None,
        fields: str | Path | None = None,
        device: str = "cpu",
        settings: PipelineSettings | None = None,
        refiner: SamRefiner | None = None,
    ) -> None:
        self.settings = s = settings or PipelineSettings()
        loc_path = Path(localizer) if localizer else bundled_model(BUNDLED_LOCALIZER)
        fld_path = Path(fields) if fields else bundled_model(BUNDLED_FIELDS)
        loc_model, loc_info = _load(loc_path, device)
        _expect(loc_info, LOCALIZER_CLASSES, loc_path, LOCALIZER_HIDDEN_CLASSES)
        fld_model, fld_info = _load(fld_path, device)
        _expect(fld_info, CLASS_NAMES, fld_path)
        self.localizer = Localizer(
            loc_model, loc_info.size, s.refine_size, s.min_area, s.min_score, s.max_documents
        )
        self.field_model = FieldSegmenter(
            fld_model,
            fld_info.size,
            s.field_min_area,
            s.max_side,
            {**MIN_FIELD_SCORES, "barcode": s.barcode_min_score},
        )
        self.refiner = refiner
        self.models: dict[str, Any] = {
            "localizer": _describe(loc_path, loc_info, localizer is None),
            "fields": _describe(fld_path, fld_info, fields is None),
        }

    def localize(self, image: ImageSource) -> list[Localized]:
        """Documents and corners only (photo orientation, no rectification)."""
        return self.localizer.localize(load_image(image))

    def __call__(self, image: ImageSource) -> DocumentResult:
        """Same as :meth:`analyze`."""
        return self.analyze(image)

    def analyze(self, image: ImageSource) -> DocumentResult:
        """Run the whole pipeline on one photo (a path, bytes, PIL image or RGB array).

        Raises:
            ImageError: The image cannot be read (see :func:`idseg.io.images.load_image`).
        """
        rgb = load_image(image)
        h, w = rgb.shape[:2]
        timings: dict[str, float] = {"rectify": 0.0, "fields": 0.0}
        start = time.perf_counter()
        found = self.localizer.localize(rgb)
        timings["localize"] = (time.perf_counter() - start) * 1000
        if self.refiner is None:
            documents = [self._document(rgb, d, timings) for d in found]
        else:
            documents = self._refined(rgb, found, timings)
        documents = [d for d in documents if self._plausible(d, w, h)]
        timings["total"] = (time.perf_counter() - start) * 1000
        logger.info("%d document(s) in %.0f ms", len(documents), timings["total"])
        return DocumentResult(h, w, documents, timings, self.models)

    def _plausible(self, doc: Document, w: int, h: int) -> bool:
        """A document of a known kind, or one found with enough confidence.

        A document reaching the photo's edge (a corner within 1 % of the shorter side of it) may
        be cut there, so its visible shape need not be a document's: it gets the lower bar. A
        kind is believed only when the quad's opposite sides are alike
        (:func:`~idseg.documents.regions.sides_alike`): a near-triangle fitted to a stray blob
        can match a kind's side ratio by chance, so it needs the bar of an unknown shape.
        """
        s = self.settings
        at_edge = doc.truncated or reaches_edge(doc.quad, w, h)
        known = doc.kind is not None and sides_alike(doc.quad)
        return known or doc.score >= (s.truncated_min_score if at_edge else s.unknown_min_score)

    def _refined(
        self, rgb: np.ndarray, found: list[Localized], timings: dict[str, float]
    ) -> list[Document]:
        """Documents with SAM2-refined quads and fields (``--refine sam2``)."""
        assert self.refiner is not None  # checked by the caller
        t = time.perf_counter()
        quads = self.refiner.refine_quads(rgb, [d.quad for d in found])
        timings["refine"] = (time.perf_counter() - t) * 1000
        documents = []
        for d, q in zip(found, quads, strict=True):
            doc = self._document(rgb, replace(d, quad=q), timings)
            moved = bool(np.abs(q - d.quad).max() > 1e-6)
            t = time.perf_counter()
            doc = self.refiner.refine_fields(replace(doc, refined="sam2") if moved else doc)
            timings["refine"] += (time.perf_counter() - t) * 1000
            documents.append(doc)
        return documents

    def _document(self, rgb: np.ndarray, found: Localized, timings: dict[str, float]) -> Document:
        t = time.perf_counter()
        rect, probs, confidence = self.field_model.segment(rgb, found.quad)
        timings["rectify"] += (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        inside = bool(((found.quad >= 0) & (found.quad <= rgb.shape[1::-1])).all())
        seen = (
            np.ones(rect.image.shape[:2], bool)
            if inside
            else _in_photo(rect.homography, rgb.shape[:2], rect.image.shape[:2])
        )
        if not seen.all():
            probs[:, ~seen] = 0.0
            probs[0, ~seen] = 1.0  # parts beyond the photo's edge are no document pixels
        if self.settings.fields:
            labels, fields = self.field_model.fields(probs, rect.homography)
        else:
            labels, fields = np.where(seen, 1, 0).astype(np.uint8), []
        timings["fields"] += (time.perf_counter() - t) * 1000
        quad = _quad_of(rect)
        h, w = rgb.shape[:2]
        outside = _cut_by_frame(quad, w, h)
        return Document(
            quad=quad,
            score=found.score,
            kind=rect.kind,
            aspect=rect.aspect,
            rectified=rect.image,
            homography=rect.homography,
            field_map=labels,
            fields=fields,
            orientation_score=confidence,
            truncated=outside,
            completed=found.completed,
        )


def _in_photo(
    homography: np.ndarray, photo_hw: tuple[int, int], out_hw: tuple[int, int]
) -> np.ndarray:
    """Which rectified pixels come from inside the photo (not from beyond its edge)."""
    ones = np.ones(photo_hw, np.uint8)
    warped = cv2.warpPerspective(
        ones, homography, (out_hw[1], out_hw[0]), flags=cv2.INTER_NEAREST, borderValue=0
    )
    return warped > 0


def _cut_by_frame(quad: np.ndarray, w: int, h: int, tol: float = 1.5) -> bool:
    """A corner lies outside the photo, or a whole side runs along the photo's edge.

    Example:
        >>> _cut_by_frame(np.array([[0.2, 5], [50, 5], [50, 30], [0.4, 30]]), 60, 40)
        True
    """
    if ((quad < -tol) | (quad > np.array([w + tol, h + tol]))).any():
        return True
    nxt = np.roll(quad, -1, axis=0)
    for axis, limit in ((0, 0.0), (0, float(w)), (1, 0.0), (1, float(h))):
        on_edge = np.abs(quad[:, axis] - limit) <= tol
        if (on_edge & (np.abs(nxt[:, axis] - limit) <= tol)).any():
            return True
    return False


def _quad_of(rect: Any) -> np.ndarray:
    """The photo corners of a rectified document, clockwise from its own top-left."""
    h, w = rect.image.shape[:2]
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
    return image_polygon(corners, rect.homography)


def _expect(info: UNetInfo, classes: tuple[str, ...], path: Path, *more: tuple[str, ...]) -> None:
    """Raise unless the checkpoint predicts ``classes`` (or one of the ``more`` alternatives)."""
    if tuple(info.classes) not in (tuple(classes), *more):
        wanted = " or ".join(str(list(c)) for c in (classes, *more))
        raise CheckpointError(
            f"{path.name!r} predicts {list(info.classes)}; this stage needs {wanted}"
        )


def _describe(path: Path, info: UNetInfo, bundled: bool) -> dict[str, Any]:
    return {
        "file": path.name if bundled else str(path),
        "bundled": bundled,
        "architecture": info.architecture.name or "custom",
        "size": info.size,
        "classes": list(info.classes),
        "epoch": info.epoch,
    }


def analyze_document(image: ImageSource, **kwargs: Any) -> DocumentResult:
    """Run a :class:`DocumentPipeline` (built with ``kwargs``) on one photo.

    Models are cached, so repeated calls do not reload them.
    """
    return DocumentPipeline(**kwargs).analyze(image)
