"""idseg configuration: one TOML, YAML or JSON file merged with command-line flags.

Precedence, lowest first: built-in defaults < preset < config file < flags given on the command
line (``None`` means "not given"). The file format is chosen by the extension (``.toml``,
``.yaml``/``.yml``, ``.json``). A file may nest its settings in sections, or give the
segment-everything parameters flat at the top level::

    preset = "documents"            # default, dense, documents

    [model]
    checkpoint = "sam2.1_hiera_tiny"  # path, registry name or https URL
    device = "auto"

    [everything]                     # any parameter of EverythingSettings
    points_per_side = 16

    [output]
    formats = ["png", "coco"]        # png, coco, polygons, yolo

The keys of the original "SAM2 ID Segmenter" ``config.json`` are read too: ``checkpoint_path``
(-> ``model.checkpoint``), ``model_type`` (-> ``model.config``), ``image_size``, ``num_classes``,
``class_names``, ``paths``, and ``augmentation``, ``loss``, ``optimizer``, ``lr_scheduler``,
``mixed_precision`` (-> ``train``). Keys no command uses are kept in ``extra`` and written back
by :func:`write_resolved_config`. Nothing is read from the environment here.

Relative paths in a file are relative to the file's folder: a local ``model.checkpoint`` (not a
registry name or URL), a ``.yaml``/``.yml`` ``model.config`` and the entries of ``paths`` are made
absolute when the file is loaded, and the values as written are kept in ``as_written``. Paths
given on the command line stay relative to the working directory (see :mod:`idseg.config_paths`,
which also holds :func:`write_resolved_config`, re-exported here).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from idseg.config_parse import Layer, parse_cli, parse_mapping, read_config_file
from idseg.config_paths import anchor_paths, write_resolved_config
from idseg.config_values import FORMATS, parse_formats, to_jsonable
from idseg.errors import ConfigError, InputError
from idseg.sam.settings import EverythingSettings, preset

logger = logging.getLogger(__name__)

__all__ = [
    "FORMATS",
    "IdsegConfig",
    "ModelSection",
    "OutputSection",
    "load_config",
    "parse_formats",
    "write_resolved_config",
]


@dataclass
class ModelSection:
    """Which SAM2 model to load.

    Attributes:
        checkpoint: Local path, registry name (``sam2.1_hiera_tiny``) or https URL.
        config: SAM2 config name (``sam2.1_hiera_t``) or YAML path; inferred when ``None``.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        offline: Never download; ``None`` defers to ``IDSEG_OFFLINE`` when the model is loaded.

    Example:
        >>> ModelSection(checkpoint="sam2.1_hiera_tiny", device="cpu").config is None
        True
    """

    checkpoint: str | None = None
    config: str | None = None
    device: str = "auto"
    offline: bool | None = None


@dataclass
class OutputSection:
    """What the segment commands write.

    Attributes:
        formats: Any of ``png``, ``coco``, ``polygons``, ``yolo``.
        overlay: Also write an overlay image per input.
        pad_percent: Padding of crops, as a fraction of the box size per side.
        crops: Write one crop per segment.
        seed: Seed of the random colours (and anything else random).

    Example:
        >>> OutputSection(formats=["png", "yolo"], overlay=True).pad_percent
        0.05
    """

    formats: list[str] = field(default_factory=lambda: ["png", "coco"])
    overlay: bool = False
    pad_percent: float = 0.05
    crops: bool = True
    seed: int = 0


@dataclass
class IdsegConfig:
    """The merged configuration of one idseg run.

    Attributes:
        model: Model section.
        preset: Segment-everything preset the ``everything`` overrides apply to.
        everything: Overrides of :class:`EverythingSettings` fields (JSON-ready values).
        output: Output section.
        class_names: Class names for training/export, if any.
        num_classes: Number of classes; must equal ``len(class_names)`` when both are given.
        image_size: Training input size, if any.
        train: Training settings (augmentation, loss, optimizer, lr_scheduler, ...).
        paths: Data paths (``train``, ``val`` ...), kept for the training commands.
        as_written: The file's spelling of each path made absolute against the file's folder,
            by dotted key (``{"model.checkpoint": "../t.pt"}``).
        extra: Keys no command uses; kept and written back.
        source: The file the configuration came from.

    Example:
        >>> cfg = IdsegConfig(preset="dense", everything={"points_per_side": 16})
        >>> cfg.everything_settings().points_per_side, cfg.everything_settings().pred_iou_thresh
        (16, 0.85)
    """

    model: ModelSection = field(default_factory=ModelSection)
    preset: str = "default"
    everything: dict[str, Any] = field(default_factory=dict)
    output: OutputSection = field(default_factory=OutputSection)
    class_names: list[str] | None = None
    num_classes: int | None = None
    image_size: int | None = None
    train: dict[str, Any] = field(default_factory=dict)
    paths: dict[str, Any] = field(default_factory=dict)
    as_written: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    source: str | None = None

    def everything_settings(self) -> EverythingSettings:
        """The preset with the overrides applied, validated by :class:`EverythingSettings`.

        Raises:
            ConfigError: A value is out of range; the message names the parameter.

        Example:
            >>> IdsegConfig(preset="documents").everything_settings().points_per_side
            24
        """
        return _settings(self, _where(self))

    def validate(self) -> None:
        """Check the combined values (classes, output formats, segment-everything settings).

        Raises:
            ConfigError: Something is inconsistent or out of range.

        Example:
            >>> IdsegConfig(class_names=["card"], num_classes=2).validate()
            Traceback (most recent call last):
            idseg.errors.ConfigError: configuration: num_classes is 2 but class_names has ...
        """
        _validate(self, _where(self))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; :meth:`from_dict` reads it back to an equal configuration.

        Example:
            >>> cfg = IdsegConfig(everything={"points_per_side": 16})
            >>> IdsegConfig.from_dict(cfg.to_dict()) == cfg
            True
        """
        return {
            "preset": self.preset,
            "model": dataclasses.asdict(self.model),
            "everything": to_jsonable(self.everything),
            "output": dataclasses.asdict(self.output),
            "class_names": list(self.class_names) if self.class_names is not None else None,
            "num_classes": self.num_classes,
            "image_size": self.image_size,
            "train": to_jsonable(self.train),
            "paths": to_jsonable(self.paths),
            "as_written": to_jsonable(self.as_written),
            "extra": to_jsonable(self.extra),
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | None = None) -> IdsegConfig:
        """Build a configuration from :meth:`to_dict` output or any file-shaped mapping.

        Args:
            data: Nested sections, flat segment-everything keys or legacy keys (a file written
                by :func:`write_resolved_config` is accepted; its added keys are ignored).
                Paths are taken as they are (relative ones stay relative to the working
                directory); :func:`load_config` is what anchors them to a file's folder.
            source: Where the mapping came from; defaults to its ``source`` key.

        Raises:
            ConfigError: A bad key or value.

        Example:
            >>> IdsegConfig.from_dict({"points_per_side": 16}).everything
            {'points_per_side': 16}
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"a configuration must be a mapping, got {type(data).__name__}")
        body = dict(data)
        stored = body.pop("source", None)
        cfg = cls(source=source if source is not None else _opt_str(stored))
        cfg = _apply(cfg, parse_mapping(body, _where(cfg)))
        cfg.validate()
        return cfg


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _where(cfg: IdsegConfig) -> str:
    return Path(cfg.source).name if cfg.source else "configuration"


def _settings(cfg: IdsegConfig, where: str) -> EverythingSettings:
    overrides = dict(cfg.everything)
    grids = overrides.get("point_grids")
    if grids is not None:
        overrides["point_grids"] = [np.asarray(g, dtype=np.float64) for g in grids]
    try:
        return preset(cfg.preset, **overrides)
    except (InputError, TypeError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _merge_everything(base: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Later overrides win; a later ``points_per_side`` drops an earlier ``point_grids`` too."""
    merged = dict(base)
    if new.get("points_per_side") is not None:
        merged.pop("point_grids", None)
    if new.get("point_grids") is not None:
        merged.pop("points_per_side", None)
    merged.update(new)
    return merged


def _apply(cfg: IdsegConfig, layer: Layer) -> IdsegConfig:
    """A copy of ``cfg`` with the layer's values on top."""
    out = copy.deepcopy(cfg)
    out.model = dataclasses.replace(out.model, **layer["model"])
    out.output = dataclasses.replace(out.output, **layer["output"])
    for key, value in layer["top"].items():
        setattr(out, key, value)
    out.everything = _merge_everything(out.everything, layer["everything"])
    for name in ("train", "paths", "extra"):
        getattr(out, name).update(copy.deepcopy(layer[name]))
    replaced = {f"{section}.{key}" for section in ("model", "paths") for key in layer[section]}
    out.as_written = {k: v for k, v in out.as_written.items() if k not in replaced}
    out.as_written.update(copy.deepcopy(layer["as_written"]))
    return out


def _validate(cfg: IdsegConfig, where: str) -> None:
    names, count = cfg.class_names, cfg.num_classes
    if names is not None and count is not None and count != len(names):
        raise ConfigError(
            f"{where}: num_classes is {count} but class_names has {len(names)} names "
            f"({', '.join(names)}); they must agree"
        )
    parse_formats(cfg.output.formats, f"{where}: output.formats")
    _settings(cfg, where)


def load_config(path: str | Path | None = None, **cli_overrides: Any) -> IdsegConfig:
    """Load a config file (optional) and apply command-line flags on top.

    Relative paths in the file (a local ``model.checkpoint``, a YAML ``model.config``, the
    ``paths`` entries) are made absolute against the file's folder, their spelling kept in
    ``as_written``; paths among ``cli_overrides`` are left relative to the working directory.

    Args:
        path: A ``.toml``, ``.yaml``/``.yml`` or ``.json`` file, or ``None`` for defaults only.
        **cli_overrides: Flags; ``None`` means not given. Keys: ``checkpoint``, ``config``,
            ``device``, ``offline``, ``formats``, ``overlay``, ``pad_percent``, ``crops``,
            ``seed``, ``preset``, ``class_names``, ``num_classes``, ``image_size``, any
            segment-everything parameter, and the mappings ``everything``, ``train``, ``paths``.

    Returns:
        The merged, validated configuration.

    Raises:
        ConfigError: Unsupported extension, missing file, parse error (with file name and line),
            unknown key in a section (with the closest known key), or a bad value.

    Example:
        >>> load_config(points_per_side=16, device=None).everything
        {'points_per_side': 16}
        >>> cfg = load_config("idseg.yaml", points_per_side=16, device=None)  # doctest: +SKIP
        >>> cfg.everything_settings().points_per_side  # doctest: +SKIP
        16
    """
    cfg = IdsegConfig()
    if path is not None:
        name = Path(path).name
        layer = parse_mapping(read_config_file(path), name)
        anchor_paths(layer, Path(path).expanduser().absolute().parent)
        cfg = _apply(cfg, layer)
        cfg.source = str(path)
        _validate(cfg, name)
    where = "command-line options"
    cfg = _apply(cfg, parse_cli(cli_overrides, where))
    if any(value is not None for value in cli_overrides.values()):
        _validate(cfg, f"{_where(cfg)} with {where}" if cfg.source else where)
    return cfg
