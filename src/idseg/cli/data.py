"""``idseg data``: split, check and preview folder datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from idseg.cli._common import console, parse_floats, print_json, say, user_errors

app = typer.Typer(
    help="Split, check and preview folder datasets (images/ + masks/ of class indices).",
    no_args_is_help=True,
)

_CLASSES_HELP = "Class names by mask value, comma-separated (default: dataset.json, else idseg's)."
_CONFIG_HELP = "Settings file whose class_names name the mask values (--classes wins)."


def _class_names(classes: str | None, config: Path | None) -> list[str] | None:
    """The class names from ``--classes``, else from ``--config``, else ``None`` (dataset's)."""
    from idseg.config import load_config
    from idseg.config_values import check_class_names

    if classes is not None:
        return check_class_names(classes, "--classes")
    if config is not None:
        return load_config(config).class_names
    return None


@app.command("split")
def split(
    src: Path = typer.Argument(..., help="Dataset folder: images/ + masks/, or train/val/..."),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Output folder: new or empty (any other needs --force)."
    ),
    ratios: str = typer.Option("0.8,0.1,0.1", help="Train,val[,test] shares summing to 1."),
    seed: int = typer.Option(0, help="Seed of the group shuffle (same seed, same split)."),
    group_by: str = typer.Option(
        "auto", help="auto (dataset.json, else names), name (guessed from names) or file."
    ),
    link: str = typer.Option("copy", help="copy, hardlink or symlink the files."),
    force: bool = typer.Option(
        False,
        "--force",
        help="Replace a non-empty --out and everything in it. Without --force any non-empty "
        "--out is refused, even an earlier split. --out may never be the source, nor lie "
        "inside it or around it.",
    ),
    classes: str | None = typer.Option(None, help=_CLASSES_HELP),
    config: Path | None = typer.Option(None, "--config", help=_CONFIG_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print a machine summary on stdout."),
) -> None:
    """Split a dataset into train/val/test by ratio, keeping each group in one split.

    Frames of one document or template (one group) never straddle splits. OUT gets
    <split>/images, <split>/masks (and quads) and a dataset.json with the assignment.
    """
    from idseg.data.split import split_dataset

    shares = parse_floats(ratios, (2, 3), "--ratios")
    with user_errors():
        names = _class_names(classes, config)
        summary = split_dataset(src, out, shares, seed, group_by, link, force=force, classes=names)
    if as_json:
        print_json(summary)
        return
    parts = ", ".join(
        f"{name} {summary['counts'][name]} ({summary['groups'][name]} groups)"
        for name in summary["counts"]
    )
    grouping = f"grouped by {summary['group_by']}"
    say(f"{summary['samples']} samples, {grouping}: {parts} -> {out}")
    skipped = sum(summary["skipped"].values())
    if skipped:
        say(f"{skipped} unpaired or duplicate file(s) skipped; run idseg data check", "yellow")


@app.command("check")
def check(
    path: Path = typer.Argument(..., help="Dataset folder: images/ + masks/, or train/val/..."),
    classes: str | None = typer.Option(None, help=_CLASSES_HELP),
    config: Path | None = typer.Option(None, "--config", help=_CONFIG_HELP),
    show: int = typer.Option(20, help="Problems and warnings listed (--json lists all)."),
    as_json: bool = typer.Option(False, "--json", help="Print the full report on stdout."),
) -> None:
    """Check masks, sizes and pairs, and report class pixel frequencies and weights.

    Exits with 1 when a problem was found, 0 when the dataset is clean.
    """
    from idseg.data.check import check_dataset

    with user_errors():
        report = check_dataset(path, _class_names(classes, config)).to_dict()
    if as_json:
        print_json(report)
    else:
        _print_report(report, show)
    if not report["ok"]:
        raise typer.Exit(code=1)


def _print_report(report: dict[str, Any], show: int) -> None:
    say(
        f"{report['path']}: {report['samples']} samples ({report['images']} images, "
        f"{report['masks']} masks), {len(report['problems'])} problem(s), "
        f"{len(report['warnings'])} warning(s)"
    )
    for name, part in report["splits"].items():
        say(f"  {name}: {part['samples']} samples, {len(part['problems'])} problem(s)")
    table = Table(title="Class pixels")
    for col in ("value", "class", "pixels", "fraction", "inv. freq. weight", "median freq. weight"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for c in report["classes"]:
        table.add_row(
            str(c["index"]),
            c["name"],
            str(c["pixels"]),
            f"{c['fraction']:.4f}",
            _number(c["inverse_frequency_weight"]),
            _number(c["median_frequency_weight"]),
        )
    console.print(table)
    for u in report["unknown_values"]:
        say(f"value {u['value']} is no class: {u['pixels']} pixels in {len(u['files'])} mask(s)")
    for key, style in (("problems", "red"), ("warnings", "yellow")):
        items = report[key]
        for item in items[:show]:
            say(f"  {item['kind']}: {item['path']}: {item['message']}", style)
        if len(items) > show:
            say(f"  ... and {len(items) - show} more {key} (--json lists all)", style)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


@app.command("preview")
def preview(
    path: Path = typer.Argument(..., help="Dataset folder: images/ + masks/, or train/val/..."),
    out: Path = typer.Option(..., "--out", "-o", help="PNG file to write."),
    n: int = typer.Option(16, "-n", help="Samples shown (a seeded random choice)."),
    cols: int = typer.Option(4, help="Columns of the grid."),
    cell: int = typer.Option(256, help="Side of each cell in pixels."),
    seed: int = typer.Option(0, help="Seed of the choice of samples."),
    alpha: float = typer.Option(0.5, help="Opacity of the class colours."),
    classes: str | None = typer.Option(None, help=_CLASSES_HELP),
    config: Path | None = typer.Option(None, "--config", help=_CONFIG_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print a machine summary on stdout."),
) -> None:
    """Write a contact sheet PNG: images with class masks and quads overlaid, and a legend."""
    from idseg.data.preview import contact_sheet_for
    from idseg.io.writers import save_rgb_png

    with user_errors():
        names = _class_names(classes, config)
        sheet = contact_sheet_for(path, n, cols, cell, seed, alpha, classes=names)
        save_rgb_png(sheet, out)
    height, width = sheet.shape[:2]
    if as_json:
        print_json({"out": str(out), "width": width, "height": height})
    else:
        say(f"contact sheet {width} x {height} -> {out}")


@app.command("prepare")
def prepare(
    task: str = typer.Argument(..., help="localizer or fields: which model's training set."),
    src: Path = typer.Argument(..., help="Document dataset with quads/ (idseg synth, MIDV)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (new, empty or idseg's)."),
    edge: float = typer.Option(
        0.008, help="localizer: edge band width as a share of the image's longer side."
    ),
    jitter: float = typer.Option(
        0.015, help="fields: largest corner jitter as a share of the quad's diagonal."
    ),
    amodal: bool = typer.Option(
        False,
        "--amodal",
        help="localizer: label each document's whole quad, also under hands and objects.",
    ),
    hidden: bool = typer.Option(
        False,
        "--hidden",
        help="localizer: add a 4th class, 'hidden': document parts under hands and objects.",
    ),
    closeups: float = typer.Option(
        0.0,
        help="localizer: share of photos that also give a close-up cut to their largest "
        "document (a scan, a card filling the photo).",
    ),
    copies: int = typer.Option(1, min=1, help="fields: crops per document (each re-jittered)."),
    seed: int = typer.Option(
        0, min=0, help="fields: seed of the jitter; localizer: of the close-ups."
    ),
    force: bool = typer.Option(False, "--force", help="Replace a non-empty --out."),
    as_json: bool = typer.Option(False, "--json", help="Print a machine summary on stdout."),
) -> None:
    """Derive the training set of the localiser or of the field model from a document dataset.

    localizer: same images, masks of background / document / edge (a band inside each document's
    outline that separates touching documents). fields: every document rectified from its quad
    (corners jittered), with its class mask. Groups are kept, so splits stay template-disjoint.
    """
    from idseg.data.prepare import fields_dataset, localizer_dataset

    if task not in ("localizer", "fields"):
        raise typer.BadParameter(f"TASK must be localizer or fields, got {task!r}")
    with user_errors():
        if task == "localizer":
            report = localizer_dataset(
                src,
                out,
                edge=edge,
                amodal=amodal,
                hidden=hidden,
                overwrite=force,
                closeups=closeups,
                seed=seed,
            )
        else:
            report = fields_dataset(
                src, out, jitter=jitter, copies=copies, seed=seed, overwrite=force
            )
    if as_json:
        print_json(report.to_dict())
        return
    say(f"{report.images} sample(s) written, {len(report.skipped)} skipped -> {out}")
