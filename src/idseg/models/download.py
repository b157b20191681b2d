"""Checkpoint downloads and the verified cache: the public entry points.

:func:`download` fetches one HTTPS URL safely (see :mod:`idseg.models.transfer`);
:func:`ensure_checkpoint` turns a registry name or URL into a cached, hash-checked file, recording
the hash of the first download (trust on first use) and checking it on every later call. Registry
checkpoints are cached under their file name in the checkpoint folder; every other URL gets a
folder of its own, ``urls/<first 16 hex digits of sha256(url)>/``, with its own ``hashes.json``,
so two URLs ending in the same file name never share a file or a trusted hash;
:func:`verify_checkpoint` reports a file's hash against the given, pinned or recorded one.
Turning a name or URL into its cache location (:func:`url_folder`, :func:`checkpoint_path`) lives
in :mod:`idseg.models.sources` and is re-exported here.
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path
from typing import Any

from idseg.errors import CheckpointError, HashMismatchError, OfflineError
from idseg.models.cache import checkpoint_dir, file_lock, is_offline, resolve_checkpoint_from_env
from idseg.models.hashes import (
    HASHES_FILE,
    normalise_sha256,
    read_hash_records,
    record_hash,
    sha256_file,
)
from idseg.models.registry import find_checkpoint_by_filename
from idseg.models.sources import URLS_DIR, _resolve_source, checkpoint_path, url_folder
from idseg.models.transfer import (
    DEFAULT_DEADLINE_S,
    DEFAULT_MIN_RATE,
    ProgressCallback,
    download_with_hash,
)

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 4 * 1024**3


def download(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    timeout: float = 30.0,
    max_bytes: int = DEFAULT_MAX_BYTES,
    deadline: float | None = DEFAULT_DEADLINE_S,
    min_rate: float | None = DEFAULT_MIN_RATE,
    offline: bool | None = None,
    ssl_context: ssl.SSLContext | None = None,
    progress: ProgressCallback | None = None,
) -> Path:
    """Download ``url`` to ``dest`` over HTTPS, safely.

    Args:
        url: An ``https://`` URL. Any other scheme, or a redirect to one, is refused before
            anything is written; at most 5 redirects are followed.
        dest: Destination file; its folder is created. ``<dest>.part`` holds the partial data and
            ``<dest>.part.json`` the server's ETag / Last-Modified used to resume it safely.
        sha256: Expected SHA-256 (hex); on mismatch the data is discarded.
        timeout: Seconds allowed for the connection and for every read (a stall raises).
        max_bytes: Size cap, checked against Content-Length and while streaming.
        deadline: Seconds the whole call may take (None: no limit); default one hour.
        min_rate: Least average bytes/s over every 60 s window (None: no minimum); default 1 KiB/s.
        offline: Refuse the network; None reads ``IDSEG_OFFLINE``.
        ssl_context: TLS context (default: the system trust store, hostname checked).
        progress: Called as ``progress(bytes_so_far, total_or_None)`` after every chunk.

    Returns:
        ``dest``.

    Raises:
        DownloadError: Insecure URL or redirect, network error, stall, deadline, too slow, HTTP
            error, size cap, or interrupted transfer (then the ``.part`` file is kept and the next
            call resumes it when the server's validator or the expected hash allows).
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
        deadline=deadline,
        min_rate=min_rate,
        offline=offline,
        ssl_context=ssl_context,
        progress=progress,
    )
    return Path(dest)


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
        with file_lock(folder / f"{HASHES_FILE}.lock"):  # no lost update between two files
            if filename not in read_hash_records(folder):
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
    deadline: float | None = DEFAULT_DEADLINE_S,
    min_rate: float | None = DEFAULT_MIN_RATE,
    ssl_context: ssl.SSLContext | None = None,
    progress: ProgressCallback | None = None,
) -> Path:
    """Return the cached file for a registry name or https URL, downloading it when missing.

    Registry checkpoints are cached as ``<cache>/<file name>``; any other URL as
    ``<cache>/urls/<key>/<file name>`` (see :func:`url_folder`), the file name being the last URL
    path component. The file is checked against ``sha256``, else the registry's pinned hash, else
    the hash recorded in its folder's ``hashes.json`` on first download, on every call; when none
    exists yet the file's hash is recorded (trust on first use).

    Args:
        name_or_url: A registry name or alias (``tiny``, ``sam2.1_hiera_large``) or https URL.
        sha256: Expected SHA-256; wins over pinned and recorded hashes.
        offline: Never use the network; None reads ``IDSEG_OFFLINE``.
        cache_dir: Checkpoint folder; None uses :func:`checkpoint_dir`.
        timeout: Per-read and connect timeout of the download, in seconds.
        max_bytes: Size cap of the download.
        deadline: Seconds the download may take (None: no limit); see :func:`download`.
        min_rate: Least average bytes/s per 60 s window of the download (None: no minimum).
        ssl_context: TLS context for the download.
        progress: Download progress callback ``(bytes_so_far, total_or_None)``.

    Returns:
        Path of the verified cached file.

    Raises:
        ConfigError: Unknown registry name.
        OfflineError: The file is not cached and offline mode is on.
        HashMismatchError: The cached or downloaded file has the wrong SHA-256.
        DownloadError: The URL is not https or the download failed.
        CheckpointError: The folder's ``hashes.json`` is corrupt (it is never ignored, so a
            corrupt record cannot make a changed file pass; delete it to trust the files again).

    Example:
        >>> ensure_checkpoint("sam2.1_hiera_tiny")  # doctest: +SKIP
        PosixPath('/home/me/.cache/idseg/checkpoints/sam2.1_hiera_tiny.pt')

    """
    origin = _resolve_source(name_or_url, cache_dir)
    url, folder, filename, pinned = origin.url, origin.folder, origin.filename, origin.pinned
    given = normalise_sha256(sha256)
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
                    deadline=deadline, min_rate=min_rate, offline=offline,
                    ssl_context=ssl_context, progress=progress,
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
    the record in the file's own folder, else the record in the default checkpoint folder. A file
    in a ``urls/<key>/`` cache folder is a copy of a non-registry URL: only its folder's record
    counts for it.

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
    from_url = file.resolve().parent.parent.name == URLS_DIR
    spec = None if from_url else find_checkpoint_by_filename(file.name)
    if expected is None and spec is not None and spec.sha256 is not None:
        expected, source = spec.sha256, "registry"
    for folder in (file.parent,) if from_url else (file.parent, checkpoint_dir()):
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
    "url_folder",
    "verify_checkpoint",
]
