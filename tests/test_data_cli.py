"""``idseg data split | check | preview`` through the Typer sub-app."""

from __future__ import annotations

import json

import cv2
import numpy as np
from typer.testing import CliRunner

from idseg.cli.data import app
from idseg.data.preview import legend_height
from test_data_folders import label_mask, make_dataset, make_wrapper, write_sample

runner = CliRunner()


def text(result) -> str:
    """The output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def test_split_writes_the_layout_and_a_json_summary(tmp_path):
    src = make_dataset(tmp_path / "src", {f"t{i}": 2 for i in range(10)})
    out = tmp_path / "out"
    args = ["split", str(src), "--out", str(out), "--ratios", "0.6,0.2,0.2", "--seed", "3"]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["counts"] == {"train": 12, "val": 4, "test": 4}
    assert summary["groups"] == {"train": 6, "val": 2, "test": 2}
    meta = json.loads((out / "dataset.json").read_text())
    assert {n: len(v) for n, v in meta["splits"].items()} == summary["counts"]
    assert len(list((out / "test" / "images").iterdir())) == 4
    again = runner.invoke(app, args)  # out is not empty now
    assert again.exit_code == 2 and "not empty" in text(again)
    forced = runner.invoke(app, [*args, "--force"])
    assert forced.exit_code == 0 and "20 samples, grouped by dataset" in text(forced)
    assert json.loads((out / "dataset.json").read_text()) == meta


def test_split_rejects_bad_ratios_and_links(tmp_path):
    src = make_dataset(tmp_path / "src", {"a": 2, "b": 2})
    out = str(tmp_path / "out")
    bad_sum = runner.invoke(app, ["split", str(src), "-o", out, "--ratios", "0.9,0.2"])
    assert bad_sum.exit_code == 2 and "sum to 1" in text(bad_sum)
    not_numbers = runner.invoke(app, ["split", str(src), "-o", out, "--ratios", "a,b"])
    assert not_numbers.exit_code == 2
    bad_link = runner.invoke(app, ["split", str(src), "-o", out, "--link", "move"])
    assert bad_link.exit_code == 2 and "link must be one of" in text(bad_link)
    assert not (tmp_path / "out").exists()


def test_check_clean_dataset_exits_0_with_frequencies(tmp_path):
    make_wrapper(tmp_path, train=3, val=1)
    result = runner.invoke(app, ["check", str(tmp_path), "--classes", "bg,card", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and set(report["splits"]) == {"train", "val"}
    # 4 masks of 32 x 24 with an 8 x 8 card each
    assert [c["pixels"] for c in report["classes"]] == [4 * (768 - 64), 4 * 64]
    assert [c["name"] for c in report["classes"]] == ["bg", "card"]
    human = runner.invoke(app, ["check", str(tmp_path), "--classes", "bg,card"])
    assert human.exit_code == 0 and "0 problem(s)" in text(human) and "card" in human.output


def test_check_with_problems_exits_1(tmp_path):
    make_wrapper(tmp_path, train=2, val=1)
    write_sample(tmp_path / "data" / "train", "bad", label_mask([(5, 0, 0, 2, 2)]))
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"class_names": ["background", "card"], "num_classes": 2}))
    result = runner.invoke(app, ["check", str(tmp_path), "--config", str(cfg), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert [(p["kind"], p["path"].endswith("bad.png")) for p in report["problems"]] == [
        ("unknown_values", True)
    ]
    assert report["unknown_values"][0]["value"] == 5
    human = runner.invoke(app, ["check", str(tmp_path), "--config", str(cfg)])
    assert human.exit_code == 1 and "unknown_values" in text(human)
    missing = runner.invoke(app, ["check", str(tmp_path / "nothing")])
    assert missing.exit_code == 2 and "not a folder" in text(missing)


def test_preview_writes_a_png_of_the_expected_size(tmp_path):
    make_dataset(tmp_path / "ds", {"a": 3})
    out = tmp_path / "sheet.png"
    args = ["preview", str(tmp_path / "ds"), "--out", str(out), "-n", "2", "--cell", "64"]
    result = runner.invoke(app, [*args, "--cols", "2", "--json"])
    assert result.exit_code == 0, result.output
    sheet = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert sheet.shape == (64 + legend_height(6, 128), 128, 3)
    assert json.loads(result.stdout) == {"out": str(out), "width": 128, "height": sheet.shape[0]}
    assert not np.all(sheet == sheet[0, 0])
    wrong = runner.invoke(app, ["preview", str(tmp_path / "ds"), "--out", str(tmp_path / "a.jpg")])
    assert wrong.exit_code == 2 and ".png" in text(wrong)
