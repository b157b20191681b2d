"""Small text helpers shared by error messages."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def close_match(name: str, choices: Iterable[str]) -> str | None:
    """The choice closest to ``name`` (difflib, cutoff 0.6), or ``None``.

    Example:
        >>> close_match("points_per_sid", ["points_per_side", "crop_n_layers"])
        'points_per_side'
    """
    found = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest choice, or an empty string.

    Example:
        >>> did_you_mean("densse", ["default", "dense"])
        "; did you mean 'dense'?"
    """
    match = close_match(name, choices)
    return f"; did you mean {match!r}?" if match else ""
