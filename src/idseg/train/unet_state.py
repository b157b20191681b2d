"""Checkpoints and resuming of U-Net training runs (helpers of :mod:`idseg.train.unet_loop`).

``last.pt`` holds ``{"format", "model", "config", "epoch", "optimizer", "scheduler", "scaler",
"metrics", "best_mean_iou", "best_epoch"}``; ``best.pt`` the same without the optimiser,
scheduler and scaler states. Only tensors, numbers, strings, lists and dicts are stored, so both
load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from idseg.errors import CheckpointError, ConfigError, IdsegError
from idseg.io.atomic import atomic_path
from idseg.train.unet_config import UNetTrainConfig
from idseg.train.unet_setup import Run

logger = logging.getLogger(__name__)

__all__ = [
    "CHECKPOINT_FORMAT",
    "RESUMABLE",
    "check_resumable",
    "read_history",
    "read_resume",
    "restore",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "idseg-unet/1"
#: Settings a resumed run may change; anything else must match ``last.pt``.
RESUMABLE = ("epochs", "workers", "device", "deterministic")


def read_resume(out: Path) -> dict[str, Any]:
    """``out/last.pt``, read with ``weights_only=True``.

    Raises:
        CheckpointError: Missing, unreadable, or not a checkpoint of ``idseg train unet``.

    Example:
        >>> read_resume(Path("/nonexistent"))
        Traceback (most recent call last):
        idseg.errors.CheckpointError: cannot resume: /nonexistent/last.pt does not exist
    """
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


def check_resumable(cfg: UNetTrainConfig, classes: tuple[str, ...], stored: dict[str, Any]) -> None:
    """Refuse to resume with settings other than :data:`RESUMABLE` changed.

    Raises:
        ConfigError: The first differing setting, named.
    """
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


def save_checkpoint(
    run: Run, path: Path, epoch: int, record: dict[str, Any], best: tuple[float, int], full: bool
) -> None:
    """Write ``path`` atomically; ``full`` adds the optimiser, scheduler and scaler states."""
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


def restore(run: Run, state: dict[str, Any]) -> None:
    """Load the weights, optimiser, schedule and scaler of ``last.pt`` into a fresh run.

    Raises:
        CheckpointError: Keys or states that do not fit.
    """
    from idseg.models.checkpoints import load_state_dict_strict

    load_state_dict_strict(run.model, state["model"], "last.pt")
    try:
        run.optimizer.load_state_dict(state["optimizer"])
        run.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            run.scaler.load_state_dict(state["scaler"])
    except (KeyError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"last.pt: cannot restore the optimiser or schedule: {exc}") from exc


def read_history(out: Path, upto: int) -> list[dict[str, Any]]:
    """The records of ``out/metrics.json`` up to epoch ``upto`` (``[]`` without the file).

    Example:
        >>> read_history(Path("/nonexistent"), 3)
        []
    """
    path = out / "metrics.json"
    if not path.is_file():
        return []
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IdsegError(f"cannot read {path}: {exc}") from exc
    return [r for r in records if isinstance(r, dict) and int(r.get("epoch", 0)) <= upto]
