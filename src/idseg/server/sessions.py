"""Image sessions: an uploaded image and its SAM2 embedding, kept in memory (LRU with time-out)."""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Session:
    """One uploaded image and what the service keeps of it.

    The pixels, the embedding (when a SAM2 model is served) and the last answer's low-resolution
    logits (``K x h x w``, best first) for refinement.
    """

    id: str
    image: np.ndarray
    embedding: Any = None
    last_logits: np.ndarray | None = None
    used: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def hw(self) -> tuple[int, int]:
        """``(height, width)`` of the image."""
        return int(self.image.shape[0]), int(self.image.shape[1])


class SessionStore:
    """Sessions by unguessable id, at most ``capacity``, dropped after ``ttl_s`` unused.

    Thread-safe. Nothing is written to disk.

    Example:
        >>> store = SessionStore(capacity=2, ttl_s=60)
        >>> s = store.add(np.zeros((4, 4, 3), np.uint8))
        >>> store.get(s.id) is s, store.get("nope")
        (True, None)
    """

    def __init__(self, capacity: int, ttl_s: float) -> None:
        self.capacity, self.ttl_s = capacity, ttl_s
        self._items: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, image: np.ndarray, embedding: Any = None) -> Session:
        """Store a new session (dropping the least recently used beyond capacity)."""
        session = Session(secrets.token_urlsafe(18), image, embedding)
        with self._lock:
            self._expire()
            self._items[session.id] = session
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return session

    def get(self, session_id: str) -> Session | None:
        """The session, marked as used; ``None`` when unknown or expired."""
        with self._lock:
            self._expire()
            session = self._items.get(session_id)
            if session is not None:
                session.used = time.monotonic()
                self._items.move_to_end(session_id)
            return session

    def remove(self, session_id: str) -> bool:
        """Drop a session; whether it existed."""
        with self._lock:
            return self._items.pop(session_id, None) is not None

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._items)

    def _expire(self) -> None:
        now = time.monotonic()
        for key in [k for k, s in self._items.items() if now - s.used > self.ttl_s]:
            del self._items[key]
