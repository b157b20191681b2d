"""Where a checkpoint comes from and where it is cached (helpers of :mod:`idseg.models.download`).

A registry name, or the official URL of a registry checkpoint, is cached under its file name in
the checkpoint folder, with the registry's pinned SHA-256. Any other https URL gets a folder of
its own, ``urls/<first 16 hex digits of sha256(url)>/``, so two URLs ending in the same file name
never share a file or a trusted hash. :mod:`idseg.models.download` re-exports :func:`url_folder`
and :func:`checkpoint_path`.
"""

from __future__ import annotations

import hashlib
import logging
import urllib.parse
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from idseg.errors import DownloadError
from idseg.models.cache import checkpoint_dir
from idseg.models.hashes import HASHES_FILE
from idseg.models.registry import find_checkpoint_by_url, get_checkpoint
from idseg.models.transfer import require_https

logger = logging.getLogger(__name__)

URLS_DIR = "urls"


@dataclass(frozen=True)
class _Source:
    """Where a registry name or URL comes from and where it is cached."""

    url: str
    folder: Path  # holds the file, its .part/.lock files and the hashes.json with its record
    filename: str
    pinned: str | None


def url_folder(url: str, cache_dir: Path | str | None = None) -> Path:
    """Return the cache folder of a non-registry URL: ``<checkpoint_dir>/urls/<key>``.

    ``key`` is the first 16 hex digits of the SHA-256 of the URL text (stripped, otherwise
    as given), so two URLs never share a cached file or a hash record even when their file names
    are equal. The official registry URLs are cached directly in the checkpoint folder instead.

    Example:
        >>> url_folder("https://example.org/m.pt", "/c").parent
        PosixPath('/c/urls')

    """
    key = hashlib.sha256(url.strip().encode("utf-8")).hexdigest()[:16]
    return checkpoint_dir(cache_dir) / URLS_DIR / key


def _resolve_source(name_or_url: str, cache_dir: Path | str | None) -> _Source:
    """Resolve a registry name or https URL to its URL, cache folder, file name and pinned hash."""
    text = name_or_url.strip()
    spec = get_checkpoint(text) if "://" not in text else find_checkpoint_by_url(text)
    if spec is not None:
        return _Source(spec.url, checkpoint_dir(cache_dir), spec.filename, spec.sha256)
    parts = require_https(text)
    filename = urllib.parse.unquote(PurePosixPath(parts.path).name)
    unsafe = (
        not filename
        or filename.startswith(".")
        or filename == HASHES_FILE
        or filename.endswith((".part", ".lock", ".part.json"))
        or any(c in filename for c in "/\\") or not filename.isprintable()
    )  # fmt: skip
    if unsafe:
        raise DownloadError(
            f"cannot cache {text!r}: expected the URL path to end in a plain file name such as "
            f"'model.pt', got {filename!r}"
        )
    return _Source(text, url_folder(text, cache_dir), filename, None)


def checkpoint_path(name_or_url: str, cache_dir: Path | str | None = None) -> Path:
    """Return where ``name_or_url`` is (or would be) cached; nothing is downloaded.

    Registry checkpoints (by name or by their official URL) live in the checkpoint folder itself,
    any other URL in its own folder from :func:`url_folder`.

    Example:
        >>> checkpoint_path("tiny").name
        'sam2.1_hiera_tiny.pt'

    """
    source = _resolve_source(name_or_url, cache_dir)
    return source.folder / source.filename


__all__ = ["URLS_DIR", "checkpoint_path", "url_folder"]
