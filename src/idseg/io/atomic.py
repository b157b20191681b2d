"""Atomic writes: write to a temporary file (or folder) beside the target, then ``os.replace``.

A reader never sees a half-written file, and an interrupted write leaves the old file (if any)
intact. Files get the usual permissions (``0o666`` minus the umask) and are flushed to disk before
the rename. :func:`atomic_dir` does the same for a whole output folder, so a re-run never leaves
files of an earlier run beside the new ones.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
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
        _finish_file(tmp)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@functools.cache
def _umask() -> int:
    """The process umask (read once: reading it means setting it, which is not thread-safe)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _finish_file(path: Path) -> None:
    """Give a ``mkstemp`` file normal permissions and flush it to disk."""
    os.chmod(path, 0o666 & ~_umask())
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; swap it in for ``path`` when the block succeeds.

    The previous folder (if any) is replaced as a whole, so no file of an earlier run survives
    beside the new ones. If the block raises, the temporary folder is removed and ``path`` keeps
    its old content.

    Raises:
        FileExistsError: ``path`` is an existing file.

    Example:
        >>> with atomic_dir("out/card") as tmp:  # doctest: +SKIP
        ...     (tmp / "segments.json").write_text("{}")
    """
    dest = Path(path)
    if dest.exists() and not dest.is_dir():
        raise FileExistsError(f"expected a folder, found a file: {dest}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        old = None
        if dest.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".old", dir=dest.parent))
            os.replace(dest, old / dest.name)
        os.replace(tmp, dest)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the destination path.

    Example:
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     atomic_write_bytes(Path(tmp) / "a.bin", b"abc").stat().st_size
        3
    """
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically and return the destination path.

    Example:
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     atomic_write_text(Path(tmp) / "note.txt", "héllo").read_text(encoding="utf-8")
        'héllo'
    """
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_write_json(path: str | os.PathLike[str], obj: Any, indent: int | None = 2) -> Path:
    """Serialise ``obj`` as JSON (UTF-8, keys in insertion order) and write it atomically.

    Example:
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     atomic_write_json(Path(tmp) / "a.json", {"b": 1}, indent=None).read_text().strip()
        '{"b": 1}'
    """
    return atomic_write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")
