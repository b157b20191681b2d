"""SAM2 model configs: resolve a config *name* or a YAML *path* without touching Hydra's global state.

Meta's ``build_sam2`` only accepts Hydra config names relative to the ``sam2`` package. idseg reads the
YAML itself with OmegaConf, so users can pass either:

* an official name: ``sam2.1_hiera_t``, ``sam2.1_hiera_b+``, ``sam2_hiera_l`` (``.yaml`` and a leading
  ``configs/sam2.1/`` are accepted, and so are the checkpoint-style names ``sam2.1_hiera_tiny``,
  ``sam2.1_hiera_base_plus`` ...);
* a config shipped by idseg (``idseg_test_tiny``: a very small random-weight model for tests and
  benchmarks);
* a path to any YAML file in Meta's format (``model: {_target_: sam2.modeling.sam2_base.SAM2Base ...}``).
"""

from __future__ import annotations

import difflib
import logging
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from idseg.errors import ConfigError

logger = logging.getLogger(__name__)

#: Overrides Meta's ``build_sam2(..., apply_postprocessing=True)`` applies to every image model.
POSTPROCESSING_OVERRIDES: dict[str, Any] = {
    "model.sam_mask_decoder_extra_args.dynamic_multimask_via_stability": True,
    "model.sam_mask_decoder_extra_args.dynamic_multimask_stability_delta": 0.05,
    "model.sam_mask_decoder_extra_args.dynamic_multimask_stability_thresh": 0.98,
}

_SIZE_ALIASES = {
    "tiny": "t",
    "small": "s",
    "base_plus": "b+",
    "base-plus": "b+",
    "baseplus": "b+",
    "b_plus": "b+",
    "base+": "b+",
    "large": "l",
}


def _sam2_config_dirs() -> list[Path]:
    import importlib.util

    spec = importlib.util.find_spec("sam2")
    if spec is None or not spec.submodule_search_locations:
        return []
    root = Path(next(iter(spec.submodule_search_locations))) / "configs"
    return [root / "sam2.1", root / "sam2"]


def _idseg_config_dir() -> Path:
    return Path(str(resources.files("idseg") / "configs"))


@cache
def available_configs() -> dict[str, Path]:
    """Map every known config name to its YAML file (official SAM2 configs and idseg's own).

    Example:
        >>> configs = available_configs()
        >>> "sam2.1_hiera_t" in configs, configs["idseg_test_tiny"].suffix
        (True, '.yaml')
    """
    found: dict[str, Path] = {}
    for folder in [*_sam2_config_dirs(), _idseg_config_dir()]:
        if folder.is_dir():
            for path in sorted(folder.glob("*.yaml")):
                found.setdefault(path.stem, path)
    return found


def normalize_config_name(name: str) -> str:
    """Turn the many spellings of an official config into its canonical name.

    Example:
        >>> normalize_config_name("configs/sam2.1/sam2.1_hiera_tiny.yaml")
        'sam2.1_hiera_t'
        >>> normalize_config_name("sam2-hiera-base-plus")
        'sam2_hiera_b+'
    """
    stem = name.strip().replace("\\", "/").split("/")[-1]
    if stem.endswith(".yaml"):
        stem = stem[: -len(".yaml")]
    stem = stem.lower()
    for prefix in ("sam2.1", "sam2"):
        if stem.startswith(prefix + "-hiera-") or stem.startswith(prefix + "_hiera_"):
            size = stem[len(prefix) + len("_hiera_") :]
            size = _SIZE_ALIASES.get(size, size)
            return f"{prefix}_hiera_{size}"
    return stem


def resolve_config(config: str | Path) -> Path:
    """Return the YAML file for a config name or path.

    Args:
        config: A config name (see the module docstring) or a path to a YAML file.

    Returns:
        The path of an existing YAML file.

    Raises:
        ConfigError: The name is unknown (the message lists the known names and the closest one)
            or the path does not exist.

    Example:
        >>> resolve_config("sam2.1_hiera_t").name
        'sam2.1_hiera_t.yaml'
    """
    text = str(config)
    path = Path(text).expanduser()
    if path.suffix in {".yaml", ".yml"} and path.is_file():
        return path
    known = available_configs()
    name = normalize_config_name(text)
    if name in known:
        return known[name]
    if path.suffix in {".yaml", ".yml"} and ("/" in text or "\\" in text):
        raise ConfigError(f"config file not found: {text!r}")
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(
        f"unknown SAM2 config {text!r}{hint} Expected a YAML path or one of: {', '.join(known)}"
    )


def load_config(config: str | Path, postprocessing: bool = True) -> Any:
    """Load a SAM2 model config as an OmegaConf object, with Meta's image post-processing overrides.

    Args:
        config: A config name or YAML path.
        postprocessing: Apply the overrides ``build_sam2(apply_postprocessing=True)`` applies
            (dynamic multimask fallback when a single mask is unstable).

    Returns:
        The resolved ``DictConfig`` (its ``model`` node is what gets instantiated).

    Raises:
        ConfigError: Unknown name or missing file, a malformed YAML, no ``model`` key, or a
            ``_target_`` outside the ``sam2`` and ``torch.nn`` packages.

    Example:
        >>> load_config("sam2.1_hiera_t").model.image_size
        1024
    """
    from omegaconf import DictConfig, OmegaConf

    path = resolve_config(config)
    try:
        cfg = OmegaConf.load(path)
    except Exception as exc:  # OmegaConf/yaml raise many types for malformed files
        raise ConfigError(f"cannot parse SAM2 config {path.name!r}: {exc}") from exc
    if not isinstance(cfg, DictConfig) or "model" not in cfg:
        raise ConfigError(f"SAM2 config {path.name!r} has no top-level 'model' key")
    _check_targets(cfg.model, path.name)
    if postprocessing:
        for key, value in POSTPROCESSING_OVERRIDES.items():
            OmegaConf.update(cfg, key, value, force_add=True)
    OmegaConf.resolve(cfg)
    return cfg


#: A config may only instantiate classes from these packages (a YAML is code for Hydra: a
#: ``_target_: os.system`` would run a command).
ALLOWED_TARGET_PREFIXES = ("sam2.", "torch.nn.")


def _check_targets(node: Any, source: str, where: str = "model") -> None:
    """Raise :class:`ConfigError` if any ``_target_`` lies outside the allowed packages."""
    from omegaconf import DictConfig, ListConfig

    if isinstance(node, DictConfig):
        raw = node.get("_target_")
        target = None if raw is None else str(raw)
        if target is not None and not target.startswith(ALLOWED_TARGET_PREFIXES):
            raise ConfigError(
                f"SAM2 config {source!r}: {where}._target_ is {target!r}; only classes from "
                f"{', '.join(p.rstrip('.') for p in ALLOWED_TARGET_PREFIXES)} may be instantiated"
            )
        for key in node:
            name = key if isinstance(key, str) else repr(key)
            _check_targets(node._get_node(key), source, f"{where}.{name}")
    elif isinstance(node, ListConfig):
        for i in range(len(node)):
            _check_targets(node._get_node(i), source, f"{where}[{i}]")


def config_image_size(cfg: Any) -> int:
    """The square input size of a loaded config (``model.image_size``, 1024 for official models).

    Example:
        >>> config_image_size(load_config("idseg_test_tiny"))
        256
    """
    return int(cfg.model.get("image_size", 512))
