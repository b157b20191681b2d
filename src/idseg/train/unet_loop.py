"""The U-Net training loop: data, model, optimiser, schedule, validation, checkpoints, resume.

One run writes into ``out``:

- ``config.json``: the resolved settings in config-file form (``--config out/config.json``
  repeats the run) plus ``idseg_version`` and ``resolved`` (architecture, classes, data counts,
  device, precision, class weights, parameter count);
- ``last.pt`` after every epoch: ``{"format", "model", "config", "epoch", "optimizer",
  "scheduler", "scaler", "metrics", "best_mean_iou", "best_epoch"}``; ``best.pt`` when the
  validation mean IoU improves, the same without the optimiser, scheduler and scaler states.
  Both hold only tensors, numbers, strings, lists and dicts (``torch.load(weights_only=True)``);
- ``metrics.json``: a list with one record per epoch (losses, learning rate, mean IoU, mean Dice,
  pixel accuracy, per-class IoU/Dice/recall/pixels, confusion matrix), rewritten atomically;
- ``tensorboard/`` when the ``tensorboard`` package (extra ``train``) is installed.

Validation metrics come from one confusion matrix over the whole validation set at the
letterboxed training resolution, padding excluded (:mod:`idseg.metrics`). Resuming reloads
``last.pt`` (weights, optimiser, schedule step, scaler) and goes on with the next epoch; with
``deterministic=True`` on CPU, a run stopped after two epochs and resumed for a third ends with
the same weights as three epochs in one go (on CUDA only as far as its kernels allow).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from idseg.errors import CheckpointError, ConfigError, IdsegError
from idseg.io.atomic import atomic_path, atomic_write_json
from idseg.metrics import ConfusionMatrix
from idseg.models.unet import UNet, build_unet, count_parameters
from idseg.train.data import (
    EpochSampler,
    SegmentationDataset,
    TrainingData,
    class_mapping,
    open_training_data,
)
from idseg.train.losses import SegmentationLoss
from idseg.train.unet_config import UNetTrainConfig
from idseg.train.unet_setup import (
    amp_settings,
    class_weights_for,
    make_optimizer,
    tensorboard_writer,
)

logger = logging.getLogger(__name__)

__all__ = ["CHECKPOINT_FORMAT", "TrainResult", "train_unet"]

CHECKPOINT_FORMAT = "idseg-unet/1"
#: Settings a resumed run may change; anything else must match ``last.pt``.
RESUMABLE = ("epochs", "workers", "device", "deterministic")

#: ``progress(phase, done, total)`` with phase ``"train"`` or ``"val"``.
ProgressFn = Callable[[str, int, int], None]


@dataclass
class TrainResult:
    """What a run did.

    Attributes:
        out: The output folder.
        epochs: Epochs trained in total (including those of a resumed run).
        best_epoch: Epoch of ``best.pt`` (0: none yet).
        best_mean_iou: Its validation mean IoU.
        history: The records of ``metrics.json``.
        classes: Model class names.

    Example:
        >>> TrainResult(Path("runs/a"), 3, 2, 0.8).last_checkpoint.name
        'last.pt'
    """

    out: Path
    epochs: int
    best_epoch: int
    best_mean_iou: float
    history: list[dict[str, Any]] = field(default_factory=list)
    classes: tuple[str, ...] = ()

    @property
    def last_checkpoint(self) -> Path:
        """``out/last.pt``."""
        return self.out / "last.pt"

    @property
    def best_checkpoint(self) -> Path:
        """``out/best.pt``."""
        return self.out / "best.pt"


@contextlib.contextmanager
def _determinism(on: bool, device: torch.device) -> Iterator[None]:
    """Deterministic kernels for the run; the previous global settings come back afterwards."""
    cudnn = torch.backends.cudnn
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        cudnn.deterministic,
        cudnn.benchmark,
    )
    if on:
        if device.type == "cuda":
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        cudnn.deterministic, cudnn.benchmark = True, False
    elif device.type == "cuda":
        cudnn.benchmark = True
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        cudnn.deterministic, cudnn.benchmark = saved[2], saved[3]


def _read_resume(out: Path) -> dict[str, Any]:
    path = out / "last.pt"
    if not path.is_file():
        raise CheckpointError(f"cannot resume: {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError, EOFError ...
        raise CheckpointError(
            f"cannot read {path.name} as a weights-only checkpoint: {exc}"
        ) from exc
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path}: not a training checkpoint of idseg train unet ({CHECKPOINT_FORMAT})"
        )
    return state


def _check_same(cfg: UNetTrainConfig, classes: tuple[str, ...], stored: dict[str, Any]) -> None:
    now = cfg.to_file_dict(classes)
    for top in ("image_size", "class_names", "paths"):
        if now[top] != stored.get(top):
            raise ConfigError(
                f"cannot resume with a different {top}: checkpoint {stored.get(top)!r}, now {now[top]!r}"
            )
    before = stored.get("train", {})
    changed = [k for k, v in now["train"].items() if k not in RESUMABLE and before.get(k) != v]
    if changed:
        raise ConfigError(
            f"cannot resume with changed settings {changed}; only {', '.join(RESUMABLE)} may change (use the run's config.json)"
        )


def _batches(
    loader: DataLoader[Any], device: torch.device
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for images, masks in loader:
        x = images.to(device, non_blocking=True).float().div_(255.0)
        yield x.contiguous(memory_format=torch.channels_last), masks.to(device, non_blocking=True)


def _train_epoch(run: _Run, epoch: int, progress: ProgressFn | None) -> dict[str, float]:
    run.model.train()
    run.train_set.set_epoch(epoch)
    run.sampler.set_epoch(epoch)
    total, seen, parts = 0.0, 0, dict.fromkeys(run.loss.last, 0.0)
    steps = len(run.train_loader)
    for step, (x, y) in enumerate(_batches(run.train_loader, run.device), 1):
        with torch.autocast(
            run.device.type, dtype=run.amp_dtype, enabled=run.amp_dtype is not None
        ):
            logits = run.model(x)
        loss = run.loss(logits.float(), y)
        if not torch.isfinite(loss):
            raise IdsegError(
                f"the training loss became {float(loss)} at epoch {epoch + 1}, step {step}; try a lower --lr"
            )
        run.optimizer.zero_grad(set_to_none=True)
        run.scaler.scale(loss).backward()
        run.scaler.unscale_(run.optimizer)
        if run.cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(run.model.parameters(), run.cfg.grad_clip)
        run.scaler.step(run.optimizer)
        run.scaler.update()
        run.scheduler.step()
        total += float(loss.detach()) * len(x)
        seen += len(x)
        for name, value in run.loss.last.items():
            parts[name] = parts.get(name, 0.0) + value * len(x)
        if progress is not None:
            progress("train", step, steps)
    return {
        "train_loss": total / max(seen, 1),
        **{f"train_{k}": v / max(seen, 1) for k, v in parts.items()},
    }


@torch.no_grad()
def _validate(run: _Run, progress: ProgressFn | None) -> dict[str, Any]:
    run.model.eval()
    cm = ConfusionMatrix(len(run.classes), run.classes, ignore_index=run.cfg.loss.ignore_index)
    total, seen = 0.0, 0
    steps = len(run.val_loader)
    for step, (x, y) in enumerate(_batches(run.val_loader, run.device), 1):
        with torch.autocast(
            run.device.type, dtype=run.amp_dtype, enabled=run.amp_dtype is not None
        ):
            logits = run.model(x).float()
        total += float(run.loss(logits, y)) * len(x)
        seen += len(x)
        pred = (logits[:, 0] > 0).long() if logits.shape[1] == 1 else logits.argmax(dim=1)
        cm.update(pred, y)
        if progress is not None:
            progress("val", step, steps)
    return {"val_loss": total / max(seen, 1), **cm.summary()}


@dataclass
class _Run:
    """The live objects of one run."""

    cfg: UNetTrainConfig
    device: torch.device
    classes: tuple[str, ...]
    model: UNet
    loss: SegmentationLoss
    train_set: SegmentationDataset
    sampler: EpochSampler
    train_loader: DataLoader[Any]
    val_loader: DataLoader[Any]
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    amp_dtype: torch.dtype | None
    config_doc: dict[str, Any]


def _build(cfg: UNetTrainConfig, data: TrainingData, device: torch.device) -> _Run:
    classes, lut = class_mapping(data.classes, cfg.classes, cfg.loss.ignore_index)
    if cfg.binary and len(classes) != 2:
        raise ConfigError(
            f"a binary model needs exactly two classes, the data gives {list(classes)}; pass --classes"
        )
    weights = class_weights_for(cfg, data.train, lut, len(classes))
    torch.manual_seed(cfg.seed)
    model = build_unet(cfg.model, 1 if cfg.binary else len(classes), **cfg.unet)
    model = model.to(device).to(memory_format=torch.channels_last)
    workers = (
        0
        if cfg.deterministic
        else (
            cfg.workers
            if cfg.workers is not None
            else (min(8, os.cpu_count() or 1) if device.type == "cuda" else 0)
        )
    )
    train_set = SegmentationDataset(
        data.train, cfg.size, lut, cfg.augment, cfg.seed, cfg.loss.ignore_index
    )
    val_set = SegmentationDataset(data.val, cfg.size, lut, None, cfg.seed, cfg.loss.ignore_index)
    sampler = EpochSampler(len(train_set), cfg.seed)
    common: dict[str, Any] = {"num_workers": workers, "pin_memory": device.type == "cuda"}
    train_loader = DataLoader(
        train_set,
        cfg.batch_size,
        sampler=sampler,
        drop_last=len(train_set) > cfg.batch_size,
        **common,
    )
    val_loader = DataLoader(val_set, cfg.batch_size, shuffle=False, **common)
    optimizer, scheduler = make_optimizer(cfg, model, len(train_loader))
    amp_dtype, scaler = amp_settings(cfg.mixed_precision, device)
    resolved = {
        "unet": model.config.to_dict(),
        "parameters": count_parameters(model),
        "classes": list(classes),
        "data": {
            "source": data.source,
            "train": len(data.train),
            "val": len(data.val),
            "dataset_classes": list(data.classes),
        },
        "device": str(device),
        "mixed_precision": str(amp_dtype).replace("torch.", "") if amp_dtype else "off",
        "workers": workers,
        "class_weights": weights,
        "torch": str(torch.__version__),
    }
    from idseg._version import __version__

    doc = {**cfg.to_file_dict(classes), "idseg_version": __version__, "resolved": resolved}
    doc = json.loads(json.dumps(doc))  # plain types only: the checkpoint loads with weights_only
    loss = SegmentationLoss(cfg.loss, weights)
    return _Run(
        cfg,
        device,
        classes,
        model,
        loss,
        train_set,
        sampler,
        train_loader,
        val_loader,
        optimizer,
        scheduler,
        scaler,
        amp_dtype,
        doc,
    )


def _save(
    run: _Run, path: Path, epoch: int, record: dict[str, Any], best: tuple[float, int], full: bool
) -> None:
    state: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "model": run.model.state_dict(),
        "config": run.config_doc,
        "epoch": epoch,
        "metrics": record,
        "best_mean_iou": best[0],
        "best_epoch": best[1],
    }
    if full:
        state.update(
            optimizer=run.optimizer.state_dict(),
            scheduler=run.scheduler.state_dict(),
            scaler=run.scaler.state_dict(),
        )
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _history(out: Path, upto: int) -> list[dict[str, Any]]:
    path = out / "metrics.json"
    if not path.is_file():
        return []
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IdsegError(f"cannot read {path}: {exc}") from exc
    return [r for r in records if isinstance(r, dict) and int(r.get("epoch", 0)) <= upto]


def train_unet(
    cfg: UNetTrainConfig,
    out: str | Path,
    *,
    resume: bool = False,
    stop_after: int | None = None,
    progress: ProgressFn | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train a U-Net; write config, checkpoints and metrics into ``out``.

    Args:
        cfg: The settings (:func:`~idseg.train.unet_config.resolve_train_config`).
        out: Output folder (created).
        resume: Go on from ``out/last.pt``; only the settings in :data:`RESUMABLE` may differ
            from the checkpoint's (read them with ``--config out/config.json``).
        stop_after: Train at most this many epochs in this call (the schedule still spans
            ``cfg.epochs``), e.g. to split a run into sessions.
        progress: Called after each batch with ``(phase, done, total)``.
        on_epoch: Called with each epoch's metrics record.

    Returns:
        The run's summary.

    Raises:
        ConfigError: Bad settings, or settings that differ from the checkpoint on resume.
        CheckpointError: ``last.pt`` missing or unreadable on resume.
        InputError: Unusable data (see :func:`~idseg.train.data.open_training_data`).

    Example:
        >>> cfg = resolve_train_config(data="data/split", epochs=20)  # doctest: +SKIP
        >>> train_unet(cfg, "runs/doc").best_mean_iou  # doctest: +SKIP
        0.93
    """
    from idseg.models.sam2 import select_device

    out = Path(out)
    cfg = cfg.validated()
    state = _read_resume(out) if resume else None
    device = select_device(cfg.device)
    with _determinism(cfg.deterministic, device):
        data = open_training_data(cfg.data or "", cfg.val, cfg.val_ratio, cfg.seed)
        run = _build(cfg, data, device)
        start, best, history = 0, (-math.inf, 0), []
        if state is not None:
            _check_same(cfg, run.classes, state["config"])
            _restore(run, state)
            start, best = (
                int(state["epoch"]),
                (float(state["best_mean_iou"]), int(state["best_epoch"])),
            )
            history = _history(out, start)
            logger.info("resuming after epoch %d of %d", start, cfg.epochs)
        atomic_write_json(out / "config.json", run.config_doc)
        writer = tensorboard_writer(out)
        try:
            for epoch in range(start, cfg.epochs):
                if stop_after is not None and epoch - start >= stop_after:
                    break
                record = _epoch(run, epoch, progress)
                if record["mean_iou"] is not None and record["mean_iou"] > best[0]:
                    best = (record["mean_iou"], epoch + 1)
                    _save(run, out / "best.pt", epoch + 1, record, best, full=False)
                _save(run, out / "last.pt", epoch + 1, record, best, full=True)
                history.append(record)
                atomic_write_json(out / "metrics.json", history)
                _log_epoch(writer, record)
                if on_epoch is not None:
                    on_epoch(record)
        finally:
            if writer is not None:
                writer.close()
    done = history[-1]["epoch"] if history else start
    return TrainResult(out, done, best[1], best[0] if best[1] else math.nan, history, run.classes)


def _epoch(run: _Run, epoch: int, progress: ProgressFn | None) -> dict[str, Any]:
    began = time.perf_counter()
    train = _train_epoch(run, epoch, progress)
    val = _validate(run, progress)
    lr = run.scheduler.get_last_lr()[0]
    record = {"epoch": epoch + 1, **train, "lr": lr, **val, "seconds": time.perf_counter() - began}
    logger.info(
        "epoch %d: train loss %.4f, val loss %.4f, mean IoU %s",
        epoch + 1,
        record["train_loss"],
        record["val_loss"],
        record["mean_iou"],
    )
    return record


def _restore(run: _Run, state: dict[str, Any]) -> None:
    from idseg.models.checkpoints import load_state_dict_strict

    load_state_dict_strict(run.model, state["model"], "last.pt")
    try:
        run.optimizer.load_state_dict(state["optimizer"])
        run.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            run.scaler.load_state_dict(state["scaler"])
    except (KeyError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"last.pt: cannot restore the optimiser or schedule: {exc}") from exc


def _log_epoch(writer: Any, record: dict[str, Any]) -> None:
    if writer is None:
        return
    step = record["epoch"]
    for key in ("train_loss", "val_loss", "lr", "mean_iou", "mean_dice", "pixel_accuracy"):
        if record.get(key) is not None:
            writer.add_scalar(key, record[key], step)
    for name, value in record["iou"].items():
        if value is not None:
            writer.add_scalar(f"iou/{name}", value, step)
    writer.flush()
