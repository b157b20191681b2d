"""Resuming a partial download and pacing a transfer (helpers of :mod:`idseg.models.transfer`).

Resume state: the body of a download goes to ``<dest>.part``; the validator of the first response
(its strong ``ETag``, else its ``Last-Modified``) is kept in ``<dest>.part.json`` with the URL
(see :func:`idseg.models.cache.save_resume_validator`). :func:`_start_transfer` asks for the rest
of the ``.part`` file with ``Range`` plus ``If-Range: <validator>`` and only continues it when the
answer is a 206 for exactly that range and that validator; anything else restarts from zero.
Without a saved validator the ``.part`` file is only resumed when the expected SHA-256 is known.

Pace: :class:`_Pace` enforces the overall deadline and the minimum throughput per window of
:class:`_Limits`; both raise :class:`DownloadError` and keep the ``.part`` file for the next call.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from idseg.errors import DownloadError
from idseg.models.cache import discard_partial, read_resume_validator, save_resume_validator

logger = logging.getLogger(__name__)

_KEPT = "the partial file is kept and the next call resumes it"

_Request = Callable[[int, str | None], Any]
"""Open the URL from a byte offset, with an optional ``If-Range``; None for HTTP 416."""


@dataclass(frozen=True)
class _Limits:
    """The limits of one transfer (see :mod:`idseg.models.transfer`).

    ``rate_window`` is the window in seconds over which ``min_rate`` is averaged
    (:data:`idseg.models.transfer.RATE_WINDOW_S` when the transfer starts).
    """

    timeout: float
    max_bytes: int
    deadline: float | None
    min_rate: float | None
    rate_window: float


def _validator(response: Any) -> str | None:
    """The response's ``If-Range`` validator: its strong ETag, else its Last-Modified date."""
    etag = (response.headers.get("ETag") or "").strip()
    if etag.startswith('"'):  # weak ETags (W/"...") may not be used in If-Range
        return etag
    return (response.headers.get("Last-Modified") or "").strip() or None


def _resumes(response: Any, start: int, saved: str | None) -> bool:
    """Tell whether ``response`` continues the ``.part`` file.

    That is a 206 starting exactly at ``start`` whose validator, if it sends one, is ``saved``.
    """
    content_range = (response.headers.get("Content-Range") or "").strip()
    return (
        response.status == 206
        and bool(re.match(rf"^bytes {start}-\d+/(\d+|\*)$", content_range))
        and _validator(response) in (None, saved)
    )


def _start_transfer(url: str, part: Path, verifiable: bool, request: _Request) -> tuple[Any, int]:
    """Open the URL, resuming the ``.part`` file when that is safe; return (response, offset).

    A resume needs a saved validator (sent as ``If-Range``) or, without one, a known hash
    (``verifiable``). A 200 answer to a resume request, a 416, or a 206 for another range or
    another validator restarts from zero; a restart saves the new response's validator.
    ``request(start, if_range)`` opens ``url`` (see :data:`_Request`).
    """
    saved = read_resume_validator(part, url)
    start = part.stat().st_size if part.exists() else 0
    if start and saved is None and not verifiable:
        logger.info("partial download has no validator and no known hash; restarting from zero")
        start = 0
    response = request(start, saved)
    if response is not None and start > 0 and not _resumes(response, start, saved):
        if response.status == 206:
            response.close()
            response = None
        else:
            start = 0
    if response is None or start == 0:
        if part.exists():
            logger.info("not resuming the partial download; restarting from zero")
        discard_partial(part)
        start = 0
    if response is None:
        response = request(0, None)
    if response.status != (206 if start else 200):
        response.close()
        raise DownloadError(f"server answered HTTP {response.status}; expected 200")
    if start == 0:
        save_resume_validator(part, url, _validator(response))
    return response, start


class _Pace:
    """The overall deadline and the minimum throughput per ``limits.rate_window`` window."""

    def __init__(self, limits: _Limits, started: float, received: int) -> None:
        self.limits, self.started = limits, started
        self.window_start, self.window_bytes = time.monotonic(), received

    def check(self, received: int) -> None:
        """Raise :class:`DownloadError` when the transfer is past its deadline or too slow."""
        now, deadline, min_rate = time.monotonic(), self.limits.deadline, self.limits.min_rate
        if deadline is not None and now - self.started > deadline:
            raise DownloadError(
                f"transfer exceeded its deadline of {deadline:g} s after {received} bytes; "
                f"{_KEPT} (pass a larger deadline on a slow link)"
            )
        span = now - self.window_start
        if span < self.limits.rate_window:
            return
        got = received - self.window_bytes
        if min_rate is not None and got < min_rate * span:
            raise DownloadError(
                f"transfer too slow: {got} bytes in the last {span:.0f} s, expected at least "
                f"{min_rate:g} bytes/s; {_KEPT}"
            )
        self.window_start, self.window_bytes = now, received
