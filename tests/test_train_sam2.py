"""idseg train sam2: the differentiable forward equals Meta's predictor, prompts, losses, LoRA,
parts that train, data sources, checkpoints in Meta's format (loaded by build_sam2), resume."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from _helpers import make_scene, meta_predictor
from idseg.errors import CheckpointError, ConfigError, InputError
from idseg.train.sam2_config import Sam2TrainConfig, parse_sam_loss, resolve_sam2_config
from idseg.train.sam2_data import Sam2Dataset, collate_objects, open_sam2_data
from idseg.train.sam2_loss import MaskLoss, dice_per_mask, focal_per_mask, mask_iou
from idseg.train.sam2_model import (
    LoRALinear,
    add_lora,
    decode_prompts,
    embed_images,
    meta_state_dict,
    normalize_images,
    set_trainable,
)
from idseg.train.sam2_prompts import corrective_points, jittered_boxes, mask_boxes, random_points

TINY = "idseg_test_tiny"


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from idseg.documents.synth.dataset import generate_dataset

    out = tmp_path_factory.mktemp("sam2data") / "ds"
    generate_dataset(
        out, 8, seed=0, size=(96, 128), docs_per_scene=(1, 2), negatives=0.0, workers=1
    )
    return out


def _cfg(synth: Path, ckpt: Path, **kw) -> Sam2TrainConfig:
    base = dict(
        data=str(synth), checkpoint=str(ckpt), model_config=TINY, epochs=1, batch_size=2,
        val_ratio=0.3, device="cpu", deterministic=True, objects=4, val_objects=4,
    )  # fmt: skip
    base.update(kw)
    return resolve_sam2_config(**base)


# --- the forward pass -----------------------------------------------------------------------


def test_training_forward_equals_metas_predictor(tiny_model):
    img = cv2.resize(make_scene(), (256, 256), interpolation=cv2.INTER_AREA)
    meta = meta_predictor(tiny_model)
    meta.set_image(img)
    x = normalize_images(torch.from_numpy(img.transpose(2, 0, 1)).unsqueeze(0))
    with torch.no_grad():
        embed, high = embed_images(tiny_model, x)
        cases = [
            (np.array([[60.0, 70.0]]), np.array([1]), None, True),
            (np.array([[60.0, 70.0], [200.0, 150.0]]), np.array([1, 0]), None, False),
            (None, None, np.array([20.0, 30.0, 140.0, 120.0]), False),
        ]
        for pts, lab, box, multi in cases:
            _, scores, low_meta = meta.predict(
                pts, lab, box, multimask_output=multi, return_logits=True
            )
            coords, labels = [], []
            if box is not None:
                coords.append(torch.tensor(box, dtype=torch.float32).reshape(1, 2, 2))
                labels.append(torch.tensor([[2, 3]], dtype=torch.int32))
            if pts is not None:
                coords.append(torch.tensor(pts, dtype=torch.float32)[None])
                labels.append(torch.tensor(lab, dtype=torch.int32)[None])
            low, iou = decode_prompts(
                tiny_model,
                embed,
                high,
                torch.tensor([0]),
                torch.cat(coords, 1),
                torch.cat(labels, 1),
                None,
                multi,
            )
            np.testing.assert_allclose(low[0].numpy(), low_meta, atol=2e-4)
            np.testing.assert_allclose(iou[0].numpy(), scores, atol=2e-5)


def test_decode_batches_objects_of_several_images(tiny_model):
    imgs = [cv2.resize(make_scene(seed=s), (256, 256)) for s in (0, 1)]
    x = normalize_images(torch.from_numpy(np.stack(imgs).transpose(0, 3, 1, 2)))
    pts = torch.tensor([[[50.0, 60.0]], [[120.0, 90.0]], [[50.0, 60.0]]])
    lab = torch.ones(3, 1, dtype=torch.int32)
    with torch.no_grad():
        embed, high = embed_images(tiny_model, x)
        low, _ = decode_prompts(
            tiny_model, embed, high, torch.tensor([0, 1, 1]), pts, lab, None, True
        )
        e1, h1 = embed_images(tiny_model, x[1:])
        alone, _ = decode_prompts(
            tiny_model, e1, h1, torch.tensor([0]), pts[2:], lab[2:], None, True
        )
    np.testing.assert_allclose(low[2].numpy(), alone[0].numpy(), atol=1e-4)
    assert not torch.allclose(low[0], low[2], atol=1e-3)  # same point, other image


# --- prompts ----------------------------------------------------------------------------------


def test_boxes_points_and_corrective_clicks_follow_the_masks():
    m = torch.zeros(2, 40, 50, dtype=torch.bool)
    m[0, 5:15, 10:30] = True
    m[1, 20:38, 2:9] = True
    assert mask_boxes(m).tolist() == [[10, 5, 30, 15], [2, 20, 9, 38]]
    rng = np.random.default_rng(0)
    boxes = jittered_boxes(m, rng, noise=0.5, max_noise=3.0)
    assert (boxes - mask_boxes(m)).abs().max() <= 3.0 + 1e-6 and (boxes >= 0).all()
    coords, labels = random_points(m, rng, n=5)
    for k in range(2):
        xs, ys = coords[k, :, 0].long(), coords[k, :, 1].long()
        assert m[k, ys, xs].all() and (labels[k] == 1).all()
    pred = m.clone()
    pred[0, 5:15, 20:30] = False  # half of object 0 missed
    pred[1, 0:10, 40:50] = True  # object 1 spills far away
    c, lab = corrective_points(pred, m, rng, center=True)
    assert lab.tolist() == [[1], [0]]
    x0, y0 = c[0, 0].long().tolist()
    assert m[0, y0, x0] and not pred[0, y0, x0]  # inside the missed part
    x1, y1 = c[1, 0].long().tolist()
    assert pred[1, y1, x1] and not m[1, y1, x1]  # inside the spill
    for _ in range(20):  # random clicks land in an error region with the matching label
        c, lab = corrective_points(pred, m, rng)
        for k in range(2):
            x, y = c[k, 0].long().tolist()
            assert bool(m[k, y, x]) == bool(lab[k, 0]) and pred[k, y, x] != m[k, y, x]


# --- losses -----------------------------------------------------------------------------------


def test_focal_dice_and_iou_against_hand_computed_values():
    t = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
    logits = torch.zeros(1, 2, 2)  # p = 0.5 everywhere
    # focal: ce = ln 2, (1 - p_t)^2 = 0.25; alpha 0.25 on the positive, 0.75 on the negatives
    expected = np.log(2) * 0.25 * (0.25 * 1 + 0.75 * 3) / 4
    assert float(focal_per_mask(logits, t)) == pytest.approx(expected, rel=1e-5)
    assert float(dice_per_mask(logits, t)) == pytest.approx(1 - (2 * 0.5 + 1) / (2 + 1 + 1))
    a = torch.tensor([[[True, True], [False, False]]])
    assert mask_iou(a, t.bool()).tolist() == [0.5]


def test_mask_loss_supervises_the_closest_candidate_and_every_iou():
    target = torch.zeros(1, 8, 8, dtype=torch.bool)
    target[0, :, :4] = True
    good = torch.where(target, 20.0, -20.0)[:, ::4, ::4]  # a 2x2 low-res version of the target
    low = torch.stack([-good, good, torch.zeros_like(good)], dim=1)  # candidate 1 is right
    _total, parts, best = MaskLoss({"focal": 20.0, "dice": 1.0, "iou": 1.0})(
        low, torch.tensor([[0.0, 1.0, 0.0]]), target
    )
    assert best.tolist() == [1]
    assert parts["dice"] < 0.05 and parts["focal"] < 0.05
    # IoU head: candidate 0 has IoU 0 (predicted 0), 1 has 1 (predicted 1), 2 (all zero logits,
    # nothing above 0) has IoU 0 (predicted 0): no IoU loss
    assert parts["iou"] == pytest.approx(0.0, abs=1e-6)
    assert parse_sam_loss("focal+dice") == (("focal", 20.0), ("dice", 1.0))


# --- LoRA and trainable parts ------------------------------------------------------------------


def test_lora_merges_into_metas_keys_with_the_same_output():
    from idseg.models.sam2 import build_model

    torch.manual_seed(0)
    model = build_model(TINY)
    keys = set(model.state_dict())
    n = add_lora(model, rank=2, alpha=4.0)
    assert n > 0 and set_trainable(model, ()) == sum(
        m.lora_A.numel() + m.lora_B.numel() for m in model.modules() if isinstance(m, LoRALinear)
    )
    for m in model.modules():
        if isinstance(m, LoRALinear):
            torch.nn.init.normal_(m.lora_B, std=0.05)
    merged = meta_state_dict(model)
    assert set(merged) == keys
    plain = build_model(TINY)
    plain.load_state_dict(merged, strict=True)
    x = normalize_images(
        torch.from_numpy(cv2.resize(make_scene(), (256, 256)).transpose(2, 0, 1))[None]
    )
    with torch.no_grad():
        a, _ = embed_images(model, x)
        b, _ = embed_images(plain, x)
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_only_the_chosen_parts_change(synth, tiny_checkpoint, tmp_path):
    from idseg.models.checkpoints import read_state_dict
    from idseg.train.sam2_loop import train_sam2

    train_sam2(_cfg(synth, tiny_checkpoint, trainable="mask_decoder", lr=1e-3), tmp_path / "run")
    before, after = read_state_dict(tiny_checkpoint), read_state_dict(tmp_path / "run" / "last.pt")
    assert set(before) == set(after)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("sam_mask_decoder.") for k in changed)


# --- data -------------------------------------------------------------------------------------


def _write_folder(root: Path) -> None:
    for split in ("train", "val"):
        (root / split / "images").mkdir(parents=True)
        (root / split / "masks").mkdir(parents=True)
        for i in range(2):
            img = make_scene(60, 80, seed=i)
            mask = np.zeros((60, 80), np.uint8)
            mask[5:20, 5:25] = 1
            mask[30:50, 40:70] = 1  # a second object of class 1
            mask[40:55, 5:20] = 2
            cv2.imwrite(str(root / split / "images" / f"{split}{i}.png"), img[:, :, ::-1])
            cv2.imwrite(str(root / split / "masks" / f"{split}{i}.png"), mask)
    (root / "train" / "dataset.json").write_text(
        json.dumps({"classes": ["background", "card", "photo"]})
    )
    (root / "val" / "dataset.json").write_text(
        json.dumps({"classes": ["background", "card", "photo"]})
    )


def test_folder_layout_objects_are_components_of_each_class(tmp_path):
    _write_folder(tmp_path / "data")
    data = open_sam2_data(tmp_path / "data")
    assert data.classes == ("background", "card", "photo") and len(data.train) == 2
    ds = Sam2Dataset(data.train, 64, np.array([False, True, True]), objects=8, min_area=4)
    item = ds[0]
    assert sorted(item["classes"].tolist()) == [1, 1, 2]
    expected = cv2.resize(
        cv2.imread(str(data.train[0].mask_path), cv2.IMREAD_UNCHANGED),
        (64, 64),
        interpolation=cv2.INTER_NEAREST,
    )
    union = item["masks"].any(0).numpy()
    np.testing.assert_array_equal(union, expected > 0)
    only_photo = Sam2Dataset(data.train, 64, np.array([False, False, True]), objects=8)
    assert only_photo[0]["classes"].tolist() == [2]
    batch = collate_objects([item, only_photo[0]])
    assert batch["image_index"].tolist() == [0, 0, 0, 1]


def test_coco_file_and_synth_coco_instances_overlap(synth, tmp_path):
    data = open_sam2_data(synth)
    assert "COCO" in data.source
    ds = Sam2Dataset(data.train, 128, np.ones(len(data.classes), bool), objects=64)
    item = max((ds[i] for i in range(len(ds))), key=lambda it: len(it["classes"]))
    assert 1 in item["classes"].tolist() and len(set(item["classes"].tolist())) > 1
    doc = item["masks"][item["classes"] == 1].any(0)
    fields = item["masks"][item["classes"] > 1].any(0)
    assert (fields & doc).sum() > 0.9 * fields.sum()  # fields lie on their document
    coco = open_sam2_data(synth / "coco.json", val_ratio=0.25)
    assert coco.classes == data.classes and len(coco.train) + len(coco.val) == 8
    with pytest.raises(InputError, match="COCO"):
        open_sam2_data(tmp_path, instances="coco")


# --- the loop ---------------------------------------------------------------------------------


def test_checkpoint_loads_in_metas_build_sam2_and_idseg(synth, tiny_checkpoint, tmp_path):
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from sam2.build_sam import build_sam2

    from idseg.sam.predictor import SAM2Predictor
    from idseg.train.sam2_loop import train_sam2

    out = tmp_path / "run"
    result = train_sam2(_cfg(synth, tiny_checkpoint, trainable="all", lr=1e-3), out)
    assert result.epochs == 1 and {"last.pt", "best.pt", "model.yaml", "train_state.pt"} <= {
        p.name for p in out.iterdir()
    }
    raw = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
    assert set(raw) == {"model"}
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(out), version_base="1.2"):
            meta_model = build_sam2("model", str(out / "last.pt"), device="cpu")
    finally:
        GlobalHydra.instance().clear()
        from hydra import initialize_config_module

        initialize_config_module("sam2", version_base="1.2")
    ours = SAM2Predictor.from_pretrained(
        str(out / "last.pt"), config=str(out / "model.yaml"), device="cpu"
    )
    img = make_scene()
    meta = meta_predictor(meta_model)
    meta.set_image(img)
    ours.set_image(img)
    m_meta, s_meta, _ = meta.predict(np.array([[100.0, 90.0]]), np.array([1]))
    answer = ours.predict([[100.0, 90.0]], [1])
    np.testing.assert_array_equal(answer.masks[0], m_meta)
    np.testing.assert_allclose(answer.scores[0], s_meta, atol=1e-5)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics[0]["epoch"] == 1 and 0 <= metrics[0]["box_iou"] <= 1 and metrics[0]["per_class"]


def test_training_lowers_the_loss(synth, tiny_checkpoint, tmp_path):
    from idseg.train.sam2_loop import train_sam2

    cfg = _cfg(synth, tiny_checkpoint, trainable="all", lr=2e-3, epochs=4, augment=False)
    history = train_sam2(cfg, tmp_path / "run").history
    assert history[-1]["train_loss"] < 0.9 * history[0]["train_loss"]


def test_resume_equals_one_run_and_refuses_changed_settings(synth, tiny_checkpoint, tmp_path):
    from idseg.models.checkpoints import read_state_dict
    from idseg.train.sam2_loop import train_sam2

    cfg = _cfg(synth, tiny_checkpoint, epochs=2, lr=1e-3, lora_rank=2, trainable="mask_decoder")
    train_sam2(cfg, tmp_path / "one")
    train_sam2(cfg, tmp_path / "two", stop_after=1)
    result = train_sam2(cfg, tmp_path / "two", resume=True)
    assert result.epochs == 2 and len(result.history) == 2
    a, b = (
        read_state_dict(tmp_path / "one" / "last.pt"),
        read_state_dict(tmp_path / "two" / "last.pt"),
    )
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=1e-5)
    with pytest.raises(ConfigError, match="lr"):
        train_sam2(
            _cfg(synth, tiny_checkpoint, epochs=2, lr=5e-4, lora_rank=2, trainable="mask_decoder"),
            tmp_path / "two",
            resume=True,
        )
    with pytest.raises(CheckpointError, match="does not exist"):
        train_sam2(cfg, tmp_path / "none", resume=True)


# --- settings ---------------------------------------------------------------------------------


def test_original_wrapper_config_keys_are_honoured(tmp_path, tiny_checkpoint, synth):
    legacy = {
        "model_type": TINY,
        "checkpoint_path": str(tiny_checkpoint),
        "image_size": 256,
        "num_classes": 3,
        "class_names": ["background", "document", "portrait"],
        "augmentation": {"hflip": 0.5, "rotate": 5},
        "loss": {"focal": 10, "dice": 1},
        "optimizer": {"type": "adamw", "lr": 3e-4, "weight_decay": 0.05},
        "lr_scheduler": {"type": "step", "step_size": 2, "gamma": 0.5},
        "paths": {"train": str(synth)},
        "mixed_precision": True,
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(legacy))
    cfg = resolve_sam2_config(path, epochs=1, device="cpu", val_ratio=0.3)
    assert (cfg.model_config, cfg.checkpoint, cfg.image_size) == (TINY, str(tiny_checkpoint), 256)
    assert cfg.classes == ("document", "portrait") and cfg.loss == (("focal", 10.0), ("dice", 1.0))
    assert (cfg.lr, cfg.weight_decay, cfg.scheduler, cfg.step_size, cfg.gamma) == (
        3e-4,
        0.05,
        "step",
        2,
        0.5,
    )
    assert cfg.augment.rotate == 5 and cfg.mixed_precision == "auto" and cfg.data == str(synth)
    from idseg.train.sam2_loop import train_sam2

    result = train_sam2(cfg, tmp_path / "run")
    stored = json.loads((tmp_path / "run" / "config.json").read_text())
    assert stored["resolved"]["trained_classes"] == ["document", "portrait"]
    assert set(result.history[0]["per_class"]) <= {"document", "portrait"}
    again = resolve_sam2_config(tmp_path / "run" / "config.json")
    assert again.to_file_dict() == cfg.to_file_dict()
    legacy["image_size"] = 1024
    path.write_text(json.dumps(legacy))
    with pytest.raises(ConfigError, match="image_size 1024 differs"):
        train_sam2(resolve_sam2_config(path, epochs=1, device="cpu"), tmp_path / "bad")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"trainable": "decoder"}, "did you mean 'mask_decoder'"),
        ({"checkpoint": None}, "no base checkpoint"),
        ({"scratch": True, "model_config": None}, "needs a model config"),
        ({"trainable": "", "lora_rank": 0}, "nothing would train"),
        ({"loss": "focal+bce"}, "loss term"),
        ({"box_prob": 1.5}, "box_prob"),
        ({"epochs": 0}, "epochs"),
    ],
)
def test_bad_settings_are_named(flags, message):
    base = {"data": "d", "checkpoint": "c.pt", "model_config": TINY}
    base.update(flags)
    with pytest.raises(ConfigError, match=message):
        resolve_sam2_config(**base)


def test_cli_trains_and_prints_json(synth, tiny_checkpoint, tmp_path):
    from typer.testing import CliRunner

    from idseg.cli.train import app

    args = ["sam2", "--checkpoint", str(tiny_checkpoint), "--model-config", TINY,
            "--data", str(synth), "--out", str(tmp_path / "run"), "--epochs", "1",
            "--batch-size", "4", "--device", "cpu", "--json"]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["epochs"] == 1 and 0 <= summary["best_mean_iou"] <= 1
    bad = CliRunner().invoke(app, [*args[:-1], "--trainable", "everything"])
    assert bad.exit_code != 0 and "trainable" in bad.output


@pytest.mark.slow
def test_official_config_checkpoint_loads_in_build_sam2_by_name(synth, tmp_path):
    """A fine-tuned sam2.1 hiera-tiny (random base) loads in Meta's builder by config name."""
    from sam2.build_sam import build_sam2

    from idseg.models.checkpoints import init_checkpoint, read_state_dict
    from idseg.train.sam2_loop import train_sam2

    base = init_checkpoint("sam2.1_hiera_t", tmp_path / "sam2.1_hiera_tiny.pt")
    cfg = _cfg(
        synth, base, model_config=None, batch_size=4, objects=2, val_objects=1, correction_rounds=1
    )
    train_sam2(cfg, tmp_path / "run")
    meta_model = build_sam2(
        "configs/sam2.1/sam2.1_hiera_t.yaml", str(tmp_path / "run" / "last.pt"), device="cpu"
    )
    tuned = read_state_dict(tmp_path / "run" / "last.pt")
    for key, value in meta_model.state_dict().items():
        assert torch.equal(value, tuned[key]), key
    before = read_state_dict(base)
    assert any(
        not torch.equal(before[k], tuned[k]) for k in tuned if k.startswith("sam_mask_decoder.")
    )


def test_negative_points_lie_around_the_object_outside_it():
    m = torch.zeros(1, 60, 60, dtype=torch.bool)
    m[0, 20:30, 20:30] = True
    coords, labels = random_points(m, np.random.default_rng(1), n=2, negatives=20)
    assert labels.tolist() == [[1, 1] + [0] * 20]
    xy = coords[0].long()
    assert m[0, xy[:2, 1], xy[:2, 0]].all()
    neg = xy[2:]
    assert not m[0, neg[:, 1], neg[:, 0]].any()
    assert (neg >= 15).all() and (neg < 35).all()  # within the box grown by half its size


def test_bundled_small_sam2_loads_by_name_and_beats_its_initial_weights(synth):
    """idseg_doc_small (trained from scratch by recipes/sam2_doc_small.sh) answers box prompts on
    synthetic documents far better than the random weights it started from."""
    from idseg.io.images import load_image
    from idseg.models.sam2 import build_model, bundled_sam2, load_sam2
    from idseg.sam.predictor import SAM2Predictor
    from idseg.train.sam2_data import _object_masks

    assert bundled_sam2("idseg-doc-small") is not None
    trained = SAM2Predictor(load_sam2("idseg_doc_small", device="cpu"))
    torch.manual_seed(0)
    initial = SAM2Predictor(build_model("idseg_doc_small"))
    data = open_sam2_data(synth)
    keep = np.ones(len(data.classes), bool)
    keep[0] = False
    scores: dict[str, list[float]] = {"trained": [], "initial": []}
    for sample in sorted(data.train, key=lambda s: s.image_path.name)[:3]:
        image = load_image(sample.image_path)
        masks, _ = _object_masks(sample, image.shape[:2], keep)
        for name, pred in (("trained", trained), ("initial", initial)):
            pred.set_image(image)
            for m in masks:
                if m.sum() < 64:
                    continue
                box = mask_boxes(torch.from_numpy(m)[None])[0].numpy()
                got = pred.predict(boxes=box[None], multimask_output=False).masks[0][0]
                scores[name].append(float(mask_iou(torch.from_numpy(got), torch.from_numpy(m))))
    assert np.mean(scores["trained"]) > np.mean(scores["initial"]) + 0.15
