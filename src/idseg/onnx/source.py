"""What the SAM2 exporters start from: a model object or a checkpoint, and example inputs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from idseg.errors import InputError
from idseg.onnx.graphs import stability_settings
from idseg.onnx.manifest import EXTENSIONS, ExportManifest

if TYPE_CHECKING:
    from sam2.modeling.sam2_base import SAM2Base

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSource:
    """A SAM2 model to export and what is known about its origin.

    Attributes:
        model: The model in eval mode.
        config_name: Its config's name, when known.
        checkpoint_sha256: SHA-256 of the checkpoint file it was loaded from, when any.
    """

    model: SAM2Base
    config_name: str | None
    checkpoint_sha256: str | None


@dataclass(frozen=True)
class SAM2Export:
    """The files of an export folder.

    Attributes:
        folder: The folder.
        image_encoder: The image encoder graph.
        prompt_decoder: The prompt decoder graph.
        manifest: The JSON manifest.

    Example:
        >>> files = export_sam2_onnx("tiny.pt", "tiny_onnx")  # doctest: +SKIP
        >>> files.manifest.name  # doctest: +SKIP
        'idseg_onnx.json'
    """

    folder: Path
    image_encoder: Path
    prompt_decoder: Path
    manifest: Path


def load_source(
    model_or_checkpoint: Any, config: str | Path | None, offline: bool | None
) -> ModelSource:
    """A model object as it is, or a checkpoint (path, registry name, URL) loaded on the CPU.

    Raises:
        InputError: ``model_or_checkpoint`` is neither a SAM2 model nor a checkpoint reference.
        ConfigError, CheckpointError, DownloadError: As :func:`idseg.models.sam2.resolve_model`.

    Example:
        >>> load_source("tiny.pt", "idseg_test_tiny", None).config_name  # doctest: +SKIP
        'idseg_test_tiny'
    """
    from idseg.models.sam2 import config_name_of, load_resolved, resolve_model

    if isinstance(model_or_checkpoint, torch.nn.Module):
        if not hasattr(model_or_checkpoint, "sam_mask_decoder"):
            raise InputError(
                f"expected a SAM2 model, got a {type(model_or_checkpoint).__name__} module"
            )
        name = config_name_of(config) if config is not None else None
        return ModelSource(model_or_checkpoint.eval(), name, None)
    if not isinstance(model_or_checkpoint, str | Path):
        raise InputError(
            "expected a SAM2 model or a checkpoint (path, registry name or URL), got "
            f"{type(model_or_checkpoint).__name__}"
        )
    from idseg.models.hashes import sha256_file

    resolved = resolve_model(model_or_checkpoint, config, offline=offline)
    model = load_resolved(resolved, "cpu")
    sha = sha256_file(resolved.checkpoint) if resolved.checkpoint is not None else None
    return ModelSource(model, resolved.config_name, sha)


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of the model's first parameter."""
    return next(model.parameters()).device


def example_image(model: SAM2Base) -> torch.Tensor:
    """A fixed pseudo-random normalised image ``1 x 3 x S x S`` on the model's device."""
    gen = torch.Generator().manual_seed(0)
    s = int(model.image_size)
    return torch.randn(1, 3, s, s, generator=gen).to(model_device(model))


def example_prompts(
    model: SAM2Base, batch: int, points: int, with_mask: bool
) -> list[torch.Tensor]:
    """Decoder prompt inputs: coordinates, labels, mask input and mask flag.

    Labels cycle through box corners, foreground and background points, and end with a padding
    point (when ``points`` > 0), as the runtime sends them.
    """
    gen = torch.Generator().manual_seed(batch * 100 + points)
    s, low = int(model.image_size), int(model.image_size) // 4
    device = model_device(model)
    coords = torch.rand(batch, points, 2, generator=gen) * s
    cycle = torch.tensor([2, 3, 1, 0, 1], dtype=torch.int64)
    labels = cycle.repeat(points // 5 + 1)[:points].repeat(batch, 1)
    if points:
        labels[:, -1] = -1
    mask = torch.randn(batch, 1, low, low, generator=gen) * 4
    flag = torch.tensor([1.0 if with_mask else 0.0])
    return [t.to(device) for t in (coords, labels, mask, flag)]


def make_manifest(
    source: ModelSource, backend: str, mask_threshold: float, opset: int | None
) -> ExportManifest:
    """The manifest of an export of ``source``."""
    from idseg._version import __version__

    ext = EXTENSIONS[backend]
    return ExportManifest(
        backend=backend,
        image_encoder=f"image_encoder{ext}",
        prompt_decoder=f"prompt_decoder{ext}",
        image_size=int(source.model.image_size),
        mask_threshold=float(mask_threshold),
        stability=stability_settings(source.model),
        config_name=source.config_name,
        checkpoint_sha256=source.checkpoint_sha256,
        opset=opset,
        idseg_version=__version__,
        torch_version=str(torch.__version__),
    )


def check_out_dir(out_dir: str | Path) -> Path:
    """The export folder (created when the first file is written).

    Raises:
        InputError: ``out_dir`` is an existing file.
    """
    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"out_dir must be a folder, got the file {str(folder)!r}")
    return folder


def max_rel_diff(got: list[Any], expected: list[torch.Tensor]) -> float:
    """Largest ``|got - expected|`` over all outputs, relative to ``max(1, max |expected|)``."""
    worst = 0.0
    for g, e in zip(got, expected, strict=True):
        ref = e.detach().float().cpu()
        diff = (torch.as_tensor(g).float().cpu() - ref).abs().max().item() if ref.numel() else 0.0
        worst = max(worst, diff / max(1.0, ref.abs().max().item() if ref.numel() else 0.0))
    return worst
