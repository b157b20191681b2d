"""Document quads on disk: MIDV-500's ``{"quad": ...}`` and idseg's multi-document form.

One document: ``{"quad": [[x, y], [x, y], [x, y], [x, y]]}`` (MIDV-500), corners clockwise from the
document's own top-left. Several documents, or none: ``{"quads": [quad, ...], ...}`` (what
``idseg synth`` writes for scenes with several documents and for negatives). Coordinates are
continuous image coordinates: pixel ``(c, r)`` covers ``[c, c + 1) x [r, r + 1)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from idseg.errors import InputError


def parse_quads(data: Any) -> list[np.ndarray]:
    """The quads of a parsed quad JSON, each a ``4 x 2`` float array (an empty list: no document).

    Raises:
        InputError: Neither form, or a quad that is not 4 finite ``(x, y)`` points.

    Example:
        >>> [q.tolist() for q in parse_quads({"quad": [[0, 0], [4, 0], [4, 2], [0, 2]]})]
        [[[0.0, 0.0], [4.0, 0.0], [4.0, 2.0], [0.0, 2.0]]]
        >>> parse_quads({"quads": []})
        []
    """
    if isinstance(data, dict) and "quad" in data:
        raw = [data["quad"]]
    elif isinstance(data, dict) and isinstance(data.get("documents"), list) and "found" in data:
        # `idseg doc` result.json
        raw = [d.get("quad") if isinstance(d, dict) else d for d in data["documents"]]
    elif isinstance(data, dict) and isinstance(data.get("quads"), list):
        raw = data["quads"]
    else:
        raise InputError('expected {"quad": [[x, y] x 4]} or {"quads": [quad, ...]}')
    quads = []
    for item in raw:
        try:
            quad = np.asarray(item, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(f"a quad must be 4 (x, y) numbers, got {item!r}") from None
        if quad.shape != (4, 2) or not np.isfinite(quad).all():
            raise InputError(f"a quad must be 4 finite (x, y) points, got shape {quad.shape}")
        quads.append(quad)
    return quads


def read_quads(path: str | Path) -> list[np.ndarray]:
    """Read a quad JSON file (either form); see :func:`parse_quads`.

    Raises:
        InputError: Unreadable file or JSON, or malformed quads.

    Example:
        >>> read_quads("quads/000000.json")  # doctest: +SKIP
        [array([[139., 678.], [940., 689.], [966., 1180.], [88., 1167.]])]
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"unreadable quad JSON ({type(exc).__name__}: {exc})") from None
    return parse_quads(data)
