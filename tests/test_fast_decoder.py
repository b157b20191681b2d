"""FastMaskDecoder against Meta's ``sam_mask_decoder`` on the same weights and prompts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from _helpers import make_scene, mask_iou, meta_predictor
from idseg.models.sam2 import bundled_sam2, load_sam2
from idseg.sam.fast_decoder import FastMaskDecoder, default_chunk, supports_fast_decoder
from idseg.sam.predictor import SAM2Predictor


@pytest.fixture(scope="module")
def pair(tiny_model):
    return SAM2Predictor(tiny_model, fast_decoder=False), SAM2Predictor(tiny_model)


def _prompts(pred: SAM2Predictor, n: int, k: int, hw: tuple[int, int], seed: int):
    rng = np.random.default_rng(seed)
    pts = rng.uniform([0, 0], [hw[1], hw[0]], (n, k, 2))
    labels = torch.as_tensor(rng.integers(0, 2, (n, k)), dtype=torch.int32)
    labels[:, 0] = 1
    return pred.to_model_coords(pts, hw), labels


@pytest.mark.parametrize("multimask", [True, False])
@pytest.mark.parametrize(("n", "k"), [(1, 1), (3, 2), (11, 1), (6, 4)])
def test_logits_equal_meta_module(pair, n, k, multimask):
    meta, fast = pair
    assert fast._fast is not None and meta._fast is None
    image = make_scene(180, 240, seed=n)
    emb = meta.embed(image)
    coords, labels = _prompts(meta, n, k, (180, 240), seed=k)
    ref, ref_iou = meta.decode(emb, coords, labels, None, multimask)
    got, got_iou = fast.decode(emb, coords, labels, None, multimask)
    assert got.shape == ref.shape and got_iou.shape == ref_iou.shape
    torch.testing.assert_close(got, ref, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(got_iou, ref_iou, atol=1e-5, rtol=1e-5)


def test_mask_input_boxes_and_new_image(pair):
    meta, fast = pair
    for seed in (1, 2):  # a second image must not reuse the first one's cached tensors
        emb = meta.embed(make_scene(200, 160, seed=seed))
        box = meta.to_model_coords(np.array([[[20, 30], [120, 150]]] * 5), (200, 160))
        labels = torch.tensor([[2, 3]] * 5, dtype=torch.int32)
        low, _ = meta.decode(emb, box, labels, None, True)
        mask_in = low[:, :1]
        ref = meta.decode(emb, box, labels, mask_in, False)
        got = fast.decode(emb, box, labels, mask_in, False)
        torch.testing.assert_close(got[0], ref[0], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(got[1], ref[1], atol=1e-5, rtol=1e-5)
        only_mask = meta.decode(emb, None, None, mask_in[:1], True)[0]
        got_mask = fast.decode(emb, None, None, mask_in[:1], True)[0]
        torch.testing.assert_close(got_mask, only_mask, atol=1e-4, rtol=1e-4)


def test_predict_masks_identical_to_meta_predictor(tiny_model):
    image = make_scene(300, 420, seed=3)
    ours, meta = SAM2Predictor(tiny_model), meta_predictor(tiny_model)
    ours.set_image(image)
    meta.set_image(image)
    rng = np.random.default_rng(0)
    for _ in range(10):
        pts = rng.uniform([0, 0], [420, 300], (2, 2))
        got = ours.predict(pts, [1, 0])
        ref, scores, _ = meta.predict(pts, np.array([1, 0]))
        for c in range(3):
            assert mask_iou(got.masks[0, c], ref[c]) >= 0.999
        np.testing.assert_allclose(got.scores[0], scores, atol=1e-5)


def test_bundled_trained_model_agrees():
    """Trained weights (idseg_doc_small), whose logits are far from zero, agree as well."""
    path = bundled_sam2("idseg_doc_small")
    if path is None:
        pytest.skip("package built without the bundled SAM2")
    model = load_sam2(path, device="cpu")
    meta, fast = SAM2Predictor(model, fast_decoder=False), SAM2Predictor(model)
    emb = meta.embed(make_scene(240, 320, seed=9))
    coords, labels = _prompts(meta, 9, 1, (240, 320), seed=0)
    ref = meta.decode(emb, coords, labels, None, True)
    got = fast.decode(emb, coords, labels, None, True)
    torch.testing.assert_close(got[0], ref[0], atol=2e-4, rtol=1e-4)
    assert ((got[0] > 0) == (ref[0] > 0)).float().mean() > 0.9999


def test_unsupported_decoder_falls_back(tiny_model):
    assert supports_fast_decoder(tiny_model)
    assert not supports_fast_decoder(torch.nn.Linear(2, 2))
    assert FastMaskDecoder(tiny_model, chunk=0).chunk == 1


def test_default_chunk_grows_for_small_models(tiny_model):
    assert int(tiny_model.image_size) == 256
    assert default_chunk(tiny_model) == 64 == FastMaskDecoder(tiny_model).chunk

    class Big:
        image_size = 1024

    assert default_chunk(Big()) == 4  # type: ignore[arg-type]
