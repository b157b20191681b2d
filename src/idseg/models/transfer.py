"""The HTTPS transfer behind :func:`idseg.models.download.download`.

HTTPS only (redirects too), streamed, hashed, size-capped, stall-proof, time-limited and resumable.

The body is streamed into ``<dest>.part`` beside the destination while its SHA-256 is computed; the
finished file is moved into place with ``os.replace`` only after the hash is checked.

Resuming: the validator of the first response (its strong ``ETag``, else its ``Last-Modified``) is
saved atomically in ``<dest>.part.json`` together with the URL. An interrupted transfer keeps the
``.part`` file and the next call asks for the rest with ``Range`` plus ``If-Range: <validator>``,
so a server whose file changed answers 200 with the whole new file and the download restarts from
zero instead of splicing two versions. Without a saved validator the ``.part`` file is only resumed
when the expected SHA-256 is known (a spliced file then fails the check and is discarded);
otherwise it is discarded and the download restarts.

Time limits: ``timeout`` bounds the connection and every single read (a stall). A server that
trickles bytes just fast enough to beat it is stopped by two more guards, both checked after every
read: the overall ``deadline`` (default :data:`DEFAULT_DEADLINE_S`, one hour: about 1 MB/s for the
largest official checkpoint) and a minimum throughput (default :data:`DEFAULT_MIN_RATE`, 1 KiB/s on
average over every :data:`RATE_WINDOW_S` window of 60 s). Either raises :class:`DownloadError`
and keeps the ``.part`` file, so on a slow but honest link the next call resumes where it stopped.

The resume decision (validator, ``Range``/``If-Range``) and the deadline/throughput guard live in
:mod:`idseg.models.resume`; :data:`RATE_WINDOW_S` is read when each transfer starts.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from idseg.errors import DownloadError, HashMismatchError, OfflineError
from idseg.models.cache import discard_partial, is_offline
from idseg.models.hashes import normalise_sha256, sha256_prefix
from idseg.models.resume import _KEPT, _Limits, _Pace, _start_transfer

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1024 * 1024
MAX_REDIRECTS = 5
DEFAULT_DEADLINE_S = 3600.0
DEFAULT_MIN_RATE = 1024.0
RATE_WINDOW_S = 60.0
_USER_AGENT = "idseg-downloader/1"

ProgressCallback = Callable[[int, "int | None"], None]
_Ctx = ssl.SSLContext | None


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


def _open(url: str, start: int, if_range: str | None, limits: _Limits, ctx: _Ctx) -> Any:
    """Open ``url``, asking for ``bytes=start-`` (``If-Range``) when ``start`` > 0."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=ctx), _HttpsOnlyRedirectHandler()
    )
    headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    if start > 0:
        headers["Range"] = f"bytes={start}-"
        if if_range is not None:
            headers["If-Range"] = if_range
    return opener.open(urllib.request.Request(url, headers=headers), timeout=limits.timeout)


def _content_length(response: Any) -> int | None:
    value = response.headers.get("Content-Length")
    try:
        length = int(value) if value is not None else None
    except ValueError:
        return None
    return length if length is not None and length >= 0 else None


def _request(url: str, start: int, if_range: str | None, limits: _Limits, ctx: _Ctx) -> Any:
    """Open the URL; return None for HTTP 416 on a resume request; wrap failures."""
    try:
        return _open(url, start, if_range, limits, ctx)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and start > 0:
            return None
        raise DownloadError(f"server answered HTTP {exc.code} {exc.reason}; expected 200") from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise DownloadError(f"cannot connect: {_describe(exc, limits.timeout)}") from exc


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
    pace: _Pace,
    progress: ProgressCallback | None,
) -> int:
    """Copy the body into ``fh`` and ``digest``; return the byte count written in total.

    ``read1`` returns as soon as some data arrives, so the pace is checked at least once per
    ``timeout`` even when a server trickles single bytes.
    """
    limits = pace.limits
    while True:
        try:
            chunk = response.read1(CHUNK_SIZE)
        except (OSError, http.client.HTTPException) as exc:
            raise DownloadError(
                f"transfer interrupted after {received} bytes "
                f"({_describe(exc, limits.timeout)}); {_KEPT}"
            ) from exc
        if not chunk:
            return received
        received += len(chunk)
        if received > limits.max_bytes:
            raise _SizeCapError(f"download exceeds the size cap of {limits.max_bytes} bytes")
        fh.write(chunk)
        digest.update(chunk)
        if progress is not None:
            progress(received, total)
        pace.check(received)


class _SizeCapError(DownloadError):
    """Internal marker: the size cap was hit, so the partial file must go."""


def _receive(
    response: Any, part: Path, offset: int, pace: _Pace, progress: ProgressCallback | None
) -> tuple[int, int | None, Any]:
    """Stream the response into ``part`` from ``offset``; return (received, total, digest)."""
    length = _content_length(response)
    total = offset + length if length is not None else None
    logger.info("downloading %s bytes (resuming at %d)", total or "unknown", offset)
    if total is not None and total > pace.limits.max_bytes:
        discard_partial(part)
        raise DownloadError(
            f"download is {total} bytes, over the size cap of {pace.limits.max_bytes}"
        )
    digest = sha256_prefix(part, offset)
    try:
        with part.open("r+b" if offset else "wb") as fh:
            fh.seek(offset)
            fh.truncate()
            received = _stream(response, fh, digest, offset, total, pace, progress)
            fh.flush()
            os.fsync(fh.fileno())
    except _SizeCapError:
        discard_partial(part)
        raise
    return received, total, digest


def download_with_hash(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    timeout: float = 30.0,
    max_bytes: int = 4 * 1024**3,
    deadline: float | None = DEFAULT_DEADLINE_S,
    min_rate: float | None = DEFAULT_MIN_RATE,
    offline: bool | None = None,
    ssl_context: ssl.SSLContext | None = None,
    progress: ProgressCallback | None = None,
) -> str:
    """Download like :func:`idseg.models.download.download`; return the file's SHA-256.

    The arguments and errors are those of :func:`~idseg.models.download.download`, which calls
    this function.

    Returns:
        The lower-case hex SHA-256 of the complete file, whether or not ``sha256`` was given.

    Example:
        >>> digest = download_with_hash("https://example.org/w.pt", Path("w.pt"))  # doctest: +SKIP

    """
    started = time.monotonic()
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
    limits = _Limits(timeout, max_bytes, deadline, min_rate, RATE_WINDOW_S)
    response, offset = _start_transfer(
        url,
        part,
        expected is not None,
        lambda start, if_range: _request(url, start, if_range, limits, ssl_context),
    )
    logger.info("connected to %s", parts.hostname)
    logger.debug("download destination: %s", dest)
    with response:
        received, total, digest = _receive(
            response, part, offset, _Pace(limits, started, offset), progress
        )
    if total is not None and received < total:
        raise DownloadError(f"transfer interrupted: got {received} of {total} bytes; {_KEPT}")
    actual = digest.hexdigest()
    if expected is not None and actual != expected:
        discard_partial(part)
        raise HashMismatchError(
            f"downloaded {dest.name} has SHA-256 {actual}, expected {expected}; "
            "the file was discarded"
        )
    os.replace(part, dest)
    discard_partial(part)
    logger.info("download complete from %s (%d bytes)", parts.hostname, received)
    return actual


__all__ = [
    "DEFAULT_DEADLINE_S",
    "DEFAULT_MIN_RATE",
    "RATE_WINDOW_S",
    "download_with_hash",
    "require_https",
]
