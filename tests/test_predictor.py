"""Prompted segmentation: parity with Meta's SAM2ImagePredictor and prompt validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from _helpers import make_scene, mask_iou, meta_predictor
from idseg.errors import InputError
from idseg.sam.predictor import SAM2Predictor, image_to_tensor


@pytest.fixture(scope="module")
def pair(tiny_model):
    from _helpers import make_scene

    image = make_scene()
    ours, meta = SAM2Predictor(tiny_model), meta_predictor(tiny_model)
    ours.set_image(image)
    meta.set_image(image)
    return ours, meta, image


def test_preprocessing_matches_meta_transforms(tiny_model):
    from sam2.utils.transforms import SAM2Transforms

    image = np.random.default_rng(1).integers(0, 256, (123, 321, 3), dtype=np.uint8)
    ref = SAM2Transforms(resolution=256, mask_threshold=0.0)(image)[None]
    ours = image_to_tensor(image, 256, torch.device("cpu"))
    assert torch.allclose(ours, ref, atol=1e-6)


def test_embedding_equals_meta(pair):
    ours, meta, _ = pair
    assert torch.equal(ours.embedding.image_embed, meta._features["image_embed"])
    for a, b in zip(ours.embedding.high_res_feats, meta._features["high_res_feats"], strict=True):
        assert torch.equal(a, b)


def _random_prompt(rng: np.random.Generator, h: int, w: int, i: int):
    n = int(rng.integers(1, 5))
    points = rng.uniform([0, 0], [w, h], (n, 2))
    labels = rng.integers(0, 2, n)
    labels[0] = 1
    box = None
    if i % 3 == 0:
        xy = np.sort(rng.uniform([0, 0], [w, h], (2, 2)), axis=0)
        box = xy.reshape(-1)
    if i % 4 == 1:
        points = labels = None
        xy = np.sort(rng.uniform([0, 0], [w, h], (2, 2)), axis=0)
        box = xy.reshape(-1)
    return points, labels, box


@pytest.mark.parametrize("multimask", [True, False])
def test_parity_over_random_prompts(pair, multimask):
    ours, meta, image = pair
    h, w = image.shape[:2]
    rng = np.random.default_rng(7 if multimask else 8)
    non_trivial = 0
    for i in range(40):
        points, labels, box = _random_prompt(rng, h, w, i)
        got = ours.predict(points, labels, box, multimask_output=multimask)
        ref_masks, ref_scores, ref_logits = meta.predict(
            points, labels, box, multimask_output=multimask
        )
        assert got.masks.shape == (1, *ref_masks.shape)
        for c in range(ref_masks.shape[0]):
            assert mask_iou(got.masks[0, c], ref_masks[c]) >= 0.999
            non_trivial += 0 < ref_masks[c].mean() < 1
        np.testing.assert_allclose(got.scores[0], ref_scores, atol=1e-4)
        np.testing.assert_allclose(got.low_res_logits[0], ref_logits, atol=1e-4)
    assert non_trivial > 20, "masks were all empty or all full: the comparison proves nothing"


def test_many_boxes_in_one_call_match_meta(pair):
    ours, meta, image = pair
    rng = np.random.default_rng(3)
    h, w = image.shape[:2]
    boxes = np.sort(rng.uniform([0, 0], [w, h], (20, 2, 2)), axis=1).reshape(20, 4)
    got = ours.predict(boxes=boxes, multimask_output=False, batch_size=7)
    ref_masks, ref_scores, _ = meta.predict(box=boxes, multimask_output=False)
    assert got.masks.shape == (20, 1, h, w)
    for b in range(20):
        assert mask_iou(got.masks[b, 0], ref_masks[b, 0]) >= 0.999
    np.testing.assert_allclose(got.scores, ref_scores, atol=1e-4)
    # boxes_to_masks decodes in other batches: float rounding may move a pixel at the threshold
    for a, b in zip(ours.boxes_to_masks(boxes), got.masks[:, 0], strict=True):
        assert mask_iou(a, b) >= 0.9999


def test_refinement_with_mask_input_matches_meta(pair):
    ours, meta, _ = pair
    first = ours.predict([[100, 100]], [1])
    best = int(first.best_index()[0])
    clicks, labels = np.array([[100, 100], [160, 120]]), np.array([1, 0])
    got = ours.refine(first, clicks, labels)
    _, _, ref_logits0 = meta.predict([[100, 100]], [1])
    ref_masks, ref_scores, _ = meta.predict(
        clicks, labels, mask_input=ref_logits0[best][None], multimask_output=False
    )
    assert mask_iou(got.masks[0, 0], ref_masks[0]) >= 0.999
    np.testing.assert_allclose(got.scores[0], ref_scores, atol=1e-4)


def test_boxes_are_tight_mask_boxes(pair):
    ours, _, _ = pair
    got = ours.predict([[210, 140]], [1])
    for c in range(3):
        ys, xs = np.nonzero(got.masks[0, c])
        if xs.size:
            assert tuple(got.boxes[0, c]) == (xs.min(), ys.min(), xs.max(), ys.max())


def test_embedding_can_be_reused_without_current_image(pair, tiny_model):
    ours, _, _ = pair
    other = SAM2Predictor(tiny_model)
    got = other.predict([[50, 60]], [1], embedding=ours.embedding)
    np.testing.assert_array_equal(got.masks, ours.predict([[50, 60]], [1]).masks)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({}, "at least one prompt"),
        ({"points": [[1, 2, 3]]}, "N x 2"),
        ({"points": [[1, 2]], "labels": [1, 0]}, "one entry per point"),
        ({"points": [[1, 2]], "labels": [5]}, "1 (foreground) or 0"),
        ({"points": [[np.nan, 2]]}, "finite"),
        ({"boxes": [10, 10, 5, 20]}, "x1 >= x0"),
        ({"boxes": [[1, 2, 3]]}, "B x 4"),
        ({"points": [[1, 2]], "mask_input": np.zeros((1, 10, 10))}, "low-resolution logits"),
        ({"labels": [1]}, "without points"),
        ({"points": np.zeros((2, 1, 2)), "boxes": np.zeros((3, 4))}, "disagree"),
        ({"points": "abc"}, "numeric"),
        ({"points": [[500, 10]]}, "inside the 420x300 image"),
        ({"points": [[10, -3]]}, "got (10, -3)"),
        ({"boxes": [430, 10, 500, 50]}, "must overlap the 420x300 image"),
        ({"boxes": [[0, 0, 10, 10], [5, 5, 2, 9]]}, "box 1 is [5.0, 5.0, 2.0, 9.0]"),
    ],
)
def test_bad_prompts_raise_input_error(pair, kwargs, fragment):
    ours, _, _ = pair
    with pytest.raises(InputError) as info:
        ours.predict(**kwargs)
    assert fragment in str(info.value)


def test_predict_without_image_raises(tiny_model):
    with pytest.raises(InputError, match="set_image"):
        SAM2Predictor(tiny_model).predict([[1, 1]], [1])


def test_box_to_polygons_and_quad(pair):
    ours, _, _ = pair
    mask = ours.box_to_mask([30, 40, 200, 160])
    polys = ours.box_to_polygons([30, 40, 200, 160], tolerance=0)
    from idseg.geometry import polygons_to_mask

    assert mask_iou(polygons_to_mask(polys, mask.shape), mask) > 0.98
    quad = ours.box_to_quad([30, 40, 200, 160])
    assert quad is None or quad.shape == (4, 2)


def test_bf16_embedding_is_float32_and_close(tiny_model):
    image = make_scene(120, 160, seed=4)
    fp32 = SAM2Predictor(tiny_model).embed(image)
    bf16 = SAM2Predictor(tiny_model, embed_dtype="bfloat16").embed(image)
    assert bf16.image_embed.dtype == torch.float32
    for a, b in zip(
        [fp32.image_embed, *fp32.high_res_feats],
        [bf16.image_embed, *bf16.high_res_feats],
        strict=True,
    ):
        assert a.shape == b.shape
        rel = (a - b).norm() / a.norm()
        assert 0 < rel < 0.05, "bf16 differs from fp32, but only by rounding"
    with pytest.raises(InputError, match="embed_dtype"):
        SAM2Predictor(tiny_model, embed_dtype="int8")
