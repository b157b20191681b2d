"""``idseg bench doc``: the document-localisation benchmark, with fake methods of known output."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from idseg.cli import bench as bench_cli
from idseg.data.quads import read_quads
from idseg.documents import bench_methods
from idseg.documents.bench import match_quads, resize_short_side, run_benchmark
from idseg.documents.bench_methods import masks_to_quads, resolve_method_names
from idseg.errors import InputError, MissingExtraError
from idseg.io.images import load_image

SAMPLE = Path(__file__).resolve().parents[1] / "src/idseg/assets/samples/us_card.png"

runner = CliRunner()
cli = typer.Typer()
cli.add_typer(bench_cli.app, name="bench")


@cli.callback()
def _root() -> None:
    """Root of the test CLI."""


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from idseg.documents.synth.dataset import generate_dataset

    out = tmp_path_factory.mktemp("bench") / "ds"
    generate_dataset(out, 6, seed=0, size=(240, 320), workers=1)
    return out


def _truth(dataset: Path) -> list[tuple[str, np.ndarray, list[np.ndarray]]]:
    """(name, 12 x 16 thumbnail, quads) of every image, read independently of the benchmark."""
    out = []
    for path in sorted((dataset / "images").iterdir()):
        image = load_image(path)
        thumb = cv2.resize(image, (16, 12), interpolation=cv2.INTER_AREA).astype(float)
        out.append((path.stem, thumb, read_quads(dataset / "quads" / f"{path.stem}.json")))
    return out


class Oracle:
    """Answers the ground truth of whichever image it is shown, scaled to the size it sees."""

    def __init__(self, dataset: Path, extra: np.ndarray | None = None, fail_on: str | None = None):
        self.truth = _truth(dataset)
        self.extra, self.fail_on = extra, fail_on
        self.shapes: list[tuple[int, int]] = []

    def identify(self, image: np.ndarray) -> tuple[str, list[np.ndarray]]:
        thumb = cv2.resize(image, (16, 12), interpolation=cv2.INTER_AREA).astype(float)
        name, _, quads = min(self.truth, key=lambda t: np.abs(t[1] - thumb).mean())
        return name, quads

    def __call__(self, image: np.ndarray) -> list[np.ndarray]:
        self.shapes.append(image.shape[:2])
        name, quads = self.identify(image)
        if name == self.fail_on:
            raise RuntimeError(f"cannot read {name}")
        sx, sy = image.shape[1] / 320, image.shape[0] / 240
        out = [q * [sx, sy] for q in quads]
        return out + ([self.extra] if self.extra is not None else [])


def _documents(dataset: Path) -> int:
    return sum(len(q) for _, _, q in _truth(dataset))


def test_ground_truth_method_scores_one(dataset):
    report = run_benchmark(dataset, {"oracle": Oracle(dataset)})
    s = report.summary("oracle")
    assert report.scored and s["images"] == 6 and s["failed"] == 0
    assert s["documents"] == _documents(dataset) > 0
    assert s["mean_iou"] == pytest.approx(1.0) and s["mean_midv_iou"] == pytest.approx(1.0)
    assert s["share_above_threshold"] == 1.0
    assert s["missed"] == 0 and s["false_positives"] == 0 and s["below_threshold"] == []
    assert s["ms_median"] is not None and s["total_ms_median"] >= s["ms_median"]
    assert s["rectify_ms_median"] > 0  # every document was rectified
    assert report.failed_everywhere == []


def test_empty_method_misses_every_document(dataset):
    report = run_benchmark(dataset, {"none": lambda image: []}, warmup=0)
    s = report.summary("none")
    positives = [n for n, _, q in _truth(dataset) if q]
    assert s["mean_iou"] == 0.0 and s["mean_midv_iou"] == 0.0
    assert s["missed"] == _documents(dataset) and s["false_positives"] == 0
    assert s["found"] == 0 and s["images_with_documents"] == 0
    assert sorted(n for n, _ in s["below_threshold"]) == positives
    assert s["rectify_ms_median"] == 0.0


def test_failure_is_recorded_and_the_run_goes_on(dataset):
    bad = _truth(dataset)[2][0]
    report = run_benchmark(
        dataset, {"flaky": Oracle(dataset, fail_on=bad), "empty": lambda image: []}
    )
    s = report.summary("flaky")
    assert s["failed"] == 1 and s["failures"] == [[bad, f"RuntimeError: cannot read {bad}"]]
    assert s["images"] == 6 and len(report.records["flaky"]) == 6
    docs_bad = len(read_quads(dataset / "quads" / f"{bad}.json"))
    assert s["missed"] == docs_bad
    assert s["mean_iou"] == pytest.approx(1 - docs_bad / _documents(dataset))
    assert s["below_threshold"][0] == [bad, 0.0]
    assert report.failed_everywhere == []  # the other method ran there
    alone = run_benchmark(dataset, {"flaky": Oracle(dataset, fail_on=bad)})
    assert alone.failed_everywhere == [bad]


def test_extra_quad_is_a_false_positive(dataset):
    outside = np.array([[-90, -90], [-50, -90], [-50, -50], [-90, -50]], float)
    report = run_benchmark(dataset, {"extra": Oracle(dataset, extra=outside)})
    s = report.summary("extra")
    assert s["false_positives"] == 6 and s["missed"] == 0
    assert s["mean_iou"] == pytest.approx(1.0)
    record = report.records["extra"][0]
    assert record.found == len(record.ious) + 1 and record.false_positives == 1


def test_resize_scales_images_and_quads(dataset):
    oracle = Oracle(dataset)
    report = run_benchmark(dataset, {"oracle": oracle}, resize_short_side=480, limit=3, repeat=2)
    assert set(oracle.shapes) == {(480, 640)}
    assert len(oracle.shapes) == 1 + 3 * 2  # one warm-up call, then two timed calls per image
    s = report.summary("oracle")
    assert s["images"] == 3 and s["mean_iou"] == pytest.approx(1.0) and s["missed"] == 0


def test_resize_short_side_function():
    image = np.zeros((100, 300, 3), np.uint8)
    quad = np.array([[30, 10], [270, 10], [270, 90], [30, 90]], float)
    out, (q,) = resize_short_side(image, [quad], 250)
    assert out.shape == (250, 750, 3)
    np.testing.assert_allclose(q, quad * 2.5)
    with pytest.raises(InputError):
        resize_short_side(image, [], 0)


def test_match_quads_greedy():
    sq = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], float)
    # Two documents side by side; the first prediction covers the first exactly, the second
    # half-covers the second one (IoU 50 / 150), the third overlaps nothing.
    right, far = np.array([15.0, 0.0]), np.array([100.0, 100.0])
    preds = [sq, sq + right, sq + far]
    ious, frame, fps = match_quads(preds, [sq, sq + np.array([10.0, 0.0])], None)
    assert ious == pytest.approx([1.0, 1 / 3]) and frame == pytest.approx([1.0, 1 / 3])
    assert fps == 1
    assert match_quads([], [sq], None) == ([0.0], [0.0], 0)
    assert match_quads([sq], [], None) == ([], [], 1)


def test_flat_image_folder_is_timed_not_scored(dataset, tmp_path):
    flat = tmp_path / "flat"
    shutil.copytree(dataset / "images", flat)
    report = run_benchmark(
        flat, {"one": lambda image: [np.array([[1, 1], [9, 1], [9, 9], [1, 9.0]])]}
    )
    s = report.summary("one")
    assert not report.scored and "mean_iou" not in s
    assert s["found"] == 6 and s["images_with_documents"] == 6
    assert report.to_dict()["per_image"]["one"][0]["ious"] is None


def test_quads_without_masks_are_scored(dataset, tmp_path):
    midv = tmp_path / "midv"
    shutil.copytree(dataset / "images", midv / "images")
    shutil.copytree(dataset / "quads", midv / "quads")
    report = run_benchmark(midv, {"oracle": Oracle(dataset)}, limit=2)
    assert report.scored and report.summary("oracle")["mean_iou"] == pytest.approx(1.0)


def test_unknown_method_names():
    assert resolve_method_names("opencv,idseg,opencv") == ["opencv", "idseg"]
    with pytest.raises(InputError, match="did you mean 'opencv'"):
        resolve_method_names("opencvv")
    with pytest.raises(InputError):
        run_benchmark(".", ["nope"])


def test_missing_microwink_is_reported_unavailable(dataset, monkeypatch):
    monkeypatch.setitem(sys.modules, "microwink", None)  # import microwink now raises
    from idseg.documents.bench_methods import microwink_localizer

    with pytest.raises(MissingExtraError, match=r"idseg\[bench\]"):
        microwink_localizer()
    report = run_benchmark(dataset, ["microwink", "opencv"], limit=2)
    assert report.methods == ["opencv"]
    assert "MissingExtraError" in report.unavailable["microwink"]


def test_masks_to_quads_covers_the_mask_pixels():
    mask = np.zeros((80, 100))
    pts = np.array([[20, 10], [90, 25], [80, 70], [10, 55]], np.int32)
    cv2.fillPoly(mask, [pts], 0.8)
    (quad,) = masks_to_quads([mask, np.zeros((80, 100))])
    # The quad's area matches the filled pixel count to within the rasterisation of the edges.
    area = cv2.contourArea(quad.astype(np.float32))
    assert abs(area - (mask > 0.5).sum()) < 0.02 * area


def test_microwink_adapter_turns_masks_into_quads(monkeypatch, tmp_path):
    microwink = pytest.importorskip("microwink")
    seen = {}

    class FakeModel:
        def apply(self, image, threshold):
            seen["size"], seen["mode"] = image.size, image.mode
            mask = np.zeros((image.height, image.width))
            mask[10:41, 20:81] = 0.97
            box = microwink.common.Box(x=20, y=10, w=61, h=31)
            return [microwink.SegResult(box=box, score=0.9, mask=mask)]

    monkeypatch.setattr(bench_methods, "_load_microwink", lambda path: FakeModel())
    weights = tmp_path / "seg_model.onnx"
    weights.write_bytes(b"stand-in")
    from idseg.documents.bench_methods import microwink_localizer

    (quad,) = microwink_localizer(weights)(np.zeros((60, 100, 3), np.uint8))
    assert seen == {"size": (100, 60), "mode": "RGB"}
    np.testing.assert_allclose(quad, [[20, 10], [81, 10], [81, 41], [20, 41]], atol=1e-3)
    with pytest.raises(InputError, match=r"seg_model\.onnx"):
        microwink_localizer(tmp_path / "missing.onnx")


def test_microwink_weights_come_from_the_env_var(monkeypatch, tmp_path):
    pytest.importorskip("microwink")
    weights = tmp_path / "my_seg_model.onnx"
    weights.write_bytes(b"stand-in")
    loaded = []

    def from_path(path):
        loaded.append(Path(path))
        return object()

    monkeypatch.setattr(bench_methods, "_load_microwink", from_path)
    monkeypatch.setenv("IDSEG_MICROWINK_MODEL", str(weights))
    from idseg.documents.bench_methods import microwink_localizer

    microwink_localizer()
    assert loaded == [weights]


def test_microwink_offline_without_weights_is_reported_unavailable(dataset, monkeypatch):
    pytest.importorskip("microwink")
    monkeypatch.delenv("IDSEG_MICROWINK_MODEL", raising=False)
    # IDSEG_OFFLINE=1 and an empty IDSEG_HOME come from the autouse fixture in conftest.py.
    report = run_benchmark(dataset, ["microwink", "opencv"], limit=2)
    assert report.methods == ["opencv"]
    assert "OfflineError" in report.unavailable["microwink"]
    assert "IDSEG_MICROWINK_MODEL" in report.unavailable["microwink"]


def test_microwink_finds_the_sample_card():
    pytest.importorskip("microwink")
    from idseg.documents.bench_methods import microwink_localizer
    from idseg.errors import DownloadError

    try:
        localize = microwink_localizer()  # IDSEG_MICROWINK_MODEL, else the (offline) cache
    except DownloadError as exc:
        pytest.skip(f"microwink weights not available offline: {exc}")
    image = load_image(SAMPLE)
    quads = localize(image)
    share = [
        cv2.contourArea(q.astype(np.float32)) / (image.shape[0] * image.shape[1]) for q in quads
    ]
    assert any(0.2 <= s <= 0.9 for s in share), share


def test_idseg_pipeline_runs_when_present():
    pytest.importorskip("idseg.documents.pipeline")
    from idseg.documents.bench_methods import idseg_localizer
    from idseg.errors import IdsegError

    try:
        localize = idseg_localizer()
    except IdsegError as exc:
        pytest.skip(f"idseg pipeline cannot be built here: {exc}")
    quads = localize(load_image(SAMPLE))
    assert all(np.asarray(q).shape == (4, 2) for q in quads)


def test_cli_writes_json(dataset, tmp_path):
    out = tmp_path / "out.json"
    args = ["bench", "doc", "--data", str(dataset), "--methods", "opencv", "--json", str(out)]
    result = runner.invoke(cli, [*args, "--limit", "4"])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert {"environment", "methods", "per_image", "unavailable", "failed_everywhere"} <= set(
        report
    )
    assert report["images"] == 4 and len(report["per_image"]["opencv"]) == 4
    assert {"mean_iou", "mean_midv_iou", "ms_median", "total_ms_median", "false_positives"} <= set(
        report["methods"]["opencv"]
    )
    assert "opencv" in result.output and "torch threads" in result.output


def test_cli_unknown_method_exits_2(dataset):
    result = runner.invoke(cli, ["bench", "doc", "--data", str(dataset), "--methods", "opnecv"])
    assert result.exit_code == 2
    assert "did you mean 'opencv'" in result.output


def test_cli_bad_resize_exits_2(dataset):
    result = runner.invoke(cli, ["bench", "doc", "--data", str(dataset), "--resize", "big"])
    assert result.exit_code == 2


def test_cli_exits_1_when_an_image_fails_everywhere(dataset, tmp_path):
    broken = tmp_path / "ds"
    shutil.copytree(dataset, broken)
    (broken / "images" / "000001.jpg").write_bytes(b"not a jpeg")
    result = runner.invoke(cli, ["bench", "doc", "--data", str(broken), "--methods", "opencv"])
    assert result.exit_code == 1, result.output
    assert "failed for every method" in result.output


def test_unreadable_image_counts_its_documents_as_missed(dataset, tmp_path):
    copy = tmp_path / "ds"
    shutil.copytree(dataset, copy)
    victim = sorted((copy / "images").iterdir())[0]
    victim.write_bytes(b"not an image")
    expected = len(read_quads(copy / "quads" / f"{victim.stem}.json"))
    report = run_benchmark(copy, {"empty": lambda image: []}, warmup=0)
    record = next(r for r in report.records["empty"] if r.name == victim.stem)
    assert record.error is not None
    assert record.ious == [0.0] * expected and record.missed == expected


def test_cli_runs_another_localiser_beside_the_bundled_one(dataset, tmp_path):
    from idseg.documents.pipeline import BUNDLED_LOCALIZER, DocumentPipeline, bundled_model

    ckpt = tmp_path / "my_loc.pt"
    shutil.copy(bundled_model(BUNDLED_LOCALIZER), ckpt)
    out = tmp_path / "out.json"
    args = ["bench", "doc", "--data", str(dataset), "--methods", "opencv", "--limit", "3"]
    result = runner.invoke(cli, [*args, "--localizer", str(ckpt), "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert set(report["methods"]) == {"opencv", "idseg:my_loc"}
    pipe = DocumentPipeline(localizer=ckpt)
    images = sorted((dataset / "images").iterdir())[:3]
    expected = [len(pipe.localize(load_image(p))) for p in images]
    assert [r["found"] for r in report["per_image"]["idseg:my_loc"]] == expected
    bad = tmp_path / "bad.pt"
    bad.write_text("not a checkpoint")
    failed = runner.invoke(cli, [*args, "--localizer", str(bad)])
    assert failed.exit_code == 2 and "bad.pt" in failed.output
