"""Downloader, cache and trust-on-first-use tests against a loopback HTTPS server (no network)."""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import socket
import ssl
import threading
from pathlib import Path

import platformdirs
import pytest

from _https_server import LoopbackServer, make_self_signed_cert
from idseg.errors import ConfigError, DownloadError, HashMismatchError, OfflineError
from idseg.models.download import (
    checkpoint_dir,
    checkpoint_path,
    download,
    ensure_checkpoint,
    is_offline,
    resolve_checkpoint_from_env,
    sha256_file,
    verify_checkpoint,
)
from idseg.models.transfer import download_with_hash

PAYLOAD = random.Random(1234).randbytes(3 * 1024 * 1024 + 123)
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    return make_self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def _https(cert):
    srv = LoopbackServer(cert)
    yield srv
    srv.close()


@pytest.fixture
def server(_https):
    _https.reset(PAYLOAD)
    yield _https
    _https.behaviour.release.set()


@pytest.fixture(scope="module")
def ctx(cert):
    return ssl.create_default_context(cafile=str(cert[0]))


@pytest.fixture(autouse=True)
def _online(monkeypatch):
    monkeypatch.delenv("IDSEG_OFFLINE", raising=False)
    for var in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


def _no_sockets(monkeypatch):
    def refuse(*args, **kwargs):
        raise RuntimeError("a socket was opened")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


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
    download(server.url("/w.pt"), dest, ssl_context=ctx)
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
    _no_sockets(monkeypatch)
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


def test_offline_mode_never_opens_a_socket(monkeypatch, tmp_path):
    _no_sockets(monkeypatch)
    monkeypatch.setenv("IDSEG_OFFLINE", "1")
    with pytest.raises(OfflineError) as info:
        ensure_checkpoint("tiny", cache_dir=tmp_path)
    message = str(info.value)
    assert "sam2.1_hiera_tiny.pt" in message and "idseg models download" in message
    with pytest.raises(OfflineError):
        download("https://example.org/w.pt", tmp_path / "w.pt")

    cached = tmp_path / "sam2.1_hiera_tiny.pt"
    cached.write_bytes(b"weights")
    assert ensure_checkpoint("sam2.1-hiera-tiny", cache_dir=tmp_path) == cached
    assert ensure_checkpoint("https://example.org/x/sam2.1_hiera_tiny.pt", cache_dir=tmp_path) == (
        cached
    )


def test_offline_argument_overrides_environment(monkeypatch):
    monkeypatch.setenv("IDSEG_OFFLINE", "1")
    assert is_offline() is True
    assert is_offline(False) is False
    monkeypatch.setenv("IDSEG_OFFLINE", "0")
    assert is_offline() is False
    assert is_offline(True) is True


def test_trust_on_first_use_records_then_detects_change(server, ctx, tmp_path):
    url = server.url("/weights/model.pt")
    path = ensure_checkpoint(url, cache_dir=tmp_path, ssl_context=ctx)
    assert path == tmp_path / "model.pt" == checkpoint_path(url, cache_dir=tmp_path)
    records = json.loads((tmp_path / "hashes.json").read_text())
    assert records == {"model.pt": PAYLOAD_SHA}

    assert ensure_checkpoint(url, cache_dir=tmp_path, ssl_context=ctx) == path
    assert len(server.behaviour.requests) == 1  # the cached file was used

    corrupted = bytearray(PAYLOAD)
    corrupted[12345] ^= 0xFF
    path.write_bytes(bytes(corrupted))
    with pytest.raises(HashMismatchError) as info:
        ensure_checkpoint(url, cache_dir=tmp_path, ssl_context=ctx)
    message = str(info.value)
    assert "model.pt" in message and PAYLOAD_SHA in message
    assert hashlib.sha256(corrupted).hexdigest() in message


def test_recorded_hash_guards_a_redownload(server, ctx, tmp_path):
    url = server.url("/model.pt")
    ensure_checkpoint(url, cache_dir=tmp_path, ssl_context=ctx)
    (tmp_path / "model.pt").unlink()
    server.reset(PAYLOAD[::-1])  # the server now serves different bytes
    with pytest.raises(HashMismatchError):
        ensure_checkpoint(url, cache_dir=tmp_path, ssl_context=ctx)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hashes.json", "model.pt.lock"]


def test_explicit_wrong_hash_records_nothing(server, ctx, tmp_path):
    with pytest.raises(HashMismatchError):
        ensure_checkpoint(server.url("/m.pt"), sha256="1" * 64, cache_dir=tmp_path, ssl_context=ctx)
    assert not (tmp_path / "hashes.json").exists()
    assert not (tmp_path / "m.pt").exists()


def test_concurrent_ensure_downloads_once(server, ctx, tmp_path):
    results: list[Path] = []
    errors: list[BaseException] = []

    def worker():
        try:
            results.append(
                ensure_checkpoint(server.url("/c.pt"), cache_dir=tmp_path, ssl_context=ctx)
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert errors == []
    assert results == [tmp_path / "c.pt"] * 3
    assert len(server.behaviour.requests) == 1


@pytest.mark.parametrize(
    "url",
    ["https://h.org/", "https://h.org/hashes.json", "https://h.org/x.part", "https://h/..%2Fx"],
)
def test_unsafe_cache_file_names_refused(monkeypatch, tmp_path, url):
    _no_sockets(monkeypatch)
    with pytest.raises(DownloadError, match="file name"):
        ensure_checkpoint(url, cache_dir=tmp_path)


def test_checkpoint_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("SAM2_CHECKPOINT_DIR", raising=False)
    monkeypatch.setenv("IDSEG_HOME", str(tmp_path / "home"))
    assert checkpoint_dir() == tmp_path / "home" / "checkpoints"
    monkeypatch.setenv("SAM2_CHECKPOINT_DIR", str(tmp_path / "ckpts"))
    assert checkpoint_dir() == tmp_path / "ckpts"
    assert checkpoint_dir(tmp_path / "explicit") == tmp_path / "explicit"
    assert checkpoint_path("large") == tmp_path / "ckpts" / "sam2.1_hiera_large.pt"
    monkeypatch.delenv("SAM2_CHECKPOINT_DIR")
    monkeypatch.delenv("IDSEG_HOME")
    assert checkpoint_dir() == Path(platformdirs.user_cache_dir("idseg")) / "checkpoints"


def test_checkpoint_url_and_hash_from_environment(monkeypatch):
    monkeypatch.delenv("SAM2_CHECKPOINT_URL", raising=False)
    monkeypatch.setenv("SAM2_CHECKPOINT_SHA256", "ab" * 32)
    assert resolve_checkpoint_from_env() is None
    monkeypatch.setenv("SAM2_CHECKPOINT_URL", " https://example.org/m.pt ")
    monkeypatch.setenv("SAM2_CHECKPOINT_SHA256", "AB" * 32)
    assert resolve_checkpoint_from_env() == ("https://example.org/m.pt", "ab" * 32)
    monkeypatch.delenv("SAM2_CHECKPOINT_SHA256")
    assert resolve_checkpoint_from_env() == ("https://example.org/m.pt", None)
    monkeypatch.setenv("SAM2_CHECKPOINT_SHA256", "not-a-hash")
    with pytest.raises(ConfigError, match="64 hex"):
        resolve_checkpoint_from_env()


def test_verify_checkpoint_against_given_recorded_and_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("IDSEG_HOME", str(tmp_path / "home"))
    path = tmp_path / "m.pt"
    path.write_bytes(PAYLOAD)
    plain = verify_checkpoint(path)
    assert plain == {
        "path": str(path),
        "sha256": PAYLOAD_SHA,
        "size": len(PAYLOAD),
        "matches": None,
        "expected": None,
        "source": None,
    }
    assert verify_checkpoint(path, PAYLOAD_SHA)["matches"] is True
    assert verify_checkpoint(path, "2" * 64)["matches"] is False
    (tmp_path / "hashes.json").write_text(json.dumps({"m.pt": "3" * 64}))
    recorded = verify_checkpoint(path)
    assert (recorded["matches"], recorded["expected"], recorded["source"]) == (
        False,
        "3" * 64,
        "recorded",
    )
