"""Settings of ``idseg train unet``: one dataclass, read from a config file and flags.

Precedence, lowest first: :class:`UNetTrainConfig` defaults < config file < command-line flags.
A config file is any file :func:`idseg.config.load_config` reads, including the original
wrapper's ``config.json``; it maps as follows:

- ``image_size`` -> ``size``; ``class_names`` -> ``classes``; ``num_classes: 1`` -> ``binary``
  (with one class name, that class is the foreground and the dataset's class 0 the background);
- ``model.device`` -> ``device``; ``paths.train`` / ``paths.val`` -> ``data`` / ``val``;
- ``train.augmentation`` (:class:`~idseg.train.augment.AugmentConfig` keys, or ``false``),
  ``train.loss`` (``{"type": "dice"}``, see :func:`~idseg.train.losses.parse_loss`),
  ``train.optimizer`` (``{"type": "adamw", "lr": ..., "weight_decay": ..., "momentum": ...}``),
  ``train.lr_scheduler`` (``{"type": "cosine" | "constant", "warmup_epochs": ...,
  "min_lr_ratio": ...}``), ``train.mixed_precision`` (``true``/``"auto"``, ``false``/``"off"``,
  ``"bf16"``, ``"fp16"``);
- the flat ``train`` keys ``model``, ``epochs``, ``batch_size``, ``lr``, ``weight_decay``,
  ``seed``, ``deterministic``, ``workers``, ``grad_clip``, ``val_ratio``, ``class_weights``
  (``"inverse"``, ``"median"`` or a list), ``binary``, ``unet`` (architecture overrides such
  as ``{"norm": "group"}``) and ``init`` (a U-Net checkpoint whose weights start the run:
  fine-tuning; relative to the config file's folder).

:meth:`UNetTrainConfig.to_file_dict` writes the same shape back (``out/config.json``), so
``--config out/config.json`` repeats a run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from idseg._text import did_you_mean
from idseg.errors import ConfigError
from idseg.train.augment import AugmentConfig
from idseg.train.losses import LossSpec, parse_loss

logger = logging.getLogger(__name__)

__all__ = ["UNetTrainConfig", "resolve_train_config"]

OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULERS = ("cosine", "constant")
PRECISIONS = ("auto", "off", "bf16", "fp16")
_FLAT_KEYS = (
    *("model", "epochs", "batch_size", "lr", "weight_decay", "seed", "deterministic"),
    *("workers", "grad_clip", "val_ratio", "class_weights", "binary", "unet", "init"),
)
_NESTED_KEYS = ("augmentation", "loss", "optimizer", "lr_scheduler", "mixed_precision")


@dataclass(frozen=True)
class UNetTrainConfig:
    """Everything one U-Net training run needs (see the module docstring for file keys).

    Attributes:
        data: Split root, flat dataset, or training folder when ``val`` is given.
        val: Separate validation folder.
        model: Size name from :data:`idseg.models.unet.UNET_SIZES`.
        size: Letterbox side in pixels (a multiple of 32 keeps the model from padding).
        classes: Model class names (a subset of the dataset's; ``None``: all of them).
        binary: One sigmoid output for two classes (``classes`` of one name: that class is the
            foreground, the dataset's class 0 the background).
        epochs: Length of the run (and of the learning-rate schedule).
        batch_size: Samples per step.
        lr: Peak learning rate.
        weight_decay: Decoupled weight decay (AdamW) or L2 (Adam, SGD).
        optimizer: ``adamw``, ``adam`` or ``sgd`` (momentum 0.9, Nesterov).
        scheduler: ``cosine`` (linear warm-up, then cosine to ``lr * min_lr_ratio``) or
            ``constant`` (warm-up, then flat).
        warmup_epochs: Warm-up length in epochs (fractions allowed).
        min_lr_ratio: Final learning rate as a share of ``lr``.
        loss: Loss terms and options.
        class_weights: ``None``, ``"inverse"``, ``"median"`` (from the training masks) or a list.
        augment: Augmentation strengths.
        grad_clip: Largest gradient norm (0: no clipping).
        mixed_precision: ``auto`` (bf16 or fp16 on CUDA, off elsewhere), ``off``, ``bf16``,
            ``fp16``.
        seed: Seed of initialisation, split, order and augmentation.
        deterministic: Deterministic algorithms and single-process loading.
        workers: Loader processes (``None``: 0 on CPU, up to 8 on CUDA).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        val_ratio: Validation share when a flat dataset is split on the fly.
        unet: Architecture overrides (``norm``, ``act``, ``upsample``, ``widths``).
        init: A checkpoint of ``idseg train unet`` whose weights start the run (fine-tuning:
            same architecture and classes; optimiser and schedule start afresh).

    Example:
        >>> UNetTrainConfig(data="d", epochs=2).validated().loss.describe()
        '1*dice'
    """

    data: str | None = None
    val: str | None = None
    model: str = "unet-nano"
    size: int = 256
    classes: tuple[str, ...] | None = None
    binary: bool = False
    epochs: int = 30
    batch_size: int = 8
    lr: float = 2e-3
    weight_decay: float = 1e-4
    optimizer: str = "adamw"
    scheduler: str = "cosine"
    warmup_epochs: float = 1.0
    min_lr_ratio: float = 0.01
    loss: LossSpec = field(default_factory=LossSpec)
    class_weights: str | tuple[float, ...] | None = None
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    grad_clip: float = 1.0
    mixed_precision: str = "auto"
    seed: int = 0
    deterministic: bool = False
    workers: int | None = None
    device: str = "auto"
    val_ratio: float = 0.1
    unet: dict[str, Any] = field(default_factory=dict)
    init: str | None = None

    def validated(self) -> UNetTrainConfig:
        """Return ``self`` after checking ranges and choices.

        Raises:
            ConfigError: The first bad value, named.
        """
        _positive(self, ("size", "epochs", "batch_size"), int)
        _positive(self, ("lr",), float)
        for key in ("weight_decay", "warmup_epochs", "min_lr_ratio", "grad_clip"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{key} must be >= 0, got {getattr(self, key)!r}")
        for key, choices in (
            ("optimizer", OPTIMIZERS),
            ("scheduler", SCHEDULERS),
            ("mixed_precision", PRECISIONS),
        ):
            value = getattr(self, key)
            if value not in choices:
                raise ConfigError(
                    f"{key} must be one of {', '.join(choices)}, got {value!r}{did_you_mean(str(value), choices)}"
                )
        if self.data is None:
            raise ConfigError(
                "no training data: give --data DIR (or paths.train in the config file)"
            )
        if self.workers is not None and self.workers < 0:
            raise ConfigError(f"workers must be >= 0, got {self.workers}")
        if not 0 < self.val_ratio < 1:
            raise ConfigError(f"val_ratio must lie between 0 and 1, got {self.val_ratio}")
        if self.binary and self.classes is not None and len(self.classes) not in (1, 2):
            raise ConfigError(
                f"a binary model needs two classes (or one foreground class), got {list(self.classes)}"
            )
        cw = self.class_weights
        if isinstance(cw, str) and cw not in ("inverse", "median"):
            raise ConfigError(
                f"class_weights must be 'inverse', 'median' or a list of numbers, got {cw!r}"
            )
        return self

    def to_file_dict(self, classes: tuple[str, ...] | None = None) -> dict[str, Any]:
        """The settings in config-file form (readable by :func:`resolve_train_config`).

        Args:
            classes: The resolved model classes, written instead of ``self.classes``.
        """
        names = classes if classes is not None else self.classes
        cw = self.class_weights
        return {
            "image_size": self.size,
            "class_names": list(names) if names is not None else None,
            "num_classes": len(names) if names is not None else None,
            "model": {"device": self.device},
            "paths": {"train": _absolute(self.data), "val": _absolute(self.val)},
            "train": {
                **{
                    k: getattr(self, k)
                    for k in (
                        "model",
                        "epochs",
                        "batch_size",
                        "seed",
                        "deterministic",
                        "workers",
                        "grad_clip",
                        "val_ratio",
                        "binary",
                    )
                },
                "class_weights": list(cw) if isinstance(cw, tuple) else cw,
                "unet": dict(self.unet),
                "init": _absolute(self.init),
                "augmentation": self.augment.to_dict(),
                "loss": self.loss.to_dict(),
                "optimizer": {
                    "type": self.optimizer,
                    "lr": self.lr,
                    "weight_decay": self.weight_decay,
                },
                "lr_scheduler": {
                    "type": self.scheduler,
                    "warmup_epochs": self.warmup_epochs,
                    "min_lr_ratio": self.min_lr_ratio,
                },
                "mixed_precision": self.mixed_precision,
            },
        }


def _absolute(path: str | None) -> str | None:
    return None if path is None else str(Path(path).expanduser().absolute())


def _positive(cfg: UNetTrainConfig, keys: tuple[str, ...], kind: type) -> None:
    for key in keys:
        value = getattr(cfg, key)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigError(f"{key} must be a positive {kind.__name__}, got {value!r}")


def _section(value: Any, key: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"train.{key} must be a mapping, got {value!r}")
    unknown = [k for k in value if k not in allowed]
    if unknown:
        raise ConfigError(
            f"train.{key}: unknown key {unknown[0]!r}{did_you_mean(str(unknown[0]), allowed)} (expected some of {', '.join(allowed)})"
        )
    return dict(value)


def _precision(value: Any) -> str:
    if value is True:
        return "auto"
    if value is False or value is None:
        return "off"
    return str(value).lower()


def _from_train_section(train: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in train:
        if key not in _FLAT_KEYS and key not in _NESTED_KEYS:
            known = [*_FLAT_KEYS, *_NESTED_KEYS]
            raise ConfigError(
                f"train: unknown key {key!r}{did_you_mean(key, known)} (expected some of {', '.join(known)})"
            )
    if "optimizer" in train:
        opt = _section(train["optimizer"], "optimizer", ("type", "name", "lr", "weight_decay"))
        out.update(optimizer=str(opt.get("type", opt.get("name", "adamw"))).lower())
        out.update({k: opt[k] for k in ("lr", "weight_decay") if k in opt})
    if "lr_scheduler" in train:
        sched = _section(
            train["lr_scheduler"], "lr_scheduler", ("type", "name", "warmup_epochs", "min_lr_ratio")
        )
        out["scheduler"] = str(sched.get("type", sched.get("name", "cosine"))).lower()
        out.update({k: sched[k] for k in ("warmup_epochs", "min_lr_ratio") if k in sched})
    if "augmentation" in train:
        out["augment"] = AugmentConfig.from_dict(train["augmentation"])
    if "loss" in train:
        loss = train["loss"]
        if isinstance(loss, Mapping) and isinstance(loss.get("class_weights"), str):
            out["class_weights"] = loss["class_weights"]
            loss = {k: v for k, v in loss.items() if k != "class_weights"}
        out["loss"] = parse_loss(loss)
    if "mixed_precision" in train:
        out["mixed_precision"] = _precision(train["mixed_precision"])
    out.update({k: train[k] for k in _FLAT_KEYS if k in train})
    return out


def _coerce(values: dict[str, Any]) -> dict[str, Any]:
    types = {f.name: f.type for f in fields(UNetTrainConfig)}
    out = dict(values)
    try:
        for key in ("size", "epochs", "batch_size", "seed"):
            if key in out and not isinstance(out[key], bool):
                out[key] = int(out[key])
        for key in (
            "lr",
            "weight_decay",
            "warmup_epochs",
            "min_lr_ratio",
            "grad_clip",
            "val_ratio",
        ):
            if key in out:
                out[key] = float(out[key])
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad number in the training settings: {exc}") from exc
    if isinstance(out.get("class_weights"), list):
        out["class_weights"] = tuple(float(w) for w in out["class_weights"])
    if out.get("classes") is not None:
        out["classes"] = tuple(str(c) for c in out["classes"])
    if isinstance(out.get("loss"), str | Mapping):
        out["loss"] = parse_loss(out["loss"])
    if isinstance(out.get("augment"), Mapping | bool):
        out["augment"] = AugmentConfig.from_dict(out["augment"])
    unknown = sorted(set(out) - set(types))
    if unknown:
        raise ConfigError(f"unknown training setting(s): {unknown}")
    return out


def resolve_train_config(config_file: str | Path | None = None, **flags: Any) -> UNetTrainConfig:
    """Merge defaults, a config file and flags (``None`` = flag not given).

    Args:
        config_file: Any file :func:`idseg.config.load_config` reads, or ``None``.
        **flags: :class:`UNetTrainConfig` fields given on the command line.

    Raises:
        ConfigError: A bad file, key or value.

    Example:
        >>> resolve_train_config(data="d", loss="ce+dice", epochs=3).loss.describe()
        '1*ce+1*dice'
    """
    values: dict[str, Any] = {}
    if config_file is not None:
        from idseg.config import load_config
        from idseg.config_paths import anchor

        cfg = load_config(config_file)
        values.update(_from_train_section(cfg.train))
        if cfg.image_size is not None:
            values["size"] = cfg.image_size
        if cfg.num_classes == 1:
            values["binary"] = True
        if cfg.class_names is not None:
            values["classes"] = cfg.class_names
        if cfg.model.device != "auto":
            values["device"] = cfg.model.device
        if values.get("init") is not None:
            values["init"] = anchor(str(values["init"]), Path(config_file).parent)
        values.update(
            {k: cfg.paths[p] for k, p in (("data", "train"), ("val", "val")) if cfg.paths.get(p)}
        )
    values.update({k: v for k, v in flags.items() if v is not None})
    return replace(UNetTrainConfig(), **_coerce(values)).validated()
