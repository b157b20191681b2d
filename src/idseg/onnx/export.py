"""Export SAM2 to two ONNX graphs (image encoder, prompt decoder) checked with onnxruntime.

``torch.onnx.export`` (the ``torch.export`` based exporter, which needs the ``onnx`` and
``onnxscript`` packages) writes each graph to a temporary file; the file is loaded in onnxruntime
and run on example inputs (for the decoder: several batch sizes and point counts, with and
without a mask input) and compared with PyTorch before it replaces the destination.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from idseg.errors import ExportError
from idseg.onnx._deps import require_exporter, require_runtime
from idseg.onnx.graphs import (
    DECODER_INPUTS,
    DECODER_OUTPUTS,
    ENCODER_INPUTS,
    ENCODER_OUTPUTS,
    ImageEncoderGraph,
    PromptDecoderGraph,
)
from idseg.onnx.manifest import write_manifest
from idseg.onnx.source import (
    SAM2Export,
    check_out_dir,
    example_image,
    example_prompts,
    load_source,
    make_manifest,
    max_rel_diff,
)

logger = logging.getLogger(__name__)

#: Default ONNX opset (the lowest the torch.export based exporter writes natively).
DEFAULT_OPSET = 18
#: Largest difference to PyTorch accepted in the export check, relative to the output's scale.
CHECK_TOLERANCE = 1e-3

Case = tuple[Sequence[torch.Tensor], Sequence[torch.Tensor]]


def onnx_session(path: str | Path, providers: Sequence[str] | None = None) -> Any:
    """An onnxruntime ``InferenceSession`` (CPU unless ``providers`` says otherwise).

    Raises:
        MissingExtraError: onnxruntime is not installed.
        CheckpointError: The file cannot be loaded as an ONNX model.

    Example:
        >>> session = onnx_session("tiny_onnx/prompt_decoder.onnx")  # doctest: +SKIP
    """
    from idseg.errors import CheckpointError

    ort = require_runtime()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(
            str(path), sess_options=options, providers=list(providers or ["CPUExecutionProvider"])
        )
    except Exception as exc:  # onnxruntime raises its own Fail / InvalidGraph / NoSuchFile types
        raise CheckpointError(
            f"onnxruntime cannot load {Path(path).name!r}: {type(exc).__name__}: {exc}"
        ) from exc


def export_graph(
    module: torch.nn.Module,
    dest: Path,
    names: tuple[Sequence[str], Sequence[str]],
    cases: list[Case],
    opset: int,
    dynamic_shapes: Any = None,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Export ``module`` on the first case's inputs, check every case in onnxruntime, then move.

    Args:
        module: The graph to export (eval mode).
        dest: The ``.onnx`` file to write.
        names: Input and output names.
        cases: ``(inputs, expected outputs)`` pairs; the first one is traced.
        opset: ONNX opset version.
        dynamic_shapes: ``torch.export`` dynamic shapes of the inputs, or ``None``.
        metadata: Key-value strings stored in the model's ``metadata_props``.

    Returns:
        ``dest``.

    Raises:
        ExportError: The exporter failed, or onnxruntime's outputs differ from PyTorch's by more
            than :data:`CHECK_TOLERANCE` (relative to the output's scale).

    Example:
        >>> export_graph(graph, Path("g.onnx"), (["x"], ["y"]), [((x,), (y,))], 18)  # doctest: +SKIP
    """
    from idseg.io.atomic import atomic_path

    input_names, output_names = names
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*axis name.*")
        try:
            program = torch.onnx.export(
                module,
                tuple(cases[0][0]),
                None,
                input_names=list(input_names),
                output_names=list(output_names),
                opset_version=opset,
                dynamo=True,
                dynamic_shapes=dynamic_shapes,
                verbose=False,
            )
        except Exception as exc:  # the exporter raises many types (TorchExportError, ...)
            raise ExportError(
                f"torch.onnx.export failed for {dest.name}: {type(exc).__name__}: {exc}"
            ) from exc
    if program is None:
        raise ExportError(f"torch.onnx.export returned no program for {dest.name}")
    for key, value in (metadata or {}).items():
        program.model.metadata_props[key] = value
    with atomic_path(dest) as tmp:
        program.save(tmp, external_data=False)
        session = onnx_session(tmp)
        for inputs, expected in cases:
            feed = {n: t.detach().cpu().numpy() for n, t in zip(input_names, inputs, strict=True)}
            diff = max_rel_diff(session.run(list(output_names), feed), list(expected))
            shapes = [tuple(t.shape) for t in inputs]
            logger.debug("%s: max relative difference %.2e on inputs %s", dest.name, diff, shapes)
            if not diff <= CHECK_TOLERANCE:
                raise ExportError(
                    f"{dest.name}: onnxruntime differs from PyTorch by {diff:.3g} (relative; "
                    f"at most {CHECK_TOLERANCE:g} expected) on inputs of shapes {shapes}"
                )
    return dest


def decoder_cases(
    decoder: PromptDecoderGraph, feats: Sequence[torch.Tensor], shapes: Sequence[tuple[int, int]]
) -> list[Case]:
    """Decoder inputs and PyTorch outputs for ``(batch, points)`` shapes; odd ones use a mask.

    Example:
        >>> cases = decoder_cases(decoder, feats, [(2, 5), (1, 0)])  # doctest: +SKIP
    """
    cases: list[Case] = []
    for i, (batch, points) in enumerate(shapes):
        inputs = [*feats, *example_prompts(decoder.model, batch, points, with_mask=i % 2 == 1)]
        with torch.no_grad():
            cases.append((inputs, decoder(*inputs)))
    return cases


def export_sam2_onnx(
    model_or_checkpoint: Any,
    out_dir: str | Path,
    opset: int = DEFAULT_OPSET,
    config: str | Path | None = None,
    mask_threshold: float = 0.0,
    offline: bool | None = None,
) -> SAM2Export:
    """Write ``image_encoder.onnx``, ``prompt_decoder.onnx`` and ``idseg_onnx.json`` to ``out_dir``.

    The encoder takes the normalised image ``1 x 3 x S x S`` (see
    :func:`idseg.sam.transforms.image_to_tensor`) and returns ``image_embed``,
    ``high_res_feats_0`` and ``high_res_feats_1``. The decoder takes those three plus
    ``point_coords`` (``B x N x 2`` float32, model frame), ``point_labels`` (``B x N`` int64),
    ``mask_input`` (``B x 1 x S/4 x S/4``) and ``has_mask_input`` (shape 1), with ``B`` and ``N``
    dynamic, and returns ``low_res_masks`` (``B x 4 x S/4 x S/4``) and ``iou_predictions``
    (``B x 4``) of all four mask tokens; see :mod:`idseg.onnx.graphs`.

    Args:
        model_or_checkpoint: A SAM2 model, or a checkpoint path, registry name or URL.
        out_dir: The folder to write (created if missing; other files in it are kept).
        opset: ONNX opset version.
        config: The SAM2 config (name or YAML), when it cannot be inferred from the checkpoint;
            with a model object only recorded in the manifest.
        mask_threshold: Logit threshold recorded for the runtime.
        offline: Never open a socket; ``None`` defers to ``IDSEG_OFFLINE``.

    Returns:
        The paths written.

    Raises:
        MissingExtraError: onnx, onnxscript or onnxruntime is not installed.
        ExportError: The exporter failed or a graph disagrees with PyTorch.
        ConfigError: The model's config is not supported (no high-res features).
        CheckpointError, DownloadError: The checkpoint cannot be found or loaded.
        InputError: ``out_dir`` is a file.

    Example:
        >>> files = export_sam2_onnx("sam2.1_hiera_tiny", "tiny_onnx")  # doctest: +SKIP
        >>> sorted(p.name for p in files.folder.iterdir())  # doctest: +SKIP
        ['idseg_onnx.json', 'image_encoder.onnx', 'prompt_decoder.onnx']
    """
    require_exporter()
    require_runtime()
    folder = check_out_dir(out_dir)
    source = load_source(model_or_checkpoint, config, offline)
    manifest = make_manifest(source, "onnx", mask_threshold, opset)
    encoder, decoder = ImageEncoderGraph(source.model), PromptDecoderGraph(source.model)
    image = example_image(source.model)
    with torch.no_grad():
        feats = list(encoder(image))
    enc_path = export_graph(
        encoder,
        folder / manifest.image_encoder,
        (ENCODER_INPUTS, ENCODER_OUTPUTS),
        [((image,), feats)],
        opset,
    )
    batch, points = torch.export.Dim("batch"), torch.export.Dim("points")
    prompt_dims = {0: batch, 1: points}
    dynamic = (None, None, None, prompt_dims, prompt_dims, {0: batch}, None)
    dec_path = export_graph(
        decoder,
        folder / manifest.prompt_decoder,
        (DECODER_INPUTS, DECODER_OUTPUTS),
        decoder_cases(decoder, feats, [(2, 5), (1, 0), (3, 1), (1, 3)]),
        opset,
        dynamic_shapes=dynamic,
    )
    path = write_manifest(folder, manifest)
    logger.info("exported SAM2 (%s) to ONNX opset %d", manifest.config_name, opset)
    return SAM2Export(folder, enc_path, dec_path, path)
