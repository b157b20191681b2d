"""``idseg doc`` and ``idseg redact``: the document pipeline over files and folders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from idseg.cli._common import batch_progress, print_json, say, user_errors

_PATHS_HELP = "Image files and folders (folders are walked recursively)."
_LOCALIZER_HELP = "Localiser checkpoint (default: the bundled model)."
_FIELDS_HELP = "Field model checkpoint (default: the bundled model)."


def _pipeline(
    localizer: Path | None,
    fields: Path | None,
    device: str,
    refine: str | None,
    checkpoint: str | None,
    model_config: str | None,
    with_fields: bool = True,
    barcode_min_score: float | None = None,
) -> Any:
    from dataclasses import replace

    from idseg.documents.pipeline import DocumentPipeline, PipelineSettings

    refiner = None
    if refine is None and (checkpoint is not None or model_config is not None):
        raise typer.BadParameter("--checkpoint and --model-config are only used with --refine sam2")
    if refine is not None:
        if refine.lower() != "sam2":
            raise typer.BadParameter(f"--refine takes 'sam2', got {refine!r}")
        if checkpoint is None:
            raise typer.BadParameter("--refine sam2 needs --checkpoint (a SAM2 checkpoint)")
        from idseg.documents.refine import SamRefiner

        refiner = SamRefiner.from_checkpoint(checkpoint, config=model_config, device=device)
    settings = PipelineSettings(fields=with_fields)
    if barcode_min_score is not None:
        settings = replace(settings, barcode_min_score=barcode_min_score)
    return DocumentPipeline(
        localizer,
        fields,
        device=device,
        settings=settings,
        refiner=refiner,
    )


def doc(
    paths: list[Path] = typer.Argument(..., help=_PATHS_HELP),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: one sub-folder per image."),
    localizer: Path | None = typer.Option(None, "--localizer", help=_LOCALIZER_HELP),
    fields: Path | None = typer.Option(None, "--fields", help=_FIELDS_HELP),
    refine: str | None = typer.Option(
        None, "--refine", help="Refine document and field masks with 'sam2' (needs --checkpoint)."
    ),
    checkpoint: str | None = typer.Option(
        None, "--checkpoint", help="SAM2 checkpoint for --refine: path, registry name or URL."
    ),
    model_config: str | None = typer.Option(
        None, "--model-config", help="SAM2 config (name or YAML) for --refine."
    ),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:N or mps."),
    crops: bool = typer.Option(True, "--crops/--no-crops", help="Write each field's crop."),
    overlay: bool = typer.Option(True, "--overlay/--no-overlay", help="Write overlay.jpg."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
) -> None:
    """Find documents, fit their corners, rectify them and segment their fields.

    Per image OUT/<name>/ gets result.json (quads, kinds, fields with boxes and outlines in the
    rectified and photo frames, scores, timings), overlay.jpg, labels.png and per document
    docN/rectified.png, docN/fields.png and docN/crops/. Works offline with the bundled models.
    """
    from idseg.documents.doc_batch import DocOutputs, doc_handler, run_documents

    with user_errors():
        pipe = _pipeline(localizer, fields, device, refine, checkpoint, model_config)
        outputs = DocOutputs(overlay=overlay, crops=crops)
        summary = run_documents(
            paths, out, doc_handler(pipe, outputs), None if as_json else batch_progress("documents")
        )
    _finish(summary, as_json, "analysed")


def redact(
    paths: list[Path] = typer.Argument(..., help=_PATHS_HELP),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder for the redacted copies."),
    classes: str = typer.Option(
        "portrait,mrz,barcode,signature",
        "--classes",
        help="Field classes to redact (comma-separated; 'text' also allowed).",
    ),
    mode: str = typer.Option("fill", "--mode", help="fill, blur or pixelate."),
    dilate: int = typer.Option(4, "--dilate", min=0, help="Grow each region by this many pixels."),
    image_format: str | None = typer.Option(
        None, "--format", help="Output format: jpg, png or webp (default: the source's)."
    ),
    require: str | None = typer.Option(
        None,
        "--require",
        help="Classes every document must show (e.g. portrait); otherwise the copy is not written.",
    ),
    localizer: Path | None = typer.Option(None, "--localizer", help=_LOCALIZER_HELP),
    fields: Path | None = typer.Option(None, "--fields", help=_FIELDS_HELP),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:N or mps."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
) -> None:
    """Write redacted, metadata-free copies of ID photos (portrait, MRZ, barcode, signature...).

    A photo in which no document is found is NOT written (it would leave the data readable); it
    is listed, and the exit code is 1. Requested classes not found in a document are listed as a
    warning; with --require they also stop the copy from being written (exit 1).
    """
    from idseg.documents.doc_batch import redact_handler, run_documents

    with user_errors():
        # Every barcode region, however unsure: a missed one leaks, an extra one blurs some print.
        pipe = _pipeline(localizer, fields, device, None, None, None, barcode_min_score=0.0)
        handle = redact_handler(pipe, classes, mode, dilate, image_format, require)
        summary = run_documents(
            paths, out, handle, None if as_json else batch_progress("documents")
        )
    _finish(summary, as_json, "redacted")
    for item in summary["files"] if not as_json else []:
        for doc, classes_missing in (item.get("missing") or {}).items():
            say(
                f"  {item['path']}: document {doc}: no {', '.join(classes_missing)} found "
                f"({'not written' if item.get('incomplete') else 'check by hand'})",
                style="yellow",
            )
    if summary["no_document"] or summary["incomplete"]:
        raise typer.Exit(code=1)


def _finish(summary: dict[str, Any], as_json: bool, verb: str) -> None:
    if as_json:
        print_json(summary)
    else:
        say(
            f"{summary['ok']} image(s) {verb}, {summary['failed']} failed, "
            f"{summary['documents']} document(s), {summary['no_document']} image(s) without one, "
            f"{summary['seconds']:.1f} s -> {summary['out']}"
        )
        for item in summary["files"]:
            if item["status"] != "ok":
                say(f"  failed {item['path']}: {item['error_type']}: {item['error']}", style="red")
            elif item.get("documents") == 0:
                say(f"  no document in {item['path']}", style="yellow")
    if summary["failed"]:
        raise typer.Exit(code=1)
