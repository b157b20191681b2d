"""``idseg eval`` on a synthetic dataset scored against itself and against damaged predictions."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from idseg.cli.app import app

runner = CliRunner()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from idseg.documents.synth.dataset import generate_dataset

    out = tmp_path_factory.mktemp("eval") / "ds"
    generate_dataset(out, 4, seed=5, size=(96, 128), negatives=0.0, workers=1)
    return out


def test_perfect_predictions_score_one(dataset, tmp_path):
    pred = tmp_path / "pred"
    shutil.copytree(dataset / "masks", pred)
    result = runner.invoke(app, ["eval", "--pred", str(pred), "--data", str(dataset), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["mean_iou"] == pytest.approx(1.0)
    assert report["share_above_threshold"] == pytest.approx(1.0)
    assert report["below_threshold"] == [] and report["failures"] == []


def test_damaged_and_missing_predictions(dataset, tmp_path):
    pred = tmp_path / "pred"
    shutil.copytree(dataset / "masks", pred)
    names = sorted(p.name for p in pred.iterdir())
    (pred / names[0]).unlink()  # missing prediction: a failure, the run carries on
    blank = cv2.imread(str(pred / names[1]), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(pred / names[1]), np.zeros_like(blank))  # predicts nothing: IoU 0
    result = runner.invoke(app, ["eval", "--pred", str(pred), "--data", str(dataset)])
    assert result.exit_code == 1
    assert "1 failed prediction(s)" in result.output
    assert "below:" in result.output
    result = runner.invoke(app, ["eval", "--pred", str(pred), "--data", str(dataset), "--json"])
    report = json.loads(result.stdout)
    below = {name for name, _ in report["below_threshold"]}
    assert {names[0].rsplit(".", 1)[0], names[1].rsplit(".", 1)[0]} <= {
        b.split("#")[0] for b in below
    }
    assert report["share_above_threshold"] == pytest.approx(0.5)


def test_quads_mode(dataset, tmp_path):
    pred = tmp_path / "quads"
    shutil.copytree(dataset / "quads", pred)
    result = runner.invoke(
        app, ["eval", "--quads", "--pred", str(pred), "--data", str(dataset), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["mean_iou"] == pytest.approx(1.0)


def test_bad_threshold():
    result = runner.invoke(app, ["eval", "--pred", ".", "--data", ".", "--threshold", "2"])
    assert result.exit_code == 2 and "--threshold" in result.output
