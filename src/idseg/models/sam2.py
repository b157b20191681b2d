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
from typing import TYPE_CHECKING, Any

from idseg.errors import CheckpointError, ConfigError, InputError
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
    """

    checkpoint: Path | None
    config: Path
    config_name: str

    def to_dict(self) -> dict[str, str | None]:
        """JSON-ready form (paths as strings)."""
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
    return torch.device(name)


def _is_url(text: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", text))


def resolve_checkpoint(checkpoint: str | Path, offline: bool | None = None) -> Path:
    """Turn a path, registry name or URL into a local, verified checkpoint file.

    Raises:
        CheckpointError: A path that does not exist and is neither a known name nor a URL.
        DownloadError: The download failed or the hash did not match.
    """
    text = str(checkpoint)
    path = Path(text).expanduser()
    if path.is_file():
        return path
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
) -> ResolvedModel:
    """Resolve the checkpoint and its config; the config is inferred from the checkpoint's name.

    When ``checkpoint`` is ``None``, ``SAM2_CHECKPOINT_URL`` (and ``SAM2_CHECKPOINT_SHA256``) is used
    if set; otherwise the model gets random weights (``config`` is then required).

    Raises:
        ConfigError: No config was given and none can be inferred from the checkpoint name.
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
    """Instantiate a SAM2 model with random weights from a config name or YAML path."""
    from hydra.utils import instantiate

    cfg = load_config(config)
    try:
        model = instantiate(cfg.model, _recursive_=True)
    except Exception as exc:  # Hydra wraps constructor errors in its own types
        raise ConfigError(f"cannot build a SAM2 model from config {str(config)!r}: {exc}") from exc
    return model.to(select_device(device)).eval()


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read the ``model`` state dict of a Meta-format checkpoint with ``weights_only=True``.

    A bare state dict (no ``model`` key) is accepted as well.

    Raises:
        CheckpointError: The file is missing, unreadable, unsafe (pickled objects) or malformed.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path.name!r}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        raise CheckpointError(
            f"cannot read checkpoint {path.name!r} as a weights-only PyTorch file: {exc}"
        ) from exc
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(
            f"checkpoint {path.name!r} is not in Meta's format: expected {{'model': state_dict}}"
        )
    return obj


def suggest_config(state_dict: dict[str, Any]) -> str | None:
    """Guess which official config a state dict belongs to from its shapes and keys.

    Uses the Hiera width (96: tiny/small, 112: base+, 144: large), the number of trunk blocks
    (12 tiny, 16 small, 24 base+, 48 large) and SAM2.1-only keys (``no_obj_embed_spatial``).
    """
    embed = state_dict.get("image_encoder.trunk.patch_embed.proj.weight")
    if embed is None:
        return None
    blocks = {
        int(m.group(1))
        for k in state_dict
        if (m := re.match(r"image_encoder\.trunk\.blocks\.(\d+)\.", k))
    }
    width, depth = int(embed.shape[0]), len(blocks)
    sizes = {(96, 12): "t", (96, 16): "s", (112, 24): "b+", (144, 48): "l"}
    size = sizes.get((width, depth))
    if size is None:
        if (width, depth) == (16, 5):
            return "idseg_test_tiny"
        return None
    family = "sam2.1" if "no_obj_embed_spatial" in state_dict else "sam2"
    return f"{family}_hiera_{size}"


def load_state_dict_strict(model: torch.nn.Module, state_dict: dict[str, Any], source: str) -> None:
    """Load weights with strict key and shape checks; errors name the keys and the likely config."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    shapes = sorted(
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in set(expected) & set(state_dict)
        if tuple(state_dict[k].shape) != tuple(expected[k].shape)
    )
    if missing or unexpected or shapes:
        parts = [f"checkpoint {source!r} does not fit the model config"]
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape", shapes)):
            if keys:
                shown = ", ".join(keys[:8]) + (
                    f" ... (+{len(keys) - 8} more)" if len(keys) > 8 else ""
                )
                parts.append(f"{len(keys)} {label} key(s): {shown}")
        guess = suggest_config(state_dict)
        if guess:
            parts.append(f"the checkpoint looks like config {guess!r}")
        raise CheckpointError("; ".join(parts))
    model.load_state_dict(state_dict, strict=True)


def load_sam2(
    checkpoint: str | Path | None = None,
    config: str | Path | None = None,
    device: str | torch.device = "auto",
    offline: bool | None = None,
) -> SAM2Base:
    """Build a SAM2 model and load its weights.

    Args:
        checkpoint: Local path, registry name (``sam2.1_hiera_tiny``) or https URL. ``None`` uses
            ``SAM2_CHECKPOINT_URL`` when set, else random weights (then ``config`` is required).
        config: Config name (``sam2.1_hiera_t``) or YAML path; inferred from the checkpoint name
            when omitted.
        device: ``auto``, ``cpu``, ``cuda`` or ``mps``.
        offline: Never open a socket (also ``IDSEG_OFFLINE=1``).

    Returns:
        The model in eval mode on ``device``.

    Example:
        >>> model = load_sam2("sam2.1_hiera_tiny", device="cpu")  # doctest: +SKIP
    """
    resolved = resolve_model(checkpoint, config, offline=offline)
    return load_resolved(resolved, device)


def load_resolved(resolved: ResolvedModel, device: str | torch.device = "auto") -> SAM2Base:
    """Build the model described by a :class:`ResolvedModel` and load its weights."""
    model = build_model(resolved.config, device="cpu")
    if resolved.checkpoint is not None:
        state = read_state_dict(resolved.checkpoint)
        load_state_dict_strict(model, state, resolved.checkpoint.name)
        logger.info("loaded SAM2 weights (config %s)", resolved.config_name)
    else:
        logger.warning("SAM2 model %s has random weights (no checkpoint)", resolved.config_name)
    return model.to(select_device(device)).eval()


def save_checkpoint(model: torch.nn.Module, path: str | Path) -> Path:
    """Save weights in Meta's format ``{"model": state_dict}``, atomically."""
    import torch

    from idseg.io.atomic import atomic_path

    with atomic_path(path) as tmp:
        torch.save({"model": model.state_dict()}, tmp)
    return Path(path)


def init_checkpoint(config: str | Path, path: str | Path, seed: int = 0) -> Path:
    """Write a random-weight checkpoint for ``config`` (tests, speed benchmarks, offline demos).

    Parameters get a deterministic, non-trivial initialisation under ``seed``, so that masks and
    scores vary with the prompt instead of being constant.
    """
    import torch

    torch.manual_seed(seed)
    model = build_model(config, device="cpu")
    return save_checkpoint(model, path)


def config_name_of(config: str | Path) -> str:
    """Canonical name of a config given as a name or a path."""
    return normalize_config_name(str(config))
