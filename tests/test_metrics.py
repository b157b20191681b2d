"""idseg.metrics against hand-computed confusion matrices and an independent per-class count."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from idseg.errors import InputError
from idseg.metrics import (
    ConfusionMatrix,
    confusion_matrix,
    dice_per_class,
    iou_per_class,
    mask_dice,
    mask_iou,
    mean_dice,
    mean_iou,
    nanmean,
    pixel_accuracy,
    recall_per_class,
)

# Hand example: 4 classes, class 3 neither true nor predicted.
TARGET = np.array([[0, 0, 1], [1, 2, 2]])
PRED = np.array([[0, 1, 1], [1, 2, 0]])
CM = np.array([[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]])


def test_confusion_matrix_by_hand():
    np.testing.assert_array_equal(confusion_matrix(PRED, TARGET, 4), CM)


def test_iou_dice_accuracy_by_hand():
    iou = iou_per_class(CM)
    np.testing.assert_allclose(iou[:3], [1 / 3, 2 / 3, 1 / 2])
    assert math.isnan(iou[3])
    assert mean_iou(CM) == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)
    dice = dice_per_class(CM)
    np.testing.assert_allclose(dice[:3], [0.5, 0.8, 2 / 3])
    assert math.isnan(dice[3])
    assert mean_dice(CM) == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert pixel_accuracy(CM) == pytest.approx(4 / 6)
    np.testing.assert_allclose(recall_per_class(CM)[:3], [0.5, 1.0, 0.5])


def test_class_predicted_but_absent_counts_as_zero():
    pred = PRED.copy()
    pred[0, 0] = 3  # a true background pixel predicted as class 3
    cm = confusion_matrix(pred, TARGET, 4)
    iou = iou_per_class(cm)
    assert iou[3] == 0.0
    assert iou[0] == pytest.approx(0 / 3)  # TP 0, FP 1 (from class 2), FN 2
    assert mean_iou(cm) == pytest.approx((0 + 2 / 3 + 1 / 2 + 0) / 4)


def test_ignore_index_and_out_of_range_targets_are_not_counted():
    target = np.array([0, 1, 255, 9])
    pred = np.array([0, 0, 1, 1])
    cm = confusion_matrix(pred, target, 2)
    np.testing.assert_array_equal(cm, [[1, 0], [1, 0]])
    # ignore_index inside the class range
    np.testing.assert_array_equal(
        confusion_matrix(pred, target, 2, ignore_index=0), [[0, 0], [1, 0]]
    )


@pytest.mark.parametrize(
    ("pred", "target", "k", "match"),
    [
        (np.array([0, 2]), np.array([0, 1]), 2, "0..1"),
        (np.array([0, 1]), np.array([0, 1, 1]), 2, "same shape"),
        (np.array([0]), np.array([0]), 0, "at least 1"),
    ],
)
def test_confusion_matrix_errors(pred, target, k, match):
    with pytest.raises(InputError, match=match):
        confusion_matrix(pred, target, k)


def test_torch_path_matches_numpy():
    rng = np.random.default_rng(0)
    target = rng.integers(0, 5, (3, 17, 19))
    target[0, :4] = 255
    pred = rng.integers(0, 5, (3, 17, 19))
    expected = confusion_matrix(pred, target, 5)
    got = confusion_matrix(torch.from_numpy(pred), torch.from_numpy(target), 5)
    np.testing.assert_array_equal(got, expected)
    with pytest.raises(InputError):
        confusion_matrix(torch.tensor([5]), torch.tensor([0]), 5)


def test_scores_match_independent_mask_counts():
    rng = np.random.default_rng(1)
    target = rng.integers(0, 4, (40, 50))
    pred = np.where(rng.random((40, 50)) < 0.7, target, rng.integers(0, 4, (40, 50)))
    iou = iou_per_class(confusion_matrix(pred, target, 4))
    dice = dice_per_class(confusion_matrix(pred, target, 4))
    for c in range(4):
        p, t = pred == c, target == c
        inter, union = np.count_nonzero(p & t), np.count_nonzero(p | t)
        assert iou[c] == pytest.approx(inter / union)
        assert dice[c] == pytest.approx(2 * inter / (p.sum() + t.sum()))
        assert mask_iou(p, t) == pytest.approx(inter / union)
        assert mask_dice(p, t) == pytest.approx(dice[c])


def test_accumulated_matrix_is_exact_not_a_mean_of_batches():
    # Batch 1: perfect on a tiny image; batch 2: poor on a large one.
    cm = ConfusionMatrix(2)
    cm.update(np.array([1]), np.array([1]))
    cm.update(np.zeros(9, int), np.ones(9, int))
    assert cm.iou()[1] == pytest.approx(1 / 10)  # TP 1 over union 10
    assert cm.pixel_accuracy() == pytest.approx(1 / 10)
    per_batch_mean = (1.0 + 0.0) / 2
    assert cm.iou()[1] != pytest.approx(per_batch_mean)
    cm.reset()
    assert cm.matrix.sum() == 0


def test_summary_is_strict_json_with_none_for_absent_classes():
    cm = ConfusionMatrix(4, ["bg", "doc", "mrz", "photo"])
    cm.update(PRED, TARGET)
    summary = cm.summary()
    json.dumps(summary, allow_nan=False)
    assert summary["iou"]["photo"] is None
    assert summary["iou"]["doc"] == pytest.approx(2 / 3)
    assert summary["pixels"] == {"bg": 2, "doc": 2, "mrz": 2, "photo": 0}
    assert summary["confusion"] == CM.tolist()
    assert summary["mean_iou"] == pytest.approx(0.5)


def test_empty_cases():
    assert math.isnan(pixel_accuracy(np.zeros((2, 2))))
    assert math.isnan(mean_iou(np.zeros((3, 3))))
    assert math.isnan(nanmean([float("nan")]))
    empty = np.zeros(4, bool)
    assert math.isnan(mask_iou(empty, empty))
    assert mask_iou(empty, empty, empty=1.0) == 1.0
    assert mask_dice(empty, empty, empty=0.0) == 0.0
    with pytest.raises(InputError):
        ConfusionMatrix(2, ["only-one"])
    with pytest.raises(InputError):
        iou_per_class(np.zeros((2, 3)))
