"""Local paths in an idseg configuration (helpers of :mod:`idseg.config`).

Relative paths in a config file are relative to the file's folder: :func:`anchor_paths` makes a
local ``model.checkpoint`` (not a registry name or URL), a ``.yaml``/``.yml`` ``model.config`` and
the entries of ``paths`` absolute when the file is loaded, keeping the values as written in
``as_written``. :func:`write_resolved_config` anchors whatever is still relative (paths given on
the command line) to the working directory, so the written file works from any folder.
:mod:`idseg.config_parse` and :mod:`idseg.config` re-export these names.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from idseg._version import __version__
from idseg.config_values import to_jsonable
from idseg.errors import ConfigError
from idseg.io.atomic import atomic_write_json

if TYPE_CHECKING:
    from idseg.config import IdsegConfig
    from idseg.config_parse import Layer

logger = logging.getLogger(__name__)

#: Suffixes that make a ``model.checkpoint`` value a local file rather than a registry name.
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".safetensors")

#: Suffixes that make a ``model.config`` value a YAML path rather than a config name.
CONFIG_SUFFIXES = (".yaml", ".yml")


def is_url(text: str) -> bool:
    """Whether ``text`` starts with a URL scheme (``https://``, ``s3://`` ...).

    Example:
        >>> is_url("https://example.org/t.pt"), is_url("weights/t.pt")
        (True, False)
    """
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", text))


def anchor(text: str, base: Path) -> str:
    """``text`` as an absolute path against the folder ``base``; absolute and ``~`` paths stay.

    The folders are resolved (``..`` and links), the last part is kept as written.

    Example:
        >>> anchor("../weights/t.pt", Path("/data/run"))  # doctest: +SKIP
        '/data/weights/t.pt'
    """
    path = _expand(text)
    if path.is_absolute() or text.startswith("~"):
        return text
    joined = Path(base) / path
    return str(joined.parent.resolve() / joined.name)


def is_local_checkpoint(text: str, base: Path) -> bool:
    """Whether a checkpoint value names a local file (relative to ``base`` when relative).

    URLs and registry names (``sam2.1_hiera_tiny``, ``facebook/sam2.1-hiera-tiny``) are not,
    unless a file of that name exists in ``base``; other values are when they hold a path
    separator or end with ``.pt``, ``.pth`` or ``.safetensors``.

    Example:
        >>> is_local_checkpoint("weights/t.pt", Path(".")), is_local_checkpoint("t.pt", Path("."))
        (True, True)
        >>> is_local_checkpoint("sam2.1_hiera_tiny", Path("/nonexistent"))
        False
    """
    if is_url(text):
        return False
    if (Path(base) / _expand(text)).is_file():
        return True
    from idseg.models import registry

    try:
        registry.get_checkpoint(text)
    except ConfigError:
        return "/" in text or "\\" in text or Path(text).suffix.lower() in CHECKPOINT_SUFFIXES
    return False


def _expand(text: str) -> Path:
    """``~`` expanded; an unknown user's ``~name`` is left for the loader to report."""
    try:
        return Path(text).expanduser()
    except RuntimeError:
        return Path(text)


def anchor_paths(layer: Layer, base: Path) -> None:
    """Make a layer's local paths absolute against ``base``, in place.

    Anchored: ``model.checkpoint`` when :func:`is_local_checkpoint`, ``model.config`` when it
    ends with ``.yaml``/``.yml``, and every string in ``paths`` that is not a URL. The value as
    written is kept in ``layer["as_written"]`` under its dotted key (``"model.checkpoint"``,
    ``"paths.train"``), unless an earlier spelling is already there.

    Example:
        >>> from idseg.config_parse import new_layer
        >>> layer = new_layer()
        >>> layer["paths"]["train"] = "data/train"
        >>> anchor_paths(layer, Path("/data/run"))  # doctest: +SKIP
        >>> layer["paths"]["train"], layer["as_written"]  # doctest: +SKIP
        ('/data/run/data/train', {'paths.train': 'data/train'})
    """
    model = layer["model"]
    checks: dict[str, Callable[[str], bool]] = {
        "checkpoint": lambda text: is_local_checkpoint(text, base),
        "config": lambda text: Path(text).suffix.lower() in CONFIG_SUFFIXES,
    }
    for key, wanted in checks.items():
        value = model.get(key)
        if isinstance(value, str) and wanted(value):
            _replace(layer, "model", key, anchor(value, base))
    for key, value in list(layer["paths"].items()):
        _replace(layer, "paths", key, _anchor_tree(value, base))


def _replace(layer: Layer, section: str, key: str, value: Any) -> None:
    old = layer[section][key]
    if value != old:
        layer["as_written"].setdefault(f"{section}.{key}", old)
        layer[section][key] = value


def _anchor_tree(value: Any, base: Path) -> Any:
    """Strings (not URLs) anchored, through lists and mappings; other values unchanged."""
    if isinstance(value, str):
        return anchor(value, base) if value.strip() and not is_url(value) else value
    if isinstance(value, list):
        return [_anchor_tree(item, base) for item in value]
    if isinstance(value, dict):
        return {key: _anchor_tree(item, base) for key, item in value.items()}
    return value


def write_resolved_config(
    cfg: IdsegConfig,
    folder: str | Path,
    extra: Mapping[str, Any] | None = None,
    name: str = "resolved_config.json",
) -> Path:
    """Write the fully resolved configuration as JSON, atomically.

    The file holds :meth:`~idseg.config.IdsegConfig.to_dict` (``extra`` with the unused keys
    included) plus ``idseg_version``, ``everything_settings`` (every
    :class:`~idseg.sam.settings.EverythingSettings` parameter after the preset and overrides) and
    ``resolved`` (the ``extra`` argument, e.g. ``ResolvedModel.to_dict()``). Local paths still
    relative to the working directory (a checkpoint given on the command line) are written
    absolute, their spelling added to ``as_written``, so the file works from any folder.
    :meth:`~idseg.config.IdsegConfig.from_dict` reads it back.

    Args:
        cfg: The configuration.
        folder: Output folder (created if missing).
        extra: Run facts to record under ``resolved``.
        name: File name inside ``folder``.

    Returns:
        The written file.

    Raises:
        ConfigError: ``name`` holds a folder part, or ``cfg`` has a bad segment-everything value.

    Example:
        >>> write_resolved_config(cfg, "out", extra=resolved.to_dict())  # doctest: +SKIP
        PosixPath('out/resolved_config.json')
    """
    if not name or Path(name).name != name:
        raise ConfigError(f"name must be a plain file name without folders, got {name!r}")
    document = {
        "idseg_version": __version__,
        **_absolute(cfg),
        "everything_settings": cfg.everything_settings().to_dict(),
        "resolved": to_jsonable(dict(extra or {})),
    }
    path = atomic_write_json(Path(folder) / name, document)
    logger.debug("wrote resolved configuration to %s", path)
    return path


def _absolute(cfg: IdsegConfig) -> dict[str, Any]:
    """``cfg.to_dict()`` with relative local paths made absolute against the cwd."""
    from idseg.config_parse import new_layer  # config_parse imports this module

    data = cfg.to_dict()
    layer = new_layer()
    layer["model"] = {k: v for k, v in data["model"].items() if k in ("checkpoint", "config")}
    layer["paths"], layer["as_written"] = data["paths"], data["as_written"]
    anchor_paths(layer, Path.cwd())
    data["model"].update(layer["model"])
    return data


__all__ = [
    "CHECKPOINT_SUFFIXES",
    "CONFIG_SUFFIXES",
    "anchor",
    "anchor_paths",
    "is_local_checkpoint",
    "is_url",
    "write_resolved_config",
]
