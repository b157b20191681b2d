"""Reading idseg configuration files and checking their values (helpers of :mod:`idseg.config`).

A file (TOML, YAML or JSON) or a set of command-line options is turned into a *layer*: a dict of
sections (``model``, ``output``, ``everything``, ``top``, ``train``, ``paths``, ``extra``) holding
only the keys that were given, each value already checked. :mod:`idseg.config` applies layers in
order of precedence. Keys of the original "SAM2 ID Segmenter" ``config.json`` are mapped here.
Anchoring relative paths to a file's folder lives in :mod:`idseg.config_paths`; its names are
re-exported here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from idseg._text import close_match, did_you_mean
from idseg.config_paths import (  # their old home; re-exported
    CHECKPOINT_SUFFIXES,
    CONFIG_SUFFIXES,
    anchor,
    anchor_paths,
    is_local_checkpoint,
    is_url,
)
from idseg.config_values import (
    EVERYTHING_FIELDS,
    MODEL_FIELDS,
    OUTPUT_FIELDS,
    TOP_FIELDS,
    check_everything_value,
    check_mapping,
    model_type_to_config,
    to_jsonable,
)
from idseg.errors import ConfigError

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

logger = logging.getLogger(__name__)

#: Accepted file extensions and the parser each one selects.
EXTENSIONS: dict[str, str] = {".toml": "toml", ".yaml": "yaml", ".yml": "yaml", ".json": "json"}

#: Legacy ``config.json`` keys that belong to the training commands.
LEGACY_TRAIN_KEYS = ("augmentation", "loss", "optimizer", "lr_scheduler", "mixed_precision")

#: Keys :func:`idseg.config.write_resolved_config` adds; ignored when such a file is read back.
RESOLVED_ONLY_KEYS = ("idseg_version", "everything_settings", "resolved")

SECTIONS = ("model", "output", "everything", "top", "train", "paths", "extra", "as_written")

Layer = dict[str, dict[str, Any]]


def new_layer() -> Layer:
    """An empty layer: one dict per section.

    Example:
        >>> new_layer()["everything"], len(new_layer()) == len(SECTIONS)
        ({}, True)
    """
    return {name: {} for name in SECTIONS}


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Parse a TOML, YAML or JSON file (chosen by extension) whose top level is a mapping.

    Args:
        path: The file; ``.toml``, ``.yaml``/``.yml`` or ``.json``.

    Returns:
        The parsed top-level mapping (an empty YAML file gives ``{}``).

    Raises:
        ConfigError: Unsupported extension, missing or unreadable file, a parse error (with the
            file name and the parser's message, which gives the line) or a non-mapping top level.

    Example:
        >>> read_config_file("idseg.toml")  # doctest: +SKIP
        {'preset': 'dense', 'everything': {'points_per_side': 16}}
    """
    file = Path(path).expanduser()
    kind = EXTENSIONS.get(file.suffix.lower())
    if kind is None:
        raise ConfigError(
            f"config file {file.name!r} has an unsupported extension "
            f"{file.suffix or '(none)'!r}; expected one of: {', '.join(EXTENSIONS)}"
        )
    if not file.is_file():
        raise ConfigError(f"config file not found: {str(path)!r}")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {file.name!r}: {exc}") from exc
    data = _PARSERS[kind](text, file.name)
    if data is None and kind == "yaml":
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {file.name!r}: the top level must be a mapping of keys to values, "
            f"got {type(data).__name__}"
        )
    return data


def _parse_toml(text: str, name: str) -> Any:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"cannot parse {name!r} as TOML: {exc}") from exc


def _parse_yaml(text: str, name: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem, context = getattr(exc, "problem", None), getattr(exc, "context", None)
        message = f"{problem} ({context})" if problem and context else problem or str(exc)
        message = " ".join(str(message).split())
        raise ConfigError(f"cannot parse {name!r} as YAML{where}: {message}") from exc


def _parse_json(text: str, name: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"cannot parse {name!r} as JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
        ) from exc


_PARSERS: dict[str, Callable[[str, str], Any]] = {
    "toml": _parse_toml,
    "yaml": _parse_yaml,
    "json": _parse_json,
}


def put(layer: Layer, section: str, key: str, value: Any, where: str) -> None:
    """Store ``value``; the same key given twice in one source must agree.

    Args:
        layer: The layer to fill.
        section: One of :data:`SECTIONS`.
        key: The setting's name.
        value: The checked value.
        where: Name of the source, used in the error message.

    Raises:
        ConfigError: ``key`` is already in ``section`` with a different value.

    Example:
        >>> layer = new_layer(); put(layer, "top", "preset", "dense", "idseg.toml")
        >>> put(layer, "top", "preset", "default", "idseg.toml")
        Traceback (most recent call last):
        idseg.errors.ConfigError: idseg.toml: 'preset' is given twice with different values ...
    """
    target = layer[section]
    if key in target and target[key] != value:
        raise ConfigError(
            f"{where}: {key!r} is given twice with different values "
            f"({target[key]!r} and {value!r}); keep one"
        )
    target[key] = value


def _section(layer: Layer, name: str, value: Any, where: str) -> None:
    """Check and store the keys of a nested ``model``/``output``/``everything`` section."""
    tables: dict[str, Mapping[str, Any]] = {
        "model": MODEL_FIELDS,
        "output": OUTPUT_FIELDS,
        "everything": EVERYTHING_FIELDS,
    }
    known = tables[name]
    for key, item in check_mapping(value, name, where).items():
        key = str(key)
        if key not in known:
            raise ConfigError(
                f"{where}: unknown key {key!r} in section {name!r}{did_you_mean(key, known)}"
            )
        put(layer, name, key, _check(name, key, item, where), where)


def _check(section: str, key: str, value: Any, where: str) -> Any:
    if section == "everything":
        return check_everything_value(key, value, where)
    table = {"model": MODEL_FIELDS, "output": OUTPUT_FIELDS, "top": TOP_FIELDS}[section]
    return table[key](value, f"{where}: {key}" if section == "top" else f"{where}: {section}.{key}")


def parse_mapping(data: Mapping[str, Any], where: str) -> Layer:
    """Turn a file's top-level mapping (nested, flat or legacy keys) into a checked layer.

    Args:
        data: The parsed file, or a dict from :meth:`idseg.config.IdsegConfig.to_dict`.
        where: Name of the source, used in error messages (the file name).

    Returns:
        The layer. Keys no command uses go to ``extra``, JSON-ready.

    Raises:
        ConfigError: A known key has a bad value, a section has an unknown key, or one setting is
            given twice with different values.

    Example:
        >>> layer = parse_mapping({"checkpoint_path": "t.pt", "points_per_side": 16}, "config.json")
        >>> layer["model"], layer["everything"]
        ({'checkpoint': 't.pt'}, {'points_per_side': 16})
    """
    layer = new_layer()
    for raw_key, value in data.items():
        key = str(raw_key)
        if key in ("model", "output", "everything"):
            _section(layer, key, value, where)
        elif key in TOP_FIELDS:
            put(layer, "top", key, _check("top", key, value, where), where)
        elif key in EVERYTHING_FIELDS:
            put(layer, "everything", key, check_everything_value(key, value, where), where)
        elif key in ("train", "paths", "extra", "as_written"):
            for sub, item in check_mapping(value, key, where).items():
                put(layer, key, str(sub), to_jsonable(item), where)
        elif key in LEGACY_TRAIN_KEYS:
            put(layer, "train", key, to_jsonable(value), where)
        elif key == "checkpoint_path":
            put(
                layer,
                "model",
                "checkpoint",
                MODEL_FIELDS["checkpoint"](value, f"{where}: {key}"),
                where,
            )
        elif key == "model_type":
            put(layer, "model", "config", model_type_to_config(value, where), where)
        elif key not in RESOLVED_ONLY_KEYS:
            _keep_extra(layer, key, value, where)
    return layer


def _keep_extra(layer: Layer, key: str, value: Any, where: str) -> None:
    known = [*TOP_FIELDS, *EVERYTHING_FIELDS, "model", "output", "everything", "train", "paths"]
    close = close_match(key, known)
    if close:
        logger.warning(
            "config key %r is not used by idseg (kept in 'extra'); did you mean %r?", key, close
        )
    else:
        logger.debug("config key %r is not used by idseg; kept in 'extra'", key)
    put(layer, "extra", key, to_jsonable(value), where)


def parse_cli(overrides: Mapping[str, Any], where: str = "command-line options") -> Layer:
    """Turn explicitly given command-line options (``None`` = not given) into a checked layer.

    Accepted keys: the fields of the model and output sections (``checkpoint``, ``config``,
    ``device``, ``offline``, ``formats``, ``overlay``, ``pad_percent``, ``crops``, ``seed``),
    ``preset``, ``class_names``, ``num_classes``, ``image_size``, every segment-everything
    parameter, and the mappings ``everything``, ``train`` and ``paths``.

    Args:
        overrides: Option name to value; ``None`` values are skipped.
        where: Name of the source, used in error messages.

    Returns:
        The layer, holding only the options that were given.

    Raises:
        ConfigError: An unknown option (with the closest known one) or a bad value.

    Example:
        >>> parse_cli({"device": "cpu", "points_per_side": None})["model"]
        {'device': 'cpu'}
        >>> parse_cli({"devcie": "cpu"})
        Traceback (most recent call last):
        idseg.errors.ConfigError: command-line options: unknown option 'devcie'; did you mean ...
    """
    layer = new_layer()
    for key, value in overrides.items():
        if value is None:
            continue
        if key in MODEL_FIELDS:
            layer["model"][key] = _check("model", key, value, where)
        elif key in OUTPUT_FIELDS:
            layer["output"][key] = _check("output", key, value, where)
        elif key in TOP_FIELDS:
            layer["top"][key] = _check("top", key, value, where)
        elif key in EVERYTHING_FIELDS:
            layer["everything"][key] = check_everything_value(key, value, where)
        elif key == "everything":
            _section(layer, key, value, where)
        elif key in ("train", "paths"):
            layer[key].update(to_jsonable(dict(check_mapping(value, key, where))))
        else:
            known = [*MODEL_FIELDS, *OUTPUT_FIELDS, *TOP_FIELDS, *EVERYTHING_FIELDS]
            raise ConfigError(f"{where}: unknown option {key!r}{did_you_mean(key, known)}")
    return layer


__all__ = [
    "CHECKPOINT_SUFFIXES",
    "CONFIG_SUFFIXES",
    "EXTENSIONS",
    "LEGACY_TRAIN_KEYS",
    "RESOLVED_ONLY_KEYS",
    "SECTIONS",
    "Layer",
    "anchor",
    "anchor_paths",
    "is_local_checkpoint",
    "is_url",
    "new_layer",
    "parse_cli",
    "parse_mapping",
    "put",
    "read_config_file",
]
