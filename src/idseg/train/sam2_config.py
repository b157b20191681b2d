"""Settings of ``idseg train sam2``: one dataclass, read from a config file and flags.

Precedence, lowest first: :class:`Sam2TrainConfig` defaults < config file < command-line flags.
The config file is any file :func:`idseg.config.load_config` reads, the original SAM2 ID
Segmenter wrapper's ``config.json`` included:

- ``checkpoint_path`` / ``model.checkpoint`` -> ``checkpoint`` (the base weights);
  ``model_type`` / ``model.config`` -> ``model_config``; ``model.device`` -> ``device``;
- ``image_size`` must equal the model's input size (SAM2's is fixed by its config);
  ``class_names`` (and ``num_classes``) -> ``classes``: the classes whose objects train, and
  per-class metrics;
- ``paths.train`` / ``paths.val`` -> ``data`` / ``val``;
- ``augmentation`` (:class:`~idseg.train.augment.AugmentConfig` keys, or ``false``),
  ``optimizer`` (``type``, ``lr``, ``weight_decay``), ``lr_scheduler`` (``type``: ``cosine``,
  ``step`` or ``constant``; ``warmup_epochs``, ``min_lr_ratio``, ``step_size``, ``gamma``),
  ``mixed_precision``, and ``loss``: a name (``focal+dice``, ``dice`` ...) or weights
  ``{"focal": 20, "dice": 1, "iou": 1}`` (SAM's, the default);
- the ``train`` section takes the flat keys of :data:`FLAT_KEYS` (``epochs``, ``batch_size``,
  ``trainable``, ``lora_rank``, ``correction_rounds`` ...).

:meth:`Sam2TrainConfig.to_file_dict` writes the same shape back (``out/config.json``), so
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

logger = logging.getLogger(__name__)

__all__ = ["FLAT_KEYS", "PARTS", "Sam2TrainConfig", "parse_sam_loss", "resolve_sam2_config"]

#: Parts of SAM2 that can train (``all``: every parameter).
PARTS = ("mask_decoder", "prompt_encoder", "image_encoder", "all")
OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULERS = ("cosine", "step", "constant")
PRECISIONS = ("auto", "off", "bf16", "fp16")
LOSS_TERMS = ("focal", "dice", "iou")
#: SAM's loss weights: focal 20, Dice 1, IoU-prediction MSE 1.
SAM_LOSS: tuple[tuple[str, float], ...] = (("focal", 20.0), ("dice", 1.0), ("iou", 1.0))
FLAT_KEYS = (
    *("epochs", "batch_size", "objects", "lr", "weight_decay", "seed", "deterministic"),
    *("workers", "grad_clip", "val_ratio", "trainable", "lora_rank", "lora_alpha"),
    *("accumulate", "correction_rounds", "box_prob", "box_noise", "max_box_noise"),
    *("min_area", "instances", "val_objects", "scratch", "points", "negative_points"),
)
_NESTED_KEYS = ("augmentation", "loss", "optimizer", "lr_scheduler", "mixed_precision")
_SAM_AUGMENT = {"hflip": 0.5, "rotate": 10.0, "scale": (0.8, 1.25), "translate": 0.05}


def _default_augment() -> AugmentConfig:
    return AugmentConfig.from_dict(_SAM_AUGMENT)


@dataclass(frozen=True)
class Sam2TrainConfig:
    """Everything one SAM2 training run needs (see the module docstring for file keys).

    Attributes:
        data: Training data: a split root, a flat dataset folder, or a COCO JSON file.
        val: Separate validation data (folder or COCO JSON).
        checkpoint: Base weights (path, registry name or URL); ``None`` with ``scratch``.
        model_config: SAM2 config name or YAML (``None``: inferred from the checkpoint).
        scratch: Start from random weights (``model_config`` required; everything trains).
        image_size: The model's input side, if given: checked against the model's config
            (SAM2's input size is part of its architecture).
        classes: Classes whose objects train (``None``: every class but the background).
        epochs: Passes over the training images.
        batch_size: Images per step.
        objects: Objects (prompted masks) per image per step, at most.
        val_objects: Objects per validation image, at most.
        lr: Peak learning rate.
        weight_decay: Decoupled weight decay.
        optimizer: ``adamw``, ``adam`` or ``sgd``.
        scheduler: ``cosine``, ``step`` (times ``gamma`` every ``step_size`` epochs) or
            ``constant``, each after a linear warm-up.
        warmup_epochs: Warm-up length in epochs (fractions allowed).
        min_lr_ratio: Final learning rate of ``cosine`` as a share of ``lr``.
        step_size: Epochs between decays of ``step``.
        gamma: Decay factor of ``step``.
        loss: ``(term, weight)`` pairs of ``focal``, ``dice`` and ``iou``.
        trainable: Parts that train (:data:`PARTS`).
        lora_rank: Rank of LoRA adapters on the image encoder's attention (0: none); the
            encoder's own weights stay frozen and the adapters are merged into the checkpoint.
        lora_alpha: LoRA scale numerator (the update is ``alpha / rank * B @ A``).
        accumulate: Steps whose gradients add up before one optimiser step.
        grad_clip: Largest gradient norm (0: no clipping).
        mixed_precision: ``auto`` (bf16 or fp16 on CUDA, off elsewhere), ``off``, ``bf16``,
            ``fp16``.
        correction_rounds: Corrective clicks after the first prompt, each fed back with the
            previous mask logits.
        box_prob: Share of objects prompted first by a box (the rest by one point).
        points: Positive points of a first point prompt.
        negative_points: Negative points added to a first point prompt (from the background
            around the object).
        box_noise: Box jitter: standard deviation as a share of the box side.
        max_box_noise: Largest box jitter in pixels of the model input.
        min_area: Smallest object, in pixels of the model input.
        instances: ``auto`` (COCO annotations when the dataset has ``coco.json``, else connected
            components of the class masks), ``coco`` or ``components``.
        augment: Augmentation strengths (geometric ones move image and masks together).
        seed: Seed of the split, the sampled objects and prompts, and the augmentation.
        deterministic: Deterministic algorithms and single-process loading.
        workers: Loader processes (``None``: 0 on CPU, up to 8 on CUDA).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        val_ratio: Validation share when the data is split here.

    Example:
        >>> Sam2TrainConfig(data="d", checkpoint="c.pt").validated().trainable
        ('mask_decoder', 'prompt_encoder')
    """

    data: str | None = None
    val: str | None = None
    checkpoint: str | None = None
    model_config: str | None = None
    scratch: bool = False
    image_size: int | None = None
    classes: tuple[str, ...] | None = None
    epochs: int = 10
    batch_size: int = 4
    objects: int = 8
    val_objects: int = 16
    lr: float = 1e-4
    weight_decay: float = 0.01
    optimizer: str = "adamw"
    scheduler: str = "cosine"
    warmup_epochs: float = 0.5
    min_lr_ratio: float = 0.01
    step_size: int = 10
    gamma: float = 0.1
    loss: tuple[tuple[str, float], ...] = SAM_LOSS
    trainable: tuple[str, ...] = ("mask_decoder", "prompt_encoder")
    lora_rank: int = 0
    lora_alpha: float = 16.0
    accumulate: int = 1
    grad_clip: float = 1.0
    mixed_precision: str = "auto"
    correction_rounds: int = 2
    box_prob: float = 0.5
    points: int = 1
    negative_points: int = 0
    box_noise: float = 0.1
    max_box_noise: float = 20.0
    min_area: int = 16
    instances: str = "auto"
    augment: AugmentConfig = field(default_factory=_default_augment)
    seed: int = 0
    deterministic: bool = False
    workers: int | None = None
    device: str = "auto"
    val_ratio: float = 0.1

    def validated(self) -> Sam2TrainConfig:
        """Return ``self`` after checking ranges, choices and combinations.

        Raises:
            ConfigError: The first bad value, named.
        """
        for key in (
            *("epochs", "batch_size", "objects", "val_objects", "accumulate", "step_size"),
            "points",
        ):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{key} must be a positive integer, got {value!r}")
        if not self.lr > 0:
            raise ConfigError(f"lr must be positive, got {self.lr!r}")
        for key in ("weight_decay", "warmup_epochs", "min_lr_ratio", "grad_clip", "box_noise"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{key} must be >= 0, got {getattr(self, key)!r}")
        for key in (
            "correction_rounds",
            "lora_rank",
            "min_area",
            "max_box_noise",
            "negative_points",
        ):
            if getattr(self, key) < 0:
                raise ConfigError(f"{key} must be >= 0, got {getattr(self, key)!r}")
        if not 0 <= self.box_prob <= 1 or not 0 < self.val_ratio < 1 or not 0 < self.gamma <= 1:
            raise ConfigError(
                f"box_prob must lie in [0, 1], val_ratio in (0, 1), gamma in (0, 1]; got {self.box_prob}, {self.val_ratio}, {self.gamma}"
            )
        for key, choices in (
            ("optimizer", OPTIMIZERS),
            ("scheduler", SCHEDULERS),
            ("mixed_precision", PRECISIONS),
            ("instances", ("auto", "coco", "components")),
        ):
            _choice(key, getattr(self, key), choices)
        for part in self.trainable:
            _choice("trainable", part, PARTS)
        if not self.trainable and not self.lora_rank:
            raise ConfigError("nothing would train: give trainable parts or lora_rank > 0")
        if self.data is None:
            raise ConfigError("no training data: give --data (or paths.train in the config file)")
        if self.scratch and self.model_config is None:
            raise ConfigError("training from scratch needs a model config (--model-config)")
        if not self.scratch and self.checkpoint is None:
            raise ConfigError(
                "no base checkpoint: give --checkpoint (path, name or URL), or --scratch with a model config"
            )
        if self.workers is not None and self.workers < 0:
            raise ConfigError(f"workers must be >= 0, got {self.workers}")
        return self

    def to_file_dict(self) -> dict[str, Any]:
        """The settings in config-file form (readable by :func:`resolve_sam2_config`)."""
        flat = {k: getattr(self, k) for k in FLAT_KEYS}
        flat["trainable"] = list(self.trainable)
        return {
            "image_size": self.image_size,
            "class_names": list(self.classes) if self.classes is not None else None,
            "model": {
                "checkpoint": _absolute(self.checkpoint),
                "config": _absolute(self.model_config),
                "device": self.device,
            },
            "paths": {"train": _absolute(self.data), "val": _absolute(self.val)},
            "train": {
                **flat,
                "augmentation": self.augment.to_dict(),
                "loss": dict(self.loss),
                "optimizer": {
                    "type": self.optimizer,
                    "lr": self.lr,
                    "weight_decay": self.weight_decay,
                },
                "lr_scheduler": {
                    "type": self.scheduler,
                    "warmup_epochs": self.warmup_epochs,
                    "min_lr_ratio": self.min_lr_ratio,
                    "step_size": self.step_size,
                    "gamma": self.gamma,
                },
                "mixed_precision": self.mixed_precision,
            },
        }

    @property
    def loss_weights(self) -> dict[str, float]:
        """``{term: weight}`` with every term of :data:`LOSS_TERMS` (0 when absent)."""
        weights = dict.fromkeys(LOSS_TERMS, 0.0)
        weights.update(dict(self.loss))
        return weights


def _choice(key: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(
            f"{key} must be one of {', '.join(choices)}, got {value!r}{did_you_mean(str(value), choices)}"
        )


def _absolute(path: str | None) -> str | None:
    """A local path made absolute; names and URLs unchanged."""
    if path is None or "://" in path or not Path(path).expanduser().exists():
        return path
    return str(Path(path).expanduser().absolute())


def parse_sam_loss(spec: Any) -> tuple[tuple[str, float], ...]:
    """Loss terms from a name (``focal+dice``), ``{"type": ...}`` or ``{term: weight}``.

    A name gives SAM's weights to the terms it lists (focal 20, Dice 1, IoU 1).

    Raises:
        ConfigError: An unknown term or a negative weight.

    Example:
        >>> parse_sam_loss("dice")
        (('dice', 1.0),)
        >>> parse_sam_loss({"focal": 10, "dice": 1})
        (('focal', 10.0), ('dice', 1.0))
    """
    if isinstance(spec, Mapping) and set(spec) <= {"type", "name"}:
        spec = spec.get("type", spec.get("name"))
    if isinstance(spec, str):
        names = [t.strip().lower() for t in spec.replace(",", "+").split("+") if t.strip()]
        defaults = dict(SAM_LOSS)
        spec = {n: defaults.get(n, 1.0) for n in names}
    if not isinstance(spec, Mapping) or not spec:
        raise ConfigError(f"loss must be a name such as 'focal+dice' or term weights, got {spec!r}")
    out = []
    for name, weight in spec.items():
        _choice("loss term", str(name), LOSS_TERMS)
        try:
            w = float(weight)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"loss weight of {name} must be a number, got {weight!r}") from exc
        if w < 0:
            raise ConfigError(f"loss weight of {name} must be >= 0, got {w}")
        out.append((str(name), w))
    return tuple(out)


def _section(value: Any, key: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"train.{key} must be a mapping, got {value!r}")
    unknown = [k for k in value if k not in allowed]
    if unknown:
        raise ConfigError(
            f"train.{key}: unknown key {unknown[0]!r}{did_you_mean(str(unknown[0]), allowed)} (expected some of {', '.join(allowed)})"
        )
    return dict(value)


def _from_train_section(train: Mapping[str, Any]) -> dict[str, Any]:
    known = (*FLAT_KEYS, *_NESTED_KEYS)
    for key in train:
        if key not in known:
            raise ConfigError(
                f"train: unknown key {key!r}{did_you_mean(str(key), known)} (expected some of {', '.join(known)})"
            )
    out: dict[str, Any] = {k: train[k] for k in FLAT_KEYS if k in train}
    if "optimizer" in train:
        opt = _section(train["optimizer"], "optimizer", ("type", "name", "lr", "weight_decay"))
        out["optimizer"] = str(opt.get("type", opt.get("name", "adamw"))).lower()
        out.update({k: opt[k] for k in ("lr", "weight_decay") if k in opt})
    if "lr_scheduler" in train:
        keys = ("type", "name", "warmup_epochs", "min_lr_ratio", "step_size", "gamma")
        sched = _section(train["lr_scheduler"], "lr_scheduler", keys)
        out["scheduler"] = str(sched.get("type", sched.get("name", "cosine"))).lower()
        out.update({k: sched[k] for k in keys[2:] if k in sched})
    if "augmentation" in train:
        out["augment"] = AugmentConfig.from_dict(train["augmentation"])
    if "loss" in train:
        out["loss"] = parse_sam_loss(train["loss"])
    if "mixed_precision" in train:
        mp = train["mixed_precision"]
        out["mixed_precision"] = (
            "auto" if mp is True else "off" if mp in (False, None) else str(mp).lower()
        )
    return out


_INTS = (
    "image_size",
    "epochs",
    "batch_size",
    "objects",
    "val_objects",
    "seed",
    "accumulate",
    "step_size",
)
_FLOATS = (
    *("lr", "weight_decay", "warmup_epochs", "min_lr_ratio", "gamma", "grad_clip"),
    *("val_ratio", "box_prob", "box_noise", "max_box_noise", "lora_alpha"),
)


def _coerce(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    try:
        for key in (
            *_INTS,
            "lora_rank",
            "correction_rounds",
            "min_area",
            "points",
            "negative_points",
        ):
            if key in out and not isinstance(out[key], bool):
                out[key] = int(out[key])
        for key in _FLOATS:
            if key in out:
                out[key] = float(out[key])
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad number in the training settings: {exc}") from exc
    if isinstance(out.get("trainable"), str):
        out["trainable"] = tuple(p.strip() for p in out["trainable"].split(",") if p.strip())
    elif out.get("trainable") is not None:
        out["trainable"] = tuple(str(p) for p in out["trainable"])
    if out.get("classes") is not None:
        out["classes"] = tuple(str(c) for c in out["classes"])
    if isinstance(out.get("loss"), str | Mapping):
        out["loss"] = parse_sam_loss(out["loss"])
    if isinstance(out.get("augment"), Mapping | bool):
        out["augment"] = AugmentConfig.from_dict(out["augment"])
    unknown = sorted(set(out) - {f.name for f in fields(Sam2TrainConfig)})
    if unknown:
        raise ConfigError(f"unknown training setting(s): {unknown}")
    return out


def resolve_sam2_config(config_file: str | Path | None = None, **flags: Any) -> Sam2TrainConfig:
    """Merge defaults, a config file and flags (``None`` = flag not given).

    Raises:
        ConfigError: A bad file, key or value.

    Example:
        >>> cfg = resolve_sam2_config(data="d", checkpoint="c.pt", trainable="all", loss="dice")
        >>> cfg.trainable, cfg.loss
        (('all',), (('dice', 1.0),))
    """
    values: dict[str, Any] = {}
    if config_file is not None:
        values.update(_from_file(Path(config_file)))
    values.update({k: v for k, v in flags.items() if v is not None})
    return replace(Sam2TrainConfig(), **_coerce(values)).validated()


def _from_file(path: Path) -> dict[str, Any]:
    from idseg.config import load_config

    cfg = load_config(path)
    values = _from_train_section(cfg.train)
    if cfg.class_names is not None:
        values["classes"] = tuple(c for c in cfg.class_names if c != "background")
    if cfg.model.device != "auto":
        values["device"] = cfg.model.device
    if cfg.model.checkpoint is not None:
        values["checkpoint"] = str(cfg.model.checkpoint)
    if cfg.model.config is not None:
        values["model_config"] = str(cfg.model.config)
    if cfg.image_size is not None:
        values["image_size"] = int(cfg.image_size)
    for key, part in (("data", "train"), ("val", "val")):
        if cfg.paths.get(part):
            values[key] = str(cfg.paths[part])
    return values
