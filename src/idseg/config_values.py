"""Checks for the values of an idseg configuration (helpers of :mod:`idseg.config`).

Every checker takes the value and a label (``"idseg.toml: output.seed"``) for its error message,
and returns the value in its canonical form or raises :class:`ConfigError`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import math
import os
import re
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from idseg._text import did_you_mean
from idseg.errors import ConfigError
from idseg.models import sam2 as _sam2
from idseg.sam.settings import PRESETS, EverythingSettings

#: Output formats the segment commands can write.
FORMATS = ("png", "coco", "polygons", "yolo")

_SAM2_EXAMPLES = "'sam2.1_hiera_t', 'sam2.1_hiera_s', 'sam2.1_hiera_b+' or 'sam2.1_hiera_l'"


def unknown_name(label: str, what: str, value: Any, name: str, choices: tuple[str, ...]) -> str:
    """``"<label>: unknown <what> 'x'; did you mean 'y'? Allowed: a, b"`` (plain text, no brackets).

    Args:
        label: Where the value came from (``"idseg.toml: preset"``).
        what: What kind of name it is (``"preset"``, ``"output format"``).
        value: The value as given, shown quoted.
        name: The normalised value that is compared with ``choices``.
        choices: The allowed names.

    Example:
        >>> unknown_name("formats", "output format", "svg", "svg", ("png", "coco"))
        "formats: unknown output format 'svg'; allowed: png, coco"
    """
    hint = did_you_mean(name, choices)
    allowed = f"{hint} Allowed: " if hint else "; allowed: "
    return f"{label}: unknown {what} {value!r}{allowed}{', '.join(choices)}"


def check_bool(value: Any, label: str) -> bool:
    """A real boolean (``true``/``false``).

    Example:
        >>> check_bool("yes", "output.overlay")
        Traceback (most recent call last):
        idseg.errors.ConfigError: output.overlay must be true or false, got 'yes'
    """
    if not isinstance(value, bool):
        raise ConfigError(f"{label} must be true or false, got {value!r}")
    return value


def check_opt_bool(value: Any, label: str) -> bool | None:
    """A boolean or ``None``.

    Example:
        >>> check_opt_bool(None, "model.offline"), check_opt_bool(True, "model.offline")
        (None, True)
    """
    return None if value is None else check_bool(value, label)


def check_int(value: Any, label: str, minimum: int | None = None) -> int:
    """An integer (a float with an integral value is accepted), optionally ``>= minimum``.

    Example:
        >>> check_int(16.0, "points_per_side", minimum=1)
        16
        >>> check_int(0, "output.seed", minimum=1)
        Traceback (most recent call last):
        idseg.errors.ConfigError: output.seed must be >= 1, got 0
    """
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{label} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{label} must be >= {minimum}, got {value}")
    return value


def check_float(value: Any, label: str, minimum: float | None = None) -> float:
    """A finite number, optionally ``>= minimum``.

    Example:
        >>> check_float(1, "output.pad_percent", minimum=0.0)
        1.0
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{label} must be a finite number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{label} must be >= {minimum}, got {value}")
    return float(value)


def check_str(value: Any, label: str) -> str:
    """A non-empty string (paths are turned into strings).

    Example:
        >>> check_str(Path("weights/t.pt"), "model.checkpoint")
        'weights/t.pt'
    """
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{label} must be a non-empty string, got {value!r}")
    return value


def check_opt_str(value: Any, label: str) -> str | None:
    """A non-empty string or ``None``.

    Example:
        >>> check_opt_str(None, "model.config") is None
        True
    """
    return None if value is None else check_str(value, label)


def check_mapping(value: Any, name: str, where: str) -> Mapping[Any, Any]:
    """A mapping (a TOML table, YAML mapping or JSON object).

    Example:
        >>> check_mapping([16], "everything", "idseg.toml")
        Traceback (most recent call last):
        idseg.errors.ConfigError: idseg.toml: 'everything' must be a mapping (table), got [16]
    """
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: {name!r} must be a mapping (table), got {value!r}")
    return value


def check_class_names(value: Any, label: str) -> list[str]:
    """A list of non-empty strings (a comma-separated string is split).

    Example:
        >>> check_class_names("card, passport", "class_names")
        ['card', 'passport']
    """
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple) or not value:
        raise ConfigError(f"{label} must be a non-empty list of names, got {value!r}")
    return [check_str(name, f"{label}[{i}]") for i, name in enumerate(value)]


def check_preset(value: Any, label: str) -> str:
    """A known preset name, lower-cased.

    Example:
        >>> check_preset(" Dense", "preset")
        'dense'
        >>> check_preset("dens", "preset")
        Traceback (most recent call last):
        idseg.errors.ConfigError: preset: unknown preset 'dens'; did you mean 'dense'? Allowed: ...
    """
    name = check_str(value, label).strip().lower()
    if name not in PRESETS:
        raise ConfigError(unknown_name(label, "preset", value, name, tuple(PRESETS)))
    return name


def check_device(value: Any, label: str) -> str:
    """A name from :data:`idseg.models.sam2.DEVICES`, or one of them but ``auto`` with ``:N``.

    The same names :func:`idseg.models.sam2.select_device` accepts (``cuda:1``, ``mps:0``,
    ``cpu:0``); whether the device exists is checked only when the model is loaded.

    Example:
        >>> check_device(" CUDA:1 ", "model.device")
        'cuda:1'
    """
    name = check_str(value, label).strip().lower()
    kind, colon, index = name.partition(":")
    devices = _sam2.DEVICES
    indexed = bool(colon) and kind in devices and kind != "auto"
    if name in devices or (indexed and re.fullmatch(r"[0-9]+", index)):
        return name
    raise ConfigError(f"{label} must be one of {', '.join(devices)} (or cuda:N), got {value!r}")


def parse_formats(text: str | list[str] | tuple[str, ...], label: str = "formats") -> list[str]:
    """Output formats from ``"png,coco"`` or a list (items may hold commas); deduplicated.

    Example:
        >>> parse_formats("png, COCO,png,yolo")
        ['png', 'coco', 'yolo']
    """
    items = [text] if isinstance(text, str) else text
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ConfigError(f"{label} must be a comma-separated string or a list, got {text!r}")
    found: list[str] = []
    for item in items:
        for part in item.split(","):
            name = part.strip().lower()
            if name and name not in FORMATS:
                raise ConfigError(unknown_name(label, "output format", part.strip(), name, FORMATS))
            if name and name not in found:
                found.append(name)
    if not found:
        raise ConfigError(f"{label}: no output format given; allowed: {', '.join(FORMATS)}")
    return found


def is_sam1_type(text: str) -> bool:
    """Whether ``text`` is a SAM1 model type (``vit_b``, ``vit_l``, ``vit_h``, ``default``).

    Example:
        >>> is_sam1_type("vit_h"), is_sam1_type("sam2.1_hiera_t")
        (True, False)
    """
    key = text.strip().lower().replace("-", "_")
    return key == "default" or bool(re.fullmatch(r"(sam_)?vit_[a-z0-9]+", key))


def _sam1_error(text: str, label: str) -> ConfigError:
    return ConfigError(
        f"{label}: {text!r} is a SAM1 (segment-anything) model type; SAM1 types are not SAM2 "
        f"configs and SAM1 weights do not load into SAM2. Use a SAM2 config such as "
        f"{_SAM2_EXAMPLES}"
    )


def check_model_config(value: Any, label: str) -> str | None:
    """A SAM2 config name or YAML path (resolved later); SAM1 types are rejected.

    Example:
        >>> check_model_config("sam2.1_hiera_t", "model.config")
        'sam2.1_hiera_t'
        >>> check_model_config("vit_b", "model.config")
        Traceback (most recent call last):
        idseg.errors.ConfigError: model.config: 'vit_b' is a SAM1 (segment-anything) model type; ...
    """
    text = check_opt_str(value, label)
    if text is not None and is_sam1_type(text):
        raise _sam1_error(text, label)
    return text


def model_type_to_config(value: Any, where: str) -> str:
    """Map a legacy ``model_type`` to a SAM2 config name.

    ``sam2.1_hiera_t`` and ``sam2_hiera_small`` keep their family; bare sizes such as ``hiera_t``,
    ``hiera_tiny`` or ``tiny`` mean SAM 2.1. YAML paths and idseg's own configs pass unchanged.

    Example:
        >>> model_type_to_config("hiera_tiny", "config.json")
        'sam2.1_hiera_t'
        >>> model_type_to_config("sam2_hiera_small", "config.json")
        'sam2_hiera_s'
    """
    from idseg.models import registry
    from idseg.models.configs import available_configs, normalize_config_name

    label = f"{where}: model_type"
    text = check_str(value, label).strip()
    if is_sam1_type(text):
        raise _sam1_error(text, label)
    key = text.lower().replace("-", "_")
    key = key.removeprefix("hiera_")
    with contextlib.suppress(ConfigError):
        return registry.get_checkpoint(key).config
    if Path(text).suffix.lower() in (".yaml", ".yml"):
        return text
    name = normalize_config_name(text)
    if name in available_configs():
        return name
    raise ConfigError(
        f"{label} {text!r} names no SAM2 config or checkpoint; expected a name such as "
        f"{_SAM2_EXAMPLES}, 'sam2_hiera_small', 'hiera_tiny' or 'tiny', or a YAML path"
    )


def _everything_types() -> dict[str, tuple[type, bool]]:
    """Each segment-everything parameter's base type and whether ``None`` is allowed."""
    hints = typing.get_type_hints(EverythingSettings)
    out: dict[str, tuple[type, bool]] = {}
    for f in dataclasses.fields(EverythingSettings):
        args = typing.get_args(hints[f.name])
        base = next((a for a in args if a is not type(None)), hints[f.name])
        out[f.name] = (typing.get_origin(base) or base, type(None) in args)
    return out


EVERYTHING_FIELDS: dict[str, tuple[type, bool]] = _everything_types()


def check_everything_value(key: str, value: Any, where: str) -> Any:
    """Check the type of one segment-everything parameter (ranges are checked by the settings).

    Args:
        key: A field of :class:`~idseg.sam.settings.EverythingSettings`.
        value: The value as read; ``None`` only where the field allows it.
        where: Name of the source, used in the error message.

    Returns:
        The value in its canonical type (point grids as nested lists of floats).

    Raises:
        ConfigError: The value has the wrong type.

    Example:
        >>> check_everything_value("points_per_side", 16.0, "idseg.toml")
        16
    """
    kind, optional = EVERYTHING_FIELDS[key]
    label = f"{where}: everything.{key}"
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{label} must be set (null is not allowed)")
    if kind is list:
        return _check_grids(value, label)
    checkers: dict[type, Callable[[Any, str], Any]] = {
        bool: check_bool,
        int: check_int,
        float: check_float,
        str: check_str,
    }
    return checkers[kind](value, label)


def _check_grids(value: Any, label: str) -> list[list[list[float]]]:
    """Point grids: a list of ``N x 2`` lists of ``[x, y]`` in ``[0, 1]``."""
    if not isinstance(value, list | tuple) or not value:
        raise ConfigError(f"{label} must be a list of grids of (x, y) points, got {value!r}")
    grids = []
    for i, grid in enumerate(value):
        grid = grid.tolist() if hasattr(grid, "tolist") else grid
        ok = isinstance(grid, list | tuple) and len(grid) > 0
        points = [[check_float(c, f"{label}[{i}]") for c in p] for p in grid] if ok else []
        if not ok or any(len(p) != 2 or not all(0 <= c <= 1 for c in p) for p in points):
            raise ConfigError(
                f"{label}[{i}] must be a non-empty list of (x, y) points with x and y in 0..1"
            )
        grids.append(points)
    return grids


def to_jsonable(obj: Any) -> Any:
    """A JSON-ready copy: string keys, lists for tuples/sets, ISO dates, strings for paths.

    Example:
        >>> to_jsonable({"size": (4, 6), 1: Path("a/b"), "day": dt.date(2024, 5, 1)})
        {'size': [4, 6], '1': 'a/b', 'day': '2024-05-01'}
    """
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in obj]
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    if isinstance(obj, dt.date | dt.time):
        return obj.isoformat()
    if hasattr(obj, "tolist"):
        return to_jsonable(obj.tolist())
    return os.fspath(obj) if isinstance(obj, os.PathLike) else str(obj)


MODEL_FIELDS: dict[str, Callable[[Any, str], Any]] = {
    "checkpoint": check_opt_str,
    "config": check_model_config,
    "device": check_device,
    "offline": check_opt_bool,
}
OUTPUT_FIELDS: dict[str, Callable[[Any, str], Any]] = {
    "formats": parse_formats,
    "overlay": check_bool,
    "pad_percent": lambda v, label: check_float(v, label, minimum=0.0),
    "crops": check_bool,
    "seed": lambda v, label: check_int(v, label, minimum=0),
}
TOP_FIELDS: dict[str, Callable[[Any, str], Any]] = {
    "preset": check_preset,
    "class_names": lambda v, label: None if v is None else check_class_names(v, label),
    "num_classes": lambda v, label: None if v is None else check_int(v, label, minimum=1),
    "image_size": lambda v, label: None if v is None else check_int(v, label, minimum=1),
}
