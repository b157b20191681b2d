"""The ``idseg`` command line, run in-process with Typer's CliRunner on a tiny real checkpoint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from _helpers import make_scene
from idseg.cli.app import app

runner = CliRunner()

# Permissive thresholds so the random-weight tiny model yields masks.
LOOSE = ["--points-per-side", "4", "--pred-iou-thresh", "0", "--stability-score-thresh", "0"]


def _seg(args, tiny_checkpoint):
    return runner.invoke(app, ["segment", *args, "--checkpoint", str(tiny_checkpoint), *LOOSE])


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    cv2.imwrite(str(folder / "a.png"), make_scene(120, 160, seed=1)[:, :, ::-1])
    cv2.imwrite(str(folder / "sub" / "b.jpg"), make_scene(100, 140, seed=2)[:, :, ::-1])
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_version_does_not_import_torch():
    code = (
        "import sys; from idseg.cli import main; main(['--version']); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["idseg", _version(), "False"]


def _version() -> str:
    from idseg import __version__

    return __version__


def test_python_dash_m_works():
    out = subprocess.run(
        [sys.executable, "-m", "idseg", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"idseg {_version()}"


def test_segment_folder_reports_bad_file_and_carries_on(images, tmp_path, tiny_checkpoint):
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "segment",
            str(images),
            "--out",
            str(out),
            "--checkpoint",
            str(tiny_checkpoint),
            "--format",
            "png,coco,polygons,yolo",
            "--overlay",
            "--json",
            *LOOSE,
        ],
    )
    assert result.exit_code == 1, result.output  # one bad file
    summary = json.loads(result.stdout)
    assert summary["ok"] == 2 and summary["failed"] == 1 and summary["total"] == 3
    assert [Path(p).name for p in summary["skipped"]] == ["notes.txt"]
    bad = [f for f in summary["files"] if f["status"] == "error"]
    assert bad[0]["path"].endswith("broken.png")
    assert bad[0]["error_type"] in {"CorruptImageError", "UnsupportedFormatError"}
    for name in ("a", "b"):
        folder = out / name
        meta = json.loads((folder / "segments.json").read_text())
        n = len(meta["segments"])
        assert n > 0
        assert len(list((folder / "masks").glob("mask_*.png"))) == n
        assert len(list((folder / "crops").glob("crop_*.png"))) == n
        assert (folder / "overlay.png").is_file()
        assert (folder / "labels.txt").read_text().strip()
        areas = [s["area"] for s in meta["segments"]]
        assert areas == sorted(areas, reverse=True)
    coco = json.loads((out / "coco.json").read_text())
    assert len(coco["images"]) == 2
    assert len({a["id"] for a in coco["annotations"]}) == len(coco["annotations"])
    resolved = json.loads((out / "resolved_config.json").read_text())
    assert resolved["everything_settings"]["points_per_side"] == 4
    assert not list(out.rglob("*.tmp*")), "temporary files left behind"


def test_segment_all_good_exits_zero_with_preset(images, tmp_path, tiny_checkpoint):
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "segment",
            str(images / "a.png"),
            "--out",
            str(out),
            "--checkpoint",
            str(tiny_checkpoint),
            "--preset",
            "documents",
            "--points-per-side",
            "4",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    resolved = json.loads((out / "resolved_config.json").read_text())
    assert resolved["everything_settings"]["box_nms_thresh"] == 0.6  # from the documents preset


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--pred-iou-thresh", "3"], "pred_iou_thresh"),
        (["--format", "gif"], "gif"),
        (["--preset", "fastest"], "fastest"),
        (["--device", "tpu"], "tpu"),
        (["--point-grids", "/no/such/grid.json"], "--point-grids"),
    ],
)
def test_segment_bad_option_values_are_errors(images, tmp_path, tiny_checkpoint, flags, fragment):
    args = ["segment", str(images), "--out", str(tmp_path / "o")]
    result = runner.invoke(app, [*args, "--checkpoint", str(tiny_checkpoint), *flags])
    assert result.exit_code == 2
    assert fragment in result.output
    assert not (tmp_path / "o").exists(), "nothing may be written before the options are checked"


def test_segment_missing_checkpoint_is_a_clear_error(images, tmp_path):
    result = runner.invoke(
        app,
        [
            "segment",
            str(images),
            "--out",
            str(tmp_path / "o"),
            "--checkpoint",
            str(tmp_path / "nope.pt"),
        ],
    )
    assert result.exit_code == 2
    assert "CheckpointError" in result.output and "not found" in result.output


def test_prompt_points_and_boxes(tmp_path, tiny_checkpoint):
    image = tmp_path / "scene.png"
    cv2.imwrite(str(image), make_scene()[:, :, ::-1])
    out = tmp_path / "p"
    result = runner.invoke(
        app,
        [
            "prompt",
            str(image),
            "--out",
            str(out),
            "--checkpoint",
            str(tiny_checkpoint),
            "--point",
            "100,100",
            "--point",
            "300,200,0",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(data["prompts"]) == 1 and len(data["prompts"][0]["candidates"]) == 3
    best = cv2.imread(str(out / "best_000.png"), cv2.IMREAD_GRAYSCALE)
    assert best.shape == (300, 420) and set(np.unique(best)) <= {0, 255}
    result = runner.invoke(
        app,
        [
            "prompt",
            str(image),
            "--out",
            str(tmp_path / "b"),
            "--checkpoint",
            str(tiny_checkpoint),
            "--box",
            "30,40,200,160",
            "--box",
            "250,30,400,90",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(data["prompts"]) == 2 and len(data["prompts"][0]["candidates"]) == 1


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--point", "1,2,3,4"], "2 or 3 numbers"),
        (["--point", "a,b"], "comma-separated numbers"),
        (["--point", "1,2,7"], "label must be 1"),
        (["--box", "1,2,3"], "needs 4 numbers"),
        ([], "at least one --point or --box"),
    ],
)
def test_prompt_bad_arguments(tmp_path, tiny_checkpoint, args, fragment):
    image = tmp_path / "scene.png"
    cv2.imwrite(str(image), make_scene(60, 80)[:, :, ::-1])
    result = runner.invoke(
        app,
        [
            "prompt",
            str(image),
            "--out",
            str(tmp_path / "o"),
            "--checkpoint",
            str(tiny_checkpoint),
            *args,
        ],
    )
    assert result.exit_code == 2
    assert fragment in result.output


def test_models_list_and_verify(tiny_checkpoint):
    result = runner.invoke(app, ["models", "list", "--json"])
    assert result.exit_code == 0
    names = [c["name"] for c in json.loads(result.stdout)["checkpoints"]]
    assert "sam2.1_hiera_tiny" in names and "sam2_hiera_large" in names
    result = runner.invoke(app, ["models", "verify", str(tiny_checkpoint), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["config"] == "idseg_test_tiny" and report["loads"] is True
    import hashlib

    assert report["sha256"] == hashlib.sha256(tiny_checkpoint.read_bytes()).hexdigest()
    wrong = runner.invoke(app, ["models", "verify", str(tiny_checkpoint), "--sha256", "0" * 64])
    assert wrong.exit_code == 1


def test_models_download_offline_fails_cleanly():
    result = runner.invoke(app, ["models", "download", "sam2.1_hiera_tiny"])
    assert result.exit_code == 2
    assert "OfflineError" in result.output


def test_models_init_writes_loadable_checkpoint(tmp_path):
    out = tmp_path / "r.pt"
    result = runner.invoke(app, ["models", "init", "idseg_test_tiny", "--out", str(out)])
    assert result.exit_code == 0, result.output
    from idseg.models.sam2 import load_sam2

    assert load_sam2(out, device="cpu").image_size == 256


def test_info_json():
    result = runner.invoke(app, ["info", "--json", "--no-timing"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["versions"]["torch"]
    assert "cuda" in report["devices"]


def test_prompt_click_refinement_with_saved_logits(tmp_path, tiny_checkpoint, tiny_model):
    from idseg.sam.predictor import SAM2Predictor

    image = tmp_path / "scene.png"
    scene = make_scene()
    cv2.imwrite(str(image), scene[:, :, ::-1])
    first = tmp_path / "first"
    args = ["prompt", str(image), "--checkpoint", str(tiny_checkpoint)]
    assert runner.invoke(app, [*args, "--out", str(first), "--point", "100,100"]).exit_code == 0
    second = tmp_path / "second"
    result = runner.invoke(
        app,
        [
            *args,
            "--out",
            str(second),
            "--point",
            "100,100",
            "--point",
            "160,120,0",
            "--mask-input",
            str(first / "logits_000.npy"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    # Expected: the library's refine() on the same model.
    predictor = SAM2Predictor(tiny_model)
    predictor.set_image(scene)
    expected = predictor.refine(
        predictor.predict([[100, 100]], [1]), [[100, 100], [160, 120]], [1, 0]
    )
    got = cv2.imread(str(second / "best_000.png"), cv2.IMREAD_GRAYSCALE) > 0
    np.testing.assert_array_equal(got, expected.masks[0, 0])
    bad = tmp_path / "bad.npy"
    bad.write_text("not numpy")
    result = runner.invoke(
        app, [*args, "--out", str(tmp_path / "x"), "--point", "1,1", "--mask-input", str(bad)]
    )
    assert result.exit_code == 2 and "--mask-input" in result.output


def test_rerun_replaces_outputs_and_never_reads_them(images, tiny_checkpoint):
    out = images / "out"  # inside the input folder on purpose
    first = _seg(
        [str(images), "--out", str(out), "--json", "--box-nms-thresh", "1"], tiny_checkpoint
    )
    assert first.exit_code == 1, first.output
    n_first = len(list((out / "a" / "masks").iterdir()))
    assert n_first > 1
    # Second run with settings that keep fewer masks: no stale mask may survive.
    second = runner.invoke(
        app,
        [
            "segment",
            str(images),
            "--out",
            str(out),
            "--json",
            "--checkpoint",
            str(tiny_checkpoint),
            "--points-per-side",
            "1",
            "--pred-iou-thresh",
            "0",
            "--stability-score-thresh",
            "0",
            "--single-mask",
        ],
    )
    summary = json.loads(second.stdout)
    assert summary["total"] == 3  # the outputs inside the input folder were not read as inputs
    meta = json.loads((out / "a" / "segments.json").read_text())
    masks = sorted(p.name for p in (out / "a" / "masks").iterdir())
    assert masks == [f"mask_{i:03d}.png" for i in range(len(meta["segments"]))]
    assert len(masks) < n_first
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temporary folders left"


def test_out_is_a_file_and_no_images_are_usage_errors(tmp_path, tiny_checkpoint):
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    result = _seg([str(tmp_path), "--out", str(afile)], tiny_checkpoint)
    assert result.exit_code == 2 and f"must be a folder, but {afile} is a file" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.md").write_text("no images here")
    result = _seg([str(empty), "--out", str(tmp_path / "o")], tiny_checkpoint)
    assert result.exit_code == 2 and "no image found" in result.output


def test_paths_with_brackets_print_as_they_are(tmp_path, tiny_checkpoint):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "x[bold]y.png").write_bytes(b"junk")
    cv2.imwrite(str(folder / "ok.png"), make_scene(60, 80)[:, :, ::-1])
    result = _seg([str(folder), "--out", str(tmp_path / "o")], tiny_checkpoint)
    assert result.exit_code == 1
    assert "x[bold]y.png" in result.output


def test_output_mode_and_point_grids(tmp_path, tiny_checkpoint):
    image = tmp_path / "s.png"
    cv2.imwrite(str(image), make_scene(80, 100)[:, :, ::-1])
    grids = tmp_path / "grid.json"
    grids.write_text(json.dumps([[[0.25, 0.25], [0.75, 0.5], [0.5, 0.8]]]))
    result = runner.invoke(
        app,
        [
            "segment",
            str(image),
            "--out",
            str(tmp_path / "o"),
            "--checkpoint",
            str(tiny_checkpoint),
            "--point-grids",
            str(grids),
            "--pred-iou-thresh",
            "0",
            "--stability-score-thresh",
            "0",
            "--box-nms-thresh",
            "1",
            "--output-mode",
            "coco_rle",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "o" / "s" / "segments.json").read_text())
    from idseg.formats import rle_to_mask

    assert meta["segments"]
    for rec in meta["segments"]:
        assert int(rle_to_mask(rec["segmentation"]).sum()) == rec["area"]
        assert rec["point_coords"][0] in ([25.0, 20.0], [75.0, 40.0], [50.0, 64.0])
    resolved = json.loads((tmp_path / "o" / "resolved_config.json").read_text())
    assert resolved["everything_settings"]["points_per_side"] is None
    assert resolved["resolved"]["model"]["sha256"]


def test_verbose_logs_never_name_files(images, tmp_path, tiny_checkpoint):
    # With --json the summary goes to stdout, so stderr holds only the library's logs.
    result = runner.invoke(
        app,
        [
            "-v",
            "segment",
            str(images),
            "--out",
            str(tmp_path / "o"),
            "--checkpoint",
            str(tiny_checkpoint),
            "--json",
            *LOOSE,
        ],
    )
    assert result.exit_code == 1
    logs = result.stderr
    assert "INFO" in logs and "WARNING" in logs, logs
    for name in ("a.png", "b.jpg", "broken.png", str(images), str(tiny_checkpoint)):
        assert name not in logs, f"a log line names a file: {name}"


def test_models_verify_reports_a_checkpoint_that_does_not_fit(tiny_checkpoint):
    result = runner.invoke(
        app, ["models", "verify", str(tiny_checkpoint), "--model-config", "sam2.1_hiera_t"]
    )
    assert result.exit_code == 2
    assert "CheckpointError" in result.output and "shape key(s)" in result.output
