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

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from idseg.errors import IdsegError
from idseg.io.atomic import atomic_write_json
from idseg.metrics import ConfusionMatrix
from idseg.train.data import open_training_data
from idseg.train.unet_config import UNetTrainConfig
from idseg.train.unet_setup import Run, build_run, determinism, tensorboard_writer
from idseg.train.unet_state import (
    check_resumable,
    read_history,
    read_resume,
    restore,
    save_checkpoint,
)

logger = logging.getLogger(__name__)

__all__ = ["TrainResult", "train_unet"]

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


def _batches(
    loader: DataLoader[Any], device: torch.device
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for images, masks in loader:
        x = images.to(device, non_blocking=True).float().div_(255.0)
        yield x.contiguous(memory_format=torch.channels_last), masks.to(device, non_blocking=True)


def _train_epoch(run: Run, epoch: int, progress: ProgressFn | None) -> dict[str, float]:
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
def _validate(run: Run, progress: ProgressFn | None) -> dict[str, Any]:
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
        resume: Go on from ``out/last.pt``; only the settings in :data:`~idseg.train.unet_state.RESUMABLE` may differ
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
    state = read_resume(out) if resume else None
    if state is None and (out / "last.pt").is_file():
        logger.warning(
            "the output folder already holds a run (last.pt); starting a new one over it"
        )
    device = select_device(cfg.device)
    with determinism(cfg.deterministic, device):
        data = open_training_data(cfg.data or "", cfg.val, cfg.val_ratio, cfg.seed)
        run = build_run(cfg, data, device)
        start, best, history = 0, (-math.inf, 0), []
        if state is not None:
            check_resumable(cfg, run.classes, state["config"])
            restore(run, state)
            start, best = (
                int(state["epoch"]),
                (float(state["best_mean_iou"]), int(state["best_epoch"])),
            )
            history = read_history(out, start)
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
                    save_checkpoint(run, out / "best.pt", epoch + 1, record, best, full=False)
                save_checkpoint(run, out / "last.pt", epoch + 1, record, best, full=True)
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


def _epoch(run: Run, epoch: int, progress: ProgressFn | None) -> dict[str, Any]:
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
