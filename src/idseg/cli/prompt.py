"""``idseg prompt``: masks from point and box prompts on one image (PyTorch or ONNX backend)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import typer

from idseg.cli._common import parse_floats, print_json, say, user_errors

if TYPE_CHECKING:
    from idseg.sam.predictor import SAM2Predictor


def _parse_points(values: list[str]) -> tuple[np.ndarray | None, np.ndarray | None]:
    if not values:
        return None, None
    points, labels = [], []
    for text in values:
        nums = parse_floats(text, (2, 3), "--point")
        label = nums[2] if len(nums) == 3 else 1.0
        if label not in (0.0, 1.0):
            raise typer.BadParameter(f"--point label must be 1 (foreground) or 0, got {text!r}")
        points.append(nums[:2])
        labels.append(int(label))
    return np.array(points, dtype=np.float32), np.array(labels, dtype=np.int32)


def _parse_boxes(values: list[str]) -> np.ndarray | None:
    if not values:
        return None
    return np.array([parse_floats(v, (4,), "--box") for v in values], dtype=np.float32)


def _load_logits(path: Path) -> np.ndarray:
    from idseg.errors import InputError

    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(
            f"--mask-input must be a .npy array written by idseg prompt: {exc}"
        ) from exc


BACKENDS = ("torch", "onnx")


def _check_backend(
    backend: str, onnx_dir: Path | None, checkpoint: str | None, model_config: str | None
) -> None:
    if backend not in BACKENDS:
        raise typer.BadParameter(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "onnx" and onnx_dir is None:
        raise typer.BadParameter("--backend onnx needs --onnx DIR (written by idseg export onnx)")
    if backend == "onnx" and (checkpoint is not None or model_config is not None):
        raise typer.BadParameter(
            "--checkpoint and --model-config apply to --backend torch; the onnx backend reads "
            "the model from --onnx DIR"
        )
    if backend == "torch" and onnx_dir is not None:
        raise typer.BadParameter("--onnx DIR needs --backend onnx")


def _predictor(
    backend: str,
    onnx_dir: Path | None,
    checkpoint: str | None,
    model_config: str | None,
    device: str,
    offline: bool,
) -> tuple[SAM2Predictor, dict[str, Any] | None]:
    """The predictor of the chosen backend and the record of where its model comes from."""
    if backend == "onnx" and onnx_dir is not None:
        from idseg.onnx.runtime import OnnxSAM2Predictor, onnx_providers

        onnx_predictor = OnnxSAM2Predictor(onnx_dir, providers=onnx_providers(device))
        return onnx_predictor, onnx_predictor.record()
    from idseg.batch import model_record
    from idseg.models.sam2 import load_resolved, resolve_model
    from idseg.sam.predictor import SAM2Predictor

    resolved = resolve_model(checkpoint, model_config, offline=offline or None)
    return SAM2Predictor(load_resolved(resolved, device)), model_record(resolved)


def prompt(
    image: Path = typer.Argument(..., help="The image file."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    point: list[str] = typer.Option(
        [],
        "--point",
        "-p",
        help="X,Y[,LABEL] in pixels; LABEL 1 foreground (default), 0 background.",
    ),
    box: list[str] = typer.Option(
        [], "--box", "-b", help="X1,Y1,X2,Y2 in pixels; repeat for many boxes (one mask each)."
    ),
    checkpoint: str | None = typer.Option(
        None, "--checkpoint", "-c", help="SAM2 checkpoint: path, registry name or https URL."
    ),
    model_config: str | None = typer.Option(
        None, "--model-config", help="SAM2 config name or YAML (default: from the checkpoint)."
    ),
    device: str = typer.Option("auto", help="auto, cpu, cuda or mps (onnx: auto, cpu or cuda)."),
    backend: str = typer.Option(
        "torch", "--backend", help="torch (the checkpoint) or onnx (graphs of idseg export onnx)."
    ),
    onnx_dir: Path | None = typer.Option(
        None, "--onnx", help="Folder written by `idseg export onnx` (with --backend onnx)."
    ),
    multimask: bool | None = typer.Option(
        None,
        "--multimask/--single-mask",
        help="Three candidates per prompt (default: on for points only, off with boxes).",
    ),
    mask_input: Path | None = typer.Option(
        None,
        "--mask-input",
        help="Low-res logits (.npy) of a previous answer, e.g. OUT/logits_000.npy: click refinement.",
    ),
    tolerance: float = typer.Option(1.0, help="Polygon simplification in pixels."),
    offline: bool = typer.Option(False, "--offline", help="Never open a network connection."),
    as_json: bool = typer.Option(False, "--json", help="Print the result JSON on stdout."),
) -> None:
    """Segment what the points and boxes designate; write masks, polygons, scores, an overlay."""
    from idseg.export import export_masks
    from idseg.io.images import load_image

    _check_backend(backend, onnx_dir, checkpoint, model_config)
    points, labels = _parse_points(point)
    boxes = _parse_boxes(box)
    if points is None and boxes is None:
        raise typer.BadParameter("give at least one --point or --box")
    multi = multimask if multimask is not None else (boxes is None and mask_input is None)
    with user_errors():
        rgb = load_image(image)
        logits = _load_logits(mask_input) if mask_input is not None else None
        predictor, model = _predictor(backend, onnx_dir, checkpoint, model_config, device, offline)
        predictor.set_image(rgb)
        answer = predictor.predict(points, labels, boxes, logits, multimask_output=multi)
        request = {
            "points": None if points is None else points.tolist(),
            "labels": None if labels is None else labels.tolist(),
            "boxes": None if boxes is None else boxes.tolist(),
            "mask_input": str(mask_input) if mask_input else None,
            "multimask_output": multi,
            "device": device,
            "backend": backend,
        }
        meta = {"model": model, "request": request}
        result = export_masks(
            answer, rgb, out, points, labels, boxes, tolerance=tolerance, meta=meta
        )
    if as_json:
        print_json(result)
        return
    for rec in result["prompts"]:
        best = rec["candidates"][rec["best"]]
        say(
            f"prompt {rec['prompt']}: best mask {rec['best']} score {best['score']:.3f} "
            f"area {best['area']} px"
        )
    say(f"written to {out}")
