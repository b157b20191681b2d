"""``idseg segment``: segment everything in files and folders, with every generator parameter."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import typer

from idseg.cli._common import batch_progress, print_json, say, user_errors

logger = logging.getLogger(__name__)

_EVERYTHING = "Segment-everything parameters (default: the preset's)"


def segment(
    paths: list[Path] = typer.Argument(..., help="Image files or folders (walked recursively)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    checkpoint: str | None = typer.Option(
        None,
        "--checkpoint",
        "-c",
        help="SAM2 checkpoint: path, registry name (sam2.1_hiera_tiny) or https URL.",
    ),
    model_config: str | None = typer.Option(
        None, "--model-config", help="SAM2 config name or YAML (default: from the checkpoint)."
    ),
    config: Path | None = typer.Option(
        None, "--config", help="Settings file (TOML, YAML or JSON); flags override it."
    ),
    device: str | None = typer.Option(None, help="auto, cpu, cuda or mps."),
    preset: str | None = typer.Option(None, help="default, dense, fast or documents."),
    mode: str | None = typer.Option(
        None,
        help="exact (Meta's masks) or fast (windowed judging, bf16 decoding; close, not equal).",
        rich_help_panel=_EVERYTHING,
    ),
    points_per_side: int | None = typer.Option(
        None, help="Grid points per side (Meta: 32).", rich_help_panel=_EVERYTHING
    ),
    points_per_batch: int | None = typer.Option(
        None, help="Points decoded together (Meta: 64).", rich_help_panel=_EVERYTHING
    ),
    pred_iou_thresh: float | None = typer.Option(
        None,
        help="Keep masks with predicted IoU above this (Meta: 0.8).",
        rich_help_panel=_EVERYTHING,
    ),
    stability_score_thresh: float | None = typer.Option(
        None,
        help="Keep masks with stability at least this (Meta: 0.95).",
        rich_help_panel=_EVERYTHING,
    ),
    stability_score_offset: float | None = typer.Option(
        None, help="Logit offset of the stability score (Meta: 1.0).", rich_help_panel=_EVERYTHING
    ),
    mask_threshold: float | None = typer.Option(
        None, help="Logit threshold of the masks (Meta: 0.0).", rich_help_panel=_EVERYTHING
    ),
    box_nms_thresh: float | None = typer.Option(
        None,
        help="Box IoU for duplicate removal within a crop (Meta: 0.7).",
        rich_help_panel=_EVERYTHING,
    ),
    crop_n_layers: int | None = typer.Option(
        None, help="Extra layers of image crops (Meta: 0).", rich_help_panel=_EVERYTHING
    ),
    crop_nms_thresh: float | None = typer.Option(
        None,
        help="Box IoU for duplicate removal between crops (Meta: 0.7).",
        rich_help_panel=_EVERYTHING,
    ),
    crop_overlap_ratio: float | None = typer.Option(
        None,
        help="Crop overlap as a fraction of the image side (Meta: 512/1500).",
        rich_help_panel=_EVERYTHING,
    ),
    crop_n_points_downscale_factor: int | None = typer.Option(
        None,
        help="Points per side shrink by this per crop layer (Meta: 1).",
        rich_help_panel=_EVERYTHING,
    ),
    min_mask_region_area: int | None = typer.Option(
        None,
        rich_help_panel=_EVERYTHING,
        help="Remove islands and fill holes smaller than this many image pixels.",
    ),
    output_mode: str | None = typer.Option(
        None,
        help="binary_mask, uncompressed_rle or coco_rle: RLE modes add each mask to segments.json.",
        rich_help_panel=_EVERYTHING,
    ),
    point_grids: Path | None = typer.Option(
        None,
        help="JSON or .npy file of point grids in [0, 1] (one N x 2 grid per crop layer); "
        "replaces --points-per-side.",
        rich_help_panel=_EVERYTHING,
    ),
    use_m2m: bool | None = typer.Option(None, "--use-m2m/--no-m2m", rich_help_panel=_EVERYTHING),
    multimask_output: bool | None = typer.Option(
        None, "--multimask/--single-mask", rich_help_panel=_EVERYTHING
    ),
    pad_percent: float | None = typer.Option(
        None, help="Crop padding as a fraction of each box (default 0.05)."
    ),
    formats: str | None = typer.Option(
        None, "--format", "-f", help="Comma-separated: png, coco, polygons, yolo."
    ),
    overlay: bool | None = typer.Option(None, "--overlay/--no-overlay", help="Write overlay.png."),
    crops: bool | None = typer.Option(None, "--crops/--no-crops", help="Write padded crops."),
    seed: int | None = typer.Option(None, help="Seed of the overlay colours."),
    offline: bool = typer.Option(False, "--offline", help="Never open a network connection."),
    as_json: bool = typer.Option(False, "--json", help="Print a machine summary on stdout."),
) -> None:
    """Segment everything in images; write masks, COCO, polygons, YOLO-seg, crops, overlays.

    Each image gets a sub-folder of OUT; a bad file is reported and skipped, and the command
    exits with 1 when any file failed. OUT also receives coco.json (all images),
    resolved_config.json and summary.json.
    """
    from idseg.config import load_config
    from idseg.io.files import require_folder

    everything: dict[str, Any] = {
        k: v
        for k, v in {
            "points_per_side": points_per_side,
            "points_per_batch": points_per_batch,
            "pred_iou_thresh": pred_iou_thresh,
            "stability_score_thresh": stability_score_thresh,
            "stability_score_offset": stability_score_offset,
            "mask_threshold": mask_threshold,
            "box_nms_thresh": box_nms_thresh,
            "crop_n_layers": crop_n_layers,
            "crop_nms_thresh": crop_nms_thresh,
            "crop_overlap_ratio": crop_overlap_ratio,
            "crop_n_points_downscale_factor": crop_n_points_downscale_factor,
            "min_mask_region_area": min_mask_region_area,
            "output_mode": output_mode,
            "use_m2m": use_m2m,
            "multimask_output": multimask_output,
            "mode": mode,
        }.items()
        if v is not None
    }
    with user_errors():
        if point_grids is not None:
            everything["point_grids"] = read_point_grids(point_grids)
        require_folder(out)
        cfg = load_config(
            config,
            checkpoint=checkpoint,
            config=model_config,
            device=device,
            offline=offline or None,
            preset=preset,
            everything=everything,
            formats=formats,
            overlay=overlay,
            crops=crops,
            pad_percent=pad_percent,
            seed=seed,
        )
        summary = run_batch(cfg, paths, out, show_progress=not as_json)
    if as_json:
        print_json(summary)
    else:
        _print_summary(summary)
    if summary["failed"]:
        raise typer.Exit(code=1)


def read_point_grids(path: Path) -> list[list[list[float]]]:
    """Read point grids from JSON (a list of N x 2 lists, or one N x 2 list) or ``.npy``."""
    import json

    import numpy as np

    from idseg.errors import InputError

    try:
        if path.suffix.lower() == ".npy":
            data = np.load(path, allow_pickle=False).tolist()
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(
            f"--point-grids must be a JSON or .npy file of point grids: {exc}"
        ) from exc
    if (
        isinstance(data, list)
        and data
        and isinstance(data[0], list)
        and data[0]
        and not isinstance(data[0][0], list)
    ):
        data = [data]  # a single grid
    return data


def run_batch(cfg: Any, paths: list[Path], out: Path, show_progress: bool = True) -> dict[str, Any]:
    """Segment every image under ``paths`` into ``out``; carry on past bad files."""
    from idseg.batch import BatchRunner

    runner = BatchRunner.from_config(cfg)
    return runner.run(paths, out, progress=batch_progress("segmenting") if show_progress else None)


def _print_summary(summary: dict[str, Any]) -> None:
    say(
        f"{summary['ok']} image(s) segmented, {summary['failed']} failed, "
        f"{summary['segments']} segments in {summary['seconds']:.1f} s -> {summary['out']}"
    )
    if summary["skipped"]:
        say(f"{len(summary['skipped'])} non-image file(s) in the folders were skipped")
    for item in summary["files"]:
        if item["status"] != "ok":
            say(f"  failed {item['path']}: {item['error_type']}: {item['error']}", style="red")
