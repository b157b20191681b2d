"""Evaluate document segmentations and quads against a dataset's ground truth.

Quads are in continuous image coordinates (pixel ``(c, r)`` covers ``[c, c + 1) x [r, r + 1)``).
:func:`quad_iou` is the exact polygon IoU in the image; :func:`quad_iou_document_frame` is the
MIDV-500 protocol's IoU "in document coordinates": both quads are mapped by the homography that
takes the ground-truth quad to the document rectangle, so a far-away (small) document is judged
by the same standard as a close one. :func:`evaluate_masks` and :func:`evaluate_quads` score a
folder of predictions against an :func:`~idseg.data.folders.open_dataset` dataset and return an
:class:`EvalReport`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from idseg.data.check import read_mask
from idseg.data.folders import Sample, open_dataset
from idseg.data.quads import read_quads
from idseg.documents.classes import KINDS
from idseg.errors import IdsegError, InputError
from idseg.metrics import ConfusionMatrix, mask_dice, mask_iou, nanmean

logger = logging.getLogger(__name__)

__all__ = [
    "EvalReport",
    "ImageScore",
    "evaluate_masks",
    "evaluate_quads",
    "quad_iou",
    "quad_iou_document_frame",
]


@dataclass(frozen=True)
class ImageScore:
    """The score of one image (masks) or one document (quads).

    Attributes:
        name: The image stem (``stem#k`` for one of several documents).
        iou: Document IoU (image space).
        doc_frame_iou: IoU in the document's frame (quads only).
        dice: Document Dice (masks only).
        error: Why the prediction failed (scored 0), else ``None``.
    """

    name: str
    iou: float
    doc_frame_iou: float | None = None
    dice: float | None = None
    error: str | None = None


def _num(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


@dataclass
class EvalReport:
    """Scores of an evaluation run.

    Attributes:
        kind: ``"masks"`` or ``"quads"``.
        iou_threshold: The IoU an image must reach to count as found.
        scores: One score per image (masks) or document (quads), failures included.
        skipped: ``(name, reason)`` of samples without usable ground truth (not scored).
        confusion: The accumulated confusion matrix (masks only).

    Example:
        >>> r = EvalReport("quads", 0.9, [ImageScore("a", 0.95, 0.9), ImageScore("b", 0.5, 0.4)])
        >>> r.mean_iou, r.share_above, [s.name for s in r.below]
        (0.725, 0.5, ['b'])
    """

    kind: str
    iou_threshold: float
    scores: list[ImageScore] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    confusion: ConfusionMatrix | None = None

    @property
    def mean_iou(self) -> float:
        """Mean document IoU over the scores (NaN when there is none)."""
        return nanmean([s.iou for s in self.scores])

    @property
    def mean_doc_frame_iou(self) -> float:
        """Mean document-frame IoU (NaN for masks)."""
        return nanmean([s.doc_frame_iou for s in self.scores if s.doc_frame_iou is not None])

    @property
    def mean_dice(self) -> float:
        """Mean per-image document Dice (NaN for quads)."""
        return nanmean([s.dice for s in self.scores if s.dice is not None])

    @property
    def share_above(self) -> float:
        """Share of scores with IoU at least the threshold."""
        if not self.scores:
            return math.nan
        return sum(s.iou >= self.iou_threshold for s in self.scores) / len(self.scores)

    @property
    def below(self) -> list[ImageScore]:
        """Scores under the threshold, worst first (then by name)."""
        low = [s for s in self.scores if s.iou < self.iou_threshold]
        return sorted(low, key=lambda s: (s.iou, s.name))

    @property
    def failures(self) -> list[ImageScore]:
        """Scores whose prediction was missing, unreadable or unmatched."""
        return [s for s in self.scores if s.error is not None]

    def class_frequencies(self) -> dict[str, float]:
        """Share of the counted ground-truth pixels in each class (masks only)."""
        if self.confusion is None:
            return {}
        rows = self.confusion.matrix.sum(axis=1).astype(np.float64)
        total = rows.sum()
        shares = rows / total if total > 0 else np.full(rows.shape, math.nan)
        return {n: float(v) for n, v in zip(self.confusion.class_names, shares, strict=True)}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary; NaN becomes ``None``."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "images": len(self.scores),
            "iou_threshold": self.iou_threshold,
            "mean_iou": _num(self.mean_iou),
            "share_above_threshold": _num(self.share_above),
            "below_threshold": [[s.name, round(s.iou, 6)] for s in self.below],
            "failures": [[s.name, s.error] for s in self.failures],
            "skipped": [list(s) for s in self.skipped],
        }
        if self.kind == "quads":
            out["mean_doc_frame_iou"] = _num(self.mean_doc_frame_iou)
        if self.confusion is not None:
            out["mean_dice"] = _num(self.mean_dice)
            out["class_frequencies"] = self.class_frequencies()
            out["segmentation"] = self.confusion.summary()
        out["per_image"] = [
            {k: (_num(v) if isinstance(v, float) else v) for k, v in vars(s).items()}
            for s in self.scores
        ]
        return out


#: Grid side (cells) of the rasterising fallback for self-intersecting quads.
RASTER_SIDE = 2048


def _as_quad(points: np.ndarray, name: str) -> np.ndarray:
    quad = np.asarray(points, dtype=np.float64)
    if quad.shape != (4, 2) or not np.isfinite(quad).all():
        raise InputError(f"{name} must be 4 finite (x, y) points, got shape {quad.shape}")
    return quad


def _signed_area(poly: np.ndarray) -> float:
    if len(poly) < 3:
        return 0.0
    x, y = poly[:, 0], poly[:, 1]
    return float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0


def _turns(poly: np.ndarray) -> np.ndarray:
    e = np.roll(poly, -1, axis=0) - poly
    f = np.roll(e, -1, axis=0)
    return np.sign(e[:, 0] * f[:, 1] - e[:, 1] * f[:, 0])


def _is_convex(poly: np.ndarray) -> bool:
    t = _turns(poly)
    return bool(np.all(t >= 0) or np.all(t <= 0))


def _is_simple_quad(quad: np.ndarray) -> bool:
    # A quad's edge turns are all one sign (convex), or three and one (a dart); two and two is
    # a bow-tie, which crosses itself.
    t = _turns(quad)
    return not (np.count_nonzero(t > 0) == 2 and np.count_nonzero(t < 0) == 2)


def _clip(subject: np.ndarray, clip: np.ndarray) -> np.ndarray:
    """Sutherland-Hodgman: ``subject`` (any simple polygon) inside the convex ``clip``."""
    if _signed_area(clip) < 0:
        clip = clip[::-1]
    out = subject
    for a, b in zip(clip, np.roll(clip, -1, axis=0), strict=True):
        if len(out) == 0:
            break
        d = b - a
        side = d[0] * (out[:, 1] - a[1]) - d[1] * (out[:, 0] - a[0])  # >= 0: inside (left)
        kept: list[np.ndarray] = []
        for i in range(len(out)):
            j = (i + 1) % len(out)
            if side[i] >= 0:
                kept.append(out[i])
            if (side[i] >= 0) != (side[j] >= 0):
                t = side[i] / (side[i] - side[j])
                kept.append(out[i] + t * (out[j] - out[i]))
        out = np.array(kept).reshape(-1, 2)
    return out


def _raster_iou(a: np.ndarray, b: np.ndarray, box: np.ndarray | None) -> float:
    import cv2

    pts = np.vstack([a, b])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    if box is not None:
        lo, hi = np.maximum(lo, box.min(axis=0)), np.minimum(hi, box.max(axis=0))
    span = float(max(hi[0] - lo[0], hi[1] - lo[1]))
    if span <= 0:
        return 0.0
    scale = RASTER_SIDE / span
    shape = (
        math.ceil((hi[1] - lo[1]) * scale) + 1,
        math.ceil((hi[0] - lo[0]) * scale) + 1,
    )

    def fill(poly: np.ndarray) -> np.ndarray:
        img = np.zeros(shape, np.uint8)
        fixed = np.round(((poly - lo) * scale - 0.5) * 256).astype(np.int32)
        cv2.fillPoly(img, [fixed], 1, lineType=cv2.LINE_8, shift=8)
        return img.astype(bool)

    return mask_iou(fill(a), fill(b), empty=0.0)


def _polygon_iou(a: np.ndarray, b: np.ndarray, box: np.ndarray | None = None) -> float:
    if not (_is_simple_quad(a) and _is_simple_quad(b)):
        return _raster_iou(a, b, box)
    if box is not None:
        a, b = _clip(a, box), _clip(b, box)
    if _is_convex(b):
        inter_poly = _clip(a, b)
    elif _is_convex(a):
        inter_poly = _clip(b, a)
    else:
        return _raster_iou(a, b, box)
    inter = abs(_signed_area(inter_poly))
    union = abs(_signed_area(a)) + abs(_signed_area(b)) - inter
    return inter / union if union > 0 else 0.0


def quad_iou(
    pred_quad: np.ndarray, gt_quad: np.ndarray, image_hw: tuple[int, int] | None = None
) -> float:
    """Exact IoU of two quads in the image plane.

    Convex quads and darts (simple, non-convex quads) are intersected exactly as polygons;
    quads that cross themselves (bow-ties) are rasterised on a fine grid (about
    :data:`RASTER_SIDE` cells across), which their area needs.

    Args:
        pred_quad: ``4 x 2`` predicted corners ``(x, y)``.
        gt_quad: ``4 x 2`` ground-truth corners.
        image_hw: ``(height, width)``: count only the parts inside the image.

    Returns:
        IoU in ``[0, 1]``; 0 when both quads have no area.

    Raises:
        InputError: A quad that is not 4 finite points.

    Example:
        >>> sq = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], float)
        >>> quad_iou(sq + [5, 0], sq)  # 50 / 150
        0.3333333333333333
        >>> quad_iou(sq - [5, 0], sq, image_hw=(10, 10))  # the half outside does not count
        0.5
    """
    a, b = _as_quad(pred_quad, "pred_quad"), _as_quad(gt_quad, "gt_quad")
    box = None
    if image_hw is not None:
        h, w = image_hw
        box = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
    return _polygon_iou(a, b, box)


def _doc_rect(doc_size: tuple[float, float] | str | None) -> np.ndarray:
    if doc_size is None:
        w, h = 1.0, 1.0
    elif isinstance(doc_size, str):
        if doc_size not in KINDS:
            raise InputError(f"unknown document kind {doc_size!r}; expected one of {list(KINDS)}")
        w, h = KINDS[doc_size].width_mm, KINDS[doc_size].height_mm
    else:
        w, h = float(doc_size[0]), float(doc_size[1])
        if not (w > 0 and h > 0):
            raise InputError(f"doc_size must be positive (width, height), got {doc_size!r}")
    return np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)


def _homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 3 x 3 homography taking 4 points to 4 points, solved in float64."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    try:
        h = np.linalg.solve(np.array(rows), np.array(rhs))
    except np.linalg.LinAlgError:
        raise InputError("gt_quad is degenerate (three corners on a line)") from None
    return np.append(h, 1.0).reshape(3, 3)


def quad_iou_document_frame(
    pred_quad: np.ndarray,
    gt_quad: np.ndarray,
    doc_size: tuple[float, float] | str | None = None,
) -> float:
    """IoU in the document's own frame (the MIDV-500 protocol).

    The homography ``H`` that maps the ground-truth quad (corners clockwise from the
    document's top-left) onto the rectangle ``[0, W] x [0, H]`` maps the predicted quad too,
    and the IoU is taken there. Any rectangle gives the same value (rectangles differ by an
    affine map, which keeps area ratios), so ``doc_size`` only names the frame. A prediction
    that reaches the vanishing line of the document plane maps to an unbounded region: IoU 0.

    Args:
        pred_quad: ``4 x 2`` predicted corners.
        gt_quad: ``4 x 2`` ground-truth corners, in document order.
        doc_size: ``(width, height)``, a kind name of :data:`~idseg.documents.classes.KINDS`,
            or ``None`` (the unit square).

    Returns:
        IoU in ``[0, 1]``.

    Raises:
        InputError: Malformed quads, an unknown kind, or a degenerate ground-truth quad.

    Example:
        >>> gt = np.array([[0, 0], [100, 0], [100, 50], [0, 50]], float)
        >>> round(quad_iou_document_frame(gt + [10, 0], gt, "td1"), 4)  # 0.9 / 1.1
        0.8182
    """
    a, b = _as_quad(pred_quad, "pred_quad"), _as_quad(gt_quad, "gt_quad")
    rect = _doc_rect(doc_size)
    if abs(_signed_area(b)) <= 1e-12 or not _is_convex(b):
        raise InputError("gt_quad must be a convex quad with an area to define a document frame")
    hom = _homography(b, rect)
    homog = np.hstack([a, np.ones((4, 1))]) @ hom.T
    gt_w = np.hstack([b, np.ones((4, 1))]) @ hom.T
    sign = np.sign(gt_w[:, 2].mean())
    if np.any(homog[:, 2] * sign <= 1e-12):
        logger.debug("predicted quad reaches the document plane's vanishing line: IoU 0")
        return 0.0
    return _polygon_iou(homog[:, :2] / homog[:, 2:], rect)


def _load_pred_mask(source: Path | Callable[[Path], np.ndarray], sample: Sample) -> np.ndarray:
    if callable(source):
        return np.asarray(source(sample.image_path))
    path = source / f"{sample.name}.png"
    if not path.is_file():
        path = source / sample.name / "labels.png"  # an `idseg doc` output folder
    if not path.is_file():
        raise InputError(
            f"no predicted mask {sample.name}.png (or {sample.name}/labels.png) in {source}"
        )
    return read_mask(path)


def _pred_quad_file(folder: Path, name: str) -> Path:
    """``<name>.json``, else ``<name>/result.json`` (an ``idseg doc`` output folder)."""
    path = folder / f"{name}.json"
    doc = folder / name / "result.json"
    return doc if not path.is_file() and doc.is_file() else path


def _score_mask(pred: np.ndarray, gt: np.ndarray, cm: ConfusionMatrix, name: str) -> ImageScore:
    if pred.shape != gt.shape:
        raise InputError(f"predicted mask is {pred.shape}, the ground truth {gt.shape}")
    valid = (gt != cm.ignore_index) if cm.ignore_index is not None else np.ones(gt.shape, bool)
    cm.update(pred, gt)
    p, t = (pred >= 1) & valid, (gt >= 1) & valid
    return ImageScore(name, mask_iou(p, t, empty=1.0), dice=mask_dice(p, t, empty=1.0))


def evaluate_masks(
    predictions: str | Path | Callable[[Path], np.ndarray],
    dataset_path: str | Path,
    num_classes: int = 7,
    iou_threshold: float = 0.9,
) -> EvalReport:
    """Score predicted class masks against every ground-truth mask of a dataset.

    One confusion matrix is accumulated over all images (per-class IoU, Dice, pixel accuracy);
    each image also gets its document IoU and Dice (class >= 1 against class >= 1; 1 when
    both are empty, a correctly rejected negative). A missing, unreadable or mismatched
    prediction is a failure: listed with its reason, scored 0 (its pixels are left out of the
    confusion matrix), and the batch carries on. Unreadable ground-truth masks are skipped.

    Args:
        predictions: Folder of ``<image stem>.png`` class masks, or a function from the image
            path to a class mask.
        dataset_path: A flat dataset folder or split root (:func:`open_dataset`).
        num_classes: Number of classes ``K``; values ``0..K-1``.
        iou_threshold: Document IoU an image must reach to count as found.

    Returns:
        The report; ``report.to_dict()`` is JSON-ready.

    Example:
        >>> evaluate_masks("runs/pred", "data/test").share_above  # doctest: +SKIP
        0.98
    """
    ds = open_dataset(dataset_path)
    names = list(ds.classes)[:num_classes]
    names += [str(i) for i in range(len(names), num_classes)]
    cm = ConfusionMatrix(num_classes, names)
    source = predictions if callable(predictions) else Path(predictions)
    report = EvalReport("masks", iou_threshold, confusion=cm)
    for sample in ds:
        try:
            gt = read_mask(sample.mask_path)
        except IdsegError as exc:
            report.skipped.append((sample.name, str(exc)))
            continue
        try:
            pred = _load_pred_mask(source, sample)
            report.scores.append(_score_mask(pred, gt, cm, sample.name))
        except (IdsegError, OSError, ValueError) as exc:
            logger.debug("prediction for %s failed: %s", sample.name, exc)
            report.scores.append(ImageScore(sample.name, 0.0, dice=0.0, error=str(exc)))
    logger.info(
        "evaluated %d masks: %d failed, %d skipped",
        len(report.scores),
        len(report.failures),
        len(report.skipped),
    )
    return report


def _match(
    preds: list[np.ndarray], gts: list[np.ndarray], name: str, hw: tuple[int, int] | None
) -> list[ImageScore]:
    if not preds and not gts:
        return [ImageScore(name, 1.0, doc_frame_iou=1.0)]
    pairs = sorted(
        ((quad_iou(p, g, hw), i, j) for i, p in enumerate(preds) for j, g in enumerate(gts)),
        reverse=True,
    )
    used_p: set[int] = set()
    matched: dict[int, int] = {}
    for iou, i, j in pairs:
        if iou > 0 and i not in used_p and j not in matched:
            used_p.add(i)
            matched[j] = i
    multi = len(gts) > 1 or len(preds) > max(len(gts), 1)

    def label(k: object) -> str:
        return f"{name}#{k}" if multi else name

    out = []
    for j, g in enumerate(gts):
        if j in matched:
            p = preds[matched[j]]
            out.append(ImageScore(label(j), quad_iou(p, g, hw), quad_iou_document_frame(p, g)))
        else:
            out.append(ImageScore(label(j), 0.0, 0.0, error="no matching predicted quad"))
    for i in sorted(set(range(len(preds))) - used_p):
        out.append(
            ImageScore(label(f"fp{i}"), 0.0, 0.0, error="predicted quad matches no document")
        )
    return out


def evaluate_quads(
    pred_quads_dir: str | Path, dataset_path: str | Path, iou_threshold: float = 0.9
) -> EvalReport:
    """Score predicted quad JSONs against every ground-truth quad file of a dataset.

    Each ground-truth document is matched greedily (highest image IoU first) with a predicted
    quad; unmatched documents and unmatched predictions score 0. Image IoU is clipped to the
    image when its size can be read; document-frame IoU follows
    :func:`quad_iou_document_frame`. A missing or unreadable prediction file is a failure.

    Args:
        pred_quads_dir: Folder of ``<image stem>.json`` quad files (either quad JSON form).
        dataset_path: A dataset with ``quads/`` (samples without a quad file are skipped).
        iou_threshold: IoU a document must reach to count as found.

    Returns:
        The report; one score per document (``name#k`` when an image has several).

    Example:
        >>> evaluate_quads("runs/quads", "data/midv").mean_iou  # doctest: +SKIP
        0.95
    """
    from idseg.io.images import image_size

    ds = open_dataset(dataset_path)
    report = EvalReport("quads", iou_threshold)
    for sample in ds:
        if sample.quad_path is None:
            report.skipped.append((sample.name, "no ground-truth quad file"))
            continue
        try:
            gts = read_quads(sample.quad_path)
        except IdsegError as exc:
            report.skipped.append((sample.name, str(exc)))
            continue
        try:
            preds = read_quads(_pred_quad_file(Path(pred_quads_dir), sample.name))
        except IdsegError as exc:
            failed = ImageScore(sample.name, 0.0, 0.0, error=str(exc))
            report.scores += [failed] * max(len(gts), 1)
            continue
        try:
            hw: tuple[int, int] | None = image_size(sample.image_path)
        except IdsegError:
            hw = None
        report.scores += _match(preds, gts, sample.name, hw)
    return report
