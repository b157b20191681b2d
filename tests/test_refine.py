"""SAM2 refinement of the document pipeline: stub predictors with known answers, then tiny SAM2."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from idseg.data.convert_geometry import rasterize_polygon
from idseg.documents.classes import CLASS_NAMES
from idseg.documents.refine import SamRefiner
from idseg.documents.result import Document, DocumentField

H, W = 120, 160
QUAD = np.array([[30.4, 20.2], [130.6, 25.1], [126.3, 95.7], [26.9, 90.8]])


class StubPredictor:
    """Answers box prompts with ``answer(box, image_shape)``; records what it was asked."""

    def __init__(self, answer: Callable[[np.ndarray, tuple[int, int]], np.ndarray]) -> None:
        self.answer = answer
        self.images: list[np.ndarray] = []
        self.boxes: list[np.ndarray] = []

    def set_image(self, image: np.ndarray) -> None:
        self.images.append(image)

    def box_to_mask(self, box) -> np.ndarray:
        box = np.asarray(box, np.float64)
        self.boxes.append(box)
        return self.answer(box, self.images[-1].shape[:2])

    def boxes_to_masks(self, boxes) -> np.ndarray:
        boxes = np.asarray(boxes, np.float64)
        self.boxes.extend(boxes)
        return np.stack([self.answer(b, self.images[-1].shape[:2]) for b in boxes])


def _photo() -> np.ndarray:
    return np.full((H, W, 3), 90, np.uint8)


# --- refine_quad --------------------------------------------------------------------------------


@pytest.mark.parametrize("roll", [0, 1, 2, 3])
def test_exact_mask_gives_the_same_quad_in_the_same_order(roll: int):
    stub = StubPredictor(lambda box, hw: rasterize_polygon(QUAD, hw))
    quad = np.roll(QUAD, -roll, axis=0)
    out = SamRefiner(stub).refine_quad(_photo(), quad)
    assert out.shape == (4, 2)
    assert np.linalg.norm(out - quad, axis=1).max() < 0.5
    assert len(stub.images) == 1 and stub.images[0].shape == (H, W, 3)
    np.testing.assert_allclose(stub.boxes[0], [26.9, 20.2, 130.6, 95.7])


def test_slightly_different_mask_moves_the_quad_to_it():
    better = QUAD + np.array([[-1.5, -1.0], [1.2, -1.4], [1.0, 1.3], [-1.2, 1.1]])
    stub = StubPredictor(lambda box, hw: rasterize_polygon(better, hw))
    out = SamRefiner(stub).refine_quad(_photo(), QUAD)
    assert np.linalg.norm(out - better, axis=1).max() < 0.5


def test_box_is_clipped_to_the_photo():
    quad = QUAD + np.array([-40.0, 0.0])  # the left corners leave the photo
    stub = StubPredictor(lambda box, hw: np.zeros(hw, bool))
    SamRefiner(stub).refine_quad(_photo(), quad)
    np.testing.assert_allclose(stub.boxes[0], [0.0, 20.2, 90.6, 95.7])


def test_whole_photo_mask_disagrees_and_the_quad_is_kept():
    stub = StubPredictor(lambda box, hw: np.ones(hw, bool))
    out = SamRefiner(stub).refine_quad(_photo(), QUAD)
    np.testing.assert_array_equal(out, QUAD)


def test_empty_mask_keeps_the_quad():
    stub = StubPredictor(lambda box, hw: np.zeros(hw, bool))
    np.testing.assert_array_equal(SamRefiner(stub).refine_quad(_photo(), QUAD), QUAD)


def test_agreement_threshold_is_honoured():
    half = QUAD.copy()
    half[1:3, 0] = 80.3  # SAM2 sees only the left ~half
    stub = StubPredictor(lambda box, hw: rasterize_polygon(half, hw))
    np.testing.assert_array_equal(
        SamRefiner(stub, min_agreement=0.7).refine_quad(_photo(), QUAD), QUAD
    )
    loose = SamRefiner(stub, min_agreement=0.3).refine_quad(_photo(), QUAD)
    assert np.linalg.norm(loose - half, axis=1).max() < 0.5


# --- refine_fields ------------------------------------------------------------------------------

RH, RW = 100, 160


def _field(cls: str, rows: slice, cols: slice) -> DocumentField:
    mask = np.zeros((RH, RW), bool)
    mask[rows, cols] = True
    box = (float(cols.start), float(rows.start), float(cols.stop), float(rows.stop))
    outline = np.array(
        [[box[0], box[1]], [box[2], box[1]], [box[2], box[3]], [box[0], box[3]]], np.float64
    )
    return DocumentField(cls, 0.8, box, outline, outline.copy(), mask, int(mask.sum()))


def _doc() -> Document:
    portrait = _field("portrait", slice(10, 60), slice(10, 50))
    mrz = _field("mrz", slice(70, 90), slice(10, 150))
    labels = np.ones((RH, RW), np.uint8)
    labels[portrait.mask] = CLASS_NAMES.index("portrait")
    labels[mrz.mask] = CLASS_NAMES.index("mrz")
    quad = np.array([[0, 0], [RW, 0], [RW, RH], [0, RH]], np.float64)
    rect = np.full((RH, RW, 3), 200, np.uint8)
    return Document(quad, 0.9, None, RW / RH, rect, np.eye(3), labels, [portrait, mrz])


def _shifted(box: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """The box's own region moved one pixel down and right (slightly off, mostly agreeing)."""
    x0, y0, x1, y1 = (int(v) for v in box)
    out = np.zeros(hw, bool)
    out[y0 + 1 : y1 + 1, x0 + 1 : x1 + 1] = True
    return out


def test_agreeing_field_masks_replace_the_fields():
    doc = _doc()
    before = doc.field_map.copy()
    stub = StubPredictor(_shifted)
    out = SamRefiner(stub).refine_fields(doc)
    assert out.refined == "sam2"
    assert stub.images[0] is doc.rectified
    np.testing.assert_allclose(np.array(stub.boxes), [[10, 10, 50, 60], [10, 70, 150, 90]])
    portrait, mrz = out.fields
    assert (portrait.cls, mrz.cls) == ("portrait", "mrz")
    # SAM2's mask is cut to the prompt box: rows 71..89, columns 11..149.
    expected = np.zeros((RH, RW), bool)
    expected[71:90, 11:150] = True
    np.testing.assert_array_equal(mrz.mask, expected)
    assert mrz.box == (11.0, 71.0, 150.0, 90.0) and mrz.area == 19 * 139
    assert mrz.score == 0.8
    # Outlines: continuous coordinates of the new region, the same in the photo (identity).
    assert mrz.polygon[:, 0].min() == pytest.approx(11.0, abs=0.51)
    assert mrz.polygon[:, 1].max() == pytest.approx(90.0, abs=0.51)
    np.testing.assert_allclose(mrz.image_polygon, mrz.polygon, atol=1e-9)
    mrz_id = CLASS_NAMES.index("mrz")
    assert (out.field_map[expected] == mrz_id).all()
    assert (out.field_map[70, 10:150] == 1).all() and (out.field_map[71:90, 10] == 1).all()
    assert (out.field_map == mrz_id).sum() == 19 * 139
    np.testing.assert_array_equal(doc.field_map, before)  # the input is not modified


@pytest.mark.parametrize(
    "answer",
    [
        lambda box, hw: np.zeros(hw, bool),
        lambda box, hw: np.random.default_rng(0).random(hw) < 0.3,
        lambda box, hw: np.eye(*hw, dtype=bool),
    ],
    ids=["empty", "noise", "diagonal"],
)
def test_garbage_masks_leave_the_fields(answer):
    doc = _doc()
    out = SamRefiner(StubPredictor(answer)).refine_fields(doc)
    assert [f is g for f, g in zip(out.fields, doc.fields, strict=True)] == [True, True]
    np.testing.assert_array_equal(out.field_map, doc.field_map)


def test_refined_flag_only_when_something_changed():
    out = SamRefiner(StubPredictor(lambda box, hw: np.zeros(hw, bool))).refine_fields(_doc())
    assert out.refined is None


def test_document_without_fields_is_returned_as_is():
    doc = _doc()
    doc.fields = []
    stub = StubPredictor(lambda box, hw: np.ones(hw, bool))
    assert SamRefiner(stub).refine_fields(doc) is doc
    assert stub.images == []


# --- the real (tiny, random-weight) SAM2 ------------------------------------------------------


def test_tiny_sam2_runs_on_a_document(tiny_model):
    from _helpers import make_scene
    from idseg.sam.predictor import SAM2Predictor

    refiner = SamRefiner(SAM2Predictor(tiny_model))
    photo = make_scene(H, W)
    quad = refiner.refine_quad(photo, QUAD)
    assert quad.shape == (4, 2) and np.isfinite(quad).all()
    doc = _doc()
    doc.rectified = make_scene(RH, RW, seed=1)
    out = refiner.refine_fields(doc)
    assert isinstance(out, Document)
    assert [f.cls for f in out.fields] == ["portrait", "mrz"]
    for f in out.fields:
        assert f.mask.shape == (RH, RW) and f.mask.sum() == f.area > 0
    assert out.field_map.shape == (RH, RW) and out.field_map.max() < len(CLASS_NAMES)


@pytest.mark.parametrize("order", [[0, 2, 1, 3], [0, 1, 3, 2]])
def test_a_bent_refit_keeps_the_quad(monkeypatch, order):
    # Corners in a crossing order fit nothing a homography can map; keep the U-Net quad even
    # when any agreement would do.
    import idseg.documents.refine as refine

    monkeypatch.setattr(refine, "_fit_mask", lambda mask: QUAD[order].copy())
    stub = StubPredictor(lambda box, hw: rasterize_polygon(QUAD, hw))
    out = SamRefiner(stub, min_agreement=0.0).refine_quad(_photo(), QUAD)
    np.testing.assert_array_equal(out, QUAD)
