"""Request body limit as ASGI middleware: 413 by Content-Length, or while a chunked body streams."""

from __future__ import annotations

import json
from typing import Any


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413, before the application sees them.

    A declared ``Content-Length`` above the limit is refused before any byte is read. Otherwise
    (also for chunked bodies without a length) the body is received up to the limit, refused as
    soon as it passes it, and else handed to the application whole; so no handler ever sees more
    than ``max_bytes`` and no parser can turn the refusal into another status.

    Example:
        >>> from fastapi import FastAPI  # doctest: +SKIP
        >>> app = BodyLimitMiddleware(FastAPI(), max_bytes=10 * 2**20)  # doctest: +SKIP
    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Handle one ASGI connection (HTTP bodies are checked, anything else passes)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await _too_large(send, self.max_bytes)
            return
        chunks, seen = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body = message.get("body", b"")
            seen += len(body)
            if seen > self.max_bytes:
                await _too_large(send, self.max_bytes)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        whole = b"".join(chunks)
        delivered = False

        async def replay() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": whole, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _too_large(send: Any, limit: int) -> None:
    body = json.dumps({"detail": f"request body larger than the limit of {limit} bytes"}).encode()
    headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
