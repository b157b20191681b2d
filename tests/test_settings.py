"""Segment-everything settings: Meta's parameters and defaults, presets, validation, copies."""

from __future__ import annotations

import dataclasses
import inspect
import json

import numpy as np
import pytest
from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator

from idseg.errors import ConfigError, InputError
from idseg.sam.settings import IDSEG_ONLY, PRESETS, EverythingSettings, preset


def meta_defaults() -> dict:
    params = inspect.signature(SAM2AutomaticMaskGenerator.__init__).parameters.values()
    return {
        p.name: p.default
        for p in params
        if p.name not in ("self", "model") and p.kind is not inspect.Parameter.VAR_KEYWORD
    }


def test_same_parameters_and_defaults_as_meta():
    ours = {
        f.name: getattr(EverythingSettings(), f.name)
        for f in dataclasses.fields(EverythingSettings)
        if f.name not in IDSEG_ONLY
    }
    expected = meta_defaults()
    assert len(expected) == 16
    assert ours == expected
    assert EverythingSettings().meta_kwargs() == expected
    assert preset("default") == EverythingSettings()
    idseg_only = {name: getattr(EverythingSettings(), name) for name in IDSEG_ONLY}
    assert idseg_only == {
        "mode": "exact",
        "fast_coarse_step": 1,
        "fast_skip_area": 0.02,
        "fast_dtype": "auto",
    }


def test_presets_have_documented_parameters():
    dense = preset("dense")
    assert (dense.points_per_side, dense.pred_iou_thresh, dense.stability_score_thresh) == (
        64,
        0.85,
        0.90,
    )
    assert (dense.min_mask_region_area, dense.box_nms_thresh, dense.crop_n_layers) == (500, 0.7, 0)
    docs = preset("documents")
    assert (docs.points_per_side, docs.pred_iou_thresh, docs.stability_score_thresh) == (
        24,
        0.86,
        0.92,
    )
    assert (docs.box_nms_thresh, docs.min_mask_region_area, docs.crop_n_layers) == (0.6, 400, 0)
    # Everything a preset does not name stays at Meta's default.
    defaults = meta_defaults()
    for name, values in PRESETS.items():
        s = preset(name)
        for field, default in defaults.items():
            if field not in values:
                assert getattr(s, field) == default, (name, field)
    assert set(PRESETS) == {"default", "dense", "fast", "documents"}
    assert preset("fast").mode == "fast"


def test_preset_lookup_and_overrides():
    assert preset("  Dense ").points_per_side == 64
    assert preset("dense", points_per_side=16).points_per_side == 16
    grids = [np.array([[0.5, 0.5]])]
    s = preset("documents", point_grids=grids)
    assert s.points_per_side is None and s.point_grids is grids
    assert s.box_nms_thresh == 0.6
    with pytest.raises(ConfigError, match="unknown preset 'nope'"):
        preset("nope")
    with pytest.raises(InputError, match="unknown segment-everything parameter"):
        preset("default", pred_iou=0.5)


GRID = [np.array([[0.25, 0.25], [0.75, 0.75]])]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"points_per_side": None}, "exactly one of points_per_side or point_grids"),
        ({"point_grids": GRID}, "exactly one of points_per_side or point_grids"),
        ({"points_per_side": 0}, "points_per_side must be >= 1"),
        ({"points_per_side": 8.0}, "points_per_side must be an integer"),
        ({"points_per_side": True}, "points_per_side must be an integer"),
        ({"points_per_batch": 0}, "points_per_batch must be >= 1"),
        ({"pred_iou_thresh": 1.01}, "pred_iou_thresh must be in"),
        ({"pred_iou_thresh": "0.5"}, "pred_iou_thresh must be a finite number"),
        ({"stability_score_thresh": -0.1}, "stability_score_thresh must be in"),
        ({"stability_score_offset": float("nan")}, "stability_score_offset must be a finite"),
        ({"mask_threshold": float("inf")}, "mask_threshold must be a finite"),
        ({"box_nms_thresh": 2}, "box_nms_thresh must be in"),
        ({"crop_nms_thresh": float("nan")}, "crop_nms_thresh must be a finite number"),
        ({"crop_overlap_ratio": 1.0}, "crop_overlap_ratio must be in"),
        ({"crop_n_layers": -1}, "crop_n_layers must be >= 0"),
        ({"crop_n_layers": 1.5}, "crop_n_layers must be an integer"),
        ({"crop_n_points_downscale_factor": 0}, "crop_n_points_downscale_factor >= 1"),
        ({"min_mask_region_area": -1}, "min_mask_region_area must be >= 0"),
        ({"output_mode": "png"}, "output_mode must be one of"),
        ({"use_m2m": "yes"}, "use_m2m must be True or False"),
        ({"multimask_output": 1}, "multimask_output must be True or False"),
        (
            {"points_per_side": 2, "crop_n_layers": 2, "crop_n_points_downscale_factor": 2},
            "leaves no point in crop layer 2",
        ),
        (
            {"points_per_side": None, "point_grids": GRID, "crop_n_layers": 1},
            "one grid per crop layer",
        ),
        ({"points_per_side": None, "point_grids": [np.zeros((4, 3))]}, r"N x 2 array"),
        ({"points_per_side": None, "point_grids": [np.zeros((0, 2))]}, r"N x 2 array"),
        ({"points_per_side": None, "point_grids": [[[0.1, "x"]]]}, "array of numbers"),
        ({"points_per_side": None, "point_grids": [np.array([[np.nan, 0.5]])]}, "NaN or inf"),
        (
            {"points_per_side": None, "point_grids": [[[0.5, 0.5]], [[0.5, 1.5], [-0.25, 0.5]]]},
            r"point_grids\[1\] must hold \(x, y\) normalised to \[0, 1\], got values in "
            r"\[-0.25, 1.5\]",
        ),
        (
            {"points_per_side": None, "point_grids": [[[1.0001, 0.5]]]},
            r"point_grids\[0\] .* got values in \[0.5, 1.0001\]",
        ),
        ({"stability_score_offset": -0.5}, r"stability_score_offset must be >= 0, got -0.5"),
    ],
)
def test_validation(kwargs, message):
    with pytest.raises(InputError, match=message):
        EverythingSettings(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "received"),
    [
        ({"points_per_side": None}, "got neither (points_per_side=None, point_grids=None)"),
        ({"point_grids": GRID}, "got both (points_per_side=32, point_grids=1 grid(s))"),
        ({"points_per_side": 0}, "got 0"),
        ({"points_per_batch": -3}, "got -3"),
        ({"pred_iou_thresh": 1.5}, "got 1.5"),
        ({"crop_overlap_ratio": -0.2}, "got -0.2"),
        ({"crop_n_layers": -2}, "got crop_n_layers=-2 and crop_n_points_downscale_factor=1"),
        (
            {"crop_n_points_downscale_factor": 0},
            "got crop_n_layers=0 and crop_n_points_downscale_factor=0",
        ),
        ({"min_mask_region_area": -7}, "got -7"),
        ({"stability_score_offset": -2}, "got -2"),
        ({"output_mode": "png"}, "got 'png'"),
        ({"points_per_side": None, "point_grids": GRID, "crop_n_layers": 2}, "got 1"),
        ({"points_per_side": None, "point_grids": [np.zeros((4, 3))]}, "got (4, 3)"),
    ],
)
def test_validation_messages_state_the_received_value(kwargs, received):
    with pytest.raises(InputError) as info:
        EverythingSettings(**kwargs)
    assert received in str(info.value)


def test_accepts_valid_edge_values():
    s = EverythingSettings(
        points_per_side=np.int64(4),
        pred_iou_thresh=0,
        stability_score_thresh=1.0,
        crop_overlap_ratio=0.0,
        crop_n_layers=2,
        crop_n_points_downscale_factor=2,
        use_m2m=np.bool_(True),
    )
    assert s.points_per_side == 4
    EverythingSettings(points_per_side=None, point_grids=[[[0.5, 0.5]]])
    # The grid may touch both ends of [0, 1]; a zero stability offset is allowed.
    EverythingSettings(points_per_side=None, point_grids=[[[0.0, 1.0], [1.0, 0.0]]])
    assert EverythingSettings(stability_score_offset=0).stability_score_offset == 0


def test_replace_validates_and_keeps_grid_exclusive():
    base = EverythingSettings()
    changed = base.replace(pred_iou_thresh=0.5)
    assert changed.pred_iou_thresh == 0.5 and base.pred_iou_thresh == 0.8
    assert changed == dataclasses.replace(base, pred_iou_thresh=0.5)
    grids = base.replace(point_grids=GRID)
    assert grids.points_per_side is None and grids.point_grids is GRID
    back = grids.replace(points_per_side=16)
    assert back.points_per_side == 16 and back.point_grids is None
    with pytest.raises(InputError, match="pred_iou_thresh must be in"):
        base.replace(pred_iou_thresh=3.0)
    with pytest.raises(InputError, match=r"unknown segment-everything parameter.*crop_layers"):
        base.replace(crop_layers=1)
    with pytest.raises(InputError, match="exactly one"):
        base.replace(points_per_side=None)


def test_to_dict_is_json_serialisable():
    s = EverythingSettings(
        points_per_side=None,
        point_grids=[np.array([[0.25, 0.5]], dtype=np.float32)],
        pred_iou_thresh=np.float32(0.5),
        points_per_batch=np.int64(32),
    )
    data = json.loads(json.dumps(s.to_dict()))
    assert data["point_grids"] == [[[0.25, 0.5]]]
    assert data["pred_iou_thresh"] == 0.5 and data["points_per_batch"] == 32
    assert set(data) == set(meta_defaults()) | set(IDSEG_ONLY)
    assert EverythingSettings(**{**data, "point_grids": [np.array(g) for g in data["point_grids"]]})
    plain = json.loads(json.dumps(EverythingSettings().to_dict()))
    assert {k: v for k, v in plain.items() if k not in IDSEG_ONLY} == meta_defaults()
