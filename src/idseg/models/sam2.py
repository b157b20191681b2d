"""Build SAM2 models and load checkpoints safely (strict keys, ``weights_only=True``).

The checkpoint format is Meta's: a ``torch.save`` of ``{"model": state_dict}``. A checkpoint may be a
local path, a registry name (``sam2.1_hiera_tiny``) or an ``https://`` URL; names and URLs are
downloaded into the cache and verified by SHA-256 (see :mod:`idseg.models.download`).
"""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from idseg.errors import CheckpointError, ConfigError, InputError
from idseg.models.checkpoints import (
    init_checkpoint,
    load_state_dict_strict,
    read_state_dict,
    save_checkpoint,
    suggest_config,
)
from idseg.models.configs import load_config, normalize_config_name, resolve_config

if TYPE_CHECKING:
    import torch
    from sam2.modeling.sam2_base import SAM2Base

logger = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model comes from, as recorded in every resolved configuration.

    Attributes:
        checkpoint: Local checkpoint file, or ``None`` for random weights.
        config: The YAML config file.
        config_name: The config's name (its file stem).

    Example:
        >>> resolve_model(config="sam2.1_hiera_t", random_weights=True).config_name
        'sam2.1_hiera_t'
    """

    checkpoint: Path | None
    config: Path
    config_name: str

    def to_dict(self) -> dict[str, str | None]:
        """JSON-ready form (paths as strings).

        Example:
            >>> ResolvedModel(None, Path("configs/t.yaml"), "t").to_dict()
            {'checkpoint': None, 'config': 'configs/t.yaml', 'config_name': 't'}
        """
        return {
            "checkpoint": str(self.checkpoint) if self.checkpoint else None,
            "config": str(self.config),
            "config_name": self.config_name,
        }


def select_device(device: str | torch.device = "auto") -> torch.device:
    """Resolve ``auto`` / ``cpu`` / ``cuda[:N]`` / ``mps`` to an available ``torch.device``.

    ``auto`` picks CUDA, then MPS, then CPU.

    Raises:
        InputError: The device name is unknown or the device is not available here.

    Example:
        >>> select_device("cpu")
        device(type='cpu')
        >>> select_device("tpu")
        Traceback (most recent call last):
        idseg.errors.InputError: device must be one of auto, cpu, cuda, mps (or cuda:N), got 'tpu'
    """
    import torch

    if isinstance(device, torch.device):
        return device
    name = str(device).strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind = name.split(":")[0]
    if kind not in DEVICES:
        raise InputError(f"device must be one of {', '.join(DEVICES)} (or cuda:N), got {device!r}")
    if kind == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda' was requested but CUDA is not available on this machine")
    if kind == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise InputError("device 'mps' was requested but MPS is not available on this machine")
    if kind == "auto":
        raise InputError(f"device 'auto' takes no index, got {device!r}")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise InputError(f"device must be auto, cpu, cuda, cuda:N or mps, got {device!r}") from exc


def _is_url(text: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", text))


#: SAM2 weights shipped inside the package (name -> file in ``idseg/models/bundled``); the file
#: stem is also the name of the model's config.
BUNDLED_SAM2 = {"idseg_doc_small": "idseg_doc_small.pt"}


def bundled_sam2(name: str) -> Path | None:
    """The packaged file of a bundled SAM2 model (``idseg_doc_small``, ``idseg-doc-small``).

    Returns ``None`` for any other name, or when the package was built without the file.

    Example:
        >>> bundled_sam2("sam2.1_hiera_tiny") is None
        True
    """
    key = name.strip().lower().replace("-", "_")
    if key not in BUNDLED_SAM2:
        return None
    path = Path(__file__).parent / "bundled" / BUNDLED_SAM2[key]
    return path if path.is_file() else None


def resolve_checkpoint(checkpoint: str | Path, offline: bool | None = None) -> Path:
    """Turn a path, registry name or URL into a local, verified checkpoint file.

    An existing file is returned as it is; a registry name or URL is downloaded into the cache
    (or found there) and verified by SHA-256.

    Args:
        checkpoint: Local path, registry name or alias (``tiny``), or https URL.
        offline: Never open a socket; ``None`` defers to ``IDSEG_OFFLINE``.

    Returns:
        The local checkpoint file.

    Raises:
        CheckpointError: A path that does not exist and is neither a known name nor a URL.
        DownloadError: The download failed or the hash did not match.

    Example:
        >>> resolve_checkpoint("weights/missing.pt")
        Traceback (most recent call last):
        idseg.errors.CheckpointError: checkpoint file not found: 'weights/missing.pt'
        >>> resolve_checkpoint("sam2.1_hiera_tiny")  # doctest: +SKIP
    """
    text = str(checkpoint)
    path = Path(text).expanduser()
    if path.is_file():
        return path
    bundled = bundled_sam2(text)
    if bundled is not None:
        return bundled
    from idseg.models import download, registry

    if _is_url(text):
        return download.ensure_checkpoint(text, offline=offline)
    try:
        registry.get_checkpoint(text)
    except ConfigError as exc:
        if path.suffix or "/" in text or "\\" in text:
            raise CheckpointError(f"checkpoint file not found: {text!r}") from exc
        raise CheckpointError(
            f"{text!r} is neither an existing file, an https URL nor a known checkpoint: {exc}"
        ) from exc
    return download.ensure_checkpoint(text, offline=offline)


def resolve_model(
    checkpoint: str | Path | None = None,
    config: str | Path | None = None,
    offline: bool | None = None,
    random_weights: bool = False,
) -> ResolvedModel:
    """Resolve the checkpoint and its config; the config is inferred from the checkpoint.

    When ``checkpoint`` is ``None``, ``SAM2_CHECKPOINT_URL`` (and ``SAM2_CHECKPOINT_SHA256``) is used
    if set. Random weights are only used when asked for with ``random_weights=True`` (``config``
    is then required).

    Args:
        checkpoint: Local path, registry name or https URL (see :func:`resolve_checkpoint`).
        config: Config name or YAML path; inferred from the checkpoint's name, else its shapes.
        offline: Never open a socket; ``None`` defers to ``IDSEG_OFFLINE``.
        random_weights: Allow no checkpoint at all.

    Returns:
        The checkpoint file (``None`` for random weights), the config file and its name.

    Raises:
        ConfigError: No checkpoint at all, or no config given and none can be inferred.
        CheckpointError: The checkpoint cannot be found (see :func:`resolve_checkpoint`).
        DownloadError: The download failed or the hash did not match.

    Example:
        >>> resolve_model(config="sam2.1_hiera_t", random_weights=True).checkpoint is None
        True
        >>> resolve_model("sam2.1_hiera_tiny").config_name  # doctest: +SKIP
        'sam2.1_hiera_t'
    """
    ckpt_path: Path | None = None
    name_hint: str | None = None
    if checkpoint is None:
        from idseg.models import download

        env = download.resolve_checkpoint_from_env()
        if env is not None:
            url, sha = env
            ckpt_path = download.ensure_checkpoint(url, sha256=sha, offline=offline)
            name_hint = url
        elif not random_weights:
            raise ConfigError(
                "no checkpoint given: pass a local path, a registry name (see `idseg models "
                "list`) or an https URL, or set SAM2_CHECKPOINT_URL"
            )
        elif config is None:
            raise ConfigError("random weights need a model config (a name or a YAML path)")
    else:
        ckpt_path = resolve_checkpoint(checkpoint, offline=offline)
        name_hint = str(checkpoint)
    if config is None:
        config = _infer_config(name_hint, ckpt_path)
    cfg_path = resolve_config(config)
    return ResolvedModel(ckpt_path, cfg_path, cfg_path.stem)


def _infer_config(name_hint: str | None, ckpt_path: Path | None) -> str:
    """Config from the checkpoint's name, else from the shapes inside the checkpoint."""
    from idseg.models import registry
    from idseg.models.configs import available_configs

    for candidate in (name_hint, ckpt_path.name if ckpt_path else None):
        if not candidate:
            continue
        with contextlib.suppress(ConfigError):
            return registry.get_checkpoint(candidate).config
        inferred = registry.infer_config_name(candidate)
        if inferred:
            return inferred
        stem = Path(candidate).stem
        if stem in available_configs():
            return stem
    if ckpt_path is not None:
        guess = suggest_config(read_state_dict(ckpt_path))
        if guess:
            logger.info("config inferred from the checkpoint's shapes: %s", guess)
            return guess
    raise ConfigError(
        "cannot infer the SAM2 config from the checkpoint; pass config= (a name such as "
        "'sam2.1_hiera_t' or a YAML path)"
    )


def build_model(config: str | Path, device: str | torch.device = "cpu") -> SAM2Base:
    """Instantiate a SAM2 model with random weights from a config name or YAML path.

    Raises:
        ConfigError: Unknown or malformed config, or the model cannot be built from it.
        InputError: The device is unknown or not available.

    Example:
        >>> build_model("idseg_test_tiny").image_size
        256
    """
    from hydra.utils import instantiate

    cfg = load_config(config)
    try:
        model = instantiate(cfg.model, _recursive_=True)
    except Exception as exc:  # Hydra wraps constructor errors in its own types
        raise ConfigError(f"cannot build a SAM2 model from config {str(config)!r}: {exc}") from exc
    return model.to(select_device(device)).eval()


def load_sam2(
    checkpoint: str | Path | None = None,
    config: str | Path | None = None,
    device: str | torch.device = "auto",
    offline: bool | None = None,
    random_weights: bool = False,
) -> SAM2Base:
    """Build a SAM2 model and load its weights.

    Args:
        checkpoint: Local path, registry name (``sam2.1_hiera_tiny``) or https URL. ``None`` uses
            ``SAM2_CHECKPOINT_URL`` when set.
        config: Config name (``sam2.1_hiera_t``) or YAML path; inferred from the checkpoint name
            when omitted.
        device: ``auto``, ``cpu``, ``cuda`` or ``mps``.
        offline: Never open a socket (also ``IDSEG_OFFLINE=1``).
        random_weights: Allow a model without weights when no checkpoint is found.

    Returns:
        The model in eval mode on ``device``.

    Example:
        >>> model = load_sam2("sam2.1_hiera_tiny", device="cpu")  # doctest: +SKIP
    """
    resolved = resolve_model(checkpoint, config, offline=offline, random_weights=random_weights)
    return load_resolved(resolved, device)


def load_resolved(resolved: ResolvedModel, device: str | torch.device = "auto") -> SAM2Base:
    """Build the model described by a :class:`ResolvedModel` and load its weights.

    Without a checkpoint the model keeps its random weights (a warning is logged).

    Raises:
        CheckpointError: The checkpoint cannot be read or does not fit the config.
        InputError: The device is unknown or not available.

    Example:
        >>> model = load_resolved(resolve_model("sam2.1_hiera_tiny"), "cpu")  # doctest: +SKIP
    """
    model = build_model(resolved.config, device="cpu")
    if resolved.checkpoint is not None:
        state = read_state_dict(resolved.checkpoint)
        load_state_dict_strict(model, state, resolved.checkpoint.name)
        logger.info("loaded SAM2 weights (config %s)", resolved.config_name)
    else:
        logger.warning("SAM2 model %s has random weights (no checkpoint)", resolved.config_name)
    return model.to(select_device(device)).eval()


def config_name_of(config: str | Path) -> str:
    """Canonical name of a config given as a name or a path.

    Example:
        >>> config_name_of("configs/sam2.1/sam2.1_hiera_tiny.yaml")
        'sam2.1_hiera_t'
    """
    return normalize_config_name(str(config))


__all__ = [
    "BUNDLED_SAM2",
    "DEVICES",
    "ResolvedModel",
    "build_model",
    "bundled_sam2",
    "config_name_of",
    "init_checkpoint",
    "load_resolved",
    "load_sam2",
    "load_state_dict_strict",
    "read_state_dict",
    "resolve_checkpoint",
    "resolve_model",
    "save_checkpoint",
    "select_device",
    "suggest_config",
]
