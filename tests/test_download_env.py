"""The verified checkpoint cache: per-URL folders, trust on first use, hash records, locks,
offline mode, the environment variables, the CLI and the SAM2 loader, over loopback HTTPS."""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import platformdirs
import pytest
from typer.testing import CliRunner

from _https_server import no_sockets
from idseg.errors import (
    CheckpointError,
    ConfigError,
    DownloadError,
    HashMismatchError,
    InputError,
    OfflineError,
)
from idseg.models.cache import file_lock
from idseg.models.download import (
    checkpoint_dir,
    checkpoint_path,
    download,
    ensure_checkpoint,
    is_offline,
    resolve_checkpoint_from_env,
    url_folder,
    verify_checkpoint,
)
from idseg.models.hashes import read_hash_records, record_hash
from idseg.models.registry import get_checkpoint

pytestmark = pytest.mark.usefixtures("online")

PAYLOAD = random.Random(4321).randbytes(256 * 1024 + 17)
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()
OTHER = random.Random(8765).randbytes(200 * 1024 + 3)
OTHER_SHA = hashlib.sha256(OTHER).hexdigest()
TINY_URL = get_checkpoint("tiny").url


# --- one cache folder per URL -----------------------------------------------------------------


def test_two_urls_with_one_file_name_get_two_files_and_two_records(server, ctx, tmp_path):
    url_a, url_b = server.url("/a/model.pt"), server.url("/b/model.pt")
    path_a = ensure_checkpoint(url_a, cache_dir=tmp_path, ssl_context=ctx)
    server.reset(OTHER)
    path_b = ensure_checkpoint(url_b, cache_dir=tmp_path, ssl_context=ctx)
    assert server.behaviour.requests == [("/b/model.pt", None)]  # a's file was not reused
    assert path_a != path_b and path_a.name == path_b.name == "model.pt"
    assert (path_a.read_bytes(), path_b.read_bytes()) == (PAYLOAD, OTHER)
    key_a = hashlib.sha256(url_a.encode()).hexdigest()[:16]
    assert path_a == tmp_path / "urls" / key_a / "model.pt" == checkpoint_path(url_a, tmp_path)
    assert read_hash_records(path_a.parent) == {"model.pt": PAYLOAD_SHA}
    assert read_hash_records(path_b.parent) == {"model.pt": OTHER_SHA}
    assert not (tmp_path / "hashes.json").exists()
    # each URL is checked against its own record on later calls
    assert ensure_checkpoint(url_a, cache_dir=tmp_path, ssl_context=ctx) == path_a
    assert ensure_checkpoint(url_b, cache_dir=tmp_path, ssl_context=ctx) == path_b


def test_custom_url_named_like_an_official_checkpoint_is_not_the_official_file(
    server, ctx, tmp_path
):
    official = tmp_path / "sam2.1_hiera_tiny.pt"
    official.write_bytes(b"official weights")
    url = server.url("/mine/sam2.1_hiera_tiny.pt")
    assert checkpoint_path(url, tmp_path) == url_folder(url, tmp_path) / official.name
    path = ensure_checkpoint(url, cache_dir=tmp_path, ssl_context=ctx)
    assert path.read_bytes() == PAYLOAD and path != official
    assert len(server.behaviour.requests) == 1
    assert official.read_bytes() == b"official weights"


def test_official_url_and_name_share_the_registry_location(tmp_path):
    expected = tmp_path / "sam2.1_hiera_tiny.pt"
    assert checkpoint_path(TINY_URL, tmp_path) == checkpoint_path("tiny", tmp_path) == expected
    assert url_folder(TINY_URL + "?x=1", tmp_path).parent == tmp_path / "urls"


def test_offline_mode_never_opens_a_socket(monkeypatch, tmp_path):
    no_sockets(monkeypatch)
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
    assert ensure_checkpoint(TINY_URL, cache_dir=tmp_path) == cached
    with pytest.raises(OfflineError):  # another URL with the same file name is another file
        ensure_checkpoint("https://example.org/x/sam2.1_hiera_tiny.pt", cache_dir=tmp_path)


def test_offline_argument_overrides_environment(monkeypatch):
    monkeypatch.setenv("IDSEG_OFFLINE", "1")
    assert is_offline() is True
    assert is_offline(False) is False
    monkeypatch.setenv("IDSEG_OFFLINE", "0")
    assert is_offline() is False
    assert is_offline(True) is True


# --- trust on first use -----------------------------------------------------------------------


def test_trust_on_first_use_records_then_detects_change(server, ctx, tmp_path):
    url = server.url("/weights/model.pt")
    path = ensure_checkpoint(url, cache_dir=tmp_path, ssl_context=ctx)
    assert path == url_folder(url, tmp_path) / "model.pt" == checkpoint_path(url, tmp_path)
    assert json.loads((path.parent / "hashes.json").read_text()) == {"model.pt": PAYLOAD_SHA}

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
    path = ensure_checkpoint(url, cache_dir=tmp_path, ssl_context=ctx)
    path.unlink()
    server.reset(PAYLOAD[::-1])  # the server now serves different bytes
    with pytest.raises(HashMismatchError):
        ensure_checkpoint(url, cache_dir=tmp_path, ssl_context=ctx)
    left = sorted(p.name for p in path.parent.iterdir())
    assert left == ["hashes.json", "hashes.json.lock", "model.pt.lock"]


def test_explicit_wrong_hash_records_nothing(server, ctx, tmp_path):
    url = server.url("/m.pt")
    with pytest.raises(HashMismatchError):
        ensure_checkpoint(url, sha256="1" * 64, cache_dir=tmp_path, ssl_context=ctx)
    assert not (url_folder(url, tmp_path) / "hashes.json").exists()
    assert not checkpoint_path(url, tmp_path).exists()


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
    assert results == [checkpoint_path(server.url("/c.pt"), tmp_path)] * 3
    assert len(server.behaviour.requests) == 1


@pytest.mark.parametrize(
    "url",
    [
        "https://h.org/",
        "https://h.org/hashes.json",
        "https://h.org/x.part",
        "https://h.org/x.part.json",
        "https://h/..%2Fx",
    ],
)
def test_unsafe_cache_file_names_refused(monkeypatch, tmp_path, url):
    no_sockets(monkeypatch)
    with pytest.raises(DownloadError, match="file name"):
        ensure_checkpoint(url, cache_dir=tmp_path)


# --- hash records and the lock ----------------------------------------------------------------


def test_hash_records_round_trip_normalised_and_sorted(tmp_path):
    assert read_hash_records(tmp_path) == {}
    record_hash(tmp_path, "b.pt", "B" * 64)
    record_hash(tmp_path, "a.pt", "sha256:" + "a" * 64)
    assert read_hash_records(tmp_path) == {"a.pt": "a" * 64, "b.pt": "b" * 64}
    assert list(json.loads((tmp_path / "hashes.json").read_text())) == ["a.pt", "b.pt"]
    with pytest.raises(InputError):
        record_hash(tmp_path, "c.pt", "not-a-hash")
    assert "c.pt" not in read_hash_records(tmp_path)


@pytest.mark.parametrize(
    "text", ["{not json", "[]", '{"m.pt": "abc"}', '{"m.pt": 5}', '{"m.pt": "' + "A" * 64 + '"}']
)
def test_corrupt_hash_records_are_refused_not_ignored(tmp_path, text):
    records = tmp_path / "hashes.json"
    records.write_text(text)
    with pytest.raises(CheckpointError, match=r"hashes\.json"):
        read_hash_records(tmp_path)
    with pytest.raises(CheckpointError):
        record_hash(tmp_path, "x.pt", "a" * 64)
    assert records.read_text() == text  # left for the user to inspect


def test_corrupt_record_never_lets_a_tampered_file_pass(server, ctx, tmp_path):
    url = server.url("/t.pt")
    path = ensure_checkpoint(url, cache_dir=tmp_path, ssl_context=ctx)
    path.write_bytes(b"tampered")
    (path.parent / "hashes.json").write_text("{}{")
    with pytest.raises(CheckpointError, match=r"hashes\.json"):
        ensure_checkpoint(url, cache_dir=tmp_path, ssl_context=ctx)
    with pytest.raises(CheckpointError):
        verify_checkpoint(path)
    assert (path.parent / "hashes.json").read_text() == "{}{"  # nothing re-trusted


def test_verify_checkpoint_of_a_url_copy_uses_only_its_own_record(
    server, ctx, tmp_path, monkeypatch
):
    monkeypatch.setenv("SAM2_CHECKPOINT_DIR", str(tmp_path))
    path = ensure_checkpoint(server.url("/x/sam2.1_hiera_tiny.pt"), ssl_context=ctx)
    # the official file's record in the checkpoint folder says nothing about this URL's copy
    (tmp_path / "hashes.json").write_text(json.dumps({"sam2.1_hiera_tiny.pt": "3" * 64}))
    report = verify_checkpoint(path)
    assert (report["matches"], report["expected"], report["source"]) == (
        True,
        PAYLOAD_SHA,
        "recorded",
    )
    (path.parent / "hashes.json").unlink()
    report = verify_checkpoint(path)
    assert (report["matches"], report["expected"], report["source"]) == (None, None, None)


def _held_elsewhere(path: Path) -> bool:
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_file_lock_serialises_threads_and_is_released(tmp_path):
    lock, log = tmp_path / "sub" / "w.pt.lock", []
    started = threading.Event()

    def other():
        started.set()
        with file_lock(lock):
            log.append("thread")

    with file_lock(lock):
        assert lock.exists() and _held_elsewhere(lock)
        thread = threading.Thread(target=other)
        thread.start()
        started.wait(5)
        time.sleep(0.2)  # room for the thread to (wrongly) get in
        log.append("main")
    thread.join(5)
    assert log == ["main", "thread"]
    with pytest.raises(RuntimeError), file_lock(lock):
        raise RuntimeError("boom")
    assert not _held_elsewhere(lock)


def test_file_lock_serialises_processes(tmp_path):
    lock, log = tmp_path / "w.pt.lock", tmp_path / "log.txt"
    child = (
        "import sys; from pathlib import Path; from idseg.models.cache import file_lock\n"
        "print('waiting', flush=True)\n"
        "with file_lock(Path(sys.argv[1])):\n"
        "    with open(sys.argv[2], 'a') as fh: fh.write('child\\n')\n"
    )
    with file_lock(lock):
        proc = subprocess.Popen(
            [sys.executable, "-c", child, str(lock), str(log)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout.readline().strip() == "waiting"
        time.sleep(0.3)  # room for the child to (wrongly) get in
        with log.open("a") as fh:
            fh.write("parent\n")
    assert proc.wait(timeout=20) == 0
    proc.stdout.close()
    assert log.read_text().split() == ["parent", "child"]


# --- environment variables --------------------------------------------------------------------


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
    monkeypatch.setenv("SAM2_CHECKPOINT_SHA256", "ab" * 32)
    assert resolve_checkpoint_from_env() is None
    monkeypatch.setenv("SAM2_CHECKPOINT_URL", " https://example.org/m.pt ")
    monkeypatch.setenv("SAM2_CHECKPOINT_SHA256", "SHA256:" + "AB" * 32)
    assert resolve_checkpoint_from_env() == ("https://example.org/m.pt", "ab" * 32)
    monkeypatch.delenv("SAM2_CHECKPOINT_SHA256")
    assert resolve_checkpoint_from_env() == ("https://example.org/m.pt", None)
    monkeypatch.setenv("SAM2_CHECKPOINT_SHA256", "not-a-hash")
    with pytest.raises(ConfigError, match="64 hex"):
        resolve_checkpoint_from_env()


def test_verify_checkpoint_against_given_recorded_and_nothing(tmp_path):
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


# --- CLI and the SAM2 loader, trusting the test certificate through SSL_CERT_FILE ---------------


def test_cli_models_download_url(server, cert, monkeypatch, tmp_path):
    from idseg.cli.app import app

    monkeypatch.setenv("SSL_CERT_FILE", str(cert[0]))
    monkeypatch.setenv("SAM2_CHECKPOINT_DIR", str(tmp_path))
    url = server.url("/weights/cli.pt")
    result = CliRunner().invoke(app, ["models", "download", url])
    assert result.exit_code == 0, result.output
    path = url_folder(url, tmp_path) / "cli.pt"
    assert result.stdout.strip().splitlines()[-1] == str(path)
    assert path.read_bytes() == PAYLOAD
    assert read_hash_records(path.parent) == {"cli.pt": PAYLOAD_SHA}

    wrong = CliRunner().invoke(app, ["models", "download", url, "--sha256", "0" * 64])
    assert wrong.exit_code != 0
    assert PAYLOAD_SHA in wrong.output


@pytest.fixture(scope="module")
def served_checkpoint(tmp_path_factory) -> bytes:
    from idseg.models.sam2 import init_checkpoint

    path = tmp_path_factory.mktemp("served") / "weights.pt"
    return init_checkpoint("idseg_test_tiny", path, seed=7).read_bytes()


def test_env_url_and_sha_through_resolve_model_and_load_sam2(
    server, cert, monkeypatch, served_checkpoint
):
    import torch

    from idseg.models.sam2 import load_sam2, resolve_model

    digest = hashlib.sha256(served_checkpoint).hexdigest()
    server.reset(served_checkpoint)
    url = server.url("/models/custom.pt")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert[0]))
    monkeypatch.setenv("SAM2_CHECKPOINT_URL", url)
    monkeypatch.setenv("SAM2_CHECKPOINT_SHA256", digest.upper())
    resolved = resolve_model(config="idseg_test_tiny")
    assert resolved.checkpoint == checkpoint_path(url)
    assert resolved.checkpoint.read_bytes() == served_checkpoint

    model = load_sam2(config="idseg_test_tiny", device="cpu")
    served = torch.load(io.BytesIO(served_checkpoint), weights_only=True)["model"]
    loaded = model.state_dict()
    assert loaded.keys() == served.keys()
    assert all(torch.equal(loaded[key], served[key]) for key in served)
    assert len(server.behaviour.requests) == 1  # the second call used the verified cache

    monkeypatch.setenv("SAM2_CHECKPOINT_SHA256", "0" * 64)
    with pytest.raises(HashMismatchError, match=digest):  # the cached copy fails the check
        load_sam2(config="idseg_test_tiny", device="cpu")


def test_env_url_with_wrong_sha_downloads_nothing(server, cert, monkeypatch):
    from idseg.models.sam2 import resolve_model

    url = server.url("/models/bad.pt")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert[0]))
    monkeypatch.setenv("SAM2_CHECKPOINT_URL", url)
    monkeypatch.setenv("SAM2_CHECKPOINT_SHA256", "1" * 64)
    with pytest.raises(HashMismatchError, match=PAYLOAD_SHA):
        resolve_model(config="idseg_test_tiny")
    assert not checkpoint_path(url).exists()
    assert not (checkpoint_path(url).parent / "hashes.json").exists()
