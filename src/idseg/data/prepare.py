"""Derive the training sets of the two document models from any quad-annotated idseg dataset.

idseg's document pipeline runs two small U-Nets (:mod:`idseg.documents.pipeline`):

- the **localiser** sees the whole photo and predicts ``background``, ``document`` and
  ``edge`` (a band just inside each document's own outline, also where one document overlaps
  another, but not around occluders such as a pen or a thumb), so touching and overlapping
  documents separate into instances and an occluded document stays one;
- the **field model** sees one rectified document and predicts the field classes.

:func:`localizer_dataset` writes the first kind (same images, new masks built from the class
mask and the quads); :func:`fields_dataset` rectifies every document from its quad, with
random jitter of the corners so the model learns to live with an imperfect localiser, and
writes the upright crops with their class masks. Both read a synthetic dataset
(``idseg synth``) or an import (``idseg data midv``) and keep each image's split group, so
``idseg data split`` and ``idseg train unet`` never put one template on both sides.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from idseg.data.folders import Sample, open_dataset
from idseg.data.outdir import generator, output_folder
from idseg.data.quads import read_quads
from idseg.documents.classes import CLASS_NAMES, KINDS
from idseg.documents.rectify import rectify
from idseg.documents.regions import quad_area
from idseg.errors import InputError
from idseg.io.atomic import atomic_write_json
from idseg.io.images import load_image
from idseg.io.writers import save_label_png

logger = logging.getLogger(__name__)

__all__ = [
    "LOCALIZER_CLASSES",
    "LOCALIZER_HIDDEN_CLASSES",
    "PrepareReport",
    "fields_dataset",
    "instance_map",
    "localizer_dataset",
    "outline_edges",
]

#: Classes of the localiser's masks.
LOCALIZER_CLASSES: tuple[str, ...] = ("background", "document", "edge")
#: Classes of a localiser that also completes documents under what covers them (``hidden=True``).
LOCALIZER_HIDDEN_CLASSES: tuple[str, ...] = (*LOCALIZER_CLASSES, "hidden")
#: A close-up's sides lie this share of the document's box outside it (inside when negative).
CLOSEUP_MARGIN: tuple[float, float] = (-0.03, 0.10)
#: Documents less visible than this get no ``hidden`` label (see :func:`localizer_dataset`).
HIDDEN_MIN_VISIBLE = 0.3


@dataclass
class PrepareReport:
    """What a preparation run wrote.

    Attributes:
        out: The output folder.
        images: Samples written.
        skipped: ``(source, reason)`` for each sample or document left out.
    """

    out: Path
    images: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "out": str(self.out),
            "images": self.images,
            "skipped": [{"source": s, "reason": r} for s, r in self.skipped],
        }


def instance_map(
    shape: tuple[int, int], quads: list[np.ndarray], visible: np.ndarray
) -> np.ndarray:
    """Label each visible document pixel with its document's number (1 = first quad).

    Later quads lie on top of earlier ones (the order ``idseg synth`` writes, bottom to top).

    Args:
        shape: ``(height, width)``.
        quads: Quads in continuous coordinates.
        visible: Boolean mask of visible document pixels (occluders excluded).

    Example:
        >>> q = [np.array([[0, 0], [4, 0], [4, 4], [0, 4]], float), np.array([[2, 0], [6, 0], [6, 4], [2, 4]], float)]
        >>> instance_map((4, 6), q, np.ones((4, 6), bool))[0].tolist()
        [1, 1, 2, 2, 2, 2]
    """
    from idseg.data.convert_geometry import rasterize_polygon

    out = np.zeros(shape, np.uint8)
    for i, quad in enumerate(quads[:255], start=1):
        out[rasterize_polygon(quad, shape)] = i  # pixels whose centre lies inside
    out[~visible] = 0
    return out


def outline_edges(
    shape: tuple[int, int], quads: list[np.ndarray], instances: np.ndarray, width: int
) -> np.ndarray:
    """Pixels of each document within ``width`` pixels inside its own quad's outline.

    Occluders (a pen, a thumb) lying on a document make no edge: only the documents' own
    outlines do, so the edge band separates documents and nothing else. The frame border is no
    outline either (the quad is drawn on a canvas large enough to hold it).

    Example:
        >>> inst = np.zeros((8, 8), np.uint8); inst[1:7, 1:7] = 1; inst[3:5, 3:5] = 0  # a hole
        >>> q = [np.array([[1, 1], [7, 1], [7, 7], [1, 7]], float)]
        >>> e = outline_edges((8, 8), q, inst, 1)
        >>> int(e.sum()), bool(e[2, 3])   # the ring only: no edge around the hole
        (20, False)
    """
    from idseg.data.convert_geometry import rasterize_polygon

    h, w = shape
    out = np.zeros(shape, bool)
    pad = width + 2
    for i, quad in enumerate(quads[:255], start=1):
        x0, y0 = np.floor(np.minimum(quad.min(axis=0), 0)).astype(int) - pad
        x1 = int(np.ceil(max(quad[:, 0].max(), w))) + pad
        y1 = int(np.ceil(max(quad[:, 1].max(), h))) + pad
        inside = rasterize_polygon(quad - [x0, y0], (y1 - y0, x1 - x0)).astype(np.uint8)
        dist = cv2.distanceTransform(inside, cv2.DIST_L2, 3)[-y0 : -y0 + h, -x0 : -x0 + w]
        out |= (instances == i) & (dist <= width)
    return out


_BAD_RECORD = (OSError, ValueError, KeyError, TypeError, AttributeError)


def _document_facts(sample: Sample, count: int) -> tuple[list[str | None], list[float]]:
    """Each document's kind and visible share, from ``polygons/<stem>.json`` (read once).

    Synthetic datasets have that file; otherwise (or when it does not list ``count``
    documents) every kind is ``None`` and every document counts as fully visible.
    """
    path = sample.image_path.parent.parent / "polygons" / f"{sample.name}.json"
    try:
        docs = json.loads(path.read_text())["documents"]
    except _BAD_RECORD:
        return [None] * count, [1.0] * count
    try:
        kinds = [d.get("kind") if d.get("kind") in KINDS else None for d in docs]
    except _BAD_RECORD:
        kinds = []
    try:
        seen = [float(d.get("visible_fraction", 1.0)) for d in docs]
    except _BAD_RECORD:
        seen = []
    return (
        kinds if len(kinds) == count else [None] * count,
        seen if len(seen) == count else [1.0] * count,
    )


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _each_sample(
    data: str | Path,
    out: str | Path,
    overwrite: bool,
    tool: str,
    classes: tuple[str, ...],
    work: Callable[[Sample, Path, PrepareReport, dict[str, str]], None],
) -> PrepareReport:
    ds = open_dataset(data)
    if tuple(ds.classes[:2]) != ("background", "document"):
        raise InputError(
            f"{data}: expected a document dataset (classes background, document, ...), got {ds.class_names}"
        )
    samples = [s for s in ds.samples if s.quad_path is not None]
    if not samples:
        raise InputError(f"{data}: no image has a quad file (quads/<name>.json)")
    report = PrepareReport(Path(out))
    groups: dict[str, str] = {}
    with output_folder(Path(out), [Path(data)], overwrite=overwrite) as tmp:
        for sub in ("images", "masks"):
            (tmp / sub).mkdir()
        for sample in samples:
            try:
                work(sample, tmp, report, groups)
            except Exception as exc:  # one bad sample never stops the run
                report.skipped.append((sample.name, f"{type(exc).__name__}: {exc}"))
                logger.debug("skipped %s: %s", sample.name, exc)
        meta = {
            "classes": list(classes),
            "source": str(Path(data).absolute()),
            "generator": generator(tool),
            "groups": dict(sorted(groups.items())),
        }
        atomic_write_json(tmp / "dataset.json", meta)
    logger.info("prepared %d samples (%d skipped)", report.images, len(report.skipped))
    return report


def localizer_dataset(
    data: str | Path,
    out: str | Path,
    edge: float = 0.008,
    amodal: bool = False,
    hidden: bool = False,
    overwrite: bool = False,
    closeups: float = 0.0,
    seed: int = 0,
) -> PrepareReport:
    """Write the localiser's training set: the same images, masks of background/document/edge.

    Args:
        data: A document dataset with ``quads/`` (``idseg synth`` output or a MIDV import).
        out: Output folder (new, empty or an earlier idseg dataset).
        edge: Width of the edge band as a share of the image's longer side (at least 2 px).
        amodal: Label each document's whole quad, also where a hand, a pen or another object
            lies on it (only an upper document hides it), with its edge band all round: the
            model learns to complete a document behind what covers it, as its quad (the
            annotation of MIDV and of idseg's own test sets) does. Otherwise only the visible
            document pixels are labelled.
        hidden: Keep document and edge as they are seen and add a fourth class, ``hidden``:
            the parts of each document's quad that a hand, a pen or another object covers
            (not those under another document; nor documents less than 30 % visible, whose
            place nothing in the photo shows). One model then gives both the visible document
            and its completion, and the localiser can choose between them.
        overwrite: Replace a non-empty ``out`` that is not an idseg dataset.
        closeups: Share of the photos that also give a close-up (``<name>_close``): the photo
            cut to its largest document at least 85 % visible, each side of the cut
            :data:`CLOSEUP_MARGIN` of the document's box away from it (inside it when negative),
            as in a scan or a photo filled by the card; labels redrawn on the cut (the frame
            border is no outline). Which photos, and the margins, follow ``seed`` and the name.
        seed: Seed of the close-ups.

    Returns:
        What was written and what was skipped (unreadable files, bad quads).

    Raises:
        InputError: ``data`` is not a document dataset with quads, ``out`` is not replaceable,
            both ``amodal`` and ``hidden``, ``closeups`` outside [0, 1], a negative ``seed``,
            or close-ups asked of a dataset that already has a sample ``<name>_close``.
    """
    if not 0 < edge < 0.1:
        raise InputError(f"edge must be a share of the image side in (0, 0.1), got {edge}")
    if not 0.0 <= closeups <= 1.0:
        raise InputError(f"closeups must be a share in [0, 1], got {closeups}")
    if seed < 0:
        raise InputError(f"seed must be 0 or more, got {seed}")
    if closeups > 0:
        names = {sample.name for sample in open_dataset(data).samples}
        taken = sorted(n for n in names if f"{n}_close" in names)
        if taken:
            raise InputError(f"{data}: close-up names taken, e.g. {taken[0]}_close; rename it")
    if amodal and hidden:
        raise InputError("choose one of amodal (whole quads as document) and hidden (a 4th class)")

    def labels_of(classes: np.ndarray, quads: list[np.ndarray], sample: Sample) -> np.ndarray:
        visible = (classes > 0) & (classes < len(CLASS_NAMES))
        if amodal:  # the whole quad, occluders included; only an upper document hides it
            inst = instance_map(classes.shape, quads, np.ones(classes.shape, bool))
            visible = inst > 0
        else:
            inst = instance_map(classes.shape, quads, visible)
        width = max(2, round(edge * max(classes.shape)))
        labels = np.where(visible, 1, 0).astype(np.uint8)
        labels[outline_edges(classes.shape, quads, inst, width)] = 2
        if hidden:
            labels[_hidden_parts(sample, quads, visible)] = 3
        labels[classes >= len(CLASS_NAMES)] = 255
        return labels

    def work(sample: Sample, tmp: Path, report: PrepareReport, groups: dict[str, str]) -> None:
        assert sample.quad_path is not None  # filtered by _each_sample
        classes = cv2.imread(str(sample.mask_path), cv2.IMREAD_UNCHANGED)
        if classes is None or classes.ndim != 2:
            raise InputError("unreadable class mask")
        quads = read_quads(sample.quad_path)
        _link_or_copy(sample.image_path, tmp / "images" / sample.image_path.name)
        save_label_png(labels_of(classes, quads, sample), tmp / "masks" / f"{sample.name}.png")
        groups[sample.image_path.name] = sample.group
        report.images += 1
        if closeups == 0:
            return
        rng = np.random.default_rng([seed, zlib.crc32(sample.name.encode())])
        box = _closeup_box(sample, quads, classes.shape, rng) if rng.random() < closeups else None
        if box is None:
            return
        try:
            _write_closeup(sample, classes, quads, box, tmp, labels_of)
        except _BAD_RECORD as exc:  # the photo itself is written; only its close-up is not
            report.skipped.append((f"{sample.name}_close", f"{type(exc).__name__}: {exc}"))
            return
        groups[f"{sample.name}_close.jpg"] = sample.group
        report.images += 1

    classes = LOCALIZER_HIDDEN_CLASSES if hidden else LOCALIZER_CLASSES
    return _each_sample(data, out, overwrite, "prepare-localizer", classes, work)


def _write_closeup(
    sample: Sample,
    classes: np.ndarray,
    quads: list[np.ndarray],
    box: tuple[int, int, int, int],
    tmp: Path,
    labels_of: Callable[[np.ndarray, list[np.ndarray], Sample], np.ndarray],
) -> None:
    """Write ``<name>_close``: the photo and its labels (redrawn by ``labels_of``) cut to ``box``.

    Raises:
        InputError: The photo and its class mask differ in size.
        OSError: The cut could not be encoded.
    """
    image = load_image(sample.image_path)
    if image.shape[:2] != classes.shape:
        raise InputError(f"image {image.shape[:2]} and mask {classes.shape} differ in size")
    x0, y0, x1, y1 = box
    shifted = [q - np.array([x0, y0], np.float64) for q in quads]
    labels = labels_of(np.ascontiguousarray(classes[y0:y1, x0:x1]), shifted, sample)
    ok, buf = cv2.imencode(".jpg", image[y0:y1, x0:x1, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    if not ok:
        raise OSError("OpenCV could not encode a close-up")
    (tmp / "images" / f"{sample.name}_close.jpg").write_bytes(buf.tobytes())
    save_label_png(labels, tmp / "masks" / f"{sample.name}_close.png")


def _closeup_box(
    sample: Sample, quads: list[np.ndarray], shape: tuple[int, ...], rng: np.random.Generator
) -> tuple[int, int, int, int] | None:
    """Where a close-up cuts a photo: around its largest well-visible document (``None``: none).

    Args:
        sample: The photo (its ``polygons/`` file says how visible each document is).
        quads: Its documents' quads.
        shape: The photo's ``(height, width)``.
        rng: Draws the margins.

    The sides of the document's box move by :data:`CLOSEUP_MARGIN` of its width or height each
    (independently), clipped to the photo; documents leaving the photo are not candidates; a
    cut under 32 px either way, or one that is the whole photo, is none.
    """
    _, seen = _document_facts(sample, len(quads))
    h, w = shape[:2]
    candidates = [
        q
        for q, share in zip(quads, seen, strict=True)
        if share >= 0.85 and q.min() >= -1 and q[:, 0].max() <= w + 1 and q[:, 1].max() <= h + 1
    ]
    if not candidates:
        return None
    quad = max(candidates, key=quad_area)
    (bx0, by0), (bx1, by1) = quad.min(axis=0), quad.max(axis=0)
    lo, hi = CLOSEUP_MARGIN
    m = rng.uniform(lo, hi, 4) * np.array([bx1 - bx0, by1 - by0, bx1 - bx0, by1 - by0])
    x0, y0 = max(0, round(float(bx0 - m[0]))), max(0, round(float(by0 - m[1])))
    x1, y1 = min(w, round(float(bx1 + m[2]))), min(h, round(float(by1 + m[3])))
    if min(x1 - x0, y1 - y0) < 32 or (x0, y0, x1, y1) == (0, 0, w, h):
        return None
    return x0, y0, x1, y1


def _hidden_parts(sample: Sample, quads: list[np.ndarray], visible: np.ndarray) -> np.ndarray:
    """Pixels inside a document's quad where no document is seen: something covers it there.

    Documents less than ``HIDDEN_MIN_VISIBLE`` visible (a card wholly under a sheet of paper)
    are left out: nothing in the photo shows where they are, so labelling them would teach the
    model to imagine documents inside plain paper.
    """
    whole = instance_map(visible.shape, quads, np.ones(visible.shape, bool))
    _, seen = _document_facts(sample, len(quads))
    shown = [i + 1 for i, share in enumerate(seen) if share >= HIDDEN_MIN_VISIBLE]
    return np.isin(whole, shown) & ~visible


def _jitter(quad: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    side = float(np.linalg.norm(quad[2] - quad[0]))
    return quad + rng.uniform(-amount, amount, (4, 2)) * side


def fields_dataset(
    data: str | Path,
    out: str | Path,
    jitter: float = 0.015,
    copies: int = 1,
    seed: int = 0,
    max_side: int = 448,
    min_visible: float = 0.85,
    overwrite: bool = False,
) -> PrepareReport:
    """Write the field model's training set: each document rectified from its (jittered) quad.

    Args:
        data: A document dataset with ``quads/`` and class masks with field classes.
        out: Output folder.
        jitter: Largest corner displacement as a share of the quad's diagonal.
        copies: Crops per document, each with its own jitter.
        seed: Seed of the jitter.
        max_side: Longer side of the written crops.
        min_visible: Documents with less of their area visible (``polygons/`` of synthetic
            data: out of frame, covered by another document) are skipped.
        overwrite: Replace a non-empty ``out`` that is not an idseg dataset.

    Returns:
        What was written and what was skipped.

    Raises:
        InputError: A bad argument or dataset.
    """
    if copies < 1 or jitter < 0 or max_side < 32:
        raise InputError(
            f"expected copies >= 1, jitter >= 0, max_side >= 32; got {copies}, {jitter}, {max_side}"
        )

    def work(sample: Sample, tmp: Path, report: PrepareReport, groups: dict[str, str]) -> None:
        assert sample.quad_path is not None  # filtered by _each_sample
        quads = read_quads(sample.quad_path)
        if not quads:
            return
        image = load_image(sample.image_path)
        classes = cv2.imread(str(sample.mask_path), cv2.IMREAD_UNCHANGED)
        if classes is None or classes.shape != image.shape[:2]:
            raise InputError("class mask missing or not the image's size")
        kinds, seen = _document_facts(sample, len(quads))
        rng = np.random.default_rng([seed, report.images, len(report.skipped)])
        for d, quad in enumerate(quads):
            if seen[d] < min_visible:
                report.skipped.append((f"{sample.name} document {d}", "mostly hidden"))
                continue
            for c in range(copies):
                q = _jitter(quad, rng, jitter) if jitter else quad
                _write_crop(image, classes, q, kinds[d], max_side, tmp, f"{sample.name}_{d}_{c}")
                groups[f"{sample.name}_{d}_{c}.jpg"] = sample.group
                report.images += 1

    return _each_sample(data, out, overwrite, "prepare-fields", CLASS_NAMES, work)


def _write_crop(
    image: np.ndarray,
    classes: np.ndarray,
    quad: np.ndarray,
    kind: str | None,
    max_side: int,
    tmp: Path,
    stem: str,
) -> None:
    r = rectify(image, quad, kind=kind, max_side=max_side, width=max_side)
    h, w = r.image.shape[:2]
    mask = cv2.warpPerspective(
        classes,
        r.homography,
        (w, h),
        flags=cv2.INTER_NEAREST,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=255,
    )
    ok, buf = cv2.imencode(".jpg", r.image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    if not ok:
        raise OSError("OpenCV could not encode a crop")
    (tmp / "images" / f"{stem}.jpg").write_bytes(buf.tobytes())
    save_label_png(mask.astype(np.uint8), tmp / "masks" / f"{stem}.png")
