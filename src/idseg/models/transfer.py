"""The HTTPS transfer behind :func:`idseg.models.download.download`.

HTTPS only (redirects too), streamed, hashed, size-capped, stall-proof and resumable.

The body is streamed into ``<dest>.part`` beside the destination while its SHA-256 is computed; the
finished file is moved into place with ``os.replace`` only after the hash is checked. An interrupted
transfer keeps the ``.part`` file and the next call resumes it with an HTTP ``Range`` request.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from idseg.errors import DownloadError, HashMismatchError, OfflineError
from idseg.models.cache import is_offline
from idseg.models.hashes import normalise_sha256

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1024 * 1024
MAX_REDIRECTS = 5
_USER_AGENT = "idseg-downloader/1"

ProgressCallback = Callable[[int, "int | None"], None]


def require_https(url: str) -> urllib.parse.SplitResult:
    """Parse ``url`` and refuse anything but ``https://host/...`` (no socket is opened).

    Raises:
        DownloadError: The URL is not an absolute HTTPS URL.

    Example:
        >>> require_https("https://example.org/a.pt").hostname
        'example.org'

    """
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme.lower() != "https" or not parts.hostname:
        raise DownloadError(
            f"refusing to download {url!r}: expected an https:// URL with a host, "
            f"got scheme {parts.scheme or 'none'!r}"
        )
    return parts


class _HttpsOnlyRedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follow at most :data:`MAX_REDIRECTS` redirects, and only to https URLs."""

    max_redirections = MAX_REDIRECTS

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        """Refuse a redirect whose target is not https; otherwise behave like urllib."""
        if urllib.parse.urlsplit(newurl).scheme.lower() != "https":
            with contextlib.suppress(Exception):
                fp.close()
            raise DownloadError(
                f"refusing redirect (HTTP {code}) from https to a non-https URL "
                f"(scheme {urllib.parse.urlsplit(newurl).scheme or 'none'!r})"
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _open(url: str, start: int, timeout: float, ssl_context: ssl.SSLContext | None) -> Any:
    """Open ``url`` (asking for ``bytes=start-`` when ``start`` > 0) and return the response."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=ssl_context), _HttpsOnlyRedirectHandler()
    )
    headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    if start > 0:
        headers["Range"] = f"bytes={start}-"
    return opener.open(urllib.request.Request(url, headers=headers), timeout=timeout)


def _content_length(response: Any) -> int | None:
    value = response.headers.get("Content-Length")
    try:
        length = int(value) if value is not None else None
    except ValueError:
        return None
    return length if length is not None and length >= 0 else None


def _is_matching_partial(response: Any, start: int) -> bool:
    """Tell whether ``response`` is a 206 whose Content-Range starts exactly at ``start``."""
    content_range = (response.headers.get("Content-Range") or "").strip()
    return response.status == 206 and bool(
        re.match(rf"^bytes {start}-\d+/(\d+|\*)$", content_range)
    )


def _request(url: str, start: int, timeout: float, ssl_context: ssl.SSLContext | None) -> Any:
    """Open the URL; return None for HTTP 416 on a resume request; wrap failures."""
    try:
        return _open(url, start, timeout, ssl_context)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and start > 0:
            return None
        raise DownloadError(f"server answered HTTP {exc.code} {exc.reason}; expected 200") from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise DownloadError(f"cannot connect: {_describe(exc, timeout)}") from exc


def _start_transfer(
    url: str, part: Path, timeout: float, ssl_context: ssl.SSLContext | None
) -> tuple[Any, int]:
    """Open the URL, resuming from the ``.part`` size when one exists; return (response, offset).

    A 200 answer to a resume request, a 416, or a 206 for another range restarts from zero.
    """
    start = part.stat().st_size if part.exists() else 0
    response = _request(url, start, timeout, ssl_context)
    if response is not None and start > 0 and not _is_matching_partial(response, start):
        if response.status == 206:
            response.close()
            response = None
        else:
            start = 0
    if response is None or start == 0:
        if part.exists():
            logger.info("server did not resume the partial download; restarting from zero")
        part.unlink(missing_ok=True)
        start = 0
    if response is None:
        response = _request(url, 0, timeout, ssl_context)
    if response.status != (206 if start else 200):
        response.close()
        raise DownloadError(f"server answered HTTP {response.status}; expected 200")
    return response, start


def _describe(exc: BaseException, timeout: float) -> str:
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, TimeoutError):
        return f"server stalled: no data for {timeout:g} s"
    return f"{type(reason).__name__}: {reason}"


def _stream(
    response: Any,
    fh: IO[bytes],
    digest: Any,
    received: int,
    total: int | None,
    max_bytes: int,
    timeout: float,
    progress: ProgressCallback | None,
) -> int:
    """Copy the body into ``fh`` and ``digest``; return the byte count written in total."""
    while True:
        try:
            chunk = response.read(CHUNK_SIZE)
        except (OSError, http.client.HTTPException) as exc:
            raise DownloadError(
                f"transfer interrupted after {received} bytes ({_describe(exc, timeout)}); "
                "the partial file is kept and the next call resumes it"
            ) from exc
        if not chunk:
            return received
        received += len(chunk)
        if received > max_bytes:
            raise _SizeCapError(f"download exceeds the size cap of {max_bytes} bytes")
        fh.write(chunk)
        digest.update(chunk)
        if progress is not None:
            progress(received, total)


class _SizeCapError(DownloadError):
    """Internal marker: the size cap was hit, so the partial file must go."""


def _hash_existing(path: Path, offset: int) -> Any:
    """Return a SHA-256 object fed with the first ``offset`` bytes of ``path``."""
    digest = hashlib.sha256()
    remaining = offset
    if remaining > 0:
        with path.open("rb") as fh:
            while remaining and (chunk := fh.read(min(CHUNK_SIZE, remaining))):
                digest.update(chunk)
                remaining -= len(chunk)
    if remaining:
        raise DownloadError(f"partial file shrank while resuming ({remaining} bytes missing)")
    return digest


def download_with_hash(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    timeout: float = 30.0,
    max_bytes: int = 4 * 1024**3,
    offline: bool | None = None,
    ssl_context: ssl.SSLContext | None = None,
    progress: ProgressCallback | None = None,
) -> str:
    """Download like :func:`idseg.models.download.download`; return the file's SHA-256.

    Example:
        >>> digest = download_with_hash("https://example.org/w.pt", Path("w.pt"))  # doctest: +SKIP

    """
    parts = require_https(url)
    expected = normalise_sha256(sha256)
    dest = Path(dest)
    if is_offline(offline):
        raise OfflineError(
            f"offline mode is on (IDSEG_OFFLINE=1 or offline=True), so {dest.name} cannot be "
            f"downloaded from {parts.hostname}; turn offline mode off or copy the file to {dest}"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    response, offset = _start_transfer(url, part, timeout, ssl_context)
    with response:
        length = _content_length(response)
        total = offset + length if length is not None else None
        logger.info("downloading from %s (%s bytes)", parts.hostname, total or "unknown")
        logger.debug("download destination: %s (resuming at %d)", dest, offset)
        if total is not None and total > max_bytes:
            part.unlink(missing_ok=True)
            raise DownloadError(f"download is {total} bytes, over the size cap of {max_bytes}")
        digest = _hash_existing(part, offset)
        try:
            with part.open("r+b" if offset else "wb") as fh:
                fh.seek(offset)
                fh.truncate()
                received = _stream(
                    response, fh, digest, offset, total, max_bytes, timeout, progress
                )
                fh.flush()
                os.fsync(fh.fileno())
        except _SizeCapError:
            part.unlink(missing_ok=True)
            raise
    if total is not None and received < total:
        raise DownloadError(
            f"transfer interrupted: got {received} of {total} bytes; "
            "the partial file is kept and the next call resumes it"
        )
    actual = digest.hexdigest()
    if expected is not None and actual != expected:
        part.unlink(missing_ok=True)
        raise HashMismatchError(
            f"downloaded {dest.name} has SHA-256 {actual}, expected {expected}; "
            "the file was discarded"
        )
    os.replace(part, dest)
    logger.info("download complete from %s (%d bytes)", parts.hostname, received)
    return actual


__all__ = ["download_with_hash", "require_https"]
