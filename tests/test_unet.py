"""The U-Net: shapes, sizes, gradients, padding, letterboxing, checkpoint loading, prediction."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from idseg.errors import CheckpointError, ConfigError, InputError
from idseg.models.unet import UNET_SIZES, UNet, UNetConfig, build_unet, count_parameters
from idseg.models.unet_io import (
    PAD_VALUE,
    letterbox,
    letterbox_image,
    load_unet,
    predict_mask,
    predict_proba,
)

TINY = UNetConfig(widths=(4, 8, 16))


@pytest.mark.parametrize("name", ["unet-test", "unet-nano"])
@pytest.mark.parametrize("classes", [1, 3, 7])
def test_output_shape(name, classes):
    model = build_unet(name, num_classes=classes).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 64, 48))
    assert out.shape == (2, classes, 64, 48)
    assert out.dtype == torch.float32


@pytest.mark.parametrize("hw", [(37, 50), (16, 16), (1, 1), (33, 17)])
def test_any_input_size_comes_back_the_same(hw):
    model = UNet(TINY).eval()
    with torch.no_grad():
        assert model(torch.rand(1, 3, *hw)).shape[-2:] == hw


def test_padding_equals_mean_coloured_border():
    # The model pads the *normalised* input with zeros, i.e. with the mean colour.
    torch.manual_seed(0)
    model = UNet(TINY).eval()
    x = torch.rand(1, 3, 30, 27)
    big = model.mean.expand(1, 3, 32, 28).clone()
    big[..., :30, :27] = x
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(big)[..., :30, :27])


def test_named_sizes_parameter_counts():
    counts = {name: count_parameters(build_unet(name, num_classes=7)) for name in UNET_SIZES}
    # Golden values: a change of architecture must be deliberate.
    assert {k: counts[k] for k in ("unet-test", "unet-nano", "unet-small")} == {
        "unet-test": 2087,
        "unet-nano": 240007,
        "unet-small": 1501191,
    }

    def block(cin: int, cout: int) -> int:  # two 3x3 convolutions without bias, each + BatchNorm
        return 9 * cin * cout + 2 * cout + 9 * cout * cout + 2 * cout

    def plain(widths: tuple[int, ...], classes: int) -> int:
        total = block(3, widths[0]) + widths[0] * classes + classes
        total += sum(block(widths[i - 1], widths[i]) for i in range(1, len(widths)))
        return total + sum(
            block(widths[i] + widths[i - 1], widths[i - 1]) for i in range(1, len(widths))
        )

    assert counts["unet-fast"] == plain((8, 16, 32, 64, 128), 7)
    assert counts["unet-fast-wide"] == plain((12, 24, 48, 96, 192), 7)
    assert 100_000 <= counts["unet-nano"] <= 300_000
    assert 1_000_000 <= counts["unet-small"] <= 2_000_000


def test_depthwise_separable_layers():
    model = build_unet("unet-nano", num_classes=2)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    depthwise = [c for c in convs if c.groups == c.in_channels > 1 and c.kernel_size == (3, 3)]
    pointwise = [c for c in convs if c.kernel_size == (1, 1)]
    assert len(depthwise) >= 2 * (len(model.down) + len(model.up))
    assert len(pointwise) >= len(depthwise)


@pytest.mark.parametrize("norm", ["batch", "group"])
@pytest.mark.parametrize("act", ["relu", "silu"])
def test_gradients_reach_every_parameter(norm, act):
    torch.manual_seed(0)
    model = build_unet("unet-test", num_classes=3, norm=norm, act=act, upsample="nearest")
    out = model(torch.rand(2, 3, 24, 20))
    nn.functional.cross_entropy(out, torch.randint(0, 3, (2, 24, 20))).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_normalisation_is_not_in_the_state_dict():
    keys = set(UNet(TINY).state_dict())
    assert "mean" not in keys and "std" not in keys


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"widths": (8,)}, "widths"),
        ({"widths": (8, 0)}, "widths"),
        ({"num_classes": 0}, "num_classes"),
        ({"norm": "layer"}, "norm"),
        ({"act": "gelu"}, "act"),
        ({"upsample": "bilinar"}, "did you mean 'bilinear'"),
    ],
)
def test_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        UNetConfig(**kwargs).validated()


def test_unknown_size_suggests_a_name():
    with pytest.raises(ConfigError, match="did you mean 'unet-nano'"):
        build_unet("unet-nan")
    with pytest.raises(ConfigError, match="unet"):
        build_unet("unet-test", colour=1)


def test_config_round_trip():
    cfg = UNetConfig(widths=(4, 8), num_classes=5, norm="group", name="x")
    assert UNetConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown key"):
        UNetConfig.from_dict({"widths": [4, 8], "depth": 2})


@pytest.mark.parametrize(
    ("hw", "size", "expected"),
    [
        ((480, 640), 256, (192, 256, 32, 0)),
        ((640, 480), 256, (256, 192, 0, 32)),
        ((100, 100), 64, (64, 64, 0, 0)),
        ((10, 1000), 64, (1, 64, 31, 0)),
        ((30, 45), 90, (60, 90, 15, 0)),  # upscaling
    ],
)
def test_letterbox_geometry(hw, size, expected):
    box = letterbox(*hw, size)
    assert (box.new_height, box.new_width, box.top, box.left) == expected


def test_letterbox_image_places_content_and_pads():
    image = np.zeros((40, 80, 3), np.uint8)
    image[:, :40] = 255  # left half white
    canvas, box = letterbox_image(image, 32)
    assert box.window == (slice(8, 24), slice(0, 32))
    assert (canvas[:8] == PAD_VALUE).all() and (canvas[24:] == PAD_VALUE).all()
    assert (canvas[8:24, :15] == 255).all() and (canvas[8:24, 17:] == 0).all()
    with pytest.raises(InputError):
        letterbox_image(np.zeros((4, 4), np.uint8), 8)


class RedIsClassOne(nn.Module):
    """Logits that say class 1 where the red channel is above one half."""

    def __init__(self):
        super().__init__()
        self.gain = nn.Parameter(torch.tensor(40.0))

    def forward(self, x):
        red = x[:, :1] - 0.5
        return torch.cat([-red, red], dim=1) * self.gain


def test_predict_mask_maps_back_to_the_image():
    image = np.zeros((90, 300, 3), np.uint8)
    image[20:70, 100:220, 0] = 255
    mask = predict_mask(RedIsClassOne(), image, 64)  # 300 -> 64: a 4.7x downscale and back
    assert mask.shape == (90, 300)
    truth = image[..., 0] > 0
    assert (mask.astype(bool) == truth).mean() > 0.99
    disagree = np.argwhere(mask.astype(bool) != truth)
    # Only boundary pixels may differ, by less than one model pixel (4.7 image pixels).
    assert all(
        abs(r - 20) < 5 or abs(r - 70) < 5 or abs(c - 100) < 5 or abs(c - 220) < 5
        for r, c in disagree
    )


def test_predict_proba_sums_to_one_binary_and_multiclass():
    image = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    for classes in (1, 4):
        model = UNet(UNetConfig(widths=(4, 8), num_classes=classes)).eval()
        probs = predict_proba(model, image, 32)
        assert probs.shape == (max(2, classes), 20, 30)
        np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-5)
        assert predict_mask(model, image, 32).max() < max(2, classes)


def _checkpoint(model: UNet, classes: list[str], binary: bool = False) -> dict:
    return {
        "format": "idseg-unet/1",
        "model": model.state_dict(),
        "config": {
            "image_size": 32,
            "class_names": classes,
            "train": {"binary": binary},
            "resolved": {"unet": model.config.to_dict()},
        },
        "epoch": 3,
        "metrics": {"mean_iou": 0.5},
    }


def test_load_unet_round_trip(tmp_path: Path):
    torch.manual_seed(0)
    model = UNet(UNetConfig(widths=(4, 8), num_classes=3)).eval()
    torch.save(_checkpoint(model, ["bg", "doc", "mrz"]), tmp_path / "m.pt")
    loaded, info = load_unet(tmp_path / "m.pt")
    assert info.classes == ("bg", "doc", "mrz") and info.size == 32 and info.epoch == 3
    assert not info.binary and info.metrics == {"mean_iou": 0.5}
    assert not loaded.training
    image = np.random.default_rng(1).integers(0, 255, (25, 40, 3), dtype=np.uint8)
    np.testing.assert_allclose(
        predict_proba(loaded, image, 32), predict_proba(model, image, 32), atol=1e-5
    )


def test_load_unet_names_mismatched_keys(tmp_path: Path):
    model = UNet(UNetConfig(widths=(4, 8), num_classes=2))
    ckpt = _checkpoint(model, ["bg", "doc"])
    del ckpt["model"]["head.bias"]
    ckpt["model"]["extra.weight"] = torch.zeros(1)
    torch.save(ckpt, tmp_path / "bad.pt")
    with pytest.raises(
        CheckpointError, match=r"missing key\(s\): head.bias.*unexpected key\(s\): extra.weight"
    ):
        load_unet(tmp_path / "bad.pt")


def test_load_unet_refuses_bad_files(tmp_path: Path):
    with pytest.raises(CheckpointError, match="not found"):
        load_unet(tmp_path / "missing.pt")
    torch.save({"model": {}}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not a U-Net checkpoint"):
        load_unet(tmp_path / "plain.pt")
    model = UNet(UNetConfig(widths=(4, 8), num_classes=1))
    torch.save(_checkpoint(model, ["bg", "doc", "mrz"], binary=True), tmp_path / "odd.pt")
    with pytest.raises(CheckpointError, match="1 output channel"):
        load_unet(tmp_path / "odd.pt")
    torch.save({"model": {}, "config": Path("x")}, tmp_path / "pickled.pt")  # needs unpickling
    with pytest.raises(CheckpointError, match="weights-only"):
        load_unet(tmp_path / "pickled.pt")


@pytest.mark.skipif(importlib.util.find_spec("onnx") is None, reason="onnx is not installed")
def test_onnx_export(tmp_path: Path):
    import onnx

    torch.manual_seed(0)
    model = build_unet("unet-test", num_classes=3).eval()
    x = torch.rand(1, 3, 64, 64)
    path = str(tmp_path / "m.onnx")
    torch.onnx.export(
        model, (x,), path, dynamo=False, input_names=["image"], output_names=["logits"]
    )
    graph = onnx.load(path)
    onnx.checker.check_model(graph)
    # ONNX-friendly operators only (BatchNorm is folded into the convolutions)
    allowed = {"Conv", "Relu", "MaxPool", "Resize", "Concat", "Sub", "Div", "Constant", "Identity"}
    assert {n.op_type for n in graph.graph.node} <= allowed
    if importlib.util.find_spec("onnxruntime") is None:
        return
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(session.run(None, {"image": x.numpy()})[0], expected, atol=1e-4)
