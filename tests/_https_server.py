"""A loopback HTTPS (and plain HTTP) file server for downloader tests.

Imported as ``from _https_server import ...``. The server serves one payload at every path and
misbehaves on request, as set in its :class:`Behaviour`: closes early, ignores ``Range``, stalls,
trickles, redirects, hides or inflates ``Content-Length``. It sends an ``ETag`` / ``Last-Modified``
when told and honours ``If-Range`` (a validator that is not the current one gets the whole file with
200). Every request's path and ``Range`` header is recorded, and its ``If-Range`` header.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def make_self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """Write a self-signed certificate for 127.0.0.1 and its key; return (cert, key) paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Behaviour:
    """How the server answers; tests change it between calls."""

    payload: bytes = b""
    close_after: int | None = None  # body bytes sent before closing the connection early
    ignore_range: bool = False  # answer 200 with the whole body even when Range is asked
    wrong_range: bool = False  # answer 206 for another range than the one asked
    stall_s: float = 0.0  # after the headers, wait this long before sending the body
    send_length: bool = True
    fake_length: int | None = None  # Content-Length to announce instead of the real one
    trickle_s: float = 0.0  # send the body one byte at a time, this long apart
    etag: str | None = None
    last_modified: str | None = None
    honour_if_range: bool = True  # False: serve the asked range whatever If-Range says
    redirects: dict[str, str] = field(default_factory=dict)  # path -> Location
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range)
    if_ranges: list[str | None] = field(default_factory=list)  # If-Range of every request
    release: threading.Event = field(default_factory=threading.Event)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        b = self.server.behaviour
        b.requests.append((self.path, self.headers.get("Range")))
        b.if_ranges.append(self.headers.get("If-Range"))
        if self.path in b.redirects:
            self.send_response(302)
            self.send_header("Location", b.redirects[self.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        start = self._range_start(len(b.payload))
        if start is None:
            return
        self._send_body(b, start)

    def _range_start(self, size: int) -> int | None:
        """Send the status line for the request; return the body offset, None when done."""
        b = self.server.behaviour
        asked = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        current = {b.etag, b.last_modified} - {None}
        stale = if_range is not None and b.honour_if_range and if_range not in current
        if not asked or b.ignore_range or stale:
            self.send_response(200)
            return 0
        start = int(asked.removeprefix("bytes=").rstrip("-"))
        if start >= size:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        shown = max(start - 1, 0) if b.wrong_range else start
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {shown}-{size - 1}/{size}")
        return start

    def _send_body(self, b: Behaviour, start: int) -> None:
        body = b.payload[start:]
        if b.etag is not None:
            self.send_header("ETag", b.etag)
        if b.last_modified is not None:
            self.send_header("Last-Modified", b.last_modified)
        if b.send_length:
            length = b.fake_length if b.fake_length is not None else len(body)
            self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.flush()
        if b.stall_s:
            b.release.wait(b.stall_s)
        if b.close_after is not None:
            body = body[: b.close_after]
        view = memoryview(body)
        if b.trickle_s:
            for i in range(len(body)):
                self.wfile.write(view[i : i + 1])
                self.wfile.flush()
                if b.release.wait(b.trickle_s):
                    break
            self.close_connection = True
            return
        for i in range(0, len(body), 256 * 1024):
            self.wfile.write(view[i : i + 256 * 1024])
        self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    behaviour: Behaviour

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that hang up early are part of the tests


class LoopbackServer:
    """A threaded server on 127.0.0.1:<free port>, HTTPS when given a cert, else plain HTTP."""

    def __init__(self, cert: tuple[Path, Path] | None = None) -> None:
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.behaviour = Behaviour()
        self.scheme = "http"
        if cert is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*cert)
            self.httpd.socket = ctx.wrap_socket(
                self.httpd.socket, server_side=True, do_handshake_on_connect=False
            )
            self.scheme = "https"
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def behaviour(self) -> Behaviour:
        return self.httpd.behaviour

    def reset(self, payload: bytes) -> Behaviour:
        self.httpd.behaviour.release.set()
        self.httpd.behaviour = Behaviour(payload=payload)
        return self.httpd.behaviour

    def url(self, path: str = "/file") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.httpd.behaviour.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)


# Fixtures shared by the download tests (registered in conftest.py through ``pytest_plugins``).


@pytest.fixture(scope="session")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate and key for 127.0.0.1."""
    return make_self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def _https(cert: tuple[Path, Path]):
    """One loopback HTTPS server for the session; tests reset it with their payload."""
    srv = LoopbackServer(cert)
    yield srv
    srv.close()


@pytest.fixture(scope="session")
def ctx(cert: tuple[Path, Path]) -> ssl.SSLContext:
    """A client SSL context trusting the test certificate."""
    return ssl.create_default_context(cafile=str(cert[0]))


@pytest.fixture
def server(_https: LoopbackServer, request: pytest.FixtureRequest):
    """The session's server, reset to serve the test module's ``PAYLOAD``."""
    _https.reset(request.module.PAYLOAD)
    yield _https
    _https.behaviour.release.set()


PROXY_VARIABLES = (
    "https_proxy",
    "HTTPS_PROXY",
    "http_proxy",
    "HTTP_PROXY",
    "all_proxy",
    "ALL_PROXY",
)


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    """Allow downloads (conftest forbids them) and make sure no proxy intercepts loopback."""
    assert os.environ.get("IDSEG_OFFLINE") == "1"  # conftest's autouse fixture forbids downloads
    monkeypatch.delenv("IDSEG_OFFLINE")
    for var in PROXY_VARIABLES:
        monkeypatch.delenv(var, raising=False)


def no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any attempt to open a socket fail loudly."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a socket was opened")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
