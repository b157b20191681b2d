"""Segmentation metrics from a confusion matrix: IoU per class, mean IoU, Dice, pixel accuracy.

Everything is computed from a ``K x K`` confusion matrix ``cm`` of pixel counts, rows the true
class and columns the predicted class, accumulated over a whole data set
(:class:`ConfusionMatrix`), so the scores are exact over all pixels rather than means of
per-batch scores. With ``TP = cm[c, c]``, ``FP`` the rest of column ``c`` and ``FN`` the rest of
row ``c``:

- IoU ``TP / (TP + FP + FN)``; Dice (F1) ``2 TP / (2 TP + FP + FN)``;
- pixel accuracy ``trace(cm) / sum(cm)``; class recall (accuracy) ``TP / (TP + FN)``.

A class that is neither in the ground truth nor predicted has ``TP + FP + FN = 0``: its IoU and
Dice are NaN (undefined), not 1 or 0, and the means (``mean_iou``, ``mean_dice``) leave NaN out.
A class predicted but absent from the ground truth has IoU 0 and counts. Pixels whose true value
is ``ignore_index`` (or outside ``0..K-1``) are not counted at all; predictions outside
``0..K-1`` raise an error. The NumPy functions take arrays; :func:`confusion_matrix` accepts torch
tensors too and counts on their device.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from idseg.errors import InputError

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

__all__ = [
    "ConfusionMatrix",
    "confusion_matrix",
    "dice_per_class",
    "iou_per_class",
    "mask_dice",
    "mask_iou",
    "mean_dice",
    "mean_iou",
    "nanmean",
    "pixel_accuracy",
    "recall_per_class",
]


def confusion_matrix(
    pred: np.ndarray | torch.Tensor,
    target: np.ndarray | torch.Tensor,
    num_classes: int,
    ignore_index: int | None = 255,
) -> np.ndarray:
    """Count pixels by (true class, predicted class).

    Args:
        pred: Predicted class values, any shape (numpy array or torch tensor).
        target: True class values, the same shape as ``pred``.
        num_classes: ``K``; values ``0..K-1`` are classes.
        ignore_index: True value whose pixels are skipped (true values outside ``0..K-1`` are
            skipped too).

    Returns:
        ``K x K`` int64 array, ``[true, predicted]``.

    Raises:
        InputError: Shapes differ, ``num_classes < 1``, or a prediction outside ``0..K-1``.

    Example:
        >>> confusion_matrix(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 255]), 3)
        array([[1, 0, 0],
               [0, 1, 0],
               [0, 1, 0]])
    """
    if num_classes < 1:
        raise InputError(f"num_classes must be at least 1, got {num_classes}")
    if tuple(pred.shape) != tuple(target.shape):
        raise InputError(
            f"pred and target must have the same shape, got {tuple(pred.shape)} and {tuple(target.shape)}"
        )
    if not isinstance(pred, np.ndarray) or not isinstance(target, np.ndarray):
        return _confusion_torch(pred, target, num_classes, ignore_index)
    p = np.asarray(pred).reshape(-1).astype(np.int64)
    t = np.asarray(target).reshape(-1).astype(np.int64)
    keep = (t >= 0) & (t < num_classes)
    if ignore_index is not None:
        keep &= t != ignore_index
    p, t = p[keep], t[keep]
    if p.size and (p.min() < 0 or p.max() >= num_classes):
        raise InputError(
            f"predicted values must lie in 0..{num_classes - 1}, got {p.min()}..{p.max()}"
        )
    counts = np.bincount(t * num_classes + p, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64)


def _confusion_torch(
    pred: Any, target: Any, num_classes: int, ignore_index: int | None
) -> np.ndarray:
    import torch

    p = torch.as_tensor(pred).reshape(-1).long()
    t = torch.as_tensor(target, device=p.device).reshape(-1).long()
    keep = (t >= 0) & (t < num_classes)
    if ignore_index is not None:
        keep &= t != ignore_index
    p, t = p[keep], t[keep]
    if p.numel() and (int(p.min()) < 0 or int(p.max()) >= num_classes):
        raise InputError(
            f"predicted values must lie in 0..{num_classes - 1}, got {int(p.min())}..{int(p.max())}"
        )
    counts = torch.bincount(t * num_classes + p, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).cpu().numpy().astype(np.int64)


def _parts(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cm = np.asarray(cm, dtype=np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise InputError(f"expected a square confusion matrix, got shape {cm.shape}")
    tp = np.diag(cm)
    return tp, cm.sum(axis=0) - tp, cm.sum(axis=1) - tp


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def iou_per_class(cm: np.ndarray) -> np.ndarray:
    """IoU of each class; NaN where the class is neither true nor predicted.

    Example:
        >>> iou_per_class(np.array([[3, 1, 0], [1, 1, 0], [0, 0, 0]]))
        array([0.6       , 0.33333333,        nan])
    """
    tp, fp, fn = _parts(cm)
    return _ratio(tp, tp + fp + fn)


def dice_per_class(cm: np.ndarray) -> np.ndarray:
    """Dice (F1) of each class; NaN where the class is neither true nor predicted.

    Example:
        >>> dice_per_class(np.array([[3, 1], [1, 1]]))
        array([0.75, 0.5 ])
    """
    tp, fp, fn = _parts(cm)
    return _ratio(2 * tp, 2 * tp + fp + fn)


def recall_per_class(cm: np.ndarray) -> np.ndarray:
    """Share of each class's true pixels predicted as it; NaN for classes with no true pixel.

    Example:
        >>> recall_per_class(np.array([[3, 1], [0, 0]]))
        array([0.75,  nan])
    """
    tp, _, fn = _parts(cm)
    return _ratio(tp, tp + fn)


def pixel_accuracy(cm: np.ndarray) -> float:
    """Share of counted pixels whose prediction is right; NaN when nothing was counted.

    Example:
        >>> pixel_accuracy(np.array([[3, 1], [1, 1]]))
        0.6666666666666666
    """
    cm = np.asarray(cm)
    total = float(cm.sum())
    return float(np.trace(cm)) / total if total > 0 else math.nan


def nanmean(values: Sequence[float] | np.ndarray) -> float:
    """Mean of the non-NaN values; NaN when there is none (without a warning).

    Example:
        >>> nanmean([0.5, float("nan"), 1.0])
        0.75
    """
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    return float(arr.mean()) if arr.size else math.nan


def mean_iou(cm: np.ndarray) -> float:
    """Mean of :func:`iou_per_class` over the classes where it is defined.

    Example:
        >>> mean_iou(np.array([[3, 1, 0], [1, 1, 0], [0, 0, 0]]))  # (0.6 + 1/3) / 2
        0.4666666666666667
    """
    return nanmean(iou_per_class(cm))


def mean_dice(cm: np.ndarray) -> float:
    """Mean of :func:`dice_per_class` over the classes where it is defined.

    Example:
        >>> mean_dice(np.array([[3, 1], [1, 1]]))
        0.625
    """
    return nanmean(dice_per_class(cm))


def mask_iou(pred: np.ndarray, target: np.ndarray, empty: float = math.nan) -> float:
    """IoU of two boolean masks of the same shape; ``empty`` when both are empty.

    Example:
        >>> mask_iou(np.array([1, 1, 0], bool), np.array([0, 1, 1], bool))
        0.3333333333333333
    """
    p, t = _bool_pair(pred, target)
    union = int(np.count_nonzero(p | t))
    return int(np.count_nonzero(p & t)) / union if union else float(empty)


def mask_dice(pred: np.ndarray, target: np.ndarray, empty: float = math.nan) -> float:
    """Dice of two boolean masks of the same shape; ``empty`` when both are empty.

    Example:
        >>> mask_dice(np.array([1, 1, 0], bool), np.array([0, 1, 1], bool))
        0.5
    """
    p, t = _bool_pair(pred, target)
    total = int(np.count_nonzero(p)) + int(np.count_nonzero(t))
    return 2 * int(np.count_nonzero(p & t)) / total if total else float(empty)


def _bool_pair(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p, t = np.asarray(pred), np.asarray(target)
    if p.shape != t.shape:
        raise InputError(f"masks must have the same shape, got {p.shape} and {t.shape}")
    return p.astype(bool), t.astype(bool)


class ConfusionMatrix:
    """Accumulate a confusion matrix over batches, then read every metric from it.

    Args:
        num_classes: ``K``.
        class_names: Names for :meth:`summary` (default ``"0"``, ``"1"`` ...).
        ignore_index: True value that is not counted.

    Example:
        >>> cm = ConfusionMatrix(2, ["bg", "doc"])
        >>> cm.update(np.array([[0, 1], [1, 1]]), np.array([[0, 0], [1, 1]]))
        >>> cm.mean_iou(), cm.pixel_accuracy()
        (0.5833333333333333, 0.75)
    """

    def __init__(
        self,
        num_classes: int,
        class_names: Sequence[str] | None = None,
        ignore_index: int | None = 255,
    ) -> None:
        if class_names is not None and len(class_names) != num_classes:
            raise InputError(f"expected {num_classes} class names, got {len(class_names)}")
        self.num_classes = num_classes
        self.class_names = (
            [str(n) for n in class_names] if class_names else [str(i) for i in range(num_classes)]
        )
        self.ignore_index = ignore_index
        self.matrix = np.zeros((num_classes, num_classes), np.int64)

    def update(self, pred: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor) -> None:
        """Add the pixels of a batch (class values of any matching shapes)."""
        self.matrix += confusion_matrix(pred, target, self.num_classes, self.ignore_index)

    def reset(self) -> None:
        """Forget every count."""
        self.matrix[:] = 0

    def iou(self) -> np.ndarray:
        """Per-class IoU (see :func:`iou_per_class`)."""
        return iou_per_class(self.matrix)

    def dice(self) -> np.ndarray:
        """Per-class Dice (see :func:`dice_per_class`)."""
        return dice_per_class(self.matrix)

    def mean_iou(self) -> float:
        """Mean IoU over defined classes."""
        return mean_iou(self.matrix)

    def mean_dice(self) -> float:
        """Mean Dice over defined classes."""
        return mean_dice(self.matrix)

    def pixel_accuracy(self) -> float:
        """Pixel accuracy over counted pixels."""
        return pixel_accuracy(self.matrix)

    def summary(self) -> dict[str, Any]:
        """JSON-ready scores; undefined values (NaN) become ``None``.

        Returns:
            ``mean_iou``, ``mean_dice``, ``pixel_accuracy``; per-class ``iou``, ``dice``,
            ``recall`` and ``pixels`` (true pixels) by class name; the ``confusion`` matrix.
        """
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            per = {"iou": self.iou(), "dice": self.dice(), "recall": recall_per_class(self.matrix)}
        return {
            "mean_iou": _json_float(self.mean_iou()),
            "mean_dice": _json_float(self.mean_dice()),
            "pixel_accuracy": _json_float(self.pixel_accuracy()),
            **{
                k: dict(zip(self.class_names, map(_json_float, v), strict=True))
                for k, v in per.items()
            },
            "pixels": dict(
                zip(self.class_names, (int(v) for v in self.matrix.sum(axis=1)), strict=True)
            ),
            "confusion": self.matrix.tolist(),
        }


def _json_float(value: float) -> float | None:
    return None if math.isnan(value) else float(value)
