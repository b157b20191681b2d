"""``idseg train``: train idseg's U-Net (``idseg train unet``) and fine-tune SAM2 (``idseg train sam2``)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from idseg.cli._common import console, print_json, say, user_errors

app = typer.Typer(help="Train idseg's own segmentation models.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Train idseg's own segmentation models."""  # a callback keeps `train` a command group


_DATA_HELP = (
    "A split root (train/ and val/, from `idseg data split`) or a flat dataset, which is split "
    "by group on the fly (--val-ratio, --seed)."
)


@contextmanager
def _progress(show: bool) -> Iterator[Any]:
    """A rich progress bar fed by ``train_unet``'s ``progress`` callback (or ``None``)."""
    if not show:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("train", total=None)

        def update(phase: str, done: int, total: int) -> None:
            bar.update(task, description=phase, completed=done, total=total)

        yield update


def _epoch_line(record: dict[str, Any]) -> None:
    def fmt(value: Any) -> str:
        return (
            "n/a"
            if value is None or (isinstance(value, float) and math.isnan(value))
            else f"{value:.4f}"
        )

    say(
        f"epoch {record['epoch']}: train loss {fmt(record['train_loss'])}, "
        f"val loss {fmt(record['val_loss'])}, mean IoU {fmt(record['mean_iou'])}, "
        f"Dice {fmt(record['mean_dice'])}, pixel acc. {fmt(record['pixel_accuracy'])} "
        f"({record['seconds']:.1f} s)"
    )


@app.command("unet")
def unet(
    data: Path | None = typer.Option(None, "--data", "-d", help=_DATA_HELP),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (checkpoints, metrics)."),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help="Epochs (default 30)."),
    batch_size: int | None = typer.Option(
        None, "--batch-size", "-b", min=1, help="Batch size (default 8)."
    ),
    lr: float | None = typer.Option(
        None, "--lr", min=0.0, help="Peak learning rate (default 0.002)."
    ),
    config: Path | None = typer.Option(
        None,
        "--config",
        "-c",
        help="Settings file (TOML/YAML/JSON; the original wrapper's config.json too).",
    ),
    size: int | None = typer.Option(
        None, "--size", min=8, help="Letterbox side in pixels (default 256)."
    ),
    model: str | None = typer.Option(
        None, "--model", "-m", help="unet-nano, unet-small or unet-test (default unet-nano)."
    ),
    loss: str | None = typer.Option(
        None,
        "--loss",
        help="dice, jaccard, ce (bce), focal, or a sum such as ce+dice (default dice).",
    ),
    classes: str | None = typer.Option(
        None,
        "--classes",
        help="Model classes, comma-separated, from the dataset's; unlisted fields merge into document (default all).",
    ),
    binary: bool | None = typer.Option(
        None,
        "--binary/--softmax",
        help="One sigmoid output: two classes, or one foreground class against class 0.",
    ),
    val: Path | None = typer.Option(
        None, "--val", help="A separate validation folder (then --data is the training folder)."
    ),
    val_ratio: float | None = typer.Option(
        None,
        "--val-ratio",
        help="Validation share when a flat dataset is split here (default 0.1).",
    ),
    init: Path | None = typer.Option(
        None,
        "--init",
        help="Start from this checkpoint's weights (fine-tuning; same architecture and classes).",
    ),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Go on from OUT/last.pt with OUT/config.json (only --epochs, --workers, --device may change).",
    ),
    deterministic: bool | None = typer.Option(
        None,
        "--deterministic/--no-deterministic",
        help="Deterministic kernels and single-process loading.",
    ),
    seed: int | None = typer.Option(
        None, "--seed", min=0, help="Seed of initialisation, split and augmentation (default 0)."
    ),
    workers: int | None = typer.Option(
        None, "--workers", min=0, help="Loader processes (default 0 on CPU, up to 8 on CUDA)."
    ),
    device: str | None = typer.Option(
        None, "--device", help="auto, cpu, cuda, cuda:N or mps (default auto)."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the run's summary as JSON on stdout."
    ),
) -> None:
    """Train a small U-Net on a folder dataset (images/ + masks/ of class indices).

    Writes OUT/config.json, OUT/last.pt (each epoch), OUT/best.pt (best val mean IoU),
    OUT/metrics.json (one record per epoch) and, with the `train` extra, TensorBoard logs.
    """
    from idseg.train import resolve_train_config, train_unet

    names = [c.strip() for c in classes.split(",") if c.strip()] if classes is not None else None
    flags = {
        "data": str(data) if data is not None else None,
        "val": str(val) if val is not None else None,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "size": size,
        "model": model,
        "loss": loss,
        "classes": names,
        "binary": binary,
        "val_ratio": val_ratio,
        "init": str(init) if init is not None else None,
        "deterministic": deterministic,
        "seed": seed,
        "workers": workers,
        "device": device,
    }
    source = config
    if resume and source is None:
        source = out / "config.json"
        if not source.is_file():
            say(f"error: cannot resume: {source} does not exist", style="red")
            raise typer.Exit(code=2)
    with user_errors():
        cfg = resolve_train_config(source, **flags)
        show = not as_json and console.is_terminal
        with _progress(show) as update:
            result = train_unet(
                cfg, out, resume=resume, progress=update, on_epoch=None if as_json else _epoch_line
            )
    summary = {
        "out": str(out),
        "epochs": result.epochs,
        "best_epoch": result.best_epoch,
        "best_mean_iou": None if math.isnan(result.best_mean_iou) else result.best_mean_iou,
        "classes": list(result.classes),
        "last": result.history[-1] if result.history else None,
    }
    if as_json:
        print_json(summary)
        return
    best = "n/a" if math.isnan(result.best_mean_iou) else f"{result.best_mean_iou:.4f}"
    say(f"best mean IoU {best} at epoch {result.best_epoch}; checkpoints in {out}")


def _sam2_line(record: dict[str, Any]) -> None:
    def fmt(key: str) -> str:
        value = record.get(key)
        return "n/a" if value is None else f"{value:.4f}"

    say(
        f"epoch {record['epoch']}: train loss {fmt('train_loss')}, val box IoU {fmt('box_iou')}, "
        f"point IoU {fmt('point_iou')}, after 2 clicks {fmt('clicks_iou')}, "
        f"IoU-prediction error {fmt('iou_prediction_error')} ({record['seconds']:.1f} s)"
    )


@app.command("sam2")
def sam2(
    config: Path | None = typer.Option(
        None,
        "--config",
        "-c",
        help="Settings file (TOML/YAML/JSON; the original wrapper's config.json too).",
    ),
    checkpoint: str | None = typer.Option(
        None, "--checkpoint", help="Base SAM2 weights: path, registry name or https URL."
    ),
    model_config: str | None = typer.Option(
        None, "--model-config", help="SAM2 config name or YAML (inferred from the checkpoint)."
    ),
    scratch: bool | None = typer.Option(
        None, "--scratch/--no-scratch", help="Random initial weights (needs --model-config)."
    ),
    data: Path | None = typer.Option(
        None, "--data", "-d", help="Split root, flat dataset folder or COCO JSON file."
    ),
    val: Path | None = typer.Option(None, "--val", help="Separate validation data."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (checkpoints, metrics)."),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help="Epochs (default 10)."),
    batch_size: int | None = typer.Option(
        None, "--batch-size", "-b", min=1, help="Images per step (default 4)."
    ),
    objects: int | None = typer.Option(
        None, "--objects", min=1, help="Objects per image per step, at most (default 8)."
    ),
    lr: float | None = typer.Option(None, "--lr", min=0.0, help="Peak learning rate (1e-4)."),
    trainable: str | None = typer.Option(
        None,
        "--trainable",
        help="Comma-separated: mask_decoder, prompt_encoder, image_encoder, all (default the first two).",
    ),
    lora_rank: int | None = typer.Option(
        None, "--lora-rank", min=0, help="LoRA adapters of this rank on the image encoder."
    ),
    accumulate: int | None = typer.Option(
        None, "--accumulate", min=1, help="Gradient accumulation steps (default 1)."
    ),
    correction_rounds: int | None = typer.Option(
        None, "--correction-rounds", min=0, help="Corrective clicks per object (default 2)."
    ),
    classes: str | None = typer.Option(
        None, "--classes", help="Classes whose objects train, comma-separated (default all)."
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Go on from OUT/train_state.pt with OUT/config.json."
    ),
    deterministic: bool | None = typer.Option(
        None, "--deterministic/--no-deterministic", help="Deterministic kernels and loading."
    ),
    seed: int | None = typer.Option(None, "--seed", min=0, help="Seed (default 0)."),
    workers: int | None = typer.Option(None, "--workers", min=0, help="Loader processes."),
    device: str | None = typer.Option(None, "--device", help="auto, cpu, cuda, cuda:N or mps."),
    as_json: bool = typer.Option(False, "--json", help="Print the run's summary as JSON."),
) -> None:
    """Fine-tune SAM2 (or train it from scratch) on images with masks, SAM-style prompts.

    Writes OUT/last.pt and OUT/best.pt in Meta's format ({"model": state_dict}, loadable by
    build_sam2 and every idseg command), OUT/model.yaml, OUT/train_state.pt (for --resume),
    OUT/config.json and OUT/metrics.json (box, point and click IoU per class, per epoch).
    """
    from idseg.train.sam2_config import resolve_sam2_config
    from idseg.train.sam2_loop import train_sam2

    flags = {
        "checkpoint": checkpoint,
        "model_config": model_config,
        "scratch": scratch,
        "data": str(data) if data is not None else None,
        "val": str(val) if val is not None else None,
        "epochs": epochs,
        "batch_size": batch_size,
        "objects": objects,
        "lr": lr,
        "trainable": trainable,
        "lora_rank": lora_rank,
        "accumulate": accumulate,
        "correction_rounds": correction_rounds,
        "classes": [c.strip() for c in classes.split(",") if c.strip()] if classes else None,
        "deterministic": deterministic,
        "seed": seed,
        "workers": workers,
        "device": device,
    }
    source = config
    if resume and source is None:
        source = out / "config.json"
        if not source.is_file():
            say(f"error: cannot resume: {source} does not exist", style="red")
            raise typer.Exit(code=2)
    with user_errors():
        cfg = resolve_sam2_config(source, **flags)
        show = not as_json and console.is_terminal
        with _progress(show) as update:
            result = train_sam2(
                cfg, out, resume=resume, progress=update, on_epoch=None if as_json else _sam2_line
            )
    best = None if math.isnan(result.best_score) else result.best_score
    if as_json:
        print_json(
            {
                "out": str(out),
                "epochs": result.epochs,
                "best_epoch": result.best_epoch,
                "best_mean_iou": best,
                "last": result.history[-1] if result.history else None,
            }
        )
        return
    shown = "n/a" if best is None else f"{best:.4f}"
    say(f"best mean IoU (box and point) {shown} at epoch {result.best_epoch}; weights in {out}")
