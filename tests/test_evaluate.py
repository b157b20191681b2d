"""Tests for idseg.documents.evaluate: quad IoU (image and document frame) and folder evaluation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from idseg.documents.evaluate import (
    EvalReport,
    ImageScore,
    evaluate_masks,
    evaluate_quads,
    quad_iou,
    quad_iou_document_frame,
)
from idseg.errors import InputError

SQ = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], float)


# --- independent brute-force reference: even-odd point-in-polygon at sample centres -----------


def _inside(poly: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    inside = np.zeros(x.shape, bool)
    n = len(poly)
    for i in range(n):
        (x1, y1), (x2, y2) = poly[i], poly[(i + 1) % n]
        crosses = (y1 > y) != (y2 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            xc = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (x < xc)
    return inside


def brute_iou(a, b, lo=(0.0, 0.0), hi=(40.0, 40.0), step=0.05, transform=None):
    xs = np.arange(lo[0], hi[0], step) + step / 2
    ys = np.arange(lo[1], hi[1], step) + step / 2
    x, y = np.meshgrid(xs, ys)
    ia, ib = _inside(np.asarray(a, float), x, y), _inside(np.asarray(b, float), x, y)
    return (ia & ib).sum() / (ia | ib).sum()


def apply_h(h, pts):
    p = np.hstack([np.asarray(pts, float), np.ones((len(pts), 1))]) @ h.T
    return p[:, :2] / p[:, 2:]


# --- quad_iou -----------------------------------------------------------------------------


def test_quad_iou_hand_values():
    assert quad_iou(SQ, SQ) == pytest.approx(1.0)
    assert quad_iou(SQ + np.array([5, 0]), SQ) == pytest.approx(50 / 150)
    assert quad_iou(SQ + np.array([5, 5]), SQ) == pytest.approx(25 / 175)
    assert quad_iou(SQ + np.array([20, 0]), SQ) == 0.0
    # Orientation (clockwise or not) does not matter.
    assert quad_iou(SQ[::-1] + np.array([5, 0]), SQ) == pytest.approx(50 / 150)
    # A quad inside the other: area ratio.
    inner = np.array([[2, 2], [7, 2], [7, 6], [2, 6]], float)
    assert quad_iou(inner, SQ) == pytest.approx(20 / 100)


def test_quad_iou_clipped_to_image():
    # Half of the prediction lies left of the image: the inside half equals the gt's left half.
    assert quad_iou(SQ - [5, 0], SQ, image_hw=(10, 10)) == pytest.approx(0.5)
    assert quad_iou(SQ - [5, 0], SQ) == pytest.approx(50 / 150)
    # Both stick out of a 10 x 6 image the same way: identical inside.
    assert quad_iou(SQ, SQ, image_hw=(6, 10)) == pytest.approx(1.0)
    # Ground truth half outside: only the inside part of it counts.
    assert quad_iou(SQ[:, :] * [0.5, 1], SQ - [5, 0], image_hw=(20, 20)) == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(6))
def test_quad_iou_random_convex_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    centre = rng.uniform(15, 25, size=2)
    angles = np.sort(rng.uniform(0, 2 * np.pi, 4))
    gt = centre + 10 * np.c_[np.cos(angles), np.sin(angles)]
    pred = gt + rng.normal(0, 2.5, size=(4, 2))
    pred = pred if quad_iou(pred, gt) > 0 else gt + 1.0
    assert quad_iou(pred, gt) == pytest.approx(brute_iou(pred, gt), abs=0.01)


def test_quad_iou_dart_and_bowtie_against_brute_force():
    gt = np.array([[5, 5], [30, 5], [30, 30], [5, 30]], float)
    dart = np.array([[5, 5], [30, 5], [12, 12], [5, 30]], float)  # simple, non-convex
    assert quad_iou(dart, gt) == pytest.approx(brute_iou(dart, gt), abs=0.005)
    assert quad_iou(gt, dart) == pytest.approx(brute_iou(dart, gt), abs=0.005)
    bowtie = np.array([[5, 5], [30, 30], [30, 5], [5, 30]], float)  # crosses itself
    # Two triangles of area 156.25 each inside the square: IoU 312.5 / 625.
    assert quad_iou(bowtie, gt) == pytest.approx(0.5, abs=0.005)
    assert quad_iou(bowtie, gt) == pytest.approx(brute_iou(bowtie, gt), abs=0.005)
    assert quad_iou(bowtie, gt, image_hw=(30, 17.5)) == pytest.approx(0.5, abs=0.01)


def test_quad_iou_rejects_malformed():
    with pytest.raises(InputError):
        quad_iou(SQ[:3], SQ)
    with pytest.raises(InputError):
        quad_iou(SQ, np.full((4, 2), np.nan))


# --- document frame -----------------------------------------------------------------------

# A perspective view: the unit document square maps to a trapezoid, far edge short.
H = np.array([[200.0, 40.0, 100.0], [0.0, 150.0, 80.0], [1.5, 0.6, 1.0]])
UNIT = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float)


@pytest.mark.parametrize("size", [None, "td1", "a4", (3.0, 7.0)])
def test_doc_frame_identity_and_shift(size):
    gt = np.array([[10, 20], [110, 20], [110, 70], [10, 70]], float)
    assert quad_iou_document_frame(gt, gt, size) == pytest.approx(1.0)
    # 10 % of the width to the right: overlap 0.9, union 1.1 of the document.
    assert quad_iou_document_frame(gt + np.array([10, 0]), gt, size) == pytest.approx(0.9 / 1.1)


def test_doc_frame_undoes_perspective():
    gt = apply_h(H, UNIT)
    pred = apply_h(H, UNIT + np.array([0.1, 0]))  # the document shifted by 10 % of its own width
    doc = quad_iou_document_frame(pred, gt)
    assert doc == pytest.approx(0.9 / 1.1, abs=1e-9)
    image = quad_iou(pred, gt)
    lo, hi = np.vstack([gt, pred]).min(axis=0), np.vstack([gt, pred]).max(axis=0)
    assert image == pytest.approx(brute_iou(pred, gt, lo, hi, step=0.2), abs=0.01)
    assert abs(image - doc) > 0.02  # the measures differ here; the document one is 0.818


def test_doc_frame_vertical_shift_under_perspective():
    gt = apply_h(H, UNIT)
    pred = apply_h(H, UNIT + np.array([0, 0.25]))  # a quarter of the height down the document
    assert quad_iou_document_frame(pred, gt, "td3") == pytest.approx(0.75 / 1.25, abs=1e-9)
    assert quad_iou(pred, gt) != pytest.approx(0.75 / 1.25, abs=0.02)


def test_doc_frame_small_document_judged_like_large():
    big = SQ * 20
    small = SQ * 2 + np.array([300, 300])
    # The same 5 % relative error gives the same document-frame IoU at any scale.
    assert quad_iou_document_frame(big + np.array([10, 0]), big) == pytest.approx(
        quad_iou_document_frame(small + np.array([1, 0]), small)
    )


def test_doc_frame_beyond_vanishing_line_is_zero():
    gt = apply_h(H, UNIT)
    # The horizon of H is y' where 0.6 y + 1 = 0 in document terms: map a point with y < -1/0.6.
    far = apply_h(H, np.array([[0, -3.0]]))
    pred = np.array([gt[0], gt[1], gt[2], far[0]])
    assert quad_iou_document_frame(pred, gt) == 0.0


def test_doc_frame_errors():
    with pytest.raises(InputError):
        quad_iou_document_frame(SQ, SQ, "credit-card")
    with pytest.raises(InputError):
        quad_iou_document_frame(SQ, np.zeros((4, 2)))
    with pytest.raises(InputError):
        quad_iou_document_frame(SQ, SQ, (0, 1))


# --- folder evaluation --------------------------------------------------------------------


def _png(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr.astype(np.uint8)).save(path)


def _dataset(root: Path, masks: dict[str, np.ndarray]) -> Path:
    for name, m in masks.items():
        _png(root / "images" / f"{name}.png", np.zeros((*m.shape, 3)))
        _png(root / "masks" / f"{name}.png", m)
    return root


def _doc(h=10, w=10, box=(2, 2, 8, 8), field=None):
    m = np.zeros((h, w), np.uint8)
    r0, c0, r1, c1 = box
    m[r0:r1, c0:c1] = 1
    if field:
        fr0, fc0, fr1, fc1, cls = field
        m[fr0:fr1, fc0:fc1] = cls
    return m


def test_evaluate_masks_scores_and_failures(tmp_path):
    gt_a = _doc(field=(3, 3, 5, 5, 2))  # 36 doc pixels, 4 of them portrait
    gt_b = _doc()
    ds = _dataset(tmp_path / "ds", {"a": gt_a, "b": gt_b, "c": _doc(), "d": _doc()})
    pred = tmp_path / "pred"
    _png(pred / "a.png", gt_a)  # perfect
    _png(pred / "b.png", _doc(box=(2, 4, 8, 10)))  # shifted: 24 / 48
    _png(pred / "d.png", np.zeros((5, 5)))  # wrong size
    (pred / "c.png").write_bytes(b"not a png")  # unreadable
    rep = evaluate_masks(pred, ds, iou_threshold=0.9)
    by = {s.name: s for s in rep.scores}
    assert by["a"].iou == 1.0 and by["a"].dice == 1.0
    assert by["b"].iou == pytest.approx(0.5) and by["b"].dice == pytest.approx(2 * 24 / 72)
    assert by["c"].iou == 0.0 and by["c"].error and by["d"].error
    assert rep.mean_iou == pytest.approx(1.5 / 4)
    assert rep.share_above == pytest.approx(0.25)
    assert [s.name for s in rep.below] == ["c", "d", "b"]
    assert {s.name for s in rep.failures} == {"c", "d"}
    # Only a and b were counted: 200 pixels, 4 portrait, 68 document, 128 background.
    cm = rep.confusion.matrix
    assert cm.sum() == 200 and cm[2, 2] == 4 and cm[1, 1] == 32 + 24
    freq = rep.class_frequencies()
    assert freq["portrait"] == pytest.approx(4 / 200)
    assert freq["document"] == pytest.approx(68 / 200)
    d = json.loads(json.dumps(rep.to_dict(), allow_nan=False))
    assert d["below_threshold"][0] == ["c", 0.0] and d["images"] == 4
    assert d["segmentation"]["iou"]["portrait"] == 1.0
    assert d["segmentation"]["iou"]["mrz"] is None


def test_evaluate_masks_with_callable_and_negative(tmp_path):
    empty = np.zeros((6, 6), np.uint8)
    ds = _dataset(tmp_path / "ds", {"neg": empty, "pos": _doc()})
    seen = []

    def predict(image_path):
        seen.append(image_path.name)
        return np.zeros((6, 6), np.uint8) if image_path.stem == "neg" else _doc()

    rep = evaluate_masks(predict, ds, iou_threshold=0.95)
    assert sorted(seen) == ["neg.png", "pos.png"]
    assert [s.iou for s in rep.scores] == [1.0, 1.0]  # a rejected negative counts as right
    assert rep.share_above == 1.0 and rep.below == []
    assert rep.confusion.pixel_accuracy() == 1.0


def test_evaluate_masks_out_of_range_prediction_is_failure(tmp_path):
    ds = _dataset(tmp_path / "ds", {"a": _doc()})
    pred = tmp_path / "pred"
    _png(pred / "a.png", _doc() * 9)
    rep = evaluate_masks(pred, ds, num_classes=7)
    assert rep.scores[0].error and rep.confusion.matrix.sum() == 0


def _quad_ds(root: Path, quads: dict[str, list]) -> Path:
    _dataset(root, {n: np.zeros((40, 60), np.uint8) for n in quads})
    (root / "quads").mkdir()
    for name, qs in quads.items():
        (root / "quads" / f"{name}.json").write_text(json.dumps({"quads": qs}))
    return root


def test_evaluate_quads_matching(tmp_path):
    a, b = SQ, SQ + np.array([30, 0])
    ds = _quad_ds(
        tmp_path / "ds",
        {"one": [a.tolist()], "two": [a.tolist(), b.tolist()], "miss": [a.tolist()], "neg": []},
    )
    pred = tmp_path / "pred"
    pred.mkdir()
    (pred / "one.json").write_text(json.dumps({"quad": (a + np.array([1, 0])).tolist()}))
    # Listed in the other order, plus a false positive far away.
    far = SQ + np.array([0, 25])
    two = {"quads": [(b + np.array([0, 5])).tolist(), a.tolist(), far.tolist()]}
    (pred / "two.json").write_text(json.dumps(two))
    (pred / "neg.json").write_text(json.dumps({"quads": []}))
    rep = evaluate_quads(pred, ds, iou_threshold=0.9)
    by = {s.name: s for s in rep.scores}
    assert by["one"].iou == pytest.approx(0.9 / 1.1)
    assert by["one"].doc_frame_iou == pytest.approx(0.9 / 1.1)
    assert by["two#0"].iou == pytest.approx(1.0)
    assert by["two#1"].iou == pytest.approx(0.5 / 1.5)
    assert by["two#fp2"].iou == 0.0 and by["two#fp2"].error
    assert by["miss"].iou == 0.0 and by["miss"].error
    assert by["neg"].iou == 1.0
    assert rep.share_above == pytest.approx(2 / 6)
    d = json.loads(json.dumps(rep.to_dict(), allow_nan=False))
    assert d["kind"] == "quads" and math.isclose(d["mean_doc_frame_iou"], rep.mean_doc_frame_iou)
    assert [n for n, _ in d["below_threshold"]][:2] == ["miss", "two#fp2"]


def test_evaluate_quads_skips_samples_without_quads(tmp_path):
    ds = _dataset(tmp_path / "ds", {"a": _doc()})
    rep = evaluate_quads(tmp_path, ds)
    assert rep.scores == [] and rep.skipped[0][0] == "a"
    assert math.isnan(rep.mean_iou)
    assert json.loads(json.dumps(rep.to_dict(), allow_nan=False))["mean_iou"] is None


def test_report_dataclass_properties():
    r = EvalReport("quads", 0.5, [ImageScore("x", 0.4, 0.3), ImageScore("y", 0.4, 0.6)])
    assert [s.name for s in r.below] == ["x", "y"] and r.share_above == 0.0
    assert r.mean_doc_frame_iou == pytest.approx(0.45) and math.isnan(r.mean_dice)
