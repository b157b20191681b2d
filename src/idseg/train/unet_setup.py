"""Setting up a U-Net training run: model, data loaders, optimiser and schedule, precision, logs.

The learning rate follows a per-step schedule: a linear warm-up over ``warmup_epochs`` from
``lr / warmup_steps`` to ``lr``, then either a cosine decay to ``lr * min_lr_ratio`` at the last
step (``cosine``) or ``lr`` to the end (``constant``). Weight decay applies to convolution
weights only, not to norms and biases.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from idseg.data.folders import Sample
from idseg.errors import ConfigError
from idseg.models.unet import UNet, build_unet, count_parameters
from idseg.train.data import EpochSampler, SegmentationDataset, TrainingData, class_mapping
from idseg.train.losses import SegmentationLoss
from idseg.train.unet_config import UNetTrainConfig

logger = logging.getLogger(__name__)

__all__ = [
    "Run",
    "amp_settings",
    "build_run",
    "class_weights_for",
    "determinism",
    "loader_workers",
    "lr_factor",
    "make_optimizer",
    "tensorboard_writer",
]


def lr_factor(
    step: int, total: int, warmup: int, kind: str = "cosine", min_ratio: float = 0.01
) -> float:
    """Learning-rate multiplier for optimiser step ``step`` (0-based) of ``total``.

    Example:
        >>> [round(lr_factor(s, 10, 2), 3) for s in (0, 1, 2, 9)]
        [0.5, 1.0, 1.0, 0.01]
    """
    if step < warmup:
        return (step + 1) / warmup
    if kind == "constant":
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup - 1))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def make_optimizer(
    cfg: UNetTrainConfig, model: torch.nn.Module, steps_per_epoch: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """The optimiser of ``cfg.optimizer`` and its per-step schedule.

    Example:
        >>> cfg = UNetTrainConfig(data="d", epochs=2, optimizer="sgd")
        >>> opt, sched = make_optimizer(cfg, torch.nn.Conv2d(1, 1, 1), 5)
        >>> type(opt).__name__, round(sched.get_last_lr()[0], 6)
        ('SGD', 0.0004)
    """
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    other = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": other, "weight_decay": 0.0},
    ]
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
        return lr_factor(step, total, warmup, cfg.scheduler, cfg.min_lr_ratio)

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


def amp_settings(
    precision: str, device: torch.device
) -> tuple[torch.dtype | None, torch.amp.GradScaler]:
    """Autocast dtype (``None``: float32) and a gradient scaler (enabled for fp16 only).

    Mixed precision runs on CUDA only: ``auto`` picks bf16 where the GPU supports it, else fp16;
    on other devices every setting trains in float32.

    Example:
        >>> dtype, scaler = amp_settings("auto", torch.device("cpu"))
        >>> dtype, scaler.is_enabled()
        (None, False)
    """
    dtype: torch.dtype | None = None
    if device.type == "cuda" and precision != "off":
        bf16 = torch.cuda.is_bf16_supported()
        dtype = (
            torch.bfloat16
            if precision == "bf16" or (precision == "auto" and bf16)
            else torch.float16
        )
    elif precision in ("bf16", "fp16"):
        logger.info(
            "mixed precision %s is used on CUDA only; training in float32 on %s",
            precision,
            device.type,
        )
    scaler = torch.amp.GradScaler(
        device.type if device.type == "cuda" else "cpu", enabled=dtype == torch.float16
    )
    return dtype, scaler


def class_weights_for(
    cfg: UNetTrainConfig, samples: Sequence[Sample], lut: np.ndarray, num_classes: int
) -> list[float] | None:
    """The class weights of the loss: the configured list, or computed from the training masks.

    ``inverse`` and ``median`` are :func:`idseg.data.check.class_weights` of the model's classes;
    a class with no training pixel gets weight 0.

    Example:
        >>> class_weights_for(UNetTrainConfig(data="d"), [], np.zeros(1, np.uint8), 2) is None
        True
    """
    spec = cfg.class_weights if cfg.class_weights is not None else cfg.loss.class_weights
    if spec is None:
        return None
    if not isinstance(spec, str):
        if len(spec) != num_classes:
            raise ConfigError(f"class_weights has {len(spec)} values for {num_classes} classes")
        return [float(w) for w in spec]
    from idseg.data.check import class_weights
    from idseg.train.data import class_pixels

    pixels, present = class_pixels(samples, lut, num_classes)
    inverse, median = class_weights(pixels, present)
    chosen = inverse if spec == "inverse" else median
    weights = [float(w) if w is not None else 0.0 for w in chosen]
    logger.info("class weights (%s): %s", spec, ", ".join(f"{w:.3g}" for w in weights))
    return weights


def tensorboard_writer(out: Path) -> Any:
    """A TensorBoard ``SummaryWriter`` on ``out/tensorboard``, or ``None`` without tensorboard.

    Example:
        >>> writer = tensorboard_writer(Path("runs/a"))  # doctest: +SKIP
    """
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        logger.info(
            "tensorboard is not installed (pip install 'idseg[train]'): no TensorBoard logs"
        )
        return None
    return SummaryWriter(log_dir=str(out / "tensorboard"))


@contextlib.contextmanager
def determinism(on: bool, device: torch.device) -> Iterator[None]:
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


@dataclass
class Run:
    """The live objects of one run (built by :func:`build_run`)."""

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


def loader_workers(cfg: UNetTrainConfig, device: torch.device) -> int:
    """Loader processes: 0 when deterministic, else ``cfg.workers``, else 0 on CPU, <= 8 on CUDA.

    On CPU the model takes about 30 times longer per sample than loading it, so extra loader
    processes would only take cores from the model.

    Example:
        >>> loader_workers(UNetTrainConfig(data="d", workers=4, deterministic=True), torch.device("cpu"))
        0
    """
    if cfg.deterministic:
        return 0
    if cfg.workers is not None:
        return cfg.workers
    return min(8, os.cpu_count() or 1) if device.type == "cuda" else 0


def load_initial_weights(model: UNet, path: str, classes: tuple[str, ...]) -> None:
    """Start ``model`` from the weights of another run's checkpoint (fine-tuning).

    The checkpoint's classes must be this run's, or their beginning: a run may add classes
    (``background, document, edge`` -> ``..., hidden``). Each added class's output channel then
    starts as a copy of class 0's (background), biased 2 logits below it, so the widened model
    first predicts what the checkpoint did and the new class grows out of the first one.

    Raises:
        CheckpointError: The file is missing or not a U-Net checkpoint.
        ConfigError: Its architecture or classes differ from this run's.
    """
    from idseg.models.unet_io import load_unet

    source, info = load_unet(path)
    old = tuple(info.classes)
    added = len(classes) - len(old)
    if old != tuple(classes[: len(old)]) or (
        added and (info.binary or model.config.num_classes < 3)
    ):
        raise ConfigError(
            f"init checkpoint {Path(path).name!r} predicts {list(old)}, this run {list(classes)} "
            "(the same classes are needed, or more after them for a multi-class model)"
        )
    if replace(source.config, num_classes=model.config.num_classes) != model.config:
        raise ConfigError(
            f"init checkpoint {Path(path).name!r} has another architecture "
            f"({source.config.to_dict()}) than this run ({model.config.to_dict()})"
        )
    state = source.state_dict()
    if added:
        weight, bias = state["head.weight"], state["head.bias"]
        state["head.weight"] = torch.cat([weight, weight[:1].repeat(added, 1, 1, 1)])
        state["head.bias"] = torch.cat([bias, (bias[:1] - 2.0).repeat(added)])
        logger.info("added class(es) %s to the init checkpoint's head", list(classes[len(old) :]))
    model.load_state_dict(state)
    logger.info("weights initialised from %s (epoch %d)", Path(path).name, info.epoch)


def build_run(cfg: UNetTrainConfig, data: TrainingData, device: torch.device) -> Run:
    """Classes, model, loss, loaders, optimiser, schedule and precision of a run.

    Raises:
        ConfigError: A binary model without exactly two classes, or bad class weights.
        InputError: Class names the data does not have.
    """
    wanted = cfg.classes
    if cfg.binary and wanted is not None and len(wanted) == 1:
        wanted = (data.classes[0], *wanted)  # one foreground class against the dataset's class 0
    classes, lut = class_mapping(data.classes, wanted, cfg.loss.ignore_index)
    if cfg.binary and len(classes) != 2:
        raise ConfigError(
            f"a binary model needs exactly two classes, the data gives {list(classes)}; pass --classes"
        )
    weights = class_weights_for(cfg, data.train, lut, len(classes))
    torch.manual_seed(cfg.seed)
    model = build_unet(cfg.model, 1 if cfg.binary else len(classes), **cfg.unet)
    if cfg.init is not None:
        load_initial_weights(model, cfg.init, classes)
    model = model.to(device).to(memory_format=torch.channels_last)
    workers = loader_workers(cfg, device)
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
    return Run(
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
