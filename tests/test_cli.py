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
    assert summary["processed"] == 2 and summary["failed"] == 1
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


def test_segment_bad_option_values_are_errors(images, tmp_path, tiny_checkpoint):
    result = runner.invoke(
        app,
        [
            "segment",
            str(images),
            "--out",
            str(tmp_path / "o"),
            "--checkpoint",
            str(tiny_checkpoint),
            "--pred-iou-thresh",
            "3",
        ],
    )
    assert result.exit_code == 2
    assert "pred_iou_thresh" in result.output
    result = runner.invoke(
        app,
        [
            "segment",
            str(images),
            "--out",
            str(tmp_path / "o"),
            "--checkpoint",
            str(tiny_checkpoint),
            "--format",
            "gif",
        ],
    )
    assert result.exit_code == 2
    assert "gif" in result.output


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
    assert report["config_guess"] == "idseg_test_tiny"
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
