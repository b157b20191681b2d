"""The SAM2 training loop: prompts from ground truth, corrective clicks, validation, checkpoints.

Each step embeds a batch of images once, then decodes every sampled object ``1 +
correction_rounds`` times: first from a jittered box (one mask) or random points (``points``
positive and ``negative_points`` negative; three candidate masks for a single point), then from
the prompts so far plus one corrective click sampled from the previous error, with the previous
mask's logits as mask input (SAM's interactive training). The loss of each round
(:class:`~idseg.train.sam2_loss.MaskLoss`) is averaged over rounds.

Validation is deterministic (no augmentation, the same objects every epoch) and measured at the
model's input resolution: box-prompt IoU (tight box, one mask), point-prompt IoU (the object's
centre point, the candidate with the highest predicted IoU, as users get it), IoU after two more
corrective clicks at the centres of the errors, each per class and overall, the Dice of the box
masks, and the mean absolute error of the predicted IoU of the point masks.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from idseg.errors import IdsegError
from idseg.io.atomic import atomic_write_json
from idseg.train.data import EpochSampler
from idseg.train.sam2_config import Sam2TrainConfig
from idseg.train.sam2_loss import mask_iou
from idseg.train.sam2_model import decode_prompts, embed_images, normalize_images
from idseg.train.sam2_prompts import corrective_points, jittered_boxes, random_points
from idseg.train.sam2_setup import (
    Sam2Run,
    build_sam2_run,
    copy_model_config,
    read_state,
    restore_state,
    save_state,
    save_weights,
)

logger = logging.getLogger(__name__)

__all__ = ["Sam2TrainResult", "train_sam2"]

ProgressFn = Callable[[str, int, int], None]
_BOX_LABELS = (2, 3)


@dataclass
class Sam2TrainResult:
    """What a run did: output folder, epochs, best epoch and score, the metric records."""

    out: Path
    epochs: int
    best_epoch: int
    best_score: float
    history: list[dict[str, Any]] = field(default_factory=list)


def _box_prompts(boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    coords = boxes.reshape(-1, 2, 2)
    labels = torch.tensor([_BOX_LABELS], dtype=torch.int32).repeat(len(boxes), 1)
    return coords, labels


def _upsampled(low_res: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(low_res.float(), size, mode="bilinear", align_corners=False)


def _pick(low_res: torch.Tensor, iou: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The candidate with the highest predicted IoU: ``(K x 1 x h x w logits, K scores)``."""
    best = iou.argmax(dim=1)
    rows = torch.arange(len(best), device=best.device)
    return low_res[rows, best].unsqueeze(1), iou[rows, best]


class _Group:
    """Objects decoded together (same number of prompt points), with their prompts so far."""

    def __init__(
        self, sel: torch.Tensor, coords: torch.Tensor, labels: torch.Tensor, multi: bool
    ) -> None:
        self.sel, self.coords, self.labels, self.multi = sel, coords, labels, multi
        self.mask_input: torch.Tensor | None = None

    def add_click(self, coords: torch.Tensor, labels: torch.Tensor) -> None:
        self.coords = torch.cat([self.coords, coords.to(self.coords.device)], dim=1)
        self.labels = torch.cat([self.labels, labels.to(self.labels.device)], dim=1)
        self.multi = False


def _first_groups(run: Sam2Run, masks: torch.Tensor, rng: np.random.Generator) -> list[_Group]:
    cfg, dev = run.cfg, run.device
    cpu = masks.cpu()
    use_box = torch.from_numpy(rng.random(len(cpu)) < cfg.box_prob)
    groups = []
    if use_box.any():
        boxes = jittered_boxes(cpu[use_box], rng, cfg.box_noise, cfg.max_box_noise)
        c, lab = _box_prompts(boxes)
        groups.append(
            _Group(torch.nonzero(use_box).flatten().to(dev), c.to(dev), lab.to(dev), False)
        )
    if (~use_box).any():
        c, lab = random_points(cpu[~use_box], rng, cfg.points, cfg.negative_points)
        multi = c.shape[1] == 1  # SAM answers a single click with three candidates
        groups.append(
            _Group(torch.nonzero(~use_box).flatten().to(dev), c.to(dev), lab.to(dev), multi)
        )
    return groups


def _train_step(
    run: Sam2Run, batch: dict[str, Any], rng: np.random.Generator
) -> tuple[torch.Tensor, dict[str, float]]:
    dev = run.device
    masks = batch["masks"].to(dev)
    index = batch["image_index"].to(dev)
    x = normalize_images(batch["images"].to(dev))
    amp = torch.autocast(dev.type, dtype=run.amp_dtype, enabled=run.amp_dtype is not None)
    with amp, torch.set_grad_enabled(run.encoder_trains):
        embed, high = embed_images(run.model, x)
    groups = _first_groups(run, masks, rng)
    total = torch.zeros((), device=dev)
    parts: dict[str, float] = {}
    rounds = run.cfg.correction_rounds + 1
    for r in range(rounds):
        for g in groups:
            with amp:
                low, iou = decode_prompts(
                    run.model, embed, high, index[g.sel], g.coords, g.labels, g.mask_input, g.multi
                )
            loss, terms, _ = run.loss(low, iou, masks[g.sel])
            share = len(g.sel) / len(masks) / rounds
            total = total + loss * share
            for k, v in terms.items():
                parts[k] = parts.get(k, 0.0) + v * share
            if r + 1 < rounds:
                chosen, _ = _pick(low.detach(), iou.detach())
                pred = _upsampled(chosen, masks.shape[-2:])[:, 0] > 0
                c, lab = corrective_points(pred.cpu(), masks[g.sel].cpu(), rng)
                g.add_click(c, lab)
                g.mask_input = chosen.float()
    return total, parts


def _train_epoch(run: Sam2Run, epoch: int, progress: ProgressFn | None) -> dict[str, float]:
    run.model.train()
    run.train_set.set_epoch(epoch)
    sampler = run.train_loader.sampler
    if isinstance(sampler, EpochSampler):
        sampler.set_epoch(epoch)
    cfg = run.cfg
    total, seen = 0.0, 0
    parts: dict[str, float] = {}
    steps = len(run.train_loader)
    run.optimizer.zero_grad(set_to_none=True)
    for step, batch in enumerate(run.train_loader, 1):
        k = len(batch["classes"])
        if k:
            rng = np.random.default_rng([cfg.seed, epoch, step])
            loss, terms = _train_step(run, batch, rng)
            if not torch.isfinite(loss):
                raise IdsegError(
                    f"the training loss became {float(loss)} at epoch {epoch + 1}, step {step}; try a lower --lr"
                )
            run.scaler.scale(loss / cfg.accumulate).backward()
            total += float(loss.detach()) * k
            seen += k
            for name, v in terms.items():
                parts[name] = parts.get(name, 0.0) + v * k
        if step % cfg.accumulate == 0 or step == steps:
            _optimizer_step(run)
        if progress is not None:
            progress("train", step, steps)
    return {
        "train_loss": total / max(seen, 1),
        **{f"train_{k}": v / max(seen, 1) for k, v in parts.items()},
        "train_objects": seen,
    }


def _optimizer_step(run: Sam2Run) -> None:
    run.scaler.unscale_(run.optimizer)
    if run.cfg.grad_clip > 0:
        params = [p for p in run.model.parameters() if p.requires_grad]
        torch.nn.utils.clip_grad_norm_(params, run.cfg.grad_clip)
    run.scaler.step(run.optimizer)
    run.scaler.update()
    run.optimizer.zero_grad(set_to_none=True)
    run.scheduler.step()


def _center_points(masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    empty = torch.zeros_like(masks)
    return corrective_points(empty.cpu(), masks.cpu(), np.random.default_rng(0), center=True)


@torch.no_grad()
def _validate_batch(run: Sam2Run, batch: dict[str, Any], acc: dict[str, list[Any]]) -> None:
    dev = run.device
    masks = batch["masks"].to(dev)
    index = batch["image_index"].to(dev)
    size = masks.shape[-2:]
    embed, high = embed_images(run.model, normalize_images(batch["images"].to(dev)))
    c, lab = _box_prompts(jittered_boxes(masks.cpu(), np.random.default_rng(0), noise=0.0))
    low, iou = decode_prompts(run.model, embed, high, index, c.to(dev), lab.to(dev), None, False)
    loss, _, _ = run.loss(low, iou, masks)
    box_logits = _upsampled(low, size)[:, 0]
    acc["box"].append(mask_iou(box_logits > 0, masks).cpu())
    prob = box_logits.sigmoid().flatten(1)
    tgt = masks.flatten(1).float()
    acc["dice"].append(
        (
            (2 * (prob > 0.5).float() * tgt).sum(1)
            / ((prob > 0.5).float().sum(1) + tgt.sum(1)).clamp(min=1)
        ).cpu()
    )
    acc["loss"].append(torch.full((len(masks),), float(loss)))
    coords, labels = _center_points(masks)
    coords, labels = coords.to(dev), labels.to(dev)
    low, iou = decode_prompts(run.model, embed, high, index, coords, labels, None, True)
    chosen, score = _pick(low, iou)
    pred = _upsampled(chosen, size)[:, 0] > 0
    true = mask_iou(pred, masks)
    acc["point"].append(true.cpu())
    acc["iou_error"].append((score.float() - true).abs().cpu())
    for _ in range(2):
        cc, cl = corrective_points(pred.cpu(), masks.cpu(), np.random.default_rng(0), center=True)
        coords, labels = torch.cat([coords, cc.to(dev)], 1), torch.cat([labels, cl.to(dev)], 1)
        low, iou = decode_prompts(run.model, embed, high, index, coords, labels, chosen, False)
        chosen = low[:, :1]
        pred = _upsampled(chosen, size)[:, 0] > 0
    acc["clicks"].append(mask_iou(pred, masks).cpu())
    acc["classes"].append(batch["classes"])


def _validate(run: Sam2Run, progress: ProgressFn | None) -> dict[str, Any]:
    run.model.eval()
    acc: dict[str, list[Any]] = {
        k: [] for k in ("box", "point", "clicks", "dice", "iou_error", "loss", "classes")
    }
    steps = len(run.val_loader)
    for step, batch in enumerate(run.val_loader, 1):
        if len(batch["classes"]):
            _validate_batch(run, batch, acc)
        if progress is not None:
            progress("val", step, steps)
    if not acc["classes"]:
        return {"val_objects": 0, "mean_iou": None}
    cat = {k: torch.cat(v) for k, v in acc.items()}
    per_class = {}
    for c in sorted(set(cat["classes"].tolist())):
        sel = cat["classes"] == c
        per_class[run.classes[c]] = {
            k: float(cat[k][sel].mean()) for k in ("box", "point", "clicks")
        } | {"objects": int(sel.sum())}
    box, point = float(cat["box"].mean()), float(cat["point"].mean())
    return {
        "val_objects": len(cat["classes"]),
        "val_loss": float(cat["loss"].mean()),
        "box_iou": box,
        "point_iou": point,
        "clicks_iou": float(cat["clicks"].mean()),
        "mean_iou": (box + point) / 2,
        "class_mean_iou": float(np.mean([(v["box"] + v["point"]) / 2 for v in per_class.values()])),
        "box_dice": float(cat["dice"].mean()),
        "iou_prediction_error": float(cat["iou_error"].mean()),
        "per_class": per_class,
    }


def train_sam2(
    cfg: Sam2TrainConfig,
    out: str | Path,
    *,
    resume: bool = False,
    stop_after: int | None = None,
    progress: ProgressFn | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> Sam2TrainResult:
    """Fine-tune (or train from scratch) a SAM2 model; write checkpoints and metrics into ``out``.

    Args:
        cfg: The settings (:func:`~idseg.train.sam2_config.resolve_sam2_config`).
        out: Output folder (created).
        resume: Go on from ``out/train_state.pt`` (only epochs, workers, device and
            deterministic may change).
        stop_after: Train at most this many epochs in this call (the schedule still spans
            ``cfg.epochs``).
        progress: Called after each batch with ``(phase, done, total)``.
        on_epoch: Called with each epoch's metrics record.

    Returns:
        The run's summary; ``best_score`` is the validation mean of box and point IoU.

    Raises:
        ConfigError: Bad settings, or changed settings on resume.
        CheckpointError: A checkpoint or state that cannot be read or does not fit.
        InputError: Unusable data.

    Example:
        >>> cfg = resolve_sam2_config(data="data/synth", checkpoint="sam2.1_hiera_tiny")  # doctest: +SKIP
        >>> train_sam2(cfg, "runs/sam2").best_score  # doctest: +SKIP
        0.91
    """
    from idseg.models.sam2 import select_device
    from idseg.train.unet_setup import determinism, tensorboard_writer
    from idseg.train.unet_state import read_history

    out = Path(out)
    cfg = cfg.validated()
    state = read_state(out) if resume else None
    device = select_device(cfg.device)
    with determinism(cfg.deterministic, device):
        run = build_sam2_run(cfg, device)
        start, best, history = 0, (-math.inf, 0), []
        if state is not None:
            restore_state(run, state)
            start, best = (
                int(state["epoch"]),
                (float(state["best_score"]), int(state["best_epoch"])),
            )
            history = read_history(out, start)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out / "config.json", run.config_doc)
        copy_model_config(run, out)
        writer = tensorboard_writer(out)
        try:
            for epoch in range(start, cfg.epochs):
                if stop_after is not None and epoch - start >= stop_after:
                    break
                record = _epoch(run, epoch, progress)
                score = record.get("mean_iou")
                if score is not None and score > best[0]:
                    best = (score, epoch + 1)
                    save_weights(run, out / "best.pt")
                save_weights(run, out / "last.pt")
                save_state(run, out / "train_state.pt", epoch + 1, best)
                history.append(record)
                atomic_write_json(out / "metrics.json", history)
                _log(writer, record)
                if on_epoch is not None:
                    on_epoch(record)
        finally:
            if writer is not None:
                writer.close()
    done = history[-1]["epoch"] if history else start
    return Sam2TrainResult(out, done, best[1], best[0] if best[1] else math.nan, history)


def _epoch(run: Sam2Run, epoch: int, progress: ProgressFn | None) -> dict[str, Any]:
    began = time.perf_counter()
    train = _train_epoch(run, epoch, progress)
    val = _validate(run, progress)
    lr = run.scheduler.get_last_lr()[0]
    record = {"epoch": epoch + 1, **train, "lr": lr, **val, "seconds": time.perf_counter() - began}
    logger.info(
        "epoch %d: train loss %.4f, val mean IoU %s",
        epoch + 1,
        record["train_loss"],
        record.get("mean_iou"),
    )
    return record


def _log(writer: Any, record: dict[str, Any]) -> None:
    if writer is None:
        return
    for key in (
        "train_loss",
        "val_loss",
        "lr",
        "box_iou",
        "point_iou",
        "clicks_iou",
        "mean_iou",
        "iou_prediction_error",
    ):
        if record.get(key) is not None:
            writer.add_scalar(key, record[key], record["epoch"])
    writer.flush()
