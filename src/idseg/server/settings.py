"""Settings of the HTTP service: limits, sessions, queue, CORS."""

from __future__ import annotations

from dataclasses import dataclass, field

from idseg.errors import ConfigError


@dataclass(frozen=True)
class ServerSettings:
    """Limits and behaviour of ``idseg serve``.

    Attributes:
        max_upload_bytes: Largest request body; bigger ones get 413, also when chunked.
        max_pixels: Largest image (width x height) accepted; bigger ones get 413.
        request_timeout_s: Time limit of one model call; past it the answer is 504.
        workers: Model calls run at once (threads).
        max_queue: Calls waiting for a worker; when full, new calls get 503 with Retry-After.
        max_sessions: Sessions kept (least recently used dropped first).
        session_ttl_s: A session unused this long is dropped.
        max_points: Most points in one prompt.
        max_boxes: Most boxes in one request.
        cors_origins: Origins allowed by CORS; empty (default) sends no CORS headers.

    Example:
        >>> ServerSettings(max_upload_bytes=1024).max_upload_bytes
        1024
    """

    max_upload_bytes: int = 25 * 2**20
    max_pixels: int = 40_000_000
    request_timeout_s: float = 120.0
    workers: int = 1
    max_queue: int = 8
    max_sessions: int = 16
    session_ttl_s: float = 1800.0
    max_points: int = 64
    max_boxes: int = 256
    cors_origins: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for name in ("max_upload_bytes", "max_pixels", "workers", "max_sessions", "max_points"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_queue < 0 or self.max_boxes < 1:
            raise ConfigError(
                f"max_queue must be >= 0 and max_boxes >= 1, got {self.max_queue}, {self.max_boxes}"
            )
        if self.request_timeout_s <= 0 or self.session_ttl_s <= 0:
            raise ConfigError(
                "request_timeout_s and session_ttl_s must be > 0, got "
                f"{self.request_timeout_s} and {self.session_ttl_s}"
            )
