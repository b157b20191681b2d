"""Atomic file writes: write to a temporary file in the same folder, then ``os.replace``.

A reader never sees a half-written file, and an interrupted write leaves the old file (if any) intact.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it over ``path`` when the block succeeds.

    Args:
        path: The final destination. Its parent folder is created if missing.
        suffix: Suffix of the temporary file. Defaults to ``.tmp`` plus the destination's
            suffix, so writers that pick a format from the extension (OpenCV, Pillow) still work.

    Yields:
        The temporary path to write to. If the block raises, the temporary file is removed and
        the destination is left untouched.

    Example:
        >>> with atomic_path("out/mask.png") as tmp:  # doctest: +SKIP
        ...     cv2.imwrite(str(tmp), mask)
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp_suffix = suffix if suffix is not None else ".tmp" + dest.suffix
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=tmp_suffix, dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the destination path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically and return the destination path."""
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_write_json(path: str | os.PathLike[str], obj: Any, indent: int | None = 2) -> Path:
    """Serialise ``obj`` as JSON (UTF-8, keys in insertion order) and write it atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")
