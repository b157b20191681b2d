"""``idseg models``: list, download, verify and initialise SAM2 checkpoints."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from idseg.cli._common import console, print_json, say, user_errors

app = typer.Typer(
    help="List, download, verify and initialise SAM2 checkpoints.", no_args_is_help=True
)


@app.command("list")
def list_models(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output on stdout."),
) -> None:
    """List the official SAM2 / SAM2.1 checkpoints and whether they are cached."""
    from idseg.models.cache import checkpoint_dir
    from idseg.models.registry import list_checkpoints

    folder = checkpoint_dir()
    rows = []
    for spec in list_checkpoints():
        cached = (folder / spec.filename).is_file()
        size_mb = spec.size_bytes / 1e6 if spec.size_bytes else None
        rows.append(
            {
                "name": spec.name,
                "config": spec.config,
                "size_mb": size_mb,
                "cached": cached,
                "url": spec.url,
                "sha256": spec.sha256,
            }
        )
    if as_json:
        print_json({"cache": str(folder), "checkpoints": rows})
        return
    table = Table(title="Official SAM2 checkpoints")
    for col in ("name", "config", "approx. MB", "cached"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r["name"]),
            str(r["config"]),
            f"{r['size_mb']:.0f}" if r["size_mb"] else "?",
            "yes" if r["cached"] else "no",
        )
    console.print(table)
    say(f"cache: {folder}")


@app.command("download")
def download_model(
    name: str = typer.Argument(..., help="Registry name (e.g. sam2.1_hiera_tiny) or https URL."),
    sha256: str | None = typer.Option(None, help="Expected SHA-256 of the file."),
) -> None:
    """Download a checkpoint into the cache (resumable, verified by SHA-256)."""
    from idseg.models.download import ensure_checkpoint

    with user_errors():
        path = ensure_checkpoint(name, sha256=sha256)
    typer.echo(str(path))


@app.command("verify")
def verify_model(
    path: Path = typer.Argument(..., help="Checkpoint file to check."),
    sha256: str | None = typer.Option(None, help="Expected SHA-256 (default: pinned or recorded)."),
    model_config: str | None = typer.Option(
        None, "--model-config", help="Config to load it into (default: guessed from its shapes)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output on stdout."),
) -> None:
    """Check a checkpoint: SHA-256 against the expected one, and a strict load into its config.

    Exits with 1 when the hash differs, 2 when the file cannot be read or does not fit the config.
    """
    from idseg.models.checkpoints import load_state_dict_strict, read_state_dict, suggest_config
    from idseg.models.download import verify_checkpoint
    from idseg.models.sam2 import build_model

    with user_errors():
        report = verify_checkpoint(path, sha256=sha256)
        state = read_state_dict(path)
        report["tensors"] = len(state)
        config = model_config or suggest_config(state)
        report["config"] = config
        if config is not None:
            load_state_dict_strict(build_model(config), state, path.name)
        report["loads"] = config is not None
    if as_json:
        print_json(report)
    else:
        for key, value in report.items():
            typer.echo(f"{key}: {value}")
    if report.get("matches") is False:
        raise typer.Exit(code=1)


@app.command("init")
def init_model(
    config: str = typer.Argument(..., help="SAM2 config name or YAML path."),
    out: Path = typer.Option(..., "--out", "-o", help="Checkpoint file to write."),
    seed: int = typer.Option(0, help="Random seed of the weights."),
) -> None:
    """Write a RANDOM-weight checkpoint for a config (tests, speed benchmarks, plumbing demos)."""
    from idseg.models.sam2 import init_checkpoint

    with user_errors():
        path = init_checkpoint(config, out, seed=seed)
    typer.echo(str(path))
