"""Shared pieces of the CLI: logging set-up, error reporting and option parsing."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console

from idseg.errors import IdsegError

#: Human output goes to stderr; stdout is reserved for ``--json``. Lines are not wrapped at 80
#: columns (``soft_wrap``), so paths and messages stay whole in logs and pipes.
console = Console(stderr=True, soft_wrap=True)


def setup_logging(verbose: int) -> None:
    """Route library logs to stderr: warnings by default, ``-v`` info, ``-vv`` debug."""
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", force=True)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn idseg's typed errors into a one-line message and exit code 2."""
    try:
        yield
    except IdsegError as exc:
        console.print(
            f"error: {type(exc).__name__}: {exc}", style="red", markup=False, highlight=False
        )
        raise typer.Exit(code=2) from None


def parse_floats(text: str, count: tuple[int, ...], what: str) -> list[float]:
    """Parse ``"1,2,3"`` into floats, checking the number of values."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise typer.BadParameter(f"{what} must be comma-separated numbers, got {text!r}") from None
    if len(values) not in count:
        expected = " or ".join(str(c) for c in count)
        raise typer.BadParameter(f"{what} needs {expected} numbers, got {len(values)} in {text!r}")
    return values


def say(text: str, style: str | None = None) -> None:
    """Print a plain line to stderr: no rich markup, so paths with ``[...]`` print as they are."""
    console.print(text, style=style, markup=False, highlight=False)


def print_json(obj: Any) -> None:
    """Write a JSON document to stdout."""
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
    sys.stdout.flush()


def batch_progress(label: str) -> Callable[[int], Callable[..., None]]:
    """A progress-bar factory for the batch runners: ``factory(total)`` returns ``advance``.

    ``advance()`` moves the bar by one file; ``advance(done=True)`` removes it.
    """

    def factory(total: int) -> Callable[..., None]:
        from rich.progress import Progress

        bar = Progress(console=console, transient=True)
        task = bar.add_task(label, total=total)
        bar.start()

        def advance(done: bool = False) -> None:
            if done:
                bar.stop()
            else:
                bar.advance(task)

        return advance

    return factory
