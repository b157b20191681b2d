"""A bounded queue of model calls: a few run at once, a few wait, the rest get 503 at once."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class QueueFullError(Exception):
    """Every worker is busy and the queue is full."""


class WorkTimeoutError(Exception):
    """A call ran past the time limit (it finishes in the background; its answer is dropped)."""


class WorkQueue:
    """Run blocking model calls on ``workers`` threads with at most ``max_queue`` waiting.

    Example:
        >>> import asyncio
        >>> q = WorkQueue(workers=1, max_queue=0, timeout_s=5)
        >>> asyncio.run(q.run(sum, [1, 2]))
        3
    """

    def __init__(self, workers: int, max_queue: int, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.capacity = workers + max_queue
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="idseg-work")
        self._slots = threading.BoundedSemaphore(self.capacity)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on a worker; raises :class:`QueueFullError` or :class:`WorkTimeoutError`."""
        if not self._slots.acquire(blocking=False):
            raise QueueFullError
        try:
            future = self._pool.submit(fn, *args)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout_s)
        except asyncio.TimeoutError as exc:
            raise WorkTimeoutError from exc

    def shutdown(self) -> None:
        """Stop the workers (running calls finish)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
