"""Segment-everything fast mode: exact where it claims to be, skips what it says it skips."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sam2.utils.amg import batched_mask_to_box

from _helpers import mask_iou
from idseg.errors import InputError
from idseg.sam.everything import EverythingGenerator
from idseg.sam.everything_fast import coarse_split, points_covered, window_boxes
from idseg.sam.predictor import SAM2Predictor, bf16_is_fast
from idseg.sam.settings import EverythingSettings, preset
from test_everything import (  # noqa: F401
    BLOB,
    PERMISSIVE,
    blob,
    image,
    match,
    meta_records,
    near_match,
)

ONE_PASS = {"mode": "fast", "fast_coarse_step": 1, "fast_dtype": "float32"}


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({}, id="multimask"),
        pytest.param({"multimask_output": False}, id="single"),
        pytest.param({"crop_n_layers": 1, "crop_n_points_downscale_factor": 2}, id="crops"),
        pytest.param({"use_m2m": True}, id="m2m"),
    ],
)
def test_one_pass_fp32_fast_mode_equals_meta(blob, image, extra):  # noqa: F811
    """Without skipping or bf16, fast mode's judging and NMS give Meta's masks exactly."""
    kwargs = {**BLOB, **extra}
    ours = EverythingGenerator(blob, **kwargs, **ONE_PASS).generate_records(image)
    ref = meta_records(blob, image, **kwargs)
    assert match(ours, ref)["n"] >= 5


def test_one_pass_fast_mode_matches_meta_on_the_real_network(tiny_model, image):  # noqa: F811
    ours = EverythingGenerator(tiny_model, **PERMISSIVE, **ONE_PASS).generate_records(image)
    assert near_match(ours, meta_records(tiny_model, image, **PERMISSIVE)) >= 5


def count_decoded(gen: EverythingGenerator) -> list[int]:
    """Wrap the generator's decoding predictor so that it counts the prompts it decodes."""
    pred, seen = gen.decoding_predictor, []
    original = pred.decode

    def counting(emb, coords, *args, **kwargs):
        seen.append(len(coords))
        return original(emb, coords, *args, **kwargs)

    pred.decode = counting
    return seen


def test_coarse_to_fine_skips_points_inside_accepted_masks(blob, image):  # noqa: F811
    settings = {
        **BLOB,
        "points_per_side": 16,
        "mode": "fast",
        "fast_dtype": "float32",
        "fast_coarse_step": 2,
    }
    gen = EverythingGenerator(blob, **settings, fast_skip_area=0.2)
    seen = count_decoded(gen)
    fast = gen.generate_records(image)
    assert 64 <= sum(seen) < 256  # the 8 x 8 coarse points, then only some of the rest
    # With nothing small enough to skip, every point is decoded.
    never = EverythingGenerator(blob, **settings, fast_skip_area=0.0)
    seen_all = count_decoded(never)
    never.generate_records(image)
    assert sum(seen_all) == 256
    # Every fast mask is one of exact mode's candidates (the same point, the same mask).
    exact = {**settings, "mode": "exact", "box_nms_thresh": 1.0}
    everything = EverythingGenerator(blob, **exact)
    candidates = everything.generate_records(image)
    for rec in fast:
        same_point = [
            c for c in candidates if np.allclose(c["point_coords"], rec["point_coords"], atol=1e-3)
        ]
        assert max(mask_iou(c["segmentation"], rec["segmentation"]) for c in same_point) >= 0.999


def test_fast_mode_recovers_most_of_meta_masks(blob, image):  # noqa: F811
    kwargs = {**BLOB, "points_per_side": 16}
    ref = meta_records(blob, image, **kwargs)
    fast = EverythingGenerator(blob, **kwargs, mode="fast").generate_records(image)
    best = [max(mask_iou(f["segmentation"], r["segmentation"]) for f in fast) for r in ref]
    assert len(ref) >= 10
    assert np.mean(np.array(best) >= 0.9) >= 0.6


def test_coarse_split_by_hand():
    coarse, fine = coarse_split(6, 3)
    assert coarse.tolist() == [7, 10, 25, 28]  # rows and columns 1 and 4
    assert sorted(coarse.tolist() + fine.tolist()) == list(range(36))
    assert coarse_split(3, 1)[0].tolist() == list(range(9))


def test_points_covered_only_by_small_masks():
    small = np.zeros((4, 4), bool)
    small[1:3, 1:3] = True
    big = np.ones((10, 10), bool)
    offsets = torch.tensor([[10, 20, 14, 24], [0, 0, 10, 10]])
    pts = np.array([[11.5, 21.5], [10.2, 20.2], [5.0, 5.0], [30.0, 30.0]])
    assert points_covered([small, big], offsets, pts, 50).tolist() == [True, False, False, False]
    assert points_covered([small, big], offsets, pts, 101).tolist() == [True, False, True, False]


def test_window_boxes_match_meta_boxes_of_pasted_masks():
    rng = np.random.default_rng(0)
    windows, offsets, full = [], [], torch.zeros(5, 40, 50, dtype=torch.bool)
    for i in range(5):
        h, w = rng.integers(1, 10, 2)
        y, x = rng.integers(0, 30, 2)
        win = rng.random((h, w)) > 0.6
        windows.append(win)
        offsets.append([x, y, x + w, y + h])
        full[i, y : y + h, x : x + w] = torch.from_numpy(win)
    got = window_boxes(windows, torch.tensor(offsets))
    assert torch.equal(got, batched_mask_to_box(full))


def test_settings_and_preset():
    assert preset("fast").mode == "fast"
    assert "mode" not in EverythingSettings(mode="fast").meta_kwargs()
    assert set(EverythingSettings().meta_kwargs()) >= {"points_per_side", "use_m2m"}
    for bad in ({"mode": "quick"}, {"fast_dtype": "fp8"}, {"fast_coarse_step": 0}):
        with pytest.raises(InputError, match=next(iter(bad))):
            EverythingSettings(**bad)
    with pytest.raises(InputError, match="fast_skip_area"):
        EverythingSettings(fast_skip_area=1.5)


def test_bf16_decoding_stays_close_to_fp32(tiny_model, image):  # noqa: F811
    fp32 = SAM2Predictor(tiny_model)
    bf16 = SAM2Predictor(tiny_model, decode_dtype="bfloat16")
    emb = fp32.embed(image)
    coords = fp32.to_model_coords(np.array([[40.0, 50.0], [120.0, 90.0]]), image.shape[:2])
    labels = torch.ones(2, 1, dtype=torch.int32)
    ref, ref_iou = fp32.decode(emb, coords[:, None], labels)
    got, got_iou = bf16.decode(emb, coords[:, None], labels)
    assert got.dtype == torch.float32
    scale = float(ref.abs().max())
    assert float((got - ref).abs().max()) <= 0.05 * scale
    assert torch.equal(got_iou, ref_iou)  # the transformer and IoU head stay float32
    with pytest.raises(InputError, match="decode_dtype"):
        SAM2Predictor(tiny_model, decode_dtype="half")
    auto = EverythingGenerator(fp32, mode="fast")
    want = "bfloat16" if bf16_is_fast("cpu") else "float32"
    assert auto.decoding_predictor.decode_dtype == want


def test_cli_mode_flag_reaches_the_settings(tmp_path, tiny_checkpoint):
    import json

    import cv2
    from typer.testing import CliRunner

    from _helpers import make_scene
    from idseg.cli.app import app

    photo = tmp_path / "a.png"
    cv2.imwrite(str(photo), make_scene(90, 120, seed=1))
    args = ["segment", str(photo), "--out", str(tmp_path / "o"), "--checkpoint"]
    loose = ["--points-per-side", "4", "--pred-iou-thresh", "0", "--stability-score-thresh", "0"]
    result = CliRunner().invoke(app, [*args, str(tiny_checkpoint), *loose, "--mode", "fast"])
    assert result.exit_code == 0, result.output
    resolved = json.loads((tmp_path / "o" / "resolved_config.json").read_text())
    assert resolved["everything_settings"]["mode"] == "fast"
    bad = CliRunner().invoke(app, [*args, str(tiny_checkpoint), "--mode", "quick"])
    assert bad.exit_code != 0
    assert "mode must be one of" in bad.output


def test_full_bf16_decoding_moves_logits_a_little(tiny_model, image):  # noqa: F811
    fp32 = SAM2Predictor(tiny_model)
    full = SAM2Predictor(tiny_model, decode_dtype="bfloat16-full")
    assert full._fast is not None and full._fast.decoder is not tiny_model.sam_mask_decoder
    assert tiny_model.sam_mask_decoder.iou_token.weight.dtype == torch.float32  # a copy
    emb = fp32.embed(image)
    coords = fp32.to_model_coords(np.array([[40.0, 50.0], [120.0, 90.0]]), image.shape[:2])
    labels = torch.ones(2, 1, dtype=torch.int32)
    ref, ref_iou = fp32.decode(emb, coords[:, None], labels)
    got, got_iou = full.decode(emb, coords[:, None], labels)
    assert got.dtype == got_iou.dtype == torch.float32
    assert float((got - ref).abs().max()) <= 0.1 * float(ref.abs().max())
    assert float((got_iou - ref_iou).abs().max()) <= 0.05
    assert EverythingSettings(fast_dtype="bfloat16-full").fast_dtype == "bfloat16-full"
