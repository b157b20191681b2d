"""Where checkpoints are cached, offline mode, a cross-process lock, resume state, and env vars.

Folder (first that applies): an explicit ``cache_dir``, ``SAM2_CHECKPOINT_DIR`` (the folder itself,
as in the original SAM2 ID Segmenter wrapper), ``$IDSEG_HOME/checkpoints``, or
``platformdirs.user_cache_dir("idseg")/checkpoints``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import platformdirs

from idseg.errors import ConfigError, InputError
from idseg.io.atomic import atomic_write_json
from idseg.models.hashes import normalise_sha256

_TRUE = {"1", "true", "yes", "on"}


def checkpoint_dir(cache_dir: Path | str | None = None) -> Path:
    """Return the checkpoint folder (not created).

    Args:
        cache_dir: An explicit folder; wins over the environment.

    Returns:
        ``cache_dir``, else ``$SAM2_CHECKPOINT_DIR``, else ``$IDSEG_HOME/checkpoints``, else the
        platform's user cache folder for idseg plus ``checkpoints``.

    Example:
        >>> os.environ["IDSEG_HOME"] = "/data/idseg"  # doctest: +SKIP
        >>> checkpoint_dir()  # doctest: +SKIP
        PosixPath('/data/idseg/checkpoints')

    """
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    override = os.environ.get("SAM2_CHECKPOINT_DIR", "").strip()
    if override:
        return Path(override).expanduser()
    home = os.environ.get("IDSEG_HOME", "").strip()
    root = Path(home).expanduser() if home else Path(platformdirs.user_cache_dir("idseg"))
    return root / "checkpoints"


def is_offline(offline: bool | None = None) -> bool:
    """Return True when network access is forbidden.

    Args:
        offline: An explicit choice; None reads ``IDSEG_OFFLINE`` (``1``/``true``/``yes``/``on``).

    Example:
        >>> is_offline(True)
        True

    """
    if offline is not None:
        return bool(offline)
    return os.environ.get("IDSEG_OFFLINE", "").strip().lower() in _TRUE


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (created if missing) for the block.

    Serialises concurrent downloads of one file by several processes. The lock is released by
    the OS if the process dies. Without ``fcntl`` (Windows) this is a no-op.

    Example:
        >>> with file_lock(Path("/tmp/w.pt.lock")):  # doctest: +SKIP
        ...     pass

    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _state_path(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def read_resume_validator(part: Path, url: str) -> str | None:
    """Return the validator saved beside a ``.part`` file by a download of ``url``, or None.

    The validator (an ETag or a Last-Modified date) lives in ``<part>.json``; a missing,
    unreadable or other-URL record gives None, so the partial file is not trusted for resuming.

    Example:
        >>> read_resume_validator(Path("w.pt.part"), "https://example.org/w.pt")  # doctest: +SKIP
        '"5f1c-abc"'

    """
    try:
        state = json.loads(_state_path(part).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or state.get("url") != url:
        return None
    value = state.get("validator")
    return value if isinstance(value, str) and value else None


def save_resume_validator(part: Path, url: str, validator: str | None) -> None:
    """Save (atomically) or, for None, clear the validator of the ``.part`` file of ``url``.

    Args:
        part: The partial download file; the record goes to ``<part>.json``.
        url: The URL being downloaded; a record of another URL is never trusted.
        validator: The server's ETag or Last-Modified value, or ``None`` to delete the record.

    Example:
        >>> save_resume_validator(Path("w.pt.part"), "https://example.org/w.pt", '"v1"')  # doctest: +SKIP

    """
    if validator is None:
        _state_path(part).unlink(missing_ok=True)
    else:
        atomic_write_json(_state_path(part), {"url": url, "validator": validator})


def discard_partial(part: Path) -> None:
    """Delete a ``.part`` file and its saved validator (both may be missing).

    Example:
        >>> discard_partial(Path("w.pt.part"))  # doctest: +SKIP

    """
    part.unlink(missing_ok=True)
    _state_path(part).unlink(missing_ok=True)


def resolve_checkpoint_from_env() -> tuple[str, str | None] | None:
    """Read ``SAM2_CHECKPOINT_URL`` and ``SAM2_CHECKPOINT_SHA256`` from the environment.

    Returns:
        ``(url, sha256_or_None)`` when ``SAM2_CHECKPOINT_URL`` is set and not empty, else None.

    Raises:
        ConfigError: ``SAM2_CHECKPOINT_SHA256`` is set but is not 64 hex digits.

    Example:
        >>> os.environ["SAM2_CHECKPOINT_URL"] = "https://example.org/w.pt"  # doctest: +SKIP
        >>> resolve_checkpoint_from_env()  # doctest: +SKIP
        ('https://example.org/w.pt', None)

    """
    url = os.environ.get("SAM2_CHECKPOINT_URL", "").strip()
    if not url:
        return None
    raw = os.environ.get("SAM2_CHECKPOINT_SHA256", "").strip()
    if not raw:
        return url, None
    try:
        return url, normalise_sha256(raw)
    except InputError as exc:
        raise ConfigError(
            f"SAM2_CHECKPOINT_SHA256 must be 64 hex digits, got {len(raw)} characters {raw!r}"
        ) from exc


__all__ = [
    "checkpoint_dir",
    "discard_partial",
    "file_lock",
    "is_offline",
    "read_resume_validator",
    "resolve_checkpoint_from_env",
    "save_resume_validator",
]
