"""Building a SAM2 training run: model, parts that train, data, optimiser, schedule, state files.

A run writes into ``out``:

- ``last.pt`` / ``best.pt``: Meta's format, ``{"model": state_dict}`` with LoRA merged, loadable
  by ``build_sam2``, by :func:`idseg.models.sam2.load_sam2` and by every idseg command;
- ``model.yaml``: the SAM2 config the weights belong to (``--config out/model.yaml``);
- ``train_state.pt``: what resuming needs (live weights with adapters, optimiser, schedule,
  scaler, epoch, best score; weights-only loadable);
- ``config.json`` (the settings in config-file form plus ``resolved`` facts), ``metrics.json``.
"""

from __future__ import annotations

import logging
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from idseg.errors import CheckpointError, ConfigError
from idseg.io.atomic import atomic_path
from idseg.train.data import EpochSampler
from idseg.train.sam2_config import Sam2TrainConfig
from idseg.train.sam2_data import Sam2Data, Sam2Dataset, collate_objects, open_sam2_data
from idseg.train.sam2_loss import MaskLoss
from idseg.train.sam2_model import add_lora, meta_state_dict, set_trainable
from idseg.train.unet_setup import amp_settings, lr_factor

logger = logging.getLogger(__name__)

__all__ = ["STATE_FORMAT", "Sam2Run", "build_sam2_run", "read_state", "restore_state", "save_state"]

STATE_FORMAT = "idseg-sam2-train/1"
#: Settings a resumed run may change.
RESUMABLE = ("epochs", "workers", "device", "deterministic")


@dataclass
class Sam2Run:
    """The live objects of one SAM2 training run."""

    cfg: Sam2TrainConfig
    device: torch.device
    model: Any
    classes: tuple[str, ...]
    train_set: Sam2Dataset
    train_loader: DataLoader[Any]
    val_loader: DataLoader[Any]
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    amp_dtype: torch.dtype | None
    loss: MaskLoss
    encoder_trains: bool
    config_path: Path
    config_doc: dict[str, Any]


def step_factor(
    step: int, steps_per_epoch: int, warmup: int, step_size: int, gamma: float
) -> float:
    """Multiplier of the ``step`` schedule: warm-up, then ``gamma`` every ``step_size`` epochs.

    Example:
        >>> [step_factor(s, 10, 0, 2, 0.1) for s in (0, 19, 20, 40)]
        [1.0, 1.0, 0.1, 0.010000000000000002]
    """
    if step < warmup:
        return (step + 1) / warmup
    return gamma ** (step // (steps_per_epoch * step_size))


def make_sam2_optimizer(
    cfg: Sam2TrainConfig, model: torch.nn.Module, steps_per_epoch: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """The optimiser over the trainable parameters and its per-step schedule."""
    train = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in train if p.ndim > 1], "weight_decay": cfg.weight_decay},
        {"params": [p for p in train if p.ndim <= 1], "weight_decay": 0.0},
    ]
    groups = [g for g in groups if g["params"]]
    optimizer: torch.optim.Optimizer
    if cfg.optimizer == "sgd":
        optimizer = torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, nesterov=True)
    elif cfg.optimizer == "adam":
        optimizer = torch.optim.Adam(groups, lr=cfg.lr)
    else:
        optimizer = torch.optim.AdamW(groups, lr=cfg.lr)
    total = max(1, cfg.epochs * steps_per_epoch)
    warmup = min(total, round(cfg.warmup_epochs * steps_per_epoch))

    def schedule(step: int) -> float:
        if cfg.scheduler == "step":
            return step_factor(step, steps_per_epoch, warmup, cfg.step_size, cfg.gamma)
        return lr_factor(step, total, warmup, cfg.scheduler, cfg.min_lr_ratio)

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


def _load_model(cfg: Sam2TrainConfig) -> tuple[Any, Path]:
    from idseg.models.configs import resolve_config
    from idseg.models.sam2 import build_model, load_resolved, resolve_model

    if cfg.scratch:
        assert cfg.model_config is not None  # validated
        torch.manual_seed(cfg.seed)
        return build_model(cfg.model_config, "cpu"), resolve_config(cfg.model_config)
    resolved = resolve_model(cfg.checkpoint, cfg.model_config)
    return load_resolved(resolved, "cpu"), resolved.config


def _keep(cfg: Sam2TrainConfig, classes: tuple[str, ...]) -> np.ndarray:
    keep = np.zeros(max(len(classes), 1), bool)
    if cfg.classes is None:
        keep[1:] = True
        return keep
    unknown = [c for c in cfg.classes if c not in classes]
    if unknown:
        raise ConfigError(f"class_names {unknown} are not in the dataset's classes {list(classes)}")
    for name in cfg.classes:
        keep[classes.index(name)] = True
    return keep


def _loaders(
    cfg: Sam2TrainConfig, data: Sam2Data, size: int, device: torch.device
) -> tuple[Sam2Dataset, DataLoader[Any], DataLoader[Any]]:
    keep = _keep(cfg, data.classes)
    train_set = Sam2Dataset(
        data.train, size, keep, cfg.objects, cfg.min_area, cfg.augment, cfg.seed
    )
    val_set = Sam2Dataset(data.val, size, keep, cfg.val_objects, cfg.min_area, None, cfg.seed + 1)
    workers = 0 if cfg.deterministic else (cfg.workers if cfg.workers is not None else 0)
    if cfg.workers is None and device.type == "cuda" and not cfg.deterministic:
        import os

        workers = min(8, os.cpu_count() or 1)
    common: dict[str, Any] = {"collate_fn": collate_objects, "num_workers": workers}
    train_loader = DataLoader(
        train_set,
        batch_size=cfg.batch_size,
        sampler=EpochSampler(len(train_set), cfg.seed),
        **common,
    )
    val_loader = DataLoader(val_set, batch_size=cfg.batch_size, shuffle=False, **common)
    return train_set, train_loader, val_loader


def build_sam2_run(cfg: Sam2TrainConfig, device: torch.device) -> Sam2Run:
    """Load the model and data and set up the optimiser for ``cfg``.

    Raises:
        ConfigError: ``image_size`` differs from the model's, or unknown class names.
        CheckpointError: The base checkpoint cannot be read or does not fit its config.
        InputError: Unusable data.
    """
    model, config_path = _load_model(cfg)
    size = int(model.image_size)
    if cfg.image_size is not None and cfg.image_size != size:
        raise ConfigError(
            f"image_size {cfg.image_size} differs from the model's input size {size} (fixed by the SAM2 config {config_path.name}); drop image_size or use a config with model.image_size: {cfg.image_size}"
        )
    torch.manual_seed(cfg.seed)  # LoRA's initial A
    if cfg.lora_rank:
        wrapped = add_lora(model, cfg.lora_rank, cfg.lora_alpha)
        logger.info("LoRA rank %d on %d encoder layers", cfg.lora_rank, wrapped)
    parts = ("all",) if cfg.scratch else cfg.trainable
    n_train = set_trainable(model, parts)
    model.to(device).train()
    data = open_sam2_data(cfg.data or "", cfg.val, cfg.val_ratio, cfg.seed, cfg.instances)
    train_set, train_loader, val_loader = _loaders(cfg, data, size, device)
    steps = max(1, math.ceil(len(train_loader) / cfg.accumulate))
    optimizer, scheduler = make_sam2_optimizer(cfg, model, steps)
    amp_dtype, scaler = amp_settings(cfg.mixed_precision, device)
    encoder_trains = any(p.requires_grad for p in model.image_encoder.parameters())
    doc = cfg.to_file_dict()
    doc["resolved"] = {
        "model_config": config_path.stem,
        "image_size": size,
        "classes": list(data.classes),
        "trained_classes": [
            c for c, k in zip(data.classes, _keep(cfg, data.classes), strict=False) if k
        ],
        "data": {"source": data.source, "train": len(data.train), "val": len(data.val)},
        "trainable_parameters": n_train,
        "parameters": sum(p.numel() for p in model.parameters()),
        "device": str(device),
        "precision": str(amp_dtype).replace("torch.", "") if amp_dtype else "float32",
    }
    return Sam2Run(
        cfg, device, model, data.classes, train_set, train_loader, val_loader, optimizer,
        scheduler, scaler, amp_dtype, MaskLoss(cfg.loss_weights), encoder_trains, config_path, doc,
    )  # fmt: skip


def save_weights(run: Sam2Run, path: Path) -> None:
    """Write Meta's ``{"model": state_dict}`` (LoRA merged) atomically."""
    with atomic_path(path) as tmp:
        torch.save({"model": meta_state_dict(run.model)}, tmp)


def copy_model_config(run: Sam2Run, out: Path) -> Path:
    """Copy the run's SAM2 config to ``out/model.yaml`` (atomically) and return its path."""
    target = out / "model.yaml"
    with atomic_path(target) as tmp:
        shutil.copyfile(run.config_path, tmp)
    return target


def save_state(run: Sam2Run, path: Path, epoch: int, best: tuple[float, int]) -> None:
    """Write what resuming needs, atomically (weights-only loadable)."""
    state = {
        "format": STATE_FORMAT,
        "model": run.model.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        "scaler": run.scaler.state_dict(),
        "epoch": epoch,
        "best_score": best[0],
        "best_epoch": best[1],
        "config": run.config_doc,
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def read_state(out: Path) -> dict[str, Any]:
    """``out/train_state.pt``, read with ``weights_only=True``.

    Raises:
        CheckpointError: Missing, unreadable, or not a state of ``idseg train sam2``.
    """
    path = out / "train_state.pt"
    if not path.is_file():
        raise CheckpointError(f"cannot resume: {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError, EOFError ...
        raise CheckpointError(f"cannot read {path.name} as a weights-only file: {exc}") from exc
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{path}: not a state of idseg train sam2 ({STATE_FORMAT})")
    return state


def restore_state(run: Sam2Run, state: dict[str, Any]) -> None:
    """Check the settings against the stored ones and load weights, optimiser and schedule.

    Raises:
        ConfigError: Settings other than :data:`RESUMABLE` changed.
        CheckpointError: States that do not fit.
    """
    before = state.get("config", {})
    now = run.config_doc
    for top in ("class_names", "paths", "model"):
        a, b = dict(now.get(top) or {}) if top == "model" else now.get(top), before.get(top)
        if top == "model" and isinstance(a, dict) and isinstance(b, dict):
            a, b = {**a, "device": None}, {**b, "device": None}
        if a != b:
            raise ConfigError(f"cannot resume with a different {top}: stored {b!r}, now {a!r}")
    # A setting the stored run did not know (an older idseg) had its default value.
    stored = {**Sam2TrainConfig().to_file_dict()["train"], **before.get("train", {})}
    changed = [k for k, v in now["train"].items() if k not in RESUMABLE and stored.get(k) != v]
    if changed:
        raise ConfigError(
            f"cannot resume with changed settings {changed}; only {', '.join(RESUMABLE)} may change"
        )
    from idseg.models.checkpoints import load_state_dict_strict

    load_state_dict_strict(run.model, state["model"], "train_state.pt")
    try:
        run.optimizer.load_state_dict(state["optimizer"])
        run.scheduler.load_state_dict(state["scheduler"])
        run.scaler.load_state_dict(state["scaler"])
    except (KeyError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"train_state.pt: cannot restore the optimiser: {exc}") from exc
