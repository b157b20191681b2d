"""``idseg doc`` and ``idseg redact`` on synthetic photos, a corrupt file and bad options."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from idseg.cli.app import app
from idseg.data.quads import read_quads

runner = CliRunner()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from idseg.documents.synth.dataset import generate_dataset

    out = tmp_path_factory.mktemp("doccli") / "ds"
    generate_dataset(
        out, 2, seed=3, size=(240, 320), docs_per_scene=(1, 1), negatives=0.0, workers=1
    )
    return out


@pytest.fixture(scope="module")
def inputs(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("doccli_in") / "photos"
    shutil.copytree(dataset / "images", folder)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    return folder


@pytest.fixture(scope="module")
def doc_run(inputs: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("doccli_out") / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IDSEG_OFFLINE", "1")
        result = runner.invoke(app, ["doc", str(inputs), "--out", str(out)])
    return result, out


def test_doc_reports_the_corrupt_file_and_exits_1(doc_run):
    result, out = doc_run
    assert result.exit_code == 1, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["total"] == 3 and summary["ok"] == 2 and summary["failed"] == 1
    status = {Path(f["path"]).name: f["status"] for f in summary["files"]}
    assert status == {"000000.jpg": "ok", "000001.jpg": "ok", "broken.jpg": "error"}
    bad = next(f for f in summary["files"] if f["status"] == "error")
    assert bad["error_type"] and bad["error"]
    assert "broken.jpg" in result.output
    assert not (out / "broken").exists()


def test_doc_writes_each_image_folder(doc_run):
    _, out = doc_run
    for name in ("000000", "000001"):
        folder = out / name
        assert {"result.json", "overlay.jpg", "labels.png"} <= {p.name for p in folder.iterdir()}
        record = json.loads((folder / "result.json").read_text())
        assert record["source"] == f"{name}.jpg"
        assert record["image"] == {"height": 240, "width": 320}
        with Image.open(folder / "labels.png") as labels:
            assert labels.size == (320, 240)
        with Image.open(folder / "overlay.jpg") as overlay:
            assert overlay.size == (320, 240)
        for i, doc in enumerate(record["documents"], start=1):
            sub = folder / f"doc{i}"
            assert (sub / "rectified.png").is_file() and (sub / "fields.png").is_file()
            with Image.open(sub / "rectified.png") as rect:
                assert list(rect.size) == doc["rectified_size"]
            crops = sorted(p.name for p in (sub / "crops").glob("*.png")) if doc["fields"] else []
            assert len(crops) == len(doc["fields"])
        assert not (folder / f"doc{len(record['documents']) + 1}").exists()


def test_doc_result_json_reads_as_quads(doc_run):
    _, out = doc_run
    for name in ("000000", "000001"):
        record = json.loads((out / name / "result.json").read_text())
        quads = read_quads(out / name / "result.json")
        assert len(quads) == len(record["documents"])
        for quad, doc in zip(quads, record["documents"], strict=True):
            assert quad.tolist() == doc["quad"]


def test_eval_reads_the_doc_output(doc_run, dataset: Path):
    _, out = doc_run
    result = runner.invoke(app, ["eval", "--quads", "--pred", str(out), "--data", str(dataset)])
    assert result.exit_code in (0, 1), result.output
    assert "mean document IoU" in result.output
    assert "unreadable quad JSON" not in result.output


def test_doc_without_crops_and_overlay(dataset: Path, tmp_path: Path):
    out = tmp_path / "out"
    image = dataset / "images" / "000000.jpg"
    args = ["doc", str(image), "--out", str(out), "--no-crops", "--no-overlay", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["total"] == 1 and summary["ok"] == 1
    folder = out / "000000"
    assert (folder / "result.json").is_file() and (folder / "labels.png").is_file()
    assert not (folder / "overlay.jpg").exists()
    assert not list(folder.glob("doc*/crops"))


# --- option errors ------------------------------------------------------------------------------


def test_doc_refine_unknown(dataset: Path, tmp_path: Path):
    result = runner.invoke(
        app, ["doc", str(dataset / "images"), "--out", str(tmp_path / "o"), "--refine", "foo"]
    )
    assert result.exit_code == 2
    assert "sam2" in result.output
    assert not (tmp_path / "o").exists()


def test_doc_refine_sam2_needs_a_checkpoint(dataset: Path, tmp_path: Path):
    result = runner.invoke(
        app, ["doc", str(dataset / "images"), "--out", str(tmp_path / "o"), "--refine", "sam2"]
    )
    assert result.exit_code == 2
    assert "--checkpoint" in result.output
    assert not (tmp_path / "o").exists()


def test_redact_bad_classes(dataset: Path, tmp_path: Path):
    args = ["redact", str(dataset / "images"), "--out", str(tmp_path / "o")]
    result = runner.invoke(app, [*args, "--classes", "portrat,mrz"])
    assert result.exit_code == 2
    assert "did you mean 'portrait'" in result.output
    assert not (tmp_path / "o").exists()


def test_redact_bad_mode(dataset: Path, tmp_path: Path):
    args = ["redact", str(dataset / "images"), "--out", str(tmp_path / "o")]
    result = runner.invoke(app, [*args, "--mode", "smudge"])
    assert result.exit_code == 2
    assert "--mode" in result.output and "pixelate" in result.output
    assert not (tmp_path / "o").exists()


def test_redact_bad_format(dataset: Path, tmp_path: Path):
    args = ["redact", str(dataset / "images"), "--out", str(tmp_path / "o")]
    result = runner.invoke(app, [*args, "--format", "gif"])
    assert result.exit_code == 2
    assert "--format" in result.output


def test_redact_writes_a_metadata_free_copy_or_nothing(dataset: Path, tmp_path: Path):
    src = tmp_path / "in" / "card.jpg"
    src.parent.mkdir()
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"  # Make
    exif[0x0131] = "idseg-test"  # Software
    with Image.open(dataset / "images" / "000001.jpg") as im:
        im.save(src, exif=exif)
    with Image.open(src) as check:
        assert dict(check.getexif()), "the source carries EXIF"
    out = tmp_path / "out"
    result = runner.invoke(app, ["redact", str(src), "--out", str(out), "--json"])
    summary = json.loads(result.stdout)
    (item,) = summary["files"]
    assert item["status"] == "ok"
    target = out / "card.jpg"
    if item["documents"]:
        assert result.exit_code == 0, result.output
        assert item["written"] is True and target.is_file()
        with Image.open(target) as red:
            assert red.size == (320, 240)
            assert not dict(red.getexif())
            assert "exif" not in red.info
        assert set(item["regions"]) == {"portrait", "mrz", "barcode", "signature"}
    else:
        assert result.exit_code == 1
        assert item["written"] is False
        assert not target.exists()
        assert summary["no_document"] == 1


def test_redact_keeps_unsure_barcodes_and_doc_does_not(dataset: Path, tmp_path: Path):
    from idseg.documents import pipeline

    floors: list[float] = []
    real_init = pipeline.DocumentPipeline.__init__

    def spy(self, *args, **kwargs):
        floors.append(kwargs["settings"].barcode_min_score)
        real_init(self, *args, **kwargs)

    image = str(dataset / "images" / "000001.jpg")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline.DocumentPipeline, "__init__", spy)
        runner.invoke(app, ["redact", image, "--out", str(tmp_path / "r"), "--json"])
        runner.invoke(app, ["doc", image, "--out", str(tmp_path / "d"), "--json"])
    assert floors == [0.0, 0.9]
