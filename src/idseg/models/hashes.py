"""SHA-256 helpers and the trust-on-first-use hash records (``hashes.json``) of a checkpoint folder.

``hashes.json`` maps each cached file name to the SHA-256 recorded when the file was first
downloaded (or first seen), so a file that changes later is detected.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path
from typing import Any

from idseg.errors import CheckpointError, DownloadError, IdsegError, InputError
from idseg.io.atomic import atomic_write_json

logger = logging.getLogger(__name__)

HASHES_FILE = "hashes.json"
_CHUNK = 1024 * 1024
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def normalise_sha256(value: str | None) -> str | None:
    """Return ``value`` as 64 lower-case hex digits (``sha256:`` prefix allowed), or None.

    Raises:
        InputError: The value is not a SHA-256 hex digest.

    Example:
        >>> normalise_sha256("SHA256:" + "AB" * 32) == "ab" * 32
        True

    """
    if value is None:
        return None
    text = value.strip().lower().removeprefix("sha256:")
    if not _HEX64.match(text):
        raise InputError(f"expected a SHA-256 digest of 64 hex digits, got {value!r}")
    return text


def sha256_file(path: Path | str) -> str:
    """Return the SHA-256 hex digest of a file, read in 1 MiB chunks.

    Example:
        >>> sha256_file("sam2.1_hiera_tiny.pt")  # doctest: +SKIP
        '…64 hex digits…'

    """
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_prefix(path: Path, nbytes: int) -> Any:
    """Return a SHA-256 object fed with the first ``nbytes`` bytes of ``path`` (to resume).

    Raises:
        DownloadError: The file is shorter than ``nbytes``.

    Example:
        >>> sha256_prefix(Path("w.pt.part"), 1024).hexdigest()  # doctest: +SKIP

    """
    digest = hashlib.sha256()
    remaining = nbytes
    if remaining > 0:
        with path.open("rb") as fh:
            while remaining and (chunk := fh.read(min(_CHUNK, remaining))):
                digest.update(chunk)
                remaining -= len(chunk)
    if remaining:
        raise DownloadError(f"partial file shrank while resuming ({remaining} bytes missing)")
    return digest


def read_hash_records(
    folder: Path,
    *,
    error: type[IdsegError] = CheckpointError,
    what: str = "the checkpoint folder",
) -> dict[str, str]:
    """Return the ``file name -> sha256`` records of a folder (empty when none).

    Used for the checkpoint cache and for downloaded dataset archives. A corrupt ``hashes.json`` is
    refused, never treated as empty: treating it as empty would let the next call record (trust)
    whatever file is in the folder then, tampered or not.

    Args:
        folder: The folder holding ``hashes.json``.
        error: The error type to raise (``CheckpointError`` for checkpoints, ``DownloadError``
            for dataset archives).
        what: How messages name the folder.

    Raises:
        CheckpointError: (or ``error``) ``hashes.json`` exists but is not a JSON object mapping
            file names to 64 lower-case hex digits; the message says to delete it to trust the
            files again.

    Example:
        >>> read_hash_records(checkpoint_dir()).get("sam2.1_hiera_tiny.pt")  # doctest: +SKIP

    """
    path = folder / HASHES_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(
            f"cannot read the hash records {HASHES_FILE} in {what}: {exc}; "
            "expected a JSON object (delete the file to trust the files again)"
        ) from exc
    valid = isinstance(data, dict) and all(
        isinstance(k, str) and isinstance(v, str) and _HEX64.match(v) for k, v in data.items()
    )
    if not valid:
        raise error(
            f"{HASHES_FILE} in {what} must map file names to 64-hex SHA-256 "
            "strings; delete it to trust the files again"
        )
    return dict(data)


def record_hash(
    folder: Path,
    filename: str,
    sha256: str,
    *,
    error: type[IdsegError] = CheckpointError,
    what: str = "the checkpoint folder",
) -> None:
    """Record ``sha256`` for ``filename`` in the folder's ``hashes.json`` (atomic write).

    ``error`` and ``what`` are passed to :func:`read_hash_records`.

    The digest is normalised first (``sha256:`` prefix, upper case), so the record stays readable.
    Callers that may run concurrently hold a lock around the read-modify-write (see
    :func:`idseg.models.download.ensure_checkpoint`).

    Raises:
        InputError: ``sha256`` is not a SHA-256 hex digest.
        CheckpointError: The existing ``hashes.json`` is corrupt (it is left untouched).

    Example:
        >>> record_hash(checkpoint_dir(), "w.pt", "0" * 64)  # doctest: +SKIP

    """
    digest = normalise_sha256(sha256)
    if digest is None:
        raise InputError(f"expected a SHA-256 digest of 64 hex digits for {filename!r}, got None")
    records = read_hash_records(folder, error=error, what=what)
    records[filename] = digest
    atomic_write_json(folder / HASHES_FILE, dict(sorted(records.items())))
    logger.info("recorded SHA-256 %s… (trust on first use)", digest[:12])


__all__ = [
    "HASHES_FILE",
    "normalise_sha256",
    "read_hash_records",
    "record_hash",
    "sha256_file",
    "sha256_prefix",
]
