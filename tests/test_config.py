"""Configuration layer: files in three formats, precedence, legacy keys, resolved config."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from idseg.config import (
    IdsegConfig,
    ModelSection,
    OutputSection,
    load_config,
    parse_formats,
    write_resolved_config,
)
from idseg.config_values import EVERYTHING_FIELDS, MODEL_FIELDS, OUTPUT_FIELDS, check_device
from idseg.errors import ConfigError
from idseg.models import sam2 as sam2_module
from idseg.models.sam2 import ResolvedModel, resolve_checkpoint
from idseg.sam.settings import EverythingSettings

TOML_TEXT = """
preset = "dense"
class_names = ["background", "card"]
num_classes = 2

[model]
checkpoint = "weights/sam2.1_hiera_tiny.pt"
config = "sam2.1_hiera_t"
device = "cpu"
offline = true

[everything]
points_per_side = 16
pred_iou_thresh = 0.7
use_m2m = true

[output]
formats = ["png", "polygons"]
overlay = true
pad_percent = 0.1
crops = false
seed = 7

[paths]
train = "data/train"
"""

YAML_TEXT = """
preset: dense
class_names: [background, card]
num_classes: 2
model:
  checkpoint: weights/sam2.1_hiera_tiny.pt
  config: sam2.1_hiera_t
  device: cpu
  offline: true
# flat segment-everything keys at top level
points_per_side: 16
pred_iou_thresh: 0.7
use_m2m: true
output:
  formats: png,polygons
  overlay: true
  pad_percent: 0.1
  crops: false
  seed: 7
paths:
  train: data/train
"""

JSON_DATA = {
    "preset": "dense",
    "class_names": ["background", "card"],
    "num_classes": 2,
    "model": {
        "checkpoint": "weights/sam2.1_hiera_tiny.pt",
        "config": "sam2.1_hiera_t",
        "device": "cpu",
        "offline": True,
    },
    "everything": {"points_per_side": 16, "pred_iou_thresh": 0.7, "use_m2m": True},
    "output": {
        "formats": ["png", "polygons"],
        "overlay": True,
        "pad_percent": 0.1,
        "crops": False,
        "seed": 7,
    },
    "paths": {"train": "data/train"},
}

LEGACY = {
    "model_type": "sam2_hiera_t",
    "checkpoint_path": "checkpoints/sam2_hiera_tiny.pt",
    "image_size": 1024,
    "num_classes": 3,
    "class_names": ["background", "document", "photo"],
    "augmentation": {"hflip": True, "rotate": 10},
    "loss": {"type": "dice"},
    "optimizer": {"type": "adamw", "lr": 1e-4},
    "lr_scheduler": {"type": "cosine"},
    "paths": {"train": "data/train", "val": "data/val"},
    "mixed_precision": True,
    "wandb_project": "x",
}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def write_json(tmp_path: Path, data: dict, name: str = "idseg.json") -> Path:
    return write(tmp_path, name, json.dumps(data))


@pytest.mark.parametrize(
    ("name", "text"),
    [("idseg.toml", TOML_TEXT), ("idseg.yaml", YAML_TEXT), ("idseg.yml", YAML_TEXT),
     ("idseg.json", json.dumps(JSON_DATA))],
)  # fmt: skip
def test_three_formats_give_the_same_config(tmp_path, name, text):
    cfg = load_config(write(tmp_path, name, text))
    here = tmp_path.resolve()
    expected = IdsegConfig(
        model=ModelSection(
            str(here / "weights" / "sam2.1_hiera_tiny.pt"), "sam2.1_hiera_t", "cpu", True
        ),
        preset="dense",
        everything={"points_per_side": 16, "pred_iou_thresh": 0.7, "use_m2m": True},
        output=OutputSection(["png", "polygons"], True, 0.1, False, 7),
        class_names=["background", "card"],
        num_classes=2,
        paths={"train": str(here / "data" / "train")},
        as_written={
            "model.checkpoint": "weights/sam2.1_hiera_tiny.pt",
            "paths.train": "data/train",
        },
        source=str(tmp_path / name),
    )
    assert cfg == expected
    settings = cfg.everything_settings()
    # dense preset values below the file's overrides
    assert (settings.points_per_side, settings.pred_iou_thresh) == (16, 0.7)
    assert (settings.stability_score_thresh, settings.min_mask_region_area) == (0.90, 500)
    assert settings.use_m2m is True


def test_no_file_gives_meta_defaults():
    cfg = load_config()
    assert cfg == IdsegConfig()
    assert cfg.output.formats == ["png", "coco"]
    assert cfg.model.device == "auto"
    assert cfg.model.offline is None  # IDSEG_OFFLINE is set by conftest, but not read here
    assert cfg.everything_settings() == EverythingSettings()


# (file content, CLI flags, expected points_per_side, pred_iou_thresh, stability_score_thresh)
PRECEDENCE = [
    ({}, {}, 32, 0.8, 0.95),  # Meta's defaults
    ({"preset": "dense"}, {}, 64, 0.85, 0.90),  # preset over defaults
    ({"preset": "dense", "points_per_side": 16}, {}, 16, 0.85, 0.90),  # file over preset
    ({"preset": "dense", "points_per_side": 16}, {"points_per_side": 8}, 8, 0.85, 0.90),
    ({"everything": {"points_per_side": 16}}, {"preset": "documents"}, 16, 0.86, 0.92),
    ({"pred_iou_thresh": 0.7}, {"pred_iou_thresh": 0.5}, 32, 0.5, 0.95),  # CLI over file
    ({"pred_iou_thresh": 0.7}, {"pred_iou_thresh": None}, 32, 0.7, 0.95),  # None = not given
    ({}, {"everything": {"stability_score_thresh": 0.5}}, 32, 0.8, 0.5),
]


@pytest.mark.parametrize(("file_data", "cli", "pps", "iou", "stab"), PRECEDENCE)
def test_precedence_of_everything_settings(tmp_path, file_data, cli, pps, iou, stab):
    path = write_json(tmp_path, file_data)
    settings = load_config(path, **cli).everything_settings()
    assert (settings.points_per_side, settings.pred_iou_thresh) == (pps, iou)
    assert settings.stability_score_thresh == stab


# (file content, CLI flags, attribute path, expected value)
SECTION_PRECEDENCE = [
    ({}, {}, "model.device", "auto"),
    ({"model": {"device": "cpu"}}, {}, "model.device", "cpu"),
    ({"model": {"device": "cpu"}}, {"device": "cuda:1"}, "model.device", "cuda:1"),
    ({"model": {"device": "cpu"}}, {"device": None}, "model.device", "cpu"),
    ({"model": {"offline": False}}, {"offline": True}, "model.offline", True),
    ({"output": {"formats": ["coco"]}}, {"formats": "yolo,png"}, "output.formats", ["yolo", "png"]),
    ({"output": {"seed": 3}}, {}, "output.seed", 3),
    ({"output": {"seed": 3}}, {"seed": 0}, "output.seed", 0),  # 0 is given, not "missing"
    ({"output": {"overlay": True}}, {"overlay": False}, "output.overlay", False),
    ({"checkpoint_path": "a.pt"}, {"checkpoint": "b.pt"}, "model.checkpoint", "b.pt"),
    ({"image_size": 512}, {"image_size": 1024}, "image_size", 1024),
    ({"preset": "dense"}, {}, "preset", "dense"),
    ({"preset": "dense"}, {"preset": "Documents"}, "preset", "documents"),
]


@pytest.mark.parametrize(("file_data", "cli", "attr", "expected"), SECTION_PRECEDENCE)
def test_precedence_of_sections(tmp_path, file_data, cli, attr, expected):
    cfg = load_config(write_json(tmp_path, file_data), **cli)
    value = cfg
    for part in attr.split("."):
        value = getattr(value, part)
    assert value == expected


def test_unknown_everything_key_suggests_the_closest(tmp_path):
    path = write(tmp_path, "bad.toml", "[everything]\npoints_per_sid = 16\n")
    with pytest.raises(ConfigError, match=r"points_per_sid.*did you mean 'points_per_side'"):
        load_config(path)
    with pytest.raises(ConfigError, match=r"did you mean 'device'"):
        load_config(write_json(tmp_path, {"model": {"devic": "cpu"}}))
    with pytest.raises(ConfigError, match=r"unknown option 'points_per_sid'.*points_per_side"):
        load_config(None, points_per_sid=16)


def test_unknown_top_level_key_is_kept_and_a_near_miss_is_warned(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="idseg.config_parse"):
        cfg = load_config(write_json(tmp_path, {"points_per_sid": 16, "team": "ocr"}))
    assert cfg.extra == {"points_per_sid": 16, "team": "ocr"}
    assert cfg.everything == {}
    assert "points_per_side" in caplog.text
    assert "team" not in caplog.text


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        ({"everything": {"pred_iou_thresh": 2}}, r"bad\.json: .*pred_iou_thresh must be in \[0, 1\], got 2"),
        ({"points_per_side": 0}, r"points_per_side must be >= 1"),
        ({"everything": {"output_mode": "svg"}}, r"output_mode must be one of"),
        ({"everything": {"points_per_side": "many"}}, r"everything\.points_per_side must be an integer"),
        ({"everything": {"use_m2m": "yes"}}, r"everything\.use_m2m must be true or false"),
        ({"output": {"pad_percent": -0.1}}, r"output\.pad_percent must be >= 0"),
        ({"output": {"formats": ["png", "svg"]}}, r"unknown output format 'svg'.*png, coco, polygons, yolo"),
        ({"model": {"device": "tpu"}}, r"model\.device must be one of auto, cpu, cuda, mps"),
        ({"preset": "quick"}, r"unknown preset 'quick'.*default, dense, fast, documents"),
        ({"num_classes": 0}, r"num_classes must be >= 1"),
        ({"model": "sam2"}, r"'model' must be a mapping"),
        ({"points_per_side": 16, "everything": {"points_per_side": 8}}, r"given twice"),
    ],
)  # fmt: skip
def test_bad_values_name_the_key_and_the_file(tmp_path, data, pattern):
    with pytest.raises(ConfigError, match=pattern):
        load_config(write_json(tmp_path, data, "bad.json"))


def test_bad_cli_value_is_reported_as_a_flag_problem(tmp_path):
    path = write_json(tmp_path, {"pred_iou_thresh": 0.7}, "ok.json")
    with pytest.raises(ConfigError, match=r"ok\.json with command-line options: pred_iou_thresh"):
        load_config(path, pred_iou_thresh=1.5)


def test_legacy_config_json_keys_land_where_described(tmp_path):
    path = write_json(tmp_path, LEGACY, "config.json")
    cfg = load_config(path)
    here = tmp_path.resolve()
    assert cfg.model.checkpoint == str(here / "checkpoints" / "sam2_hiera_tiny.pt")
    assert cfg.model.config == "sam2_hiera_t"
    assert (cfg.image_size, cfg.num_classes) == (1024, 3)
    assert cfg.class_names == ["background", "document", "photo"]
    assert cfg.train == {
        "augmentation": {"hflip": True, "rotate": 10},
        "loss": {"type": "dice"},
        "optimizer": {"type": "adamw", "lr": 1e-4},
        "lr_scheduler": {"type": "cosine"},
        "mixed_precision": True,
    }
    assert cfg.paths == {"train": str(here / "data" / "train"), "val": str(here / "data" / "val")}
    assert cfg.as_written == {
        "model.checkpoint": "checkpoints/sam2_hiera_tiny.pt",
        "paths.train": "data/train",
        "paths.val": "data/val",
    }
    assert cfg.extra == {"wandb_project": "x"}
    assert cfg.everything_settings() == EverythingSettings()

    out = write_resolved_config(cfg, tmp_path / "run")
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written["extra"] == {"wandb_project": "x"}
    assert written["train"]["optimizer"] == {"type": "adamw", "lr": 1e-4}
    assert IdsegConfig.from_dict(written) == cfg


@pytest.mark.parametrize(
    ("model_type", "config"),
    [
        ("sam2.1_hiera_t", "sam2.1_hiera_t"),
        ("sam2_hiera_small", "sam2_hiera_s"),
        ("sam2_hiera_t", "sam2_hiera_t"),
        ("sam2.1_hiera_base_plus", "sam2.1_hiera_b+"),
        ("SAM2.1-Hiera-Large", "sam2.1_hiera_l"),
        ("hiera_t", "sam2.1_hiera_t"),
        ("hiera_tiny", "sam2.1_hiera_t"),
        ("tiny", "sam2.1_hiera_t"),
        ("small", "sam2.1_hiera_s"),
        ("idseg_test_tiny", "idseg_test_tiny"),
        ("configs/custom.yaml", "{here}/configs/custom.yaml"),
    ],
)
def test_model_type_maps_to_a_sam2_config(tmp_path, model_type, config):
    expected = config.format(here=tmp_path.resolve())
    assert load_config(write_json(tmp_path, {"model_type": model_type})).model.config == expected


@pytest.mark.parametrize("sam1", ["vit_b", "vit_h", "VIT-L", "default"])
def test_sam1_model_type_is_rejected(tmp_path, sam1):
    with pytest.raises(ConfigError, match=r"SAM1 .*not SAM2 configs.*sam2\.1_hiera_t"):
        load_config(write_json(tmp_path, {"model_type": sam1}))
    with pytest.raises(ConfigError, match=r"SAM1"):
        load_config(None, config=sam1)


def test_unknown_model_type_is_rejected(tmp_path):
    with pytest.raises(ConfigError, match=r"model_type 'resnet50' names no SAM2 config"):
        load_config(write_json(tmp_path, {"model_type": "resnet50"}))


def test_legacy_and_new_keys_must_agree(tmp_path):
    data = {"checkpoint_path": "a.pt", "model": {"checkpoint": "b.pt"}}
    with pytest.raises(ConfigError, match=r"'checkpoint' is given twice"):
        load_config(write_json(tmp_path, data))
    same = {"checkpoint_path": "a.pt", "model": {"checkpoint": "a.pt"}}
    cfg = load_config(write_json(tmp_path, same))
    assert cfg.model.checkpoint == str(tmp_path.resolve() / "a.pt")


def test_num_classes_must_match_class_names(tmp_path):
    data = {"num_classes": 2, "class_names": ["background", "document", "photo"]}
    with pytest.raises(ConfigError, match=r"num_classes is 2 but class_names has 3"):
        load_config(write_json(tmp_path, data))
    path = write_json(tmp_path, {"num_classes": 3, "class_names": ["a", "b", "c"]})
    with pytest.raises(ConfigError, match=r"num_classes is 3 but class_names has 2"):
        load_config(path, class_names="a,b")
    assert load_config(path, class_names="x, y ,z").class_names == ["x", "y", "z"]


def test_resolved_config_is_complete_json_and_round_trips(tmp_path):
    path = write(tmp_path, "idseg.toml", 'run_name = "batch-7"\n' + TOML_TEXT)
    cfg = load_config(path, min_mask_region_area=50)
    resolved = ResolvedModel(
        Path("/cache/sam2.1_hiera_tiny.pt"), Path("/cfg/t.yaml"), "sam2.1_hiera_t"
    )
    extra = {**resolved.to_dict(), "sha256": "ab" * 32}
    out = write_resolved_config(cfg, tmp_path / "out" / "run1", extra=extra)

    assert out == tmp_path / "out" / "run1" / "resolved_config.json"
    assert sorted(p.name for p in out.parent.iterdir()) == ["resolved_config.json"]  # no temp left
    doc = json.loads(out.read_text(encoding="utf-8"))
    fields = {f.name for f in dataclasses.fields(EverythingSettings)}
    assert set(doc["everything_settings"]) == fields
    assert doc["everything_settings"]["points_per_side"] == 16  # file
    assert doc["everything_settings"]["min_mask_region_area"] == 50  # CLI
    assert doc["everything_settings"]["stability_score_thresh"] == 0.90  # dense preset
    assert doc["everything_settings"]["crop_overlap_ratio"] == pytest.approx(512 / 1500)  # default
    assert doc["model"] == {
        "checkpoint": str(tmp_path.resolve() / "weights" / "sam2.1_hiera_tiny.pt"),
        "config": "sam2.1_hiera_t",
        "device": "cpu",
        "offline": True,
    }
    assert doc["resolved"] == {
        "checkpoint": "/cache/sam2.1_hiera_tiny.pt",
        "config": "/cfg/t.yaml",
        "config_name": "sam2.1_hiera_t",
        "sha256": "ab" * 32,
    }
    assert doc["idseg_version"] == __import__("idseg").__version__
    assert doc["as_written"] == {
        "model.checkpoint": "weights/sam2.1_hiera_tiny.pt",
        "paths.train": "data/train",
    }
    assert doc["extra"] == {"run_name": "batch-7"}
    assert doc["source"] == str(path)
    back = IdsegConfig.from_dict(doc)
    assert back == cfg
    assert back.everything_settings() == cfg.everything_settings()


def test_resolved_config_write_is_atomic(tmp_path, monkeypatch):
    cfg = load_config()
    out = write_resolved_config(cfg, tmp_path, name="cfg.json")
    before = out.read_bytes()

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("idseg.io.atomic.os.replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_resolved_config(load_config(None, preset="dense"), tmp_path, name="cfg.json")
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cfg.json"]
    with pytest.raises(ConfigError, match="plain file name"):
        write_resolved_config(cfg, tmp_path, name="../x.json")


def test_to_dict_is_json_ready_and_round_trips():
    cfg = IdsegConfig(
        model=ModelSection(checkpoint="tiny", device="cuda:0"),
        preset="documents",
        everything={"point_grids": [[[0.25, 0.5], [0.75, 0.5]]]},
        class_names=["a"],
        num_classes=1,
        train={"loss": {"type": "focal", "gamma": 2.0}},
        extra={"note": "x"},
        source="run.yaml",
    )
    data = json.loads(json.dumps(cfg.to_dict()))
    assert IdsegConfig.from_dict(data) == cfg


def test_point_grids_from_file_and_cli_replaces_them(tmp_path):
    text = "point_grids:\n  - [[0.25, 0.5], [0.75, 0.5], [0.5, 0.25]]\n"
    path = write(tmp_path, "grid.yaml", text)
    settings = load_config(path).everything_settings()
    assert settings.points_per_side is None
    assert len(settings.point_grids) == 1
    np.testing.assert_array_equal(settings.point_grids[0], [[0.25, 0.5], [0.75, 0.5], [0.5, 0.25]])
    replaced = load_config(path, points_per_side=8)
    assert replaced.everything == {"points_per_side": 8}
    assert replaced.everything_settings().point_grids is None
    with pytest.raises(ConfigError, match=r"point_grids\[0\] must be"):
        load_config(write(tmp_path, "bad.yaml", "point_grids: [[[0.5, 1.5]]]\n"))


def test_yaml_dates_in_kept_keys_become_strings(tmp_path):
    path = write(tmp_path, "d.yaml", "created: 2024-05-01\npaths:\n  train: data\n")
    cfg = load_config(path)
    assert cfg.extra == {"created": "2024-05-01"}
    json.dumps(cfg.to_dict())


@pytest.mark.parametrize(
    ("name", "text", "pattern"),
    [
        ("broken.toml", "[model]\ndevice = \n", r"'broken\.toml' as TOML.*line 2"),
        ("broken.yaml", "model:\n  device: [cpu\n", r"'broken\.yaml' as YAML \(line \d+, column \d+\)"),
        ("broken.yml", "a: b: c\n", r"'broken\.yml' as YAML"),
        ("broken.json", '{"preset": "dense",\n}', r"'broken\.json' as JSON \(line 2, column 1\)"),
    ],
)  # fmt: skip
def test_parse_errors_name_the_file_and_line(tmp_path, name, text, pattern):
    with pytest.raises(ConfigError, match=pattern):
        load_config(write(tmp_path, name, text))


def test_file_problems(tmp_path):
    with pytest.raises(
        ConfigError, match=r"unsupported extension '\.ini'.*\.toml, \.yaml, \.yml, \.json"
    ):
        load_config(write(tmp_path, "idseg.ini", "[model]\n"))
    with pytest.raises(ConfigError, match=r"config file not found"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match=r"top level must be a mapping.*list"):
        load_config(write(tmp_path, "list.json", "[1, 2]"))
    assert load_config(write(tmp_path, "empty.yaml", "")) == IdsegConfig(
        source=str(tmp_path / "empty.yaml")
    )


def test_parse_formats():
    assert parse_formats("png,coco,polygons,yolo") == ["png", "coco", "polygons", "yolo"]
    assert parse_formats(" YOLO, png ,yolo,,png") == ["yolo", "png"]
    assert parse_formats(["png,coco", "coco", "polygons"]) == ["png", "coco", "polygons"]
    with pytest.raises(
        ConfigError, match=r"'polygon'.*did you mean 'polygons'.*png, coco, polygons, yolo"
    ):
        parse_formats("png,polygon")
    with pytest.raises(ConfigError, match=r"no output format"):
        parse_formats(" , ")
    with pytest.raises(ConfigError, match=r"comma-separated string or a list"):
        parse_formats(3)  # type: ignore[arg-type]


def test_field_tables_match_the_dataclasses():
    assert set(MODEL_FIELDS) == {f.name for f in dataclasses.fields(ModelSection)}
    assert set(OUTPUT_FIELDS) == {f.name for f in dataclasses.fields(OutputSection)}
    assert set(EVERYTHING_FIELDS) == {f.name for f in dataclasses.fields(EverythingSettings)}


# --- relative paths: against the config file's folder, CLI paths against the cwd ---


@pytest.fixture
def project(tmp_path):
    """tmp/weights/t.pt, tmp/cfgs/m.yaml, tmp/conf/c.toml pointing at them with '../'."""
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "t.pt").write_bytes(b"not really a checkpoint")
    (tmp_path / "cfgs").mkdir()
    (tmp_path / "cfgs" / "m.yaml").write_text("model: {}\n", encoding="utf-8")
    (tmp_path / "conf").mkdir()
    (tmp_path / "elsewhere").mkdir()
    text = (
        '[model]\ncheckpoint = "../weights/t.pt"\nconfig = "../cfgs/m.yaml"\n'
        '[paths]\ntrain = "data/train"\nsets = ["a", "https://example.org/b"]\n'
    )
    write(tmp_path / "conf", "c.toml", text)
    return tmp_path


@pytest.mark.parametrize("cwd", ["elsewhere", "/", "."])
def test_relative_paths_in_a_file_are_relative_to_its_folder(project, monkeypatch, cwd):
    monkeypatch.chdir({"elsewhere": project / "elsewhere", "/": Path("/"), ".": project}[cwd])
    cfg = load_config(project / "conf" / "c.toml")
    root = project.resolve()
    assert cfg.model.checkpoint == str(root / "weights" / "t.pt")
    assert cfg.model.config == str(root / "cfgs" / "m.yaml")
    assert cfg.paths == {
        "train": str(root / "conf" / "data" / "train"),
        "sets": [str(root / "conf" / "a"), "https://example.org/b"],
    }
    assert cfg.as_written == {
        "model.checkpoint": "../weights/t.pt",
        "model.config": "../cfgs/m.yaml",
        "paths.train": "data/train",
        "paths.sets": ["a", "https://example.org/b"],
    }
    # what the segment command does with it: the file is found from this working directory
    assert resolve_checkpoint(cfg.model.checkpoint) == root / "weights" / "t.pt"


def test_a_relative_config_path_is_taken_from_the_cwd_then_its_folder(project, monkeypatch):
    monkeypatch.chdir(project / "elsewhere")
    cfg = load_config(Path("..") / "conf" / "c.toml")
    assert cfg.model.checkpoint == str(project.resolve() / "weights" / "t.pt")
    assert cfg.source == str(Path("..") / "conf" / "c.toml")


@pytest.mark.parametrize(
    "value",
    [
        "sam2.1_hiera_tiny",
        "facebook/sam2.1-hiera-tiny",  # a registry name with a slash
        "tiny",
        "https://example.org/models/sam2.1_hiera_tiny.pt",
        "file:///models/t.pt",
    ],
)
def test_registry_names_and_urls_are_not_touched(tmp_path, monkeypatch, value):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "tiny").mkdir()  # a folder, not a checkpoint file
    path = write_json(tmp_path / "conf", {"model": {"checkpoint": value}})
    cfg = load_config(path)
    assert cfg.model.checkpoint == value
    assert cfg.as_written == {}


def test_config_names_are_not_touched(tmp_path):
    cfg = load_config(write_json(tmp_path, {"model": {"config": "sam2.1_hiera_t"}}))
    assert cfg.model.config == "sam2.1_hiera_t"
    assert cfg.as_written == {}


@pytest.mark.parametrize(
    ("value", "local"),
    [
        ("model.pth", True),
        ("model.SAFETENSORS", True),
        ("sub/model", True),
        ("mine", True),  # no suffix, but the file exists next to the config
        ("sam2.1_hiera_small", False),
        ("notafile", False),  # neither: left for the loader to report
    ],
)
def test_what_counts_as_a_local_checkpoint(tmp_path, value, local):
    (tmp_path / "mine").write_bytes(b"x")
    cfg = load_config(write_json(tmp_path, {"checkpoint_path": value}))
    expected = str(tmp_path.resolve() / value) if local else value
    assert cfg.model.checkpoint == expected
    assert cfg.as_written == ({"model.checkpoint": value} if local else {})


def test_absolute_and_home_paths_in_a_file_are_kept(tmp_path):
    data = {"model": {"checkpoint": "/models/t.pt"}, "paths": {"train": "~/data"}}
    cfg = load_config(write_json(tmp_path, data))
    assert (cfg.model.checkpoint, cfg.paths["train"]) == ("/models/t.pt", "~/data")
    assert cfg.as_written == {}


def test_cli_paths_stay_relative_to_the_cwd(project, monkeypatch):
    monkeypatch.chdir(project / "elsewhere")
    cfg = load_config(
        project / "conf" / "c.toml",
        checkpoint="local.pt",
        config="mine.yaml",
        paths={"train": "cli/train"},
    )
    assert (cfg.model.checkpoint, cfg.model.config) == ("local.pt", "mine.yaml")
    assert cfg.paths["train"] == "cli/train"
    assert cfg.paths["sets"][0] == str(project.resolve() / "conf" / "a")  # still from the file
    assert cfg.as_written == {"paths.sets": ["a", "https://example.org/b"]}
    assert load_config(None, checkpoint="w/t.pt").model.checkpoint == "w/t.pt"


def test_resolved_config_records_absolute_paths_and_works_from_another_folder(project, monkeypatch):
    monkeypatch.chdir(project / "elsewhere")
    cfg = load_config(project / "conf" / "c.toml", checkpoint="../weights/t.pt")
    assert cfg.model.checkpoint == "../weights/t.pt"  # CLI: relative to the cwd
    out = write_resolved_config(cfg, project / "run")
    doc = json.loads(out.read_text(encoding="utf-8"))
    root = project.resolve()
    assert doc["model"]["checkpoint"] == str(root / "weights" / "t.pt")
    assert doc["model"]["config"] == str(root / "cfgs" / "m.yaml")
    assert doc["as_written"] == {
        "model.checkpoint": "../weights/t.pt",
        "model.config": "../cfgs/m.yaml",
        "paths.train": "data/train",
        "paths.sets": ["a", "https://example.org/b"],
    }

    monkeypatch.chdir("/")
    again = load_config(out)  # the resolved file reused as a config, from another folder
    assert again.model.checkpoint == str(root / "weights" / "t.pt")
    assert again.paths["train"] == str(root / "conf" / "data" / "train")
    assert again.as_written == doc["as_written"]
    assert IdsegConfig.from_dict(doc).model.checkpoint == str(root / "weights" / "t.pt")


def test_resolved_config_keeps_registry_checkpoints_as_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = write_resolved_config(load_config(None, checkpoint="sam2.1_hiera_tiny"), tmp_path)
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["model"]["checkpoint"] == "sam2.1_hiera_tiny"
    assert doc["as_written"] == {}


# --- devices: the names of idseg.models.sam2 ---


@pytest.mark.parametrize("name", ["auto", "cpu", "CUDA", "cuda:0", " cuda:12 ", "mps:0", "cpu:0"])
def test_device_names_accepted_are_the_ones_select_device_takes(name):
    canonical = check_device(name, "model.device")
    assert canonical == name.strip().lower()
    assert canonical.partition(":")[0] in sam2_module.DEVICES
    if canonical.startswith("cpu"):
        assert sam2_module.select_device(canonical) == torch.device(canonical)
    else:
        torch.device("cpu" if canonical == "auto" else canonical)  # a valid torch device


@pytest.mark.parametrize("name", ["tpu", "auto:0", "cuda:", "cuda:x", "cuda:-1", "gpu:0", ""])
def test_bad_device_names_are_rejected(name):
    with pytest.raises(ConfigError, match=r"model\.device must be|non-empty string"):
        check_device(name, "model.device")


def test_device_list_comes_from_the_model_module(monkeypatch):
    monkeypatch.setattr(sam2_module, "DEVICES", (*sam2_module.DEVICES, "xpu"))
    assert check_device("xpu:1", "model.device") == "xpu:1"
    with pytest.raises(ConfigError, match=r"auto, cpu, cuda, mps, xpu"):
        check_device("tpu", "model.device")


# --- messages: the shared did-you-mean helper, plain text without markup-like brackets ---


def test_suggestions_come_from_the_shared_helper(tmp_path, monkeypatch):
    monkeypatch.setattr("idseg._text.close_match", lambda name, choices: "SHARED")
    cases = [
        {"preset": "densse"},
        {"output": {"formats": ["polygon"]}},
        {"model": {"devic": "cpu"}},
    ]
    for data in cases:
        with pytest.raises(ConfigError, match=r"did you mean 'SHARED'"):
            load_config(write_json(tmp_path, data))
    with pytest.raises(ConfigError, match=r"did you mean 'SHARED'"):
        load_config(None, points_per_sid=3)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"everything": {"points_per_sid": 16}},
            "c.json: unknown key 'points_per_sid' in section 'everything'; "
            "did you mean 'points_per_side'?",
        ),
        ({"preset": "quick"}, "c.json: preset: unknown preset 'quick'; allowed: default, dense, fast, documents"),
        (
            {"preset": "densse"},
            "c.json: preset: unknown preset 'densse'; did you mean 'dense'? "
            "Allowed: default, dense, fast, documents",
        ),
        (
            {"output": {"formats": ["svg"]}},
            "c.json: output.formats: unknown output format 'svg'; allowed: png, coco, polygons, yolo",
        ),
        (
            {"point_grids": [[[0.5, 1.5]]]},
            "c.json: everything.point_grids[0] must be a non-empty list of (x, y) points "
            "with x and y in 0..1",
        ),
        (
            {"point_grids": "grid"},
            "c.json: everything.point_grids must be a list of grids of (x, y) points, got 'grid'",
        ),
    ],
)  # fmt: skip
def test_messages_read_as_plain_text(tmp_path, data, message):
    with pytest.raises(ConfigError) as info:
        load_config(write_json(tmp_path, data, "c.json"))
    assert str(info.value) == message
    assert not re.search(r"\[[a-zA-Z#/@]", message)  # nothing a console could take for markup
