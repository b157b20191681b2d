"""``idseg data midv``: get the MIDV-500 / MIDV-2019 archives, convert MIDV-500/2019/2020 datasets.

The command functions :func:`download` and :func:`convert` are registered by the application
(``idseg data midv download`` and ``idseg data midv convert``); :data:`app` groups them for that.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from idseg.cli._common import console, print_json, say, user_errors
from idseg.data.outdir import REPLACE_POLICY

if TYPE_CHECKING:
    from idseg.data.midv_download import DownloadReport

app = typer.Typer(
    help="MIDV-500 / MIDV-2019 archives, and MIDV-500/2019/2020 to idseg datasets.",
    no_args_is_help=True,
)

_DATASETS = ("auto", "midv500", "midv2019", "midv2020")
_OUT_HELP = "Dataset folder to write: new, empty, or an earlier idseg dataset (replaced whole)."
_FORCE_HELP = f"Replace --out and everything in it, whatever it holds. {REPLACE_POLICY}"


def _split(text: str | None) -> list[str] | None:
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


def _hashes(values: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        name, sep, digest = value.partition("=")
        if not sep or not name.strip() or not digest.strip():
            raise typer.BadParameter(f"--sha256 takes TYPE=HEX, got {value!r}")
        out[name.strip()] = digest.strip()
    return out


def download(
    dataset: str = typer.Argument(..., help="midv500 or midv2019."),
    out: Path = typer.Option(..., "--out", "-o", help="Download folder: archives, hashes, types."),
    types: str | None = typer.Option(
        None, "--types", help="Comma-separated types (01_alb_id, alb_id or 1); default all 50."
    ),
    base_url: str | None = typer.Option(
        None,
        "--base-url",
        help="https:// folder of a mirror holding <type>.zip (the official server is FTP only, "
        "which idseg does not use).",
    ),
    archives: Path | None = typer.Option(
        None, "--archives", help="Take the archives from this folder instead of downloading."
    ),
    sha256: list[str] = typer.Option(
        [], "--sha256", help="Expected hash as TYPE=HEX (repeatable); default: recorded ones."
    ),
    keep_archives: bool = typer.Option(
        True, "--keep-archives/--delete-archives", help="Keep downloaded zips to re-verify them."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a machine summary on stdout."),
) -> None:
    """Download (or take from --archives), verify and safely unpack MIDV-500 / MIDV-2019 archives.

    The first SHA-256 seen of every archive is recorded in OUT/hashes.json and checked on every
    later run; types already unpacked from the recorded archive are skipped. Interrupted
    downloads resume. A type that fails (network, hash mismatch, unsafe archive) does not stop
    the others; the command lists what succeeded and what failed, and exits with 1 when any
    type failed.
    """
    from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

    from idseg.data.midv_download import download_midv

    hashes = _hashes(sha256)
    columns = (*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn())
    bar = Progress(*columns, console=console, transient=True, disable=as_json)
    tasks: dict[str, Any] = {}

    def progress(name: str, done: int, total: int | None) -> None:
        if name not in tasks:
            tasks[name] = bar.add_task(name, total=total)
        bar.update(tasks[name], completed=done, total=total)

    with user_errors(), bar:
        report = download_midv(
            dataset,
            out,
            _split(types),
            base_url,
            hashes,
            archive_dir=archives,
            keep_archives=keep_archives,
            progress=progress,
        )
    if as_json:
        print_json(report.to_dict())
    else:
        _print_download(report)
    if report.failed:
        raise typer.Exit(code=1)


def _print_download(report: DownloadReport) -> None:
    for key in ("downloaded", "verified", "extracted", "up_to_date"):
        names = getattr(report, key)
        if names:
            more = " ..." if len(names) > 5 else ""
            say(f"{key.replace('_', ' ')}: {len(names)} ({', '.join(names[:5])}{more})")
    for name, error, message in report.failed:
        say(f"failed: {name}: {error}: {message}", "red")
    if report.failed:
        done = report.succeeded
        listed = f" ({', '.join(done)})" if done else ""
        say(f"{len(report.failed)} type(s) failed, {len(done)} succeeded{listed} -> {report.out}")
        return
    say(f"-> {report.out}; convert with: idseg data midv convert {report.out} --out DATASET")


def _detect(src: Path) -> str:
    from idseg.data.midv import find_type_folders
    from idseg.data.midv2020 import find_annotation_files

    if src.is_dir() and find_type_folders(src):
        return "midv2019" if "2019" in str(src.resolve()) else "midv500"
    if src.is_dir() and find_annotation_files(src):
        return "midv2020"
    raise typer.BadParameter(
        f"{src} holds neither MIDV-500/2019 type folders (images/ + ground_truth/) nor "
        "MIDV-2020 annotations (<subset>/annotations/*.json); pass --dataset to say which"
    )


def convert(
    src: Path = typer.Argument(..., help="Unpacked MIDV-500/2019 or MIDV-2020 folder."),
    out: Path = typer.Option(..., "--out", "-o", help=_OUT_HELP),
    dataset: str = typer.Option(
        "auto",
        "--dataset",
        help="midv500, midv2019, midv2020 or auto (midv2019 only when the path says 2019).",
    ),
    fields: bool = typer.Option(
        False, "--fields", help="MIDV-500/2019: map the template's fields into every frame."
    ),
    image_format: str = typer.Option("keep", "--image-format", help="keep, png or jpg."),
    every: int = typer.Option(1, "--every", min=1, help="Keep every n-th frame of each clip."),
    types: str | None = typer.Option(None, "--types", help="Comma-separated document types."),
    subsets: str | None = typer.Option(
        None, "--subsets", help="MIDV-2020: templates, photo, scan_upright, scan_rotated, clips."
    ),
    group_by: str = typer.Option("type", "--group-by", help="MIDV-2020: type or document."),
    force: bool = typer.Option(False, "--force", help=_FORCE_HELP),
    show: int = typer.Option(20, help="Skipped files listed (--json lists all)."),
    as_json: bool = typer.Option(False, "--json", help="Print the full report on stdout."),
) -> None:
    """Convert MIDV annotations into images/, masks/ (class indices), quads/, dataset.json, coco.json.

    Every frame's group is its document type, so splits never straddle a type. Bad annotation
    files are skipped and listed; the rest is converted.
    """
    if dataset not in _DATASETS:
        raise typer.BadParameter(f"--dataset must be one of {', '.join(_DATASETS)}")
    kind = _detect(src) if dataset == "auto" else dataset
    with user_errors():
        if kind == "midv2020":
            from idseg.data.midv2020 import import_midv2020

            report = import_midv2020(
                src,
                out,
                subsets=_split(subsets),
                types=_split(types),
                group_by=group_by,
                image_format=image_format,
                every=every,
                overwrite=force,
            )
        else:
            from idseg.data.midv import convert_midv

            report = convert_midv(
                src,
                out,
                source=kind,
                types=_split(types),
                fields=fields,
                image_format=image_format,
                every=every,
                overwrite=force,
            )
    if as_json:
        print_json(report.to_dict())
        return
    say(f"{kind}: {report.images} images -> {report.out}; {len(report.skipped)} skipped")
    for path, reason in report.skipped[:show]:
        say(f"  skipped {path}: {reason}", "yellow")
    if len(report.skipped) > show:
        say(f"  ... and {len(report.skipped) - show} more (--json lists all)", "yellow")


app.command("download")(download)
app.command("convert")(convert)

__all__ = ["app", "convert", "download"]
