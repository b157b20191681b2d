"""Checkpoint downloads and the verified cache: the public entry points.

:func:`download` fetches one HTTPS URL safely (see :mod:`idseg.models.transfer`);
:func:`ensure_checkpoint` turns a registry name or URL into a cached, hash-checked file, recording
the hash of the first download (trust on first use) and checking it on every later call;
:func:`verify_checkpoint` reports a file's hash against the given, pinned or recorded one.
"""

from __future__ import annotations

import logging
import ssl
import urllib.parse
from pathlib import Path, PurePosixPath
from typing import Any

from idseg.errors import CheckpointError, DownloadError, HashMismatchError, OfflineError
from idseg.models.cache import checkpoint_dir, file_lock, is_offline, resolve_checkpoint_from_env
from idseg.models.hashes import (
    HASHES_FILE,
    normalise_sha256,
    read_hash_records,
    record_hash,
    sha256_file,
)
from idseg.models.registry import find_checkpoint_by_filename, get_checkpoint
from idseg.models.transfer import ProgressCallback, download_with_hash, require_https

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 4 * 1024**3


def download(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    timeout: float = 30.0,
    max_bytes: int = DEFAULT_MAX_BYTES,
    offline: bool | None = None,
    ssl_context: ssl.SSLContext | None = None,
    progress: ProgressCallback | None = None,
) -> Path:
    """Download ``url`` to ``dest`` over HTTPS, safely.

    Args:
        url: An ``https://`` URL. Any other scheme, or a redirect to one, is refused before
            anything is written; at most 5 redirects are followed.
        dest: Destination file; its folder is created. ``<dest>.part`` holds the partial data.
        sha256: Expected SHA-256 (hex); on mismatch the data is discarded.
        timeout: Seconds allowed for the connection and for every read (a stall raises).
        max_bytes: Size cap, checked against Content-Length and while streaming.
        offline: Refuse the network; None reads ``IDSEG_OFFLINE``.
        ssl_context: TLS context (default: the system trust store, hostname checked).
        progress: Called as ``progress(bytes_so_far, total_or_None)`` after every chunk.

    Returns:
        ``dest``.

    Raises:
        DownloadError: Insecure URL or redirect, network error, stall, HTTP error, size cap, or
            interrupted transfer (then the ``.part`` file is kept and the next call resumes).
        HashMismatchError: The data's SHA-256 differs from ``sha256``.
        OfflineError: Offline mode is on.
        InputError: ``sha256`` is not a hex digest.

    Example:
        >>> download("https://example.org/w.pt", Path("w.pt"))  # doctest: +SKIP
        PosixPath('w.pt')

    """
    download_with_hash(
        url,
        Path(dest),
        sha256=sha256,
        timeout=timeout,
        max_bytes=max_bytes,
        offline=offline,
        ssl_context=ssl_context,
        progress=progress,
    )
    return Path(dest)


def _resolve_source(name_or_url: str) -> tuple[str, str, str | None]:
    """Return ``(url, file name, pinned sha256)`` for a registry name or an https URL."""
    text = name_or_url.strip()
    if "://" not in text:
        spec = get_checkpoint(text)
        return spec.url, spec.filename, spec.sha256
    parts = require_https(text)
    filename = urllib.parse.unquote(PurePosixPath(parts.path).name)
    unsafe = (
        not filename
        or filename.startswith(".")
        or filename == HASHES_FILE
        or filename.endswith((".part", ".lock"))
        or any(c in filename for c in "/\\") or not filename.isprintable()
    )  # fmt: skip
    if unsafe:
        raise DownloadError(
            f"cannot cache {text!r}: expected the URL path to end in a plain file name such as "
            f"'model.pt', got {filename!r}"
        )
    known = find_checkpoint_by_filename(filename)
    pinned = known.sha256 if known is not None and known.url == text else None
    return text, filename, pinned


def checkpoint_path(name_or_url: str, cache_dir: Path | str | None = None) -> Path:
    """Return where ``name_or_url`` is (or would be) cached; nothing is downloaded.

    Example:
        >>> checkpoint_path("tiny").name
        'sam2.1_hiera_tiny.pt'

    """
    return checkpoint_dir(cache_dir) / _resolve_source(name_or_url)[1]


def _expected_hash(
    folder: Path, filename: str, given: str | None, pinned: str | None
) -> tuple[str | None, str]:
    """Pick the hash to compare against and say where it came from."""
    if given is not None:
        return given, "given"
    if pinned is not None:
        return pinned, "pinned in the registry"
    recorded = read_hash_records(folder).get(filename)
    return recorded, "recorded at first download"


def _try_record(folder: Path, filename: str, digest: str) -> None:
    """Record a first-seen hash; a read-only cache only loses the record, not the file."""
    if filename in read_hash_records(folder):
        return
    try:
        record_hash(folder, filename, digest)
    except OSError as exc:
        logger.warning("cannot record the checkpoint hash: cache folder not writable")
        logger.debug("recording the hash failed: %s", exc)


def _check_cached(path: Path, expected: str | None, source: str) -> str:
    """Hash a cached file and compare it with ``expected``; return the actual hash."""
    actual = sha256_file(path)
    if expected is not None and actual != expected:
        raise HashMismatchError(
            f"cached checkpoint {path.name} has SHA-256 {actual}, expected {expected} "
            f"({source}); delete {path} to download it again"
        )
    return actual


def ensure_checkpoint(
    name_or_url: str,
    *,
    sha256: str | None = None,
    offline: bool | None = None,
    cache_dir: Path | str | None = None,
    timeout: float = 30.0,
    max_bytes: int = DEFAULT_MAX_BYTES,
    ssl_context: ssl.SSLContext | None = None,
    progress: ProgressCallback | None = None,
) -> Path:
    """Return the cached file for a registry name or https URL, downloading it when missing.

    The file name is the last URL path component. The file is checked against ``sha256``, else
    the registry's pinned hash, else the hash recorded on first download, on every call; when
    none exists yet the file's hash is recorded (trust on first use).

    Args:
        name_or_url: A registry name or alias (``tiny``, ``sam2.1_hiera_large``) or https URL.
        sha256: Expected SHA-256; wins over pinned and recorded hashes.
        offline: Never use the network; None reads ``IDSEG_OFFLINE``.
        cache_dir: Checkpoint folder; None uses :func:`checkpoint_dir`.
        timeout: Per-read and connect timeout of the download, in seconds.
        max_bytes: Size cap of the download.
        ssl_context: TLS context for the download.
        progress: Download progress callback ``(bytes_so_far, total_or_None)``.

    Returns:
        Path of the verified cached file.

    Raises:
        ConfigError: Unknown registry name.
        OfflineError: The file is not cached and offline mode is on.
        HashMismatchError: The cached or downloaded file has the wrong SHA-256.
        DownloadError: The URL is not https or the download failed.

    Example:
        >>> ensure_checkpoint("sam2.1_hiera_tiny")  # doctest: +SKIP
        PosixPath('/home/me/.cache/idseg/checkpoints/sam2.1_hiera_tiny.pt')

    """
    url, filename, pinned = _resolve_source(name_or_url)
    given = normalise_sha256(sha256)
    folder = checkpoint_dir(cache_dir)
    path = folder / filename
    if not path.is_file():
        if is_offline(offline):
            raise OfflineError(
                f"checkpoint {filename} is not in the cache folder {folder} and offline mode is "
                f"on (IDSEG_OFFLINE=1 or offline=True); on a connected machine run "
                f"'idseg models download {name_or_url}' and copy {filename} into {folder} "
                "(or point SAM2_CHECKPOINT_DIR at a folder holding it)"
            )
        folder.mkdir(parents=True, exist_ok=True)
        with file_lock(folder / f"{filename}.lock"):
            if not path.is_file():  # another process may have finished it meanwhile
                expected, _ = _expected_hash(folder, filename, given, pinned)
                digest = download_with_hash(
                    url, path, sha256=expected, timeout=timeout, max_bytes=max_bytes,
                    offline=offline, ssl_context=ssl_context, progress=progress,
                )  # fmt: skip
                _try_record(folder, filename, digest)
                return path
    expected, source = _expected_hash(folder, filename, given, pinned)
    actual = _check_cached(path, expected, source)
    _try_record(folder, filename, actual)
    logger.debug("using cached checkpoint %s", path)
    return path


def verify_checkpoint(path: Path | str, sha256: str | None = None) -> dict[str, Any]:
    """Hash a checkpoint file and compare it with the given, pinned or recorded SHA-256.

    Without ``sha256``, the expected value is the registry's pinned hash for that file name, else
    the record in the file's own folder, else the record in the default checkpoint folder.

    Args:
        path: The file to check.
        sha256: Expected SHA-256, when known.

    Returns:
        ``{"path", "sha256", "size", "matches", "expected", "source"}``; ``matches`` is None when
        there is nothing to compare with, and ``source`` says where ``expected`` came from
        (``"given"``, ``"registry"``, ``"recorded"`` or None).

    Raises:
        CheckpointError: ``path`` is not a readable file.

    Example:
        >>> verify_checkpoint("sam2.1_hiera_tiny.pt")["matches"]  # doctest: +SKIP
        True

    """
    file = Path(path)
    if not file.is_file():
        raise CheckpointError(f"expected a checkpoint file, but {file} is not a file")
    expected, source = normalise_sha256(sha256), "given" if sha256 is not None else None
    spec = find_checkpoint_by_filename(file.name)
    if expected is None and spec is not None and spec.sha256 is not None:
        expected, source = spec.sha256, "registry"
    for folder in (file.parent, checkpoint_dir()):
        if expected is None:
            expected = read_hash_records(folder).get(file.name)
            source = "recorded" if expected is not None else None
    try:
        actual, size = sha256_file(file), file.stat().st_size
    except OSError as exc:
        raise CheckpointError(f"cannot read the checkpoint file {file}: {exc}") from exc
    return {
        "path": str(file),
        "sha256": actual,
        "size": size,
        "matches": None if expected is None else actual == expected,
        "expected": expected,
        "source": source,
    }


__all__ = [
    "checkpoint_dir",
    "checkpoint_path",
    "download",
    "ensure_checkpoint",
    "is_offline",
    "resolve_checkpoint_from_env",
    "sha256_file",
    "verify_checkpoint",
]
