"""``idseg serve`` as users start it: a real uvicorn process, its start-up, limits over a socket."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytestmark = pytest.mark.slow

from test_page_browser import free_port  # noqa: E402


def request(port: int, method: str, path: str, body=None, headers=None) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, dict(resp.getheaders()), data


@pytest.fixture
def served(tiny_checkpoint):
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "idseg",
        "serve",
        "--port",
        str(port),
        "--checkpoint",
        str(tiny_checkpoint),
        "--model-config",
        "idseg_test_tiny",
        "--no-documents",
        "--max-upload-mb",
        "0.05",
        "--device",
        "cpu",
    ]
    env = {**os.environ, "IDSEG_OFFLINE": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        for _ in range(600):
            try:
                if request(port, "GET", "/health")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError(proc.stdout.read().decode() if proc.stdout else "no output")
        yield port
    finally:
        proc.terminate()
        proc.wait(20)


def test_serve_starts_answers_and_refuses_oversized_chunked_bodies(served):
    status, _, body = request(served, "GET", "/ready")
    assert status == 200 and json.loads(body)["sam2"] is True
    status, _, body = request(served, "GET", "/")
    assert status == 200 and b"<canvas" in body

    def chunks():
        for _ in range(20):
            yield b"\x00" * 4096  # 80 KiB in chunks, no Content-Length

    status, _, body = request(served, "POST", "/v1/sessions", body=chunks())  # chunked
    assert status == 413 and b"limit of 52428 bytes" in body
    status, _, _ = request(served, "GET", "/health")
    assert status == 200
