"""The Typer application: global options and command registration."""

from __future__ import annotations

import typer

from idseg._version import __version__
from idseg.cli import (
    bench,
    data,
    doc,
    evaluate,
    export_onnx,
    info,
    midv,
    models,
    prompt,
    segment,
    serve,
    synth,
    train,
)
from idseg.cli._common import setup_logging

app = typer.Typer(
    name="idseg",
    help="Segment identity documents, and any other image, with Meta's SAM2.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"idseg {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    verbose: int = typer.Option(
        0, "--verbose", "-v", count=True, help="More log output (-v info, -vv debug)."
    ),
    version: bool = typer.Option(
        False,
        "--version",
        "-V",
        callback=_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """Segment identity documents, and any other image, with Meta's SAM2."""
    setup_logging(verbose)


app.command("doc")(doc.doc)
app.command("redact")(doc.redact)
app.command("segment")(segment.segment)
app.command("prompt")(prompt.prompt)
app.command("info")(info.info)
app.command("serve")(serve.serve)
app.command("synth")(synth.synth)
app.command("eval")(evaluate.evaluate)
app.add_typer(models.app, name="models")
data.app.add_typer(midv.app, name="midv")
app.add_typer(data.app, name="data")
app.add_typer(train.app, name="train")
app.add_typer(bench.app, name="bench")
app.add_typer(export_onnx.app, name="export")
