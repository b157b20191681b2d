"""Checkpoint files in Meta's format (``{"model": state_dict}``): read safely, check, write.

Reading uses ``torch.load(weights_only=True)`` only; keys and shapes are checked strictly and a
mismatch names the keys and the config the checkpoint probably fits.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from idseg.errors import CheckpointError

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read the ``model`` state dict of a Meta-format checkpoint with ``weights_only=True``.

    A bare state dict (no ``model`` key) is accepted as well.

    Raises:
        CheckpointError: The file is missing, unreadable, unsafe (pickled objects) or malformed.

    Example:
        >>> read_state_dict("missing.pt")
        Traceback (most recent call last):
        idseg.errors.CheckpointError: checkpoint file not found: 'missing.pt'
        >>> state = read_state_dict("sam2.1_hiera_tiny.pt")  # doctest: +SKIP
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

    Example:
        >>> import torch
        >>> sd = {f"image_encoder.trunk.blocks.{i}.mlp": torch.zeros(1) for i in range(12)}
        >>> sd["image_encoder.trunk.patch_embed.proj.weight"] = torch.zeros(96, 3, 7, 7)
        >>> suggest_config(sd), suggest_config({**sd, "no_obj_embed_spatial": torch.zeros(1)})
        ('sam2_hiera_t', 'sam2.1_hiera_t')
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
    """Load weights with strict key and shape checks; errors name the keys and the likely config.

    Args:
        model: The model to load into.
        state_dict: The checkpoint's weights (see :func:`read_state_dict`).
        source: The checkpoint's name, shown in the error message.

    Raises:
        CheckpointError: Missing or unexpected keys, or shapes that differ; the message lists up
            to eight of each and the config the weights look like (:func:`suggest_config`).

    Example:
        >>> import torch
        >>> load_state_dict_strict(torch.nn.Linear(2, 1), {"weight": torch.zeros(1, 2)}, "w.pt")
        Traceback (most recent call last):
        idseg.errors.CheckpointError: checkpoint 'w.pt' does not fit ...; 1 missing key(s): bias
    """
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


def save_checkpoint(model: torch.nn.Module, path: str | Path) -> Path:
    """Save weights in Meta's format ``{"model": state_dict}``, atomically; return ``path``.

    Example:
        >>> import tempfile, torch
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = save_checkpoint(torch.nn.Linear(2, 1), Path(tmp) / "w.pt")
        ...     sorted(read_state_dict(path))
        ['bias', 'weight']
    """
    import torch

    from idseg.io.atomic import atomic_path

    with atomic_path(path) as tmp:
        torch.save({"model": model.state_dict()}, tmp)
    return Path(path)


def init_checkpoint(config: str | Path, path: str | Path, seed: int = 0) -> Path:
    """Write a random-weight checkpoint for ``config`` (tests, speed benchmarks, offline demos).

    Parameters get a deterministic, non-trivial initialisation under ``seed``, so that masks and
    scores vary with the prompt instead of being constant.

    Args:
        config: A config name or YAML path (see :func:`idseg.models.configs.resolve_config`).
        path: The checkpoint file to write.
        seed: Seed of the random weights.

    Returns:
        ``path``, as a :class:`~pathlib.Path`.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     init_checkpoint("idseg_test_tiny", Path(tmp) / "tiny.pt").name
        'tiny.pt'
    """
    import torch

    from idseg.models.sam2 import build_model

    torch.manual_seed(seed)
    model = build_model(config, device="cpu")
    return save_checkpoint(model, path)
