"""``idseg synth``: generate a synthetic dataset of identity-document photos with exact ground truth."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from idseg.cli._common import console, print_json, say, user_errors
from idseg.data.outdir import REPLACE_POLICY

_KINDS_HELP = (
    "Document kinds, comma-separated: td1,td1v,td2,td3,a4,letter "
    "(default: all but td1v, the portrait-format ID-1 card)."
)
_FORCE_HELP = f"Replace --out and everything in it, whatever it holds. {REPLACE_POLICY}"


def parse_size(text: str) -> tuple[int, int]:
    """``"640x480"`` (width x height) -> ``(480, 640)`` (height, width).

    Example:
        >>> parse_size("640x480")
        (480, 640)
    """
    parts = text.lower().replace(" ", "").split("x")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise typer.BadParameter(f"--size must be WIDTHxHEIGHT like 640x480, got {text!r}")
    return int(parts[1]), int(parts[0])


def parse_docs(text: str) -> tuple[int, int]:
    """``"2"`` -> ``(2, 2)``; ``"1-3"`` -> ``(1, 3)``.

    Example:
        >>> parse_docs("1-3"), parse_docs("2")
        ((1, 3), (2, 2))
    """
    parts = text.replace(" ", "").split("-")
    if len(parts) not in (1, 2) or not all(p.isdigit() for p in parts):
        raise typer.BadParameter(f"--docs must be N or MIN-MAX like 1-3, got {text!r}")
    return int(parts[0]), int(parts[-1])


def parse_kinds(text: str | None) -> list[str] | None:
    """Comma-separated kinds, checked against the known kinds (``None`` stays ``None``).

    Example:
        >>> parse_kinds("td1, td3")
        ['td1', 'td3']
    """
    if text is None:
        return None
    from idseg._text import did_you_mean
    from idseg.documents.classes import KINDS

    kinds = [k.strip().lower() for k in text.split(",") if k.strip()]
    for kind in kinds:
        if kind not in KINDS:
            hint = did_you_mean(kind, list(KINDS))
            raise typer.BadParameter(
                f"unknown kind {kind!r}{hint} Expected some of: {', '.join(KINDS)}"
            )
    if not kinds:
        raise typer.BadParameter("--kinds names no kind")
    return kinds


def _names(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    return tuple(n.strip() for n in text.split(",") if n.strip())


def _list_templates() -> None:
    from idseg.documents.classes import KINDS
    from idseg.documents.synth.layouts import get_template, list_templates

    for kind in KINDS:
        names = [
            n + (" (--real)" if get_template(n).real_only else "") for n in list_templates(kind)
        ]
        say(f"{kind}: {', '.join(names)}")
    say("(--real): drawn only with --real above 0, or when named with --templates")


def _required(n: int | None, out: Path | None) -> tuple[int, Path]:
    missing = [flag for flag, v in (("--n", n), ("--out", out)) if v is None]
    if missing:
        raise typer.BadParameter(f"missing {' and '.join(missing)} (needed unless --list)")
    assert n is not None and out is not None  # for mypy: checked above
    return n, out


@contextmanager
def _progress(total: int, show: bool) -> Iterator[Callable[[int], None] | None]:
    if not show:
        yield None
        return
    from rich.progress import Progress

    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("generating", total=total)
        yield lambda done: bar.update(task, completed=done)


def synth(
    n: int | None = typer.Option(None, "--n", "-n", min=1, help="Number of images (required)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed: the same seed, the same files."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Output folder: new, empty, or an earlier idseg dataset."
    ),
    size: str = typer.Option("640x480", "--size", help="Image size, WIDTHxHEIGHT."),
    kinds: str | None = typer.Option(None, "--kinds", help=_KINDS_HELP),
    templates: str | None = typer.Option(
        None, "--templates", help="Only these templates (comma-separated; `idseg synth --list`)."
    ),
    exclude_templates: str | None = typer.Option(
        None, "--exclude-templates", help="Never these templates (hold designs out for testing)."
    ),
    list_names: bool = typer.Option(
        False, "--list", help="List the templates by kind and exit (OUT and N may be anything)."
    ),
    docs: str = typer.Option("1", "--docs", help="Documents per image: N or MIN-MAX."),
    negatives: float = typer.Option(
        0.05, "--negatives", min=0.0, max=1.0, help="Share of images without any document."
    ),
    restyle: float = typer.Option(
        0.0,
        "--restyle",
        min=0.0,
        max=1.0,
        help="Share of images whose documents get a variant of their template's colours, "
        "pattern and emblem (more designs for training; 0 keeps the templates as designed).",
    ),
    real: float = typer.Option(
        0.0,
        "--real",
        min=0.0,
        max=1.0,
        help="Share of images whose documents look more like real cards: photographic "
        "portraits, card-wide background art, some values in red or blue. Above 0, the US-style "
        "fronts marked (--real) in --list join the pool of templates.",
    ),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="Processes (default: one per CPU); output is the same."
    ),
    image_format: str = typer.Option("jpg", "--format", help="Image format: jpg or png."),
    force: bool = typer.Option(False, "--force", help=_FORCE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the summary on stdout."),
) -> None:
    """Generate photos of synthetic ID documents with masks, quads, polygons and COCO.

    OUT gets images/, masks/ (class indices), quads/ (MIDV-500 JSON), polygons/, dataset.json
    and coco.json; it is built beside OUT and replaces it whole. Prints the images per second.
    """
    from idseg.documents.synth.dataset import generate_dataset
    from idseg.documents.synth.scene_options import SceneOptions

    if list_names:
        _list_templates()
        return
    n, out = _required(n, out)
    hw, span, kind_list = parse_size(size), parse_docs(docs), parse_kinds(kinds)
    fmt = image_format.lower().lstrip(".").replace("jpeg", "jpg")
    with user_errors(), _progress(n, not as_json and console.is_terminal) as progress:
        summary = generate_dataset(
            out,
            n,
            seed,
            size=hw,
            kinds=kind_list,
            docs_per_scene=span,
            negatives=negatives,
            options=SceneOptions(
                templates=_names(templates),
                exclude_templates=_names(exclude_templates) or (),
                p_restyle=restyle,
                p_real=real,
            ),
            workers=workers,
            image_format=fmt,
            overwrite=force,
            progress=progress,
        )
    if as_json:
        print_json(summary)
        return
    say(
        f"{summary['images']} images ({summary['negatives']} negatives, "
        f"{summary['documents']} documents, {summary['annotations']} COCO instances) "
        f"in {summary['seconds']:.1f} s with {summary['workers']} worker(s) -> {out}"
    )
    say(f"{summary['images_per_second']:.1f} images/s")
