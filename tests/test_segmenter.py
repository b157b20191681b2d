"""The high-level Segmenter, the wrapper's infer() call, and the per-image exporters."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from _helpers import make_scene
from idseg.batch import output_names
from idseg.errors import ConfigError, InputError
from idseg.export import ExportOptions, export_masks, export_segments
from idseg.sam.predictor import SAM2Predictor
from idseg.sam.results import Segment, Segments, pad_box
from idseg.sam.settings import EverythingSettings
from idseg.segmenter import Segmenter

LOOSE = {"points_per_side": 4, "pred_iou_thresh": 0.0, "stability_score_thresh": 0.0}


@pytest.fixture(scope="module")
def segmenter(tiny_checkpoint):
    return Segmenter(tiny_checkpoint, device="cpu", **LOOSE)


def test_segmenter_loads_through_user_path(segmenter):
    assert segmenter.resolved.config_name == "idseg_test_tiny"
    assert segmenter.settings.points_per_side == 4


def test_infer_returns_crop_mask_pairs_sorted_by_area(segmenter):
    image = make_scene(120, 160)
    pairs = segmenter.infer(image, pad_percent=0.05)
    segments = segmenter.segment(image)
    assert len(pairs) == len(segments) > 0
    for (crop, mask), seg in zip(pairs, segments, strict=True):
        assert crop.shape[:2] == mask.shape and crop.dtype == np.uint8
        assert set(np.unique(mask)) <= {0, 255}
        assert int((mask == 255).sum()) == seg.area  # the padded crop holds the whole mask
        x0, y0, x1, y1 = pad_box(seg.bbox_xyxy, image.shape[:2], 0.05)
        np.testing.assert_array_equal(crop, image[y0:y1, x0:x1])
    areas = [int((m == 255).sum()) for _, m in pairs]
    assert areas == sorted(areas, reverse=True)


def test_infer_absolute_pad_is_deprecated_but_works(segmenter):
    image = make_scene(120, 160)
    with pytest.warns(DeprecationWarning, match="pad_percent"):
        pairs = segmenter.infer(image, pad=3)
    seg = segmenter.segment(image)[0]
    x0, y0, x1, y1 = seg.bbox_xyxy
    h = min(120, y1 + 1 + 3) - max(0, y0 - 3)
    w = min(160, x1 + 1 + 3) - max(0, x0 - 3)
    assert pairs[0][0].shape[:2] == (h, w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(InputError, match="whole number of pixels"):
            segmenter.infer(image, pad=-1)
        with pytest.raises(InputError, match="whole number of pixels"):
            segmenter.infer(image, pad=1.5)


def test_pad_box_by_hand():
    # box 10..19 x 20..29 (10 px each), 10 % padding -> 1 px per side, clipped to the image
    assert pad_box((10, 20, 19, 29), (100, 100), 0.1) == (9, 19, 21, 31)
    assert pad_box((0, 0, 9, 9), (10, 10), 0.5) == (0, 0, 10, 10)
    with pytest.raises(InputError):
        pad_box((0, 0, 1, 1), (10, 10), -0.1)


def test_unknown_preset_is_config_error(tiny_checkpoint):
    with pytest.raises(ConfigError, match="unknown preset"):
        Segmenter(tiny_checkpoint, device="cpu", preset="fastest")


def test_output_names_are_unique_and_safe():
    names = output_names(
        [Path("a/card.jpg"), Path("b/card.png"), Path("c/ü ber?.png"), Path("d/card.tif")]
    )
    assert names == ["card", "card-2", "ü_ber_", "card-3"]


def _hand_segments() -> tuple[Segments, np.ndarray]:
    image = np.zeros((40, 50, 3), np.uint8)
    big = np.zeros((40, 50), bool)
    big[5:35, 5:45] = True
    big[15:20, 15:20] = False  # a hole
    small = np.zeros((40, 50), bool)
    small[1:4, 1:4] = True
    segs = [
        Segment(m, _box(m), int(m.sum()), 0.9, 0.95, (10.0, 10.0), (0, 0, 49, 39))
        for m in (small, big)
    ]
    return Segments(segs, (40, 50)), image


def _box(m):
    ys, xs = np.nonzero(m)
    return (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()))


def test_export_segments_writes_every_format(tmp_path):
    segments, image = _hand_segments()
    opts = ExportOptions(formats=["png", "coco", "polygons", "yolo"], overlay=True)
    written = export_segments(segments, image, tmp_path, opts, file_name="x.png")
    assert written["segments"] == 2
    coco = json.loads((tmp_path / "coco.json").read_text())
    assert [a["area"] for a in coco["annotations"]] == [1200 - 25, 9]
    assert all(a["iscrowd"] == 0 for a in coco["annotations"])
    polys = json.loads((tmp_path / "polygons.json").read_text())
    assert len(polys[0]["polygons"][0]["holes"]) == 1
    lines = (tmp_path / "labels.txt").read_text().splitlines()
    assert len(lines) == 2 and all(line.startswith("0 ") for line in lines)
    assert len(list((tmp_path / "masks").iterdir())) == 2
    assert (tmp_path / "overlay.png").is_file()


def test_export_options_reject_unknown_format():
    with pytest.raises(ConfigError, match="unknown format"):
        ExportOptions(formats=["png", "tiff"])


def test_export_masks_for_prompts(tmp_path, tiny_model):
    predictor = SAM2Predictor(tiny_model)
    image = make_scene(80, 100)
    predictor.set_image(image)
    answer = predictor.predict([[30, 30]], [1])
    result = export_masks(answer, image, tmp_path, np.array([[30, 30]]), np.array([1]))
    assert result["prompts"][0]["best"] == int(np.argmax(answer.scores[0]))
    assert len(list(tmp_path.glob("mask_000_*.png"))) == 3
    assert (tmp_path / "overlay.png").is_file() and (tmp_path / "best_000.png").is_file()


def test_settings_object_overrides_preset(tiny_checkpoint):
    seg = Segmenter(
        tiny_checkpoint,
        device="cpu",
        preset="dense",
        settings=EverythingSettings(points_per_side=3),
    )
    assert seg.settings.points_per_side == 3 and seg.settings.pred_iou_thresh == 0.8


def test_uncompressed_rle_equals_meta_encoding():
    import torch
    from sam2.utils.amg import mask_to_rle_pytorch

    from idseg.export import uncompressed_rle

    rng = np.random.default_rng(0)
    for shape in ((7, 5), (1, 1), (4, 9)):
        for fill in (0.0, 1.0, 0.4):
            mask = rng.random(shape) < fill
            ref = mask_to_rle_pytorch(torch.as_tensor(mask)[None])[0]
            assert uncompressed_rle(mask) == ref


def test_predictor_state_helpers(tiny_model):
    predictor = SAM2Predictor(tiny_model)
    image = make_scene(64, 80)
    assert not predictor.is_image_set
    predictor.set_image(image)
    emb = predictor.embedding
    answer = predictor.predict([[10, 10]], [1])
    best = answer.best_index()[0]
    np.testing.assert_array_equal(answer.best_logits()[0, 0], answer.low_res_logits[0, best])
    predictor.reset_image()
    with pytest.raises(InputError, match="set_image"):
        predictor.predict([[10, 10]], [1])
    predictor.set_embedding(emb)
    np.testing.assert_array_equal(predictor.predict([[10, 10]], [1]).masks, answer.masks)
    assert predictor.image_hw == (64, 80)
    import torch

    up = predictor.upscale(torch.zeros(1, 1, 64, 64), (64, 80))
    assert tuple(up.shape) == (1, 1, 64, 80)
