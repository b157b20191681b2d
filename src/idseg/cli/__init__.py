"""The ``idseg`` command line: a thin Typer layer over the library."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """Run the ``idseg`` command (console-script entry point).

    ``idseg --version`` answers before anything heavy (torch, SAM2) is imported.
    """
    args = sys.argv[1:] if argv is None else argv
    if args in (["--version"], ["-V"]):
        from idseg._version import __version__

        print(f"idseg {__version__}")
        return
    from idseg.cli.app import app

    app(args=args, prog_name="idseg")
