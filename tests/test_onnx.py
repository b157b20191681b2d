"""ONNX and TorchScript exports: parity with PyTorch's SAM2Predictor and U-Net, CLI, errors."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from _helpers import make_scene, mask_iou
from idseg.cli.app import app
from idseg.errors import CheckpointError, ExportError, InputError, MissingExtraError
from idseg.models.unet import UNet, UNetConfig
from idseg.models.unet_io import predict_mask, predict_proba
from idseg.onnx import (
    OnnxSAM2Predictor,
    OnnxUNet,
    TorchScriptSAM2Predictor,
    export_sam2_onnx,
    export_unet_onnx,
    export_unet_torchscript,
    load_torchscript,
    onnx_providers,
)
from idseg.onnx.graphs import PromptDecoderGraph, select_masks, stability_scores
from idseg.sam.predictor import SAM2Predictor

TINY = "idseg_test_tiny"
runner = CliRunner()

PROMPTS = {
    "one point": {"points": [[100, 100]]},
    "points with negatives": {
        "points": [[100, 100], [150, 120], [300, 200], [320, 60]],
        "labels": [1, 1, 0, 0],
    },
    "one box": {"boxes": [30, 40, 200, 160]},
    "box plus points": {
        "boxes": [30, 40, 200, 160],
        "points": [[100, 100], [60, 150]],
        "labels": [1, 0],
    },
    "three boxes": {"boxes": [[30, 40, 200, 160], [250, 30, 400, 90], [40, 200, 200, 280]]},
    "two boxes, one shared point": {
        "boxes": [[30, 40, 200, 160], [250, 30, 400, 90]],
        "points": [[120, 100]],
    },
    "two point sets": {
        "points": [[[100, 100], [300, 200]], [[320, 60], [120, 240]]],
        "labels": [[1, 0], [1, 1]],
    },
}


def _export(kind: str, args: list[str]) -> dict:
    result = runner.invoke(app, ["export", kind, *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory, tiny_checkpoint) -> Path:
    out = tmp_path_factory.mktemp("export") / "tiny_onnx"
    record = _export(
        "onnx", ["--checkpoint", str(tiny_checkpoint), "--config", TINY, "--out", str(out)]
    )
    assert record["kind"] == "sam2" and len(record["files"]) == 3
    return out


@pytest.fixture(scope="module")
def ts_dir(tmp_path_factory, tiny_checkpoint) -> Path:
    out = tmp_path_factory.mktemp("export") / "tiny_ts"
    _export("torchscript", ["--checkpoint", str(tiny_checkpoint), "--out", str(out)])
    return out


@pytest.fixture(scope="module")
def predictors(onnx_dir, tiny_model):
    image = make_scene()
    ref, onx = SAM2Predictor(tiny_model), OnnxSAM2Predictor(onnx_dir)
    ref.set_image(image)
    onx.set_image(image)
    return ref, onx


def _assert_same(ref, got, min_iou: float = 0.99) -> None:
    assert got.masks.shape == ref.masks.shape and got.masks.dtype == ref.masks.dtype
    flat_ref = ref.masks.reshape(-1, *ref.masks.shape[2:])
    flat_got = got.masks.reshape(-1, *got.masks.shape[2:])
    ious = [mask_iou(a, b) for a, b in zip(flat_ref, flat_got, strict=True)]
    assert min(ious) >= min_iou, ious
    np.testing.assert_allclose(got.scores, ref.scores, atol=1e-4)
    np.testing.assert_allclose(got.low_res_logits, ref.low_res_logits, atol=1e-3)
    np.testing.assert_array_equal(got.best_index(), ref.best_index())
    # the comparison proves something only when the masks are neither empty nor full
    assert any(0.02 < m.mean() < 0.98 for m in flat_ref)


@pytest.mark.parametrize("multimask", [True, False])
@pytest.mark.parametrize("name", list(PROMPTS))
def test_onnx_prompting_matches_pytorch(predictors, name, multimask):
    ref, onx = predictors
    expected = ref.predict(**PROMPTS[name], multimask_output=multimask)
    got = onx.predict(**PROMPTS[name], multimask_output=multimask)
    assert got.masks.shape[:2] == (expected.masks.shape[0], 3 if multimask else 1)
    _assert_same(expected, got)


def test_onnx_refinement_and_mask_only_prompts_match_pytorch(predictors):
    ref, onx = predictors
    first_ref, first_onx = ref.predict(points=[[100, 100]]), onx.predict(points=[[100, 100]])
    clicks, labels = [[100, 100], [160, 120]], [1, 0]
    _assert_same(ref.refine(first_ref, clicks, labels), onx.refine(first_onx, clicks, labels))
    boxed_ref = ref.refine(first_ref, clicks, labels, boxes=[30, 40, 200, 160], index=2)
    _assert_same(
        boxed_ref, onx.refine(first_ref, clicks, labels, boxes=[30, 40, 200, 160], index=2)
    )
    logits = first_ref.best_logits()[0]
    for multimask in (True, False):
        _assert_same(
            ref.predict(mask_input=logits, multimask_output=multimask),
            onx.predict(mask_input=logits, multimask_output=multimask),
        )


def test_onnx_predictor_keeps_the_predictor_api(predictors):
    ref, onx = predictors
    assert onx.image_hw == ref.image_hw == (300, 420)
    box = [30, 40, 200, 160]
    assert mask_iou(onx.box_to_mask(box), ref.box_to_mask(box)) >= 0.99
    assert onx.boxes_to_masks([box, [250, 30, 400, 90]]).shape == (2, 300, 420)
    emb = onx.embed(make_scene(seed=3))
    other = onx.predict(points=[[100, 100]], embedding=emb)
    assert other.masks.shape == (1, 3, 300, 420)
    logits = onx.predict(points=[[100, 100]], return_logits=True)
    assert logits.masks.dtype == np.float32
    with pytest.raises(InputError, match="must lie inside"):
        onx.predict(points=[[500, 100]])
    fresh = OnnxSAM2Predictor(onx.folder)
    with pytest.raises(InputError, match="no image is set"):
        fresh.predict(points=[[1, 1]])


def test_decoder_graph_takes_any_number_of_points_and_boxes(onnx_dir, tiny_model, predictors):
    """Run the decoder graph directly on shapes the export never saw, all labels mixed."""
    _, onx = predictors
    graph = PromptDecoderGraph(tiny_model)
    feats = [onx.embedding.image_embed, *onx.embedding.high_res_feats]
    gen = torch.Generator().manual_seed(5)
    for batch, points in [(4, 9), (1, 1), (6, 2)]:
        coords = torch.rand(batch, points, 2, generator=gen) * 256
        labels = torch.randint(-1, 4, (batch, points), generator=gen)
        mask = torch.randn(batch, 1, 64, 64, generator=gen)
        for flag in (0.0, 1.0):
            inputs = [*feats, coords, labels, mask, torch.tensor([flag])]
            with torch.no_grad():
                expected = graph(*inputs)
            got = onx.run_decoder(inputs)
            assert got[0].shape == (batch, 4, 64, 64) and got[1].shape == (batch, 4)
            for g, e in zip(got, expected, strict=True):
                np.testing.assert_allclose(g.numpy(), e.numpy(), atol=1e-4)


def test_single_mask_selection_is_sam2s(tiny_model):
    """select_masks against SAM2's own MaskDecoder code, with stable and unstable single masks."""
    decoder = tiny_model.sam_mask_decoder
    gen = torch.Generator().manual_seed(0)
    masks = torch.randn(6, 4, 16, 16, generator=gen)
    masks[:3, 0] *= 100  # nearly no logit within +-delta: stable
    masks[3:, 0] *= 0.01  # nearly all within +-delta: unstable, falls back to the best of 1..3
    iou = torch.rand(6, 4, generator=gen)
    settings = (
        decoder.dynamic_multimask_stability_delta,
        decoder.dynamic_multimask_stability_thresh,
    )
    stable = stability_scores(masks[:, 0:1], settings[0])[:, 0] >= settings[1]
    assert stable.tolist() == [True] * 3 + [False] * 3
    expected = decoder._dynamic_multimask_via_stability(masks, iou)
    got = select_masks(masks, iou, False, settings)
    assert all(torch.equal(g, e) for g, e in zip(got, expected, strict=True))
    plain = select_masks(masks, iou, False, None)
    assert torch.equal(plain[0], masks[:, :1]) and torch.equal(plain[1], iou[:, :1])
    multi = select_masks(masks, iou, True, settings)
    assert torch.equal(multi[0], masks[:, 1:]) and torch.equal(multi[1], iou[:, 1:])


def test_manifest_and_graph_signatures(onnx_dir, tiny_checkpoint, predictors):
    from idseg import __version__

    assert sorted(p.name for p in onnx_dir.iterdir()) == [
        "idseg_onnx.json",
        "image_encoder.onnx",
        "prompt_decoder.onnx",
    ]
    manifest = json.loads((onnx_dir / "idseg_onnx.json").read_text())
    assert manifest["image_size"] == 256 and manifest["mask_threshold"] == 0.0
    assert manifest["config_name"] == TINY and manifest["opset"] == 18
    assert manifest["checkpoint_sha256"] == hashlib.sha256(tiny_checkpoint.read_bytes()).hexdigest()
    assert manifest["idseg_version"] == __version__
    assert manifest["stability"] == {"delta": 0.05, "threshold": 0.98}
    _, onx = predictors
    enc = {i.name: i.shape for i in onx.encoder.get_inputs()}
    assert enc == {"image": [1, 3, 256, 256]}
    dec = {i.name: (i.shape, i.type) for i in onx.decoder.get_inputs()}
    assert dec["point_coords"][0][2] == 2 and all(
        isinstance(d, str) for d in dec["point_coords"][0][:2]
    )
    assert dec["point_labels"][1] == "tensor(int64)" and dec["has_mask_input"][0] == [1]
    assert [o.name for o in onx.decoder.get_outputs()] == ["low_res_masks", "iou_predictions"]


def test_torchscript_prompting_matches_pytorch(ts_dir, tiny_model):
    manifest = json.loads((ts_dir / "idseg_torchscript.json").read_text())
    assert manifest["backend"] == "torchscript" and manifest["opset"] is None
    image = make_scene(seed=2)
    ref, ts = (
        SAM2Predictor(tiny_model),
        TorchScriptSAM2Predictor.from_pretrained(ts_dir, device="cpu"),
    )
    ref.set_image(image)
    ts.set_image(image)
    for name in ("one point", "box plus points", "three boxes", "two point sets"):
        for multimask in (True, False):
            expected = ref.predict(**PROMPTS[name], multimask_output=multimask)
            _assert_same(expected, ts.predict(**PROMPTS[name], multimask_output=multimask), 0.999)


def test_cli_prompt_onnx_backend_matches_torch(onnx_dir, tiny_checkpoint, tmp_path):
    image = tmp_path / "scene.png"
    cv2.imwrite(str(image), make_scene()[:, :, ::-1])
    prompts = ["--point", "100,100", "--point", "300,200,0", "--json"]
    results = {}
    for backend, model in (
        ("torch", ["--checkpoint", str(tiny_checkpoint)]),
        ("onnx", ["--onnx", str(onnx_dir)]),
    ):
        out = tmp_path / backend
        args = ["prompt", str(image), "--out", str(out), "--backend", backend, *model, *prompts]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        results[backend] = (json.loads(result.stdout), cv2.imread(str(out / "best_000.png"), 0))
    (torch_json, torch_mask), (onnx_json, onnx_mask) = results["torch"], results["onnx"]
    assert mask_iou(torch_mask > 0, onnx_mask > 0) >= 0.99 and 0.02 < (torch_mask > 0).mean() < 0.98
    scores = [[c["score"] for c in j["prompts"][0]["candidates"]] for j in (torch_json, onnx_json)]
    np.testing.assert_allclose(scores[1], scores[0], atol=1e-4)
    assert onnx_json["model"]["backend"] == "onnx"
    assert onnx_json["model"]["checkpoint_sha256"] == torch_json["model"]["sha256"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--backend", "onnx"], "needs --onnx"),
        (["--backend", "tf"], "must be one of torch, onnx"),
        (["--onnx", "x"], "needs --backend onnx"),
        (["--backend", "onnx", "--onnx", "x", "--checkpoint", "c.pt"], "apply to --backend torch"),
        (["--backend", "onnx", "--onnx", "no/such/dir"], "export folder not found"),
        (["--backend", "onnx", "--onnx", "{onnx}", "--device", "mps"], "auto, cpu or cuda"),
    ],
)
def test_cli_prompt_backend_errors(tmp_path, onnx_dir, args, fragment):
    image = tmp_path / "scene.png"
    cv2.imwrite(str(image), make_scene(60, 80)[:, :, ::-1])
    args = [a.replace("{onnx}", str(onnx_dir)) for a in args]
    result = runner.invoke(
        app, ["prompt", str(image), "--out", str(tmp_path / "o"), "--point", "5,5", *args]
    )
    assert result.exit_code == 2 and fragment in result.output, result.output


def test_export_cli_errors(tmp_path, tiny_checkpoint):
    both = runner.invoke(
        app, ["export", "onnx", "--checkpoint", "a.pt", "--unet", "b.pt", "--out", "x"]
    )
    assert both.exit_code == 2 and "exactly one of" in both.output
    neither = runner.invoke(app, ["export", "torchscript", "--out", "x"])
    assert neither.exit_code == 2 and "exactly one of" in neither.output
    a_file = tmp_path / "taken.onnx"
    a_file.write_text("x")
    clash = runner.invoke(
        app, ["export", "onnx", "--checkpoint", str(tiny_checkpoint), "--out", str(a_file)]
    )
    assert (
        clash.exit_code == 2 and "InputError" in clash.output and "must be a folder" in clash.output
    )
    missing = runner.invoke(
        app, ["export", "onnx", "--unet", str(tmp_path / "none.pt"), "--out", "x.onnx"]
    )
    assert missing.exit_code == 2 and "CheckpointError" in missing.output
    assert not (tmp_path / "x.onnx").exists()


def test_export_folder_errors(tmp_path, onnx_dir, ts_dir):
    with pytest.raises(CheckpointError, match="export folder not found"):
        OnnxSAM2Predictor(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="holds no idseg export"):
        OnnxSAM2Predictor(tmp_path / "empty")
    with pytest.raises(CheckpointError, match="holds a TorchScript export"):
        OnnxSAM2Predictor(ts_dir)
    with pytest.raises(CheckpointError, match="holds an ONNX export"):
        TorchScriptSAM2Predictor(onnx_dir)
    partial = tmp_path / "partial"
    partial.mkdir()
    shutil.copy(onnx_dir / "idseg_onnx.json", partial)
    shutil.copy(onnx_dir / "image_encoder.onnx", partial)
    with pytest.raises(
        CheckpointError, match=r"prompt_decoder.onnx listed in idseg_onnx.json is missing"
    ):
        OnnxSAM2Predictor(partial)
    (partial / "prompt_decoder.onnx").write_bytes(b"not an onnx graph")
    with pytest.raises(CheckpointError, match=r"onnxruntime cannot load 'prompt_decoder\.onnx'"):
        OnnxSAM2Predictor(partial)
    (partial / "idseg_onnx.json").write_text('{"backend": "onnx"}')
    with pytest.raises(CheckpointError, match="not an idseg export manifest"):
        OnnxSAM2Predictor(partial)
    with pytest.raises(InputError, match="export folder, no config"):
        OnnxSAM2Predictor.from_pretrained(onnx_dir, config=TINY)


def test_missing_extras_name_the_install_command(monkeypatch, onnx_dir, tmp_path, tiny_model):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'idseg\[onnx\]'"):
        OnnxSAM2Predictor(onnx_dir)
    monkeypatch.delitem(sys.modules, "onnxruntime")
    monkeypatch.setitem(sys.modules, "onnxscript", None)
    with pytest.raises(MissingExtraError, match="onnxscript"):
        export_sam2_onnx(tiny_model, tmp_path / "never")
    assert not (tmp_path / "never").exists()


def test_onnx_providers():
    assert onnx_providers("cpu") == ["CPUExecutionProvider"]
    assert onnx_providers("auto")[-1] == "CPUExecutionProvider"
    with pytest.raises(InputError, match="auto, cpu or cuda"):
        onnx_providers("mps")


def test_export_refuses_other_modules(tmp_path):
    with pytest.raises(InputError, match="expected a SAM2 model, got a Linear"):
        export_sam2_onnx(torch.nn.Linear(2, 2), tmp_path / "x")
    with pytest.raises(InputError, match="got int"):
        export_sam2_onnx(3, tmp_path / "x")


# --------------------------------------------------------------------------------------- U-Net


def _unet_checkpoint(path: Path, classes: list[str], binary: bool) -> tuple[Path, UNet]:
    torch.manual_seed(len(classes) + binary)
    model = UNet(UNetConfig(widths=(4, 8, 16), num_classes=1 if binary else len(classes))).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so the export must carry them
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    ckpt = {
        "model": model.state_dict(),
        "config": {
            "image_size": 64,
            "class_names": classes,
            "train": {"binary": binary},
            "resolved": {"unet": model.config.to_dict()},
        },
    }
    torch.save(ckpt, path)
    return path, model


UNETS = {"three classes": (["bg", "doc", "edge"], False), "binary": (["bg", "doc"], True)}


@pytest.mark.parametrize("kind", list(UNETS))
def test_unet_onnx_matches_pytorch(tmp_path, kind):
    ckpt, model = _unet_checkpoint(tmp_path / "u.pt", *UNETS[kind])
    record = _export("onnx", ["--unet", str(ckpt), "--out", str(tmp_path / "u.onnx")])
    assert record == {"kind": "unet", "files": [str(tmp_path / "u.onnx")]}
    unet = OnnxUNet(tmp_path / "u.onnx")
    assert unet.meta["classes"] == UNETS[kind][0] and unet.meta["size"] == 64
    assert unet.meta["binary"] is UNETS[kind][1]
    image = make_scene(90, 130, seed=4)
    expected = predict_proba(model, image, 64)
    got = unet.predict_proba(image)
    assert got.shape == expected.shape == (len(UNETS[kind][0]), 90, 130)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert (unet.predict_mask(image) == predict_mask(model, image, 64)).mean() > 0.999
    batch = np.random.default_rng(0).random((3, 3, 64, 64), dtype=np.float32)
    with torch.no_grad():
        np.testing.assert_allclose(
            unet.logits(batch), model(torch.from_numpy(batch)).numpy(), atol=1e-4
        )


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_unet_torchscript_matches_pytorch(tmp_path):
    ckpt, model = _unet_checkpoint(tmp_path / "u.pt", ["bg", "doc", "edge"], False)
    path = export_unet_torchscript(ckpt, tmp_path / "u.pt.ts")
    traced = load_torchscript(path)
    image = make_scene(90, 130, seed=5)
    np.testing.assert_allclose(
        predict_proba(traced, image, 64), predict_proba(model, image, 64), atol=1e-5
    )
    extra = {"idseg_unet.json": ""}
    torch.jit.load(str(path), _extra_files=extra)
    assert json.loads(extra["idseg_unet.json"])["classes"] == ["bg", "doc", "edge"]


def test_unet_export_errors(tmp_path, monkeypatch, onnx_dir):
    ckpt, _ = _unet_checkpoint(tmp_path / "u.pt", ["bg", "doc"], True)
    with pytest.raises(CheckpointError, match="not a U-Net exported by idseg"):
        OnnxUNet(onnx_dir / "prompt_decoder.onnx")
    with pytest.raises(CheckpointError, match="not found"):
        OnnxUNet(tmp_path / "none.onnx")

    def broken(*args, **kwargs):
        raise RuntimeError("unsupported operator")

    monkeypatch.setattr(torch.onnx, "export", broken)
    with pytest.raises(ExportError, match=r"torch\.onnx\.export failed for u\.onnx: RuntimeError"):
        export_unet_onnx(ckpt, tmp_path / "u.onnx")
    assert not (tmp_path / "u.onnx").exists()


def test_trace_that_does_not_generalise_is_refused(tmp_path):
    from idseg.onnx.torchscript import trace_module

    class BakesTheBatch(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(2, 2)

        def forward(self, x):
            return self.lin(x) * int(x.shape[0])  # a Python int: frozen into the trace

    module = BakesTheBatch().eval()
    cases = []
    for batch in (2, 3):
        x = torch.rand(batch, 2)
        with torch.no_grad():
            cases.append(((x,), (module(x),)))
    with pytest.raises(ExportError, match="does not generalise"):
        trace_module(module, tmp_path / "m.pt", cases)
    assert list(tmp_path.iterdir()) == []


def test_bundled_unet_names():
    from idseg.cli.export_onnx import _unet_path
    from idseg.documents.pipeline import BUNDLED_LOCALIZER, bundled_model

    assert _unet_path("doc_localizer") == bundled_model(BUNDLED_LOCALIZER)
    assert _unet_path("doc_localizer.pt") == bundled_model(BUNDLED_LOCALIZER)
    assert _unet_path("runs/doc_localizer.pt") == Path("runs/doc_localizer.pt")
    assert _unet_path("other.pt") == Path("other.pt")
