"""TorchScript exports by tracing (``torch.jit.trace``), checked against eager PyTorch.

``torch.jit.script`` does not work on SAM2 (``SAM2Base.forward`` takes ``*args, **kwargs`` and
the modules use Python features TorchScript lacks), so the graphs of :mod:`idseg.onnx.graphs`
are *traced*: the image encoder for the model's fixed input size, the prompt decoder with the
batch size and the number of points left free (the trace is re-run on other shapes and compared
before anything is written). ``torch.jit`` is deprecated in recent torch releases; the files
load with ``torch.jit.load`` in C++ (libtorch) and Python without idseg or SAM2 installed.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from idseg.errors import CheckpointError, ExportError
from idseg.onnx.export import decoder_cases
from idseg.onnx.graphs import ImageEncoderGraph, PromptDecoderGraph
from idseg.onnx.manifest import write_manifest
from idseg.onnx.source import (
    SAM2Export,
    check_out_dir,
    example_image,
    load_source,
    make_manifest,
    max_rel_diff,
)

logger = logging.getLogger(__name__)

#: Largest difference between the traced module and eager PyTorch, relative to the scale.
TRACE_TOLERANCE = 1e-5

Case = tuple[Sequence[torch.Tensor], Sequence[torch.Tensor]]


def trace_module(
    module: torch.nn.Module,
    dest: Path,
    cases: list[Case],
    extra_files: dict[str, str] | None = None,
) -> Path:
    """Trace ``module`` on the first case, check all cases, save atomically and reload to check.

    Args:
        module: The module (eval mode).
        dest: The ``.pt`` file to write.
        cases: ``(inputs, expected outputs)``; the first is traced, the others must match too.
        extra_files: Text files stored inside the archive (``torch.jit.load(_extra_files=...)``).

    Returns:
        ``dest``.

    Raises:
        ExportError: Tracing failed, or the traced module disagrees with eager PyTorch on a case.

    Example:
        >>> trace_module(graph, Path("g.pt"), [((x,), (y,))])  # doctest: +SKIP
    """
    from idseg.io.atomic import atomic_path

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarning on shape asserts, jit deprecation
        try:
            traced = torch.jit.trace(module, tuple(cases[0][0]), check_trace=False)
        except Exception as exc:  # tracing raises RuntimeError, TypeError, ...
            raise ExportError(
                f"torch.jit.trace failed for {dest.name}: {type(exc).__name__}: {exc}"
            ) from exc
        extra = {k: v.encode() for k, v in (extra_files or {}).items()}
        with atomic_path(dest) as tmp:
            torch.jit.save(traced, str(tmp), _extra_files=extra)
            reloaded = load_torchscript(tmp, next(module.parameters()).device)
            for inputs, expected in cases:
                out = reloaded(*inputs)
                got = list(out) if isinstance(out, tuple | list) else [out]
                diff = max_rel_diff(got, list(expected))
                if not diff <= TRACE_TOLERANCE:
                    shapes = [tuple(t.shape) for t in inputs]
                    raise ExportError(
                        f"the traced {dest.name} does not generalise: it differs from eager "
                        f"PyTorch by {diff:.3g} on inputs of shapes {shapes}"
                    )
    return dest


def load_torchscript(path: str | Path, device: str | torch.device = "cpu") -> Any:
    """Load a TorchScript file in eval mode.

    Raises:
        CheckpointError: The file is missing or not a TorchScript archive.

    Example:
        >>> decoder = load_torchscript("tiny_ts/prompt_decoder.pt")  # doctest: +SKIP
    """
    file = Path(path)
    if not file.is_file():
        raise CheckpointError(f"TorchScript file not found: {str(file)!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        try:
            return torch.jit.load(str(file), map_location=device).eval()
        except Exception as exc:  # RuntimeError for anything that is not a TorchScript archive
            raise CheckpointError(
                f"cannot load {file.name!r} as TorchScript: {type(exc).__name__}: {exc}"
            ) from exc


def export_sam2_torchscript(
    model_or_checkpoint: Any,
    out_dir: str | Path,
    config: str | Path | None = None,
    mask_threshold: float = 0.0,
    offline: bool | None = None,
) -> SAM2Export:
    """Write traced ``image_encoder.pt``, ``prompt_decoder.pt`` and ``idseg_torchscript.json``.

    The modules take and return the same tensors as the ONNX graphs (see
    :func:`idseg.onnx.export.export_sam2_onnx`); open the folder with
    :class:`~idseg.onnx.runtime.TorchScriptSAM2Predictor`.

    Args:
        model_or_checkpoint: A SAM2 model, or a checkpoint path, registry name or URL.
        out_dir: The folder to write (created if missing; other files in it are kept).
        config: The SAM2 config, when it cannot be inferred from the checkpoint.
        mask_threshold: Logit threshold recorded for the runtime.
        offline: Never open a socket; ``None`` defers to ``IDSEG_OFFLINE``.

    Returns:
        The paths written.

    Raises:
        ExportError: Tracing failed or a traced module disagrees with eager PyTorch.
        ConfigError, CheckpointError, DownloadError, InputError: As
            :func:`~idseg.onnx.export.export_sam2_onnx`.

    Example:
        >>> files = export_sam2_torchscript("sam2.1_hiera_tiny", "tiny_ts")  # doctest: +SKIP
    """
    folder = check_out_dir(out_dir)
    source = load_source(model_or_checkpoint, config, offline)
    manifest = make_manifest(source, "torchscript", mask_threshold, None)
    encoder, decoder = ImageEncoderGraph(source.model), PromptDecoderGraph(source.model)
    image = example_image(source.model)
    with torch.no_grad():
        feats = list(encoder(image))
        other = example_image(source.model).flip(-1)
        enc_cases: list[Case] = [((image,), feats), ((other,), list(encoder(other)))]
    enc_path = trace_module(encoder, folder / manifest.image_encoder, enc_cases)
    cases = decoder_cases(decoder, feats, [(2, 5), (1, 0), (3, 1), (1, 3)])
    dec_path = trace_module(decoder, folder / manifest.prompt_decoder, cases)
    path = write_manifest(folder, manifest)
    logger.info("exported SAM2 (%s) to TorchScript", manifest.config_name)
    return SAM2Export(folder, enc_path, dec_path, path)
