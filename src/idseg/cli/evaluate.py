"""``idseg eval``: score predicted masks or quads against a dataset's ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from idseg.cli._common import print_json, say, user_errors

if TYPE_CHECKING:
    from idseg.documents.evaluate import EvalReport


def evaluate(
    pred: Path = typer.Option(
        ..., "--pred", "-p", help="Folder of predictions: <stem>.png class masks, or quads JSON."
    ),
    data: Path = typer.Option(
        ..., "--data", "-d", help="Dataset with ground truth (images/, masks/, quads/)."
    ),
    quads: bool = typer.Option(
        False, "--quads", help="Score quads (image and document-frame IoU) instead of masks."
    ),
    threshold: float = typer.Option(0.9, help="Document IoU a good image reaches."),
    num_classes: int = typer.Option(7, "--num-classes", help="Classes of the masks."),
    show: int = typer.Option(10, help="Images below the threshold listed (all with --json)."),
    as_json: bool = typer.Option(False, "--json", help="Print the full report on stdout."),
) -> None:
    """Score predictions: document IoU, Dice, pixel accuracy, per-class IoU, images below a threshold.

    Missing or unreadable predictions count as failures (score 0) and the run carries on; the
    command exits with 1 when any prediction failed.
    """
    from idseg.documents.evaluate import evaluate_masks, evaluate_quads

    if not 0.0 <= threshold <= 1.0:
        raise typer.BadParameter(f"--threshold must be in [0, 1], got {threshold}")
    with user_errors():
        if quads:
            report = evaluate_quads(pred, data, iou_threshold=threshold)
        else:
            report = evaluate_masks(pred, data, num_classes=num_classes, iou_threshold=threshold)
    if as_json:
        print_json(report.to_dict())
    else:
        _print(report, threshold, show)
    if report.failures:
        raise typer.Exit(code=1)


def _print(report: EvalReport, threshold: float, show: int) -> None:
    say(
        f"{len(report.scores)} {'documents' if report.kind == 'quads' else 'images'}: "
        f"mean document IoU {report.mean_iou:.4f}, share with IoU >= {threshold:g}: "
        f"{report.share_above:.1%}, {len(report.failures)} failed prediction(s)"
    )
    if report.kind == "quads":
        say(
            f"mean IoU in document coordinates (MIDV-500 protocol): {report.mean_doc_frame_iou:.4f}"
        )
    else:
        say(f"mean Dice {report.mean_dice:.4f}")
    for score in report.below[:show]:
        detail = f" ({score.error})" if score.error else ""
        say(f"  below: {score.name} IoU {score.iou:.4f}{detail}")
