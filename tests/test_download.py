"""Downloader, cache and trust-on-first-use tests against a loopback HTTPS server (no network)."""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from pathlib import Path

import pytest

from _https_server import LoopbackServer, no_sockets
from idseg.errors import DownloadError, HashMismatchError
from idseg.models import transfer
from idseg.models.download import (
    download,
    ensure_checkpoint,
    sha256_file,
)
from idseg.models.transfer import download_with_hash

pytestmark = pytest.mark.usefixtures("online")

PAYLOAD = random.Random(1234).randbytes(3 * 1024 * 1024 + 123)
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


def _part(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def test_full_download_hash_matches_no_part_left(server, ctx, tmp_path):
    dest = tmp_path / "sub" / "w.pt"
    seen: list[tuple[int, int | None]] = []
    out = download(
        server.url("/w.pt"),
        dest,
        sha256=PAYLOAD_SHA.upper(),
        ssl_context=ctx,
        progress=lambda n, t: seen.append((n, t)),
    )
    assert out == dest
    assert dest.read_bytes() == PAYLOAD
    assert not _part(dest).exists()
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert [n for n, _ in seen] == sorted(n for n, _ in seen)
    assert server.behaviour.requests == [("/w.pt", None)]


def test_download_with_hash_returns_digest(server, ctx, tmp_path):
    assert (
        download_with_hash(server.url("/w.pt"), tmp_path / "w.pt", ssl_context=ctx) == PAYLOAD_SHA
    )


def test_interrupted_transfer_keeps_part_and_resumes(server, ctx, tmp_path):
    dest, half = tmp_path / "w.pt", len(PAYLOAD) // 2
    server.behaviour.close_after = half
    with pytest.raises(DownloadError, match="interrupted"):
        download(server.url("/w.pt"), dest, sha256=PAYLOAD_SHA, ssl_context=ctx)
    assert not dest.exists()
    assert _part(dest).read_bytes() == PAYLOAD[:half]

    server.behaviour.close_after = None
    download(server.url("/w.pt"), dest, sha256=PAYLOAD_SHA, ssl_context=ctx)
    assert server.behaviour.requests == [("/w.pt", None), ("/w.pt", f"bytes={half}-")]
    assert sha256_file(dest) == PAYLOAD_SHA
    assert not _part(dest).exists()


def test_resume_ignored_by_server_restarts_from_zero(server, ctx, tmp_path):
    dest = tmp_path / "w.pt"
    _part(dest).write_bytes(b"\x00" * 1000)  # wrong bytes: appending to them would corrupt the file
    server.behaviour.ignore_range = True
    download(server.url("/w.pt"), dest, sha256=PAYLOAD_SHA, ssl_context=ctx)
    assert server.behaviour.requests == [("/w.pt", "bytes=1000-")]
    assert dest.read_bytes() == PAYLOAD


def test_resume_answered_416_restarts_from_zero(server, ctx, tmp_path):
    dest = tmp_path / "w.pt"
    _part(dest).write_bytes(PAYLOAD + b"junk")
    download(server.url("/w.pt"), dest, sha256=PAYLOAD_SHA, ssl_context=ctx)
    n = len(PAYLOAD) + 4
    assert server.behaviour.requests == [("/w.pt", f"bytes={n}-"), ("/w.pt", None)]
    assert dest.read_bytes() == PAYLOAD


def test_resume_with_wrong_content_range_restarts(server, ctx, tmp_path):
    dest = tmp_path / "w.pt"
    _part(dest).write_bytes(PAYLOAD[:1000])
    server.behaviour.wrong_range = True
    download(server.url("/w.pt"), dest, sha256=PAYLOAD_SHA, ssl_context=ctx)
    assert server.behaviour.requests == [("/w.pt", "bytes=1000-"), ("/w.pt", None)]
    assert dest.read_bytes() == PAYLOAD


def test_untrusted_certificate_is_refused(server, tmp_path):
    # no ssl_context: the system trust store does not know the self-signed test certificate
    with pytest.raises(DownloadError, match="CERTIFICATE_VERIFY_FAILED"):
        download(server.url("/w.pt"), tmp_path / "w.pt")
    assert list(tmp_path.iterdir()) == []


def test_wrong_hash_discards_everything(server, ctx, tmp_path):
    dest = tmp_path / "w.pt"
    with pytest.raises(HashMismatchError) as info:
        download(server.url("/w.pt"), dest, sha256="0" * 64, ssl_context=ctx)
    assert PAYLOAD_SHA in str(info.value) and "0" * 64 in str(info.value)
    assert not dest.exists()
    assert not _part(dest).exists()


@pytest.mark.timeout(15)
def test_stalled_server_raises_instead_of_hanging(server, ctx, tmp_path):
    server.behaviour.stall_s = 30.0
    with pytest.raises(DownloadError, match="stalled"):
        download(server.url("/w.pt"), tmp_path / "w.pt", timeout=0.5, ssl_context=ctx)
    assert not (tmp_path / "w.pt").exists()


def test_redirect_to_plain_http_is_refused(server, ctx, tmp_path):
    plain = LoopbackServer(None)
    try:
        plain.reset(PAYLOAD)
        server.behaviour.redirects["/w.pt"] = plain.url("/w.pt")
        with pytest.raises(DownloadError, match="redirect"):
            download(server.url("/w.pt"), tmp_path / "w.pt", ssl_context=ctx)
        assert plain.behaviour.requests == []
    finally:
        plain.close()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("hops", "ok"), [(5, True), (6, False)])
def test_redirect_chain_is_limited_to_five(server, ctx, tmp_path, hops, ok):
    paths = [f"/r{i}" for i in range(hops)] + ["/w.pt"]
    for src, dst in itertools.pairwise(paths):
        server.behaviour.redirects[src] = server.url(dst)
    dest = tmp_path / "w.pt"
    if ok:
        download(server.url(paths[0]), dest, sha256=PAYLOAD_SHA, ssl_context=ctx)
        assert server.behaviour.requests[-1] == ("/w.pt", None)
    else:
        with pytest.raises(DownloadError, match="redirect"):
            download(server.url(paths[0]), dest, ssl_context=ctx)
        assert not dest.exists()


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/w.pt", "ftp://example.org/w.pt", "file:///etc/passwd", "https:///w"]
)
def test_non_https_url_refused_without_socket(monkeypatch, tmp_path, url):
    no_sockets(monkeypatch)
    with pytest.raises(DownloadError, match="https"):
        download(url, tmp_path / "w.pt")
    with pytest.raises(DownloadError, match="https"):
        ensure_checkpoint(url, cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_size_cap_from_content_length(server, ctx, tmp_path):
    dest = tmp_path / "w.pt"
    with pytest.raises(DownloadError, match="size cap"):
        download(server.url("/w.pt"), dest, max_bytes=len(PAYLOAD) - 1, ssl_context=ctx)
    assert list(tmp_path.iterdir()) == []


def test_size_cap_while_streaming_without_content_length(server, ctx, tmp_path):
    server.behaviour.send_length = False
    with pytest.raises(DownloadError, match="size cap"):
        download(server.url("/w.pt"), tmp_path / "w.pt", max_bytes=1024 * 1024, ssl_context=ctx)
    assert list(tmp_path.iterdir()) == []


def test_no_content_length_within_cap_succeeds(server, ctx, tmp_path):
    server.behaviour.send_length = False
    seen: list[int | None] = []
    dest = download(
        server.url("/w.pt"),
        tmp_path / "w.pt",
        ssl_context=ctx,
        progress=lambda n, t: seen.append(t),
    )
    assert dest.read_bytes() == PAYLOAD
    assert set(seen) == {None}


def _state(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part.json")


NEW_PAYLOAD = random.Random(99).randbytes(len(PAYLOAD) + 777)
NEW_SHA = hashlib.sha256(NEW_PAYLOAD).hexdigest()


def _interrupt(server, ctx, dest, **validators):
    """Serve PAYLOAD with ``validators`` and hang up half-way; return the .part size."""
    half = len(PAYLOAD) // 2
    for key, value in validators.items():
        setattr(server.behaviour, key, value)
    server.behaviour.close_after = half
    with pytest.raises(DownloadError, match="interrupted"):
        download(server.url("/w.pt"), dest, ssl_context=ctx)
    assert _part(dest).read_bytes() == PAYLOAD[:half]
    return half


def test_resume_after_remote_change_gets_the_new_file(server, ctx, tmp_path):
    dest = tmp_path / "w.pt"
    half = _interrupt(server, ctx, dest, etag='"v1"')
    assert json.loads(_state(dest).read_text()) == {
        "url": server.url("/w.pt"),
        "validator": '"v1"',
    }
    changed = server.reset(NEW_PAYLOAD)  # the remote file changed, and so did its ETag
    changed.etag = '"v2"'
    assert download_with_hash(server.url("/w.pt"), dest, ssl_context=ctx) == NEW_SHA
    assert dest.read_bytes() == NEW_PAYLOAD  # not PAYLOAD[:half] + NEW_PAYLOAD[half:]
    assert changed.requests == [("/w.pt", f"bytes={half}-")]
    assert changed.if_ranges == ['"v1"']
    assert not _part(dest).exists() and not _state(dest).exists()


def test_resume_with_unchanged_etag_continues_the_part(server, ctx, tmp_path):
    dest = tmp_path / "w.pt"
    half = _interrupt(server, ctx, dest, etag='"v1"')
    server.behaviour.close_after = None
    assert download_with_hash(server.url("/w.pt"), dest, ssl_context=ctx) == PAYLOAD_SHA
    assert server.behaviour.requests[-1] == ("/w.pt", f"bytes={half}-")
    assert server.behaviour.if_ranges[-1] == '"v1"'
    assert not _state(dest).exists()


def test_last_modified_is_the_validator_without_a_strong_etag(server, ctx, tmp_path):
    dest, date = tmp_path / "w.pt", "Tue, 01 Oct 2024 10:00:00 GMT"
    half = _interrupt(server, ctx, dest, etag='W/"weak"', last_modified=date)
    server.behaviour.close_after = None
    download(server.url("/w.pt"), dest, ssl_context=ctx)
    assert server.behaviour.requests[-1] == ("/w.pt", f"bytes={half}-")
    assert server.behaviour.if_ranges[-1] == date
    assert dest.read_bytes() == PAYLOAD


@pytest.mark.parametrize("etag", [None, 'W/"weak"'])
def test_part_without_validator_or_hash_is_not_resumed(server, ctx, tmp_path, etag):
    dest = tmp_path / "w.pt"
    _interrupt(server, ctx, dest, etag=etag)
    assert not _state(dest).exists()
    server.reset(NEW_PAYLOAD)  # changed remote file, no way to tell: restarting is the safe choice
    download(server.url("/w.pt"), dest, ssl_context=ctx)
    assert server.behaviour.requests == [("/w.pt", None)]
    assert dest.read_bytes() == NEW_PAYLOAD


def test_part_without_validator_resumes_when_the_hash_is_known(server, ctx, tmp_path):
    dest = tmp_path / "w.pt"
    half = _interrupt(server, ctx, dest)
    server.behaviour.close_after = None
    download(server.url("/w.pt"), dest, sha256=PAYLOAD_SHA, ssl_context=ctx)
    assert server.behaviour.requests[-1] == ("/w.pt", f"bytes={half}-")
    assert server.behaviour.if_ranges[-1] is None


def test_part_without_validator_spliced_fails_the_known_hash(server, ctx, tmp_path):
    dest = tmp_path / "w.pt"
    _interrupt(server, ctx, dest)
    server.reset(NEW_PAYLOAD)
    with pytest.raises(HashMismatchError):  # a spliced file never gets through
        download(server.url("/w.pt"), dest, sha256=PAYLOAD_SHA, ssl_context=ctx)
    assert list(tmp_path.iterdir()) == []


def test_partial_answer_with_another_etag_restarts(server, ctx, tmp_path):
    dest = tmp_path / "w.pt"
    half = _interrupt(server, ctx, dest, etag='"v1"')
    changed = server.reset(NEW_PAYLOAD)
    changed.etag, changed.honour_if_range = '"v2"', False  # sends 206 despite If-Range
    download(server.url("/w.pt"), dest, ssl_context=ctx)
    assert changed.requests == [("/w.pt", f"bytes={half}-"), ("/w.pt", None)]
    assert dest.read_bytes() == NEW_PAYLOAD


def test_validator_of_another_url_is_not_used(server, ctx, tmp_path):
    dest = tmp_path / "w.pt"
    _interrupt(server, ctx, dest, etag='"v1"')
    server.behaviour.close_after = None
    download(server.url("/other.pt"), dest, ssl_context=ctx)
    assert server.behaviour.requests[-1] == ("/other.pt", None)


@pytest.mark.timeout(10)
def test_trickling_server_hits_the_deadline(server, ctx, tmp_path):
    # one byte every 0.05 s never trips the 0.5 s read timeout; the 0.6 s deadline stops it
    server.behaviour.trickle_s = 0.05
    dest = tmp_path / "w.pt"
    with pytest.raises(DownloadError, match=r"deadline of 0\.6 s"):
        download(
            server.url("/w.pt"), dest, timeout=0.5, deadline=0.6, min_rate=None, ssl_context=ctx
        )
    assert 0 < _part(dest).stat().st_size < 100  # kept for the next call to resume


@pytest.mark.timeout(10)
def test_trickling_server_is_too_slow(server, ctx, tmp_path, monkeypatch):
    monkeypatch.setattr(transfer, "RATE_WINDOW_S", 0.3)
    server.behaviour.trickle_s = 0.05  # about 20 bytes/s
    with pytest.raises(DownloadError, match="too slow"):
        download(
            server.url("/w.pt"),
            tmp_path / "w.pt",
            timeout=0.5,
            deadline=None,
            min_rate=1000.0,
            ssl_context=ctx,
        )
