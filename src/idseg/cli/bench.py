"""``idseg bench``: benchmarks; ``idseg bench doc`` times and scores document localisers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from idseg.cli._common import console, say, user_errors

if TYPE_CHECKING:
    from idseg.documents.bench_report import BenchReport

app = typer.Typer(help="Benchmarks: speed and accuracy against baselines.", no_args_is_help=True)


def parse_resize(text: str | None) -> int | None:
    """``"1080p"`` or ``"1080"`` -> 1080; ``None``, ``""`` or ``"none"`` -> ``None``.

    Example:
        >>> parse_resize("720p"), parse_resize("none")
        (720, None)
    """
    if text is None or text.strip().lower() in ("", "none", "off"):
        return None
    match = re.fullmatch(r"\s*(\d+)\s*p?\s*", text.lower())
    if match is None or int(match.group(1)) < 1:
        raise typer.BadParameter(
            f"--resize must be a shorter-side length such as 1080p or 720, got {text!r}"
        )
    return int(match.group(1))


@app.command("doc")
def doc(
    data: Path = typer.Option(
        ..., "--data", "-d", help="Dataset with images/ and quads/, or a folder of images."
    ),
    methods: str = typer.Option(
        "idseg,opencv,microwink", "--methods", "-m", help="Comma-separated methods to compare."
    ),
    resize: str | None = typer.Option(
        None, "--resize", help="Rescale each photo so its shorter side is this (1080p, 720)."
    ),
    warmup: int = typer.Option(1, min=0, help="Untimed calls of each method before timing."),
    repeat: int = typer.Option(1, min=1, help="Timed calls per image; the median counts."),
    limit: int | None = typer.Option(None, min=1, help="Only the first N images."),
    threshold: float = typer.Option(0.9, help="Document IoU a good image reaches."),
    localizer: Path | None = typer.Option(
        None,
        "--localizer",
        help="Also run idseg with this localiser checkpoint (a run's last.pt), as method "
        "idseg:<file stem>, beside the bundled one.",
    ),
    show: int = typer.Option(5, min=0, help="Worst images listed per method."),
    json_out: Path | None = typer.Option(
        None, "--json", help="Write the full report (per-image records included) to this file."
    ),
) -> None:
    """Time and score document localisers (idseg, OpenCV, microwink) on a dataset.

    Each photo is decoded once; only the method call is timed (plus, apart, rectifying every
    quad it returns). Exits with 1 when some image failed for every method, or no method could
    run; a method that cannot run here (missing package or weights) is reported and skipped.
    """
    from idseg.documents.bench import run_benchmark
    from idseg.documents.bench_methods import idseg_localizer, resolve_method_names
    from idseg.io.atomic import atomic_write_json

    if not 0.0 <= threshold <= 1.0:
        raise typer.BadParameter(f"--threshold must be in [0, 1], got {threshold}")
    short_side = parse_resize(resize)
    with user_errors():
        names = resolve_method_names(methods)
        extra = {f"idseg:{localizer.stem}": idseg_localizer(localizer)} if localizer else None
        with console.status("benchmarking") as status:
            report = run_benchmark(
                data,
                names,
                resize_short_side=short_side,
                warmup=warmup,
                repeat=repeat,
                limit=limit,
                threshold=threshold,
                progress=lambda done, total: status.update(f"benchmarking: image {done}/{total}"),
                extra=extra,
            )
        if json_out is not None:
            atomic_write_json(json_out, report.to_dict())
    _print(report, show)
    if json_out is not None:
        say(f"report written to {json_out}")
    if not report.methods or report.failed_everywhere:
        raise typer.Exit(code=1)


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _print(report: BenchReport, show: int) -> None:
    env = report.environment
    size = f"shorter side {report.resize_short_side} px" if report.resize_short_side else "as is"
    n = len(next(iter(report.records.values()), []))
    say(
        f"{n} images ({size}), warmup {report.warmup}, repeat {report.repeat}; "
        f"CPUs {env.get('cpus_usable')}/{env.get('cpu_count')}, "
        f"torch threads {env.get('torch_threads')}"
    )
    for name, reason in report.unavailable.items():
        say(f"{name}: unavailable ({reason})", style="yellow")
    if report.records:
        # A pipe gets 80 columns by default, too narrow for the table: let it take what it needs.
        out = console if console.is_terminal else Console(stderr=True, width=200)
        out.print(_table(report))
    for name in report.methods:
        summary = report.summary(name)
        for image, score in summary.get("below_threshold", [])[:show]:
            say(f"  {name} below {report.threshold:g}: {image} IoU {score:.4f}")
        for image, error in summary["failures"][:show]:
            say(f"  {name} failed on {image}: {error}", style="red")
    if report.failed_everywhere:
        say(f"{len(report.failed_everywhere)} image(s) failed for every method", style="red")


def _table(report: BenchReport) -> Table:
    table = Table(title="document localisation")
    table.add_column("method")
    columns = ["loc ms median", "loc ms mean", "loc+rectify median", "loc+rectify mean"]
    columns += ["found", "failed"]
    if report.scored:
        columns += ["IoU", "MIDV IoU", f"IoU>={report.threshold:g}", "FP", "missed"]
    for column in columns:
        table.add_column(column, justify="right")
    for name in report.methods:
        s = report.summary(name)
        row = [
            _fmt(s["ms_median"], ".1f"),
            _fmt(s["ms_mean"], ".1f"),
            _fmt(s["total_ms_median"], ".1f"),
            _fmt(s["total_ms_mean"], ".1f"),
            str(s["found"]),
            str(s["failed"]),
        ]
        if report.scored:
            row += [
                _fmt(s["mean_iou"], ".4f"),
                _fmt(s["mean_midv_iou"], ".4f"),
                _fmt(s["share_above_threshold"], ".1%"),
                str(s["false_positives"]),
                str(s["missed"]),
            ]
        table.add_row(name, *row)
    return table
