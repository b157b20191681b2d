"""U-Net training: losses vs hand values, augmentation, data, the loop, resume, and the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from idseg.data.folders import Sample
from idseg.errors import CheckpointError, ConfigError, InputError
from idseg.models.unet_io import PAD_VALUE, load_unet, predict_mask
from idseg.train import resolve_train_config, train_unet
from idseg.train.augment import AugmentConfig, augment_pair
from idseg.train.data import EpochSampler, class_mapping, load_pair, open_training_data
from idseg.train.losses import (
    SegmentationLoss,
    cross_entropy_loss,
    dice_loss,
    focal_loss,
    jaccard_loss,
    parse_loss,
)

# ---------------------------------------------------------------- losses
# Two pixels, two classes: p(pixel 0) = (0.8, 0.2), p(pixel 1) = (0.4, 0.6); target (0, 1).
PROBS = torch.tensor([[[[0.8, 0.4]], [[0.2, 0.6]]]])
LOGITS = torch.log(PROBS)
TARGET = torch.tensor([[[0, 1]]])
# Binary: sigmoid(z) = (0.8, 0.4), target (1, 0).
BIN_LOGITS = torch.tensor([[[[math.log(4.0), math.log(0.4 / 0.6)]]]])
BIN_TARGET = torch.tensor([[[1, 0]]])

# Hand values: dice_c = 2 I / (P + T): class 0 1.6 / 2.2, class 1 1.2 / 1.8.
DICE0, DICE1 = 1.6 / 2.2, 1.2 / 1.8
CE = -(math.log(0.8) + math.log(0.6)) / 2


@pytest.mark.parametrize(
    ("fn", "kwargs", "expected"),
    [
        (dice_loss, {"smooth": 0.0}, 1 - (DICE0 + DICE1) / 2),
        (dice_loss, {"smooth": 1.0}, 1 - (2.6 / 3.2 + 2.2 / 2.8) / 2),
        (
            dice_loss,
            {"smooth": 0.0, "class_weights": torch.tensor([1.0, 3.0])},
            1 - (DICE0 + 3 * DICE1) / 4,
        ),
        (jaccard_loss, {"smooth": 0.0}, 1 - (0.8 / 1.4 + 0.6 / 1.2) / 2),
        (cross_entropy_loss, {}, CE),
        (
            cross_entropy_loss,
            {"class_weights": torch.tensor([1.0, 3.0])},
            (-math.log(0.8) - 3 * math.log(0.6)) / 4,
        ),
        (focal_loss, {"gamma": 2.0}, (0.2**2 * -math.log(0.8) + 0.4**2 * -math.log(0.6)) / 2),
        (focal_loss, {"gamma": 0.0}, CE),
    ],
)
def test_multiclass_losses_by_hand(fn, kwargs, expected):
    assert float(fn(LOGITS, TARGET, **kwargs)) == pytest.approx(expected, abs=1e-6)


def test_ignored_pixels_count_for_nothing():
    target = torch.tensor([[[0, 255]]])
    assert float(cross_entropy_loss(LOGITS, target)) == pytest.approx(-math.log(0.8), abs=1e-6)
    # class 0: I 0.8, P 0.8, T 1; class 1: I 0, P 0.2, T 0
    assert float(dice_loss(LOGITS, target, smooth=0.0)) == pytest.approx(
        1 - (1.6 / 1.8 + 0) / 2, abs=1e-6
    )
    everything_ignored = torch.full((1, 1, 2), 255)
    assert float(cross_entropy_loss(LOGITS, everything_ignored)) == 0.0


def test_binary_losses_by_hand():
    assert float(cross_entropy_loss(BIN_LOGITS, BIN_TARGET)) == pytest.approx(CE, abs=1e-6)
    # foreground only: I 0.8, P 1.2, T 1
    assert float(dice_loss(BIN_LOGITS, BIN_TARGET, smooth=0.0)) == pytest.approx(
        1 - 1.6 / 2.2, abs=1e-6
    )
    weighted = cross_entropy_loss(BIN_LOGITS, BIN_TARGET, torch.tensor([3.0, 1.0]))
    assert float(weighted) == pytest.approx((-math.log(0.8) - 3 * math.log(0.6)) / 4, abs=1e-6)


def test_combined_loss_and_gradients():
    loss = SegmentationLoss({"type": "0.5*ce+dice", "smooth": 0.0})
    logits = LOGITS.clone().requires_grad_(True)
    value = loss(logits, TARGET)
    assert float(value.detach()) == pytest.approx(0.5 * CE + 1 - (DICE0 + DICE1) / 2, abs=1e-6)
    assert loss.last == pytest.approx({"ce": CE, "dice": 1 - (DICE0 + DICE1) / 2}, abs=1e-6)
    value.backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    with pytest.raises(ConfigError, match="3 class weights"):
        SegmentationLoss("ce", class_weights=[1, 2, 3])(LOGITS, TARGET)


@pytest.mark.parametrize(
    ("spec", "terms"),
    [
        (None, (("dice", 1.0),)),
        ("dice", (("dice", 1.0),)),
        ({"type": "dice"}, (("dice", 1.0),)),
        ("ce+dice", (("ce", 1.0), ("dice", 1.0))),
        ("0.5*BCE + iou", (("ce", 0.5), ("jaccard", 1.0))),
        ({"name": "focal", "gamma": 1}, (("focal", 1.0),)),
    ],
)
def test_parse_loss(spec, terms):
    parsed = parse_loss(spec)
    assert parsed.terms == terms
    assert parse_loss(parsed.describe()).terms == terms


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("dcie", "did you mean 'dice'"),
        ("ce+", "unknown term"),
        ({"type": "dice", "smoth": 1}, "did you mean 'smooth'"),
        ({"type": "ce", "class_weights": [-1, 1]}, "non-negative"),
        (3, "name or a mapping"),
    ],
)
def test_parse_loss_errors(spec, match):
    with pytest.raises(ConfigError, match=match):
        parse_loss(spec)


# ---------------------------------------------------------------- augmentation
STILL = {"rotate": 0, "scale": [1, 1], "translate": 0, "perspective": 0}
NO_COLOUR = {
    "brightness": 0,
    "contrast": 0,
    "saturation": 0,
    "hue": 0,
    "blur": 0,
    "noise": 0,
    "jpeg": 0,
}


def _coded_pair(size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A mask of four classes in blocks and an image whose grey level is 60 x class."""
    mask = np.zeros((size, size), np.uint8)
    mask[8:40, 10:50], mask[20:56, 30:60], mask[44:60, 4:20] = 1, 2, 3
    image = np.repeat((mask * 60)[..., None], 3, axis=2).astype(np.uint8)
    return image, mask


def test_geometry_keeps_image_and_mask_aligned():
    image, mask = _coded_pair()
    cfg = AugmentConfig.from_dict({"rotate": 30, "perspective": 0.1, "rotate90": 1.0, **NO_COLOUR})
    for seed in range(5):
        out, out_mask = augment_pair(image, mask, np.random.default_rng(seed), cfg, PAD_VALUE)
        counted = out_mask != 255
        assert counted.mean() > 0.3
        agree = out[..., 0][counted] == out_mask[counted].astype(int) * 60
        assert agree.mean() > 0.9  # only bilinear edge pixels differ
        # away from the edge (where bilinear sampling blends), outside pixels are pad-coloured
        inner = cv2.erode((~counted).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        assert (out[inner] == PAD_VALUE).all()


def test_flip_is_exact_and_off_by_default():
    image, mask = _coded_pair()
    flip = AugmentConfig.from_dict({"hflip": 1.0, **STILL, **NO_COLOUR})
    out, out_mask = augment_pair(image, mask, np.random.default_rng(0), flip, PAD_VALUE)
    np.testing.assert_array_equal(out_mask, mask[:, ::-1])
    np.testing.assert_array_equal(out, image[:, ::-1])
    assert AugmentConfig().hflip == 0.0 and AugmentConfig().vflip == 0.0


def test_augmentation_depends_only_on_the_generator():
    image, mask = _coded_pair()
    cfg = AugmentConfig()
    a = augment_pair(image, mask, np.random.default_rng([0, 1, 2]), cfg, PAD_VALUE)
    b = augment_pair(image, mask, np.random.default_rng([0, 1, 2]), cfg, PAD_VALUE)
    c = augment_pair(image, mask, np.random.default_rng([0, 2, 2]), cfg, PAD_VALUE)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"hflp": 0.5}, "did you mean 'hflip'"),
        ({"blur": 2}, "probability"),
        ({"rotate": -1}, "non-negative"),
        ({"scale": [1.2, 0.8]}, "low <= high"),
        ("yes", "mapping or a boolean"),
    ],
)
def test_augment_config_errors(data, match):
    with pytest.raises(ConfigError, match=match):
        AugmentConfig.from_dict(data)


# ---------------------------------------------------------------- data
NAMES = ("background", "document", "portrait", "mrz", "text", "signature", "barcode")


@pytest.mark.parametrize(
    ("wanted", "names", "lut"),
    [
        (None, NAMES, [0, 1, 2, 3, 4, 5, 6, 255]),
        (["background", "document"], ("background", "document"), [0, 1, 1, 1, 1, 1, 1, 255]),
        (
            ["background", "document", "mrz"],
            ("background", "document", "mrz"),
            [0, 1, 1, 2, 1, 1, 1, 255],
        ),
        (
            ["document", "portrait", "barcode"],
            ("document", "portrait", "barcode"),
            [0, 0, 1, 0, 0, 0, 2, 255],
        ),
        (["background", "mrz"], ("background", "mrz"), [0, 0, 0, 1, 0, 0, 0, 255]),
    ],
)
def test_class_mapping(wanted, names, lut):
    got_names, got_lut = class_mapping(NAMES, wanted)
    assert got_names == names
    assert got_lut[:8].tolist() == lut


@pytest.mark.parametrize(
    ("wanted", "match"),
    [
        (["background", "documnet"], "did you mean 'document'"),
        (["mrz"], "two or more"),
        (["mrz", "mrz"], "distinct"),
    ],
)
def test_class_mapping_errors(wanted, match):
    with pytest.raises(InputError, match=match):
        class_mapping(NAMES, wanted)


def _write_sample(folder: Path, name: str, image: np.ndarray, mask: np.ndarray) -> Sample:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(folder / "images" / f"{name}.png")
    Image.fromarray(mask).save(folder / "masks" / f"{name}.png")
    return Sample(folder / "images" / f"{name}.png", folder / "masks" / f"{name}.png", name)


def test_load_pair_letterboxes_image_and_mask_together(tmp_path: Path):
    image = np.zeros((40, 80, 3), np.uint8)
    mask = np.zeros((40, 80), np.uint8)
    image[10:30, 20:60], mask[10:30, 20:60] = 255, 3
    _, lut = class_mapping(NAMES)
    canvas, target = load_pair(_write_sample(tmp_path, "a", image, mask), 32, lut)
    assert canvas.shape == (32, 32, 3) and target.shape == (32, 32)
    assert (target[:8] == 255).all() and (target[24:] == 255).all()  # padding is ignored
    assert (canvas[:8] == PAD_VALUE).all()
    np.testing.assert_array_equal(target[8:24] == 3, canvas[8:24, :, 0] > 127)
    with pytest.raises(InputError, match="mask is"):
        load_pair(_write_sample(tmp_path, "b", image, mask[:, :40]), 32, lut)


def test_epoch_sampler_is_a_seeded_permutation():
    s = EpochSampler(10, seed=3)
    first = list(s)
    s.set_epoch(1)
    assert sorted(first) == list(range(10)) and list(s) != first
    s.set_epoch(0)
    assert list(s) == first


# ---------------------------------------------------------------- training
@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from idseg.documents.synth.dataset import generate_dataset

    out = tmp_path_factory.mktemp("synth") / "ds"
    generate_dataset(out, n=12, seed=0, size=(96, 128), workers=1, negatives=0.0)
    return out


def _cfg(data: Path, **kw):
    base = {
        "data": str(data),
        "model": "unet-test",
        "size": 64,
        "batch_size": 4,
        "epochs": 2,
        "lr": 0.02,
        "deterministic": True,
        "val_ratio": 0.25,
        "device": "cpu",
    }
    return resolve_train_config(**{**base, **kw})


def test_flat_dataset_is_split_by_group(synth: Path):
    a = open_training_data(synth, val_ratio=0.25, seed=0)
    assert a.source == "split by group" and len(a.train) + len(a.val) == 12
    assert not {s.group for s in a.train} & {s.group for s in a.val}
    b = open_training_data(synth, val_ratio=0.25, seed=0)
    assert [s.name for s in a.val] == [s.name for s in b.val]


def test_two_epochs_write_loadable_files_and_the_loss_falls(synth: Path, tmp_path: Path):
    out = tmp_path / "run"
    result = train_unet(_cfg(synth), out)
    assert result.epochs == 2 and len(result.history) == 2
    first, second = result.history
    assert second["train_loss"] < first["train_loss"]
    for name in ("last.pt", "best.pt", "metrics.json", "config.json"):
        assert (out / name).is_file(), name
    last = torch.load(out / "last.pt", weights_only=True)
    assert last["epoch"] == 2 and {"optimizer", "scheduler", "model", "config", "metrics"} <= set(
        last
    )
    best = torch.load(out / "best.pt", weights_only=True)
    assert best["epoch"] == result.best_epoch and "optimizer" not in best
    records = json.loads((out / "metrics.json").read_text())
    assert [r["epoch"] for r in records] == [1, 2]
    assert set(records[0]["iou"]) == set(NAMES)
    assert records[1]["mean_iou"] == pytest.approx(last["metrics"]["mean_iou"])
    model, info = load_unet(out / "best.pt")
    assert info.classes == NAMES and info.size == 64
    image = np.zeros((50, 70, 3), np.uint8)
    assert predict_mask(model, image, info.size).shape == (50, 70)
    again = resolve_train_config(out / "config.json")
    assert again == _cfg(synth, classes=list(NAMES))


def test_resume_matches_an_uninterrupted_run(synth: Path, tmp_path: Path):
    cfg = _cfg(synth, epochs=3)
    train_unet(cfg, tmp_path / "a", stop_after=2)
    assert torch.load(tmp_path / "a" / "last.pt", weights_only=True)["epoch"] == 2
    resumed = train_unet(cfg, tmp_path / "a", resume=True)
    straight = train_unet(cfg, tmp_path / "b")
    assert resumed.epochs == straight.epochs == 3
    wa = torch.load(tmp_path / "a" / "last.pt", weights_only=True)["model"]
    wb = torch.load(tmp_path / "b" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wb)
    ma = json.loads((tmp_path / "a" / "metrics.json").read_text())
    mb = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert [r["train_loss"] for r in ma] == [r["train_loss"] for r in mb]
    with pytest.raises(ConfigError, match="changed settings"):
        train_unet(_cfg(synth, epochs=4, lr=0.5), tmp_path / "a", resume=True)
    with pytest.raises(CheckpointError, match="does not exist"):
        train_unet(cfg, tmp_path / "nothing", resume=True)


def test_init_starts_from_another_runs_weights(synth: Path, tmp_path: Path):
    from idseg.train.data import open_training_data as open_data
    from idseg.train.unet_setup import build_run

    train_unet(_cfg(synth, epochs=1), tmp_path / "base")
    source = torch.load(tmp_path / "base" / "last.pt", weights_only=True)["model"]
    cfg = _cfg(synth, epochs=1, init=str(tmp_path / "base" / "last.pt"))
    run = build_run(
        cfg, open_data(cfg.data or "", None, cfg.val_ratio, cfg.seed), torch.device("cpu")
    )
    assert all(torch.equal(run.model.state_dict()[k], v) for k, v in source.items())
    fresh = build_run(
        _cfg(synth, epochs=1), open_data(cfg.data or "", None, 0.25, 0), torch.device("cpu")
    )
    assert not all(torch.equal(fresh.model.state_dict()[k], v) for k, v in source.items())
    # a config file's relative init path is read from the file's folder, and written back absolute
    (tmp_path / "ft.yaml").write_text("train:\n  init: base/last.pt\n")
    from_file = resolve_train_config(tmp_path / "ft.yaml", data=str(synth))
    assert Path(from_file.init or "") == tmp_path / "base" / "last.pt"
    train_unet(cfg, tmp_path / "ft")
    saved = json.loads((tmp_path / "ft" / "config.json").read_text())
    assert saved["train"]["init"] == str((tmp_path / "base" / "last.pt").absolute())


def test_init_may_add_classes_after_the_checkpoints(synth: Path, tmp_path: Path):
    from idseg.train.data import open_training_data as open_data
    from idseg.train.unet_setup import build_run

    train_unet(_cfg(synth, epochs=1, classes=list(NAMES[:3])), tmp_path / "base")
    base, _ = load_unet(tmp_path / "base" / "last.pt")
    cfg = _cfg(synth, epochs=1, classes=list(NAMES[:4]), init=str(tmp_path / "base" / "last.pt"))
    run = build_run(
        cfg, open_data(cfg.data or "", None, cfg.val_ratio, cfg.seed), torch.device("cpu")
    )
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        old, new = base.eval()(x), run.model.eval()(x)
    assert new.shape[1] == 4
    torch.testing.assert_close(new[:, :3], old)  # the widened model predicts what it did
    torch.testing.assert_close(new[:, 3], old[:, 0] - 2.0)  # the new class: background, lower
    assert train_unet(cfg, tmp_path / "wide").epochs == 1
    with pytest.raises(ConfigError, match="more after them"):  # classes may not go in between
        train_unet(
            _cfg(synth, epochs=1, classes=[NAMES[0], NAMES[3], NAMES[1], NAMES[2]], init=cfg.init),
            tmp_path / "c",
        )


def test_init_refuses_another_architecture_or_classes(synth: Path, tmp_path: Path):
    train_unet(_cfg(synth, epochs=1), tmp_path / "base")
    init = str(tmp_path / "base" / "last.pt")
    with pytest.raises(ConfigError, match="another architecture"):
        train_unet(_cfg(synth, epochs=1, init=init, model="unet-nano"), tmp_path / "a")
    for classes in (["background", "document"], [NAMES[0], *reversed(NAMES[1:])]):
        with pytest.raises(ConfigError, match="predicts"):
            train_unet(_cfg(synth, epochs=1, init=init, classes=classes), tmp_path / "b")
    with pytest.raises(CheckpointError, match="not found"):
        train_unet(_cfg(synth, epochs=1, init=str(tmp_path / "none.pt")), tmp_path / "c")


def test_binary_model(synth: Path, tmp_path: Path):
    # one class name: the foreground, against the dataset's class 0
    cfg = _cfg(synth, epochs=1, classes=["document"], binary=True, loss="bce+dice")
    train_unet(cfg, tmp_path / "bin")
    model, info = load_unet(tmp_path / "bin" / "last.pt")
    assert info.binary and info.classes == ("background", "document")
    assert model.config.num_classes == 1
    assert set(np.unique(predict_mask(model, np.zeros((30, 40, 3), np.uint8), 64))) <= {0, 1}


def test_config_file_of_the_original_wrapper(synth: Path, tmp_path: Path):
    legacy = {
        "image_size": 64,
        "num_classes": 2,
        "class_names": ["background", "document"],
        "augmentation": {"hflip": True, "rotate": 10},
        "loss": {"type": "dice"},
        "optimizer": {"type": "adamw", "lr": 1e-4},
        "lr_scheduler": {"type": "cosine"},
        "paths": {"train": str(synth)},
        "mixed_precision": True,
    }
    (tmp_path / "config.json").write_text(json.dumps(legacy))
    cfg = resolve_train_config(tmp_path / "config.json", epochs=1)
    assert (cfg.size, cfg.classes, cfg.lr, cfg.augment.hflip) == (
        64,
        ("background", "document"),
        1e-4,
        0.5,
    )
    assert cfg.data == str(synth) and cfg.mixed_precision == "auto" and cfg.epochs == 1
    (tmp_path / "binary.json").write_text(
        json.dumps({**legacy, "num_classes": 1, "class_names": ["document"]})
    )
    binary = resolve_train_config(tmp_path / "binary.json")
    assert binary.binary and binary.classes == ("document",)
    with pytest.raises(ConfigError, match="did you mean 'epochs'"):
        (tmp_path / "bad.json").write_text(json.dumps({"train": {"epohcs": 3}}))
        resolve_train_config(tmp_path / "bad.json")


# ---------------------------------------------------------------- CLI
def test_cli_trains_and_reports(synth: Path, tmp_path: Path):
    from idseg.cli.train import app

    out = tmp_path / "cli"
    args = [
        "unet",
        "--data",
        str(synth),
        "--out",
        str(out),
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--size",
        "32",
        "--model",
        "unet-test",
        "--val-ratio",
        "0.25",
        "--deterministic",
        "--device",
        "cpu",
    ]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["epochs"] == 1 and summary["classes"] == list(NAMES)
    assert (out / "best.pt").is_file()
    more = CliRunner().invoke(app, ["unet", "--out", str(out), "--resume", "--epochs", "2"])
    assert more.exit_code == 0, more.output
    assert "epoch 2:" in more.output
    assert len(json.loads((out / "metrics.json").read_text())) == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--loss", "dcie"], "did you mean 'dice'"),
        (["--model", "unet-huge"], "unknown U-Net size"),
        (["--classes", "background,docment"], "did you mean 'document'"),
    ],
)
def test_cli_errors(synth: Path, tmp_path: Path, extra, message):
    from idseg.cli.train import app

    args = [
        "unet",
        "--data",
        str(synth),
        "--out",
        str(tmp_path / "x"),
        "--epochs",
        "1",
        "--size",
        "32",
        *extra,
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output


def test_cli_resume_without_a_run(tmp_path: Path):
    from idseg.cli.train import app

    result = CliRunner().invoke(app, ["unet", "--out", str(tmp_path / "none"), "--resume"])
    assert result.exit_code == 2 and "cannot resume" in result.output


def test_tensorboard_is_optional(monkeypatch, tmp_path: Path, caplog):
    import logging
    import sys

    from idseg.train.unet_setup import tensorboard_writer

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    with caplog.at_level(logging.INFO, logger="idseg.train.unet_setup"):
        assert tensorboard_writer(tmp_path) is None
    assert "tensorboard is not installed" in caplog.text
    assert not (tmp_path / "tensorboard").exists()
