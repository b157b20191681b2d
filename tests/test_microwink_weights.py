"""microwink weights from its sdist: env/explicit paths, cache, fetch via a faked pip, safety."""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
from pathlib import Path

import pytest

from idseg.documents import microwink_weights as mw
from idseg.errors import ConfigError, DownloadError, HashMismatchError, InputError, OfflineError

MODEL_BYTES = b"fake onnx weights \x00\x01\x02" * 1000
MODEL_SHA = hashlib.sha256(MODEL_BYTES).hexdigest()


def _make_sdist(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def fake_pip(tmp_path, monkeypatch):
    """Replace the pip download by a copy of a tarball chosen by the test; count the calls."""
    state = {"calls": 0, "sdist": None}

    def download(dest: Path) -> Path:
        state["calls"] += 1
        return Path(shutil.copy(state["sdist"], dest / "microwink-0.0.4.tar.gz"))

    monkeypatch.setattr(mw, "_pip_download", download)
    monkeypatch.setattr(mw, "MICROWINK_MODEL_SHA256", MODEL_SHA)
    monkeypatch.delenv("IDSEG_OFFLINE", raising=False)
    monkeypatch.delenv(mw.MICROWINK_MODEL_ENV, raising=False)
    state["sdist"] = _make_sdist(
        tmp_path / "src.tar.gz",
        {
            "microwink-0.0.4/README.md": b"readme",
            "microwink-0.0.4/models/seg_model.onnx": MODEL_BYTES,
        },
    )
    return state


def test_cache_path_is_under_idseg_home(tmp_path, monkeypatch):
    monkeypatch.setenv("IDSEG_HOME", str(tmp_path))
    assert mw.microwink_cache_path() == tmp_path / "checkpoints" / "microwink" / "seg_model.onnx"


def test_fetch_extracts_the_model_then_uses_the_cache(fake_pip):
    path = mw.microwink_model_path()
    assert path == mw.microwink_cache_path()
    assert path.read_bytes() == MODEL_BYTES
    assert fake_pip["calls"] == 1
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "seg_model.onnx",
        "seg_model.onnx.lock",
    ]
    assert mw.microwink_model_path() == path
    assert fake_pip["calls"] == 1  # second call: cache, no pip


def test_a_corrupt_cached_file_is_replaced(fake_pip):
    dest = mw.microwink_cache_path()
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"truncated")
    assert mw.microwink_model_path().read_bytes() == MODEL_BYTES
    assert fake_pip["calls"] == 1


def test_wrong_hash_raises_and_leaves_nothing(fake_pip, monkeypatch):
    monkeypatch.setattr(mw, "MICROWINK_MODEL_SHA256", "0" * 64)
    with pytest.raises(HashMismatchError, match=f"expected SHA-256 {'0' * 64}.*got {MODEL_SHA}"):
        mw.microwink_model_path()
    folder = mw.microwink_cache_path().parent
    assert [p.name for p in folder.iterdir()] == ["seg_model.onnx.lock"]


def test_traversal_member_is_never_extracted(fake_pip, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    fake_pip["sdist"] = _make_sdist(
        tmp_path / "evil.tar.gz",
        {"../evil": b"pwned", "../models/seg_model.onnx": MODEL_BYTES, "/abs/x": b"x"},
    )
    with pytest.raises(DownloadError, match="expected one regular file"):
        mw.microwink_model_path()
    assert not (tmp_path / "evil").exists()
    assert not (tmp_path / "models").exists()
    assert not mw.microwink_cache_path().exists()


def test_model_member_must_be_a_regular_file(fake_pip, tmp_path):
    path = tmp_path / "link.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("microwink-0.0.4/models/seg_model.onnx")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    fake_pip["sdist"] = path
    with pytest.raises(DownloadError, match="regular file"):
        mw.microwink_model_path()
    assert not mw.microwink_cache_path().exists()


def test_oversized_member_is_refused(fake_pip, monkeypatch):
    monkeypatch.setattr(mw, "MAX_MODEL_BYTES", len(MODEL_BYTES) - 1)
    with pytest.raises(DownloadError, match=f"at most {len(MODEL_BYTES) - 1} bytes"):
        mw.microwink_model_path()
    assert not mw.microwink_cache_path().exists()


def test_not_a_tarball_is_a_download_error(fake_pip, tmp_path):
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"<html>not found</html>")
    fake_pip["sdist"] = bad
    with pytest.raises(DownloadError, match="gzip tar archive"):
        mw.microwink_model_path()


def test_offline_without_cache_names_the_env_var(fake_pip, monkeypatch):
    monkeypatch.setenv("IDSEG_OFFLINE", "1")
    with pytest.raises(OfflineError, match="IDSEG_MICROWINK_MODEL"):
        mw.microwink_model_path()
    assert fake_pip["calls"] == 0


def test_offline_with_cache_works(fake_pip, monkeypatch):
    path = mw.microwink_model_path()
    monkeypatch.setenv("IDSEG_OFFLINE", "1")
    assert mw.microwink_model_path() == path
    assert fake_pip["calls"] == 1


def test_env_var_and_explicit_path_win(fake_pip, tmp_path, monkeypatch):
    mine = tmp_path / "mine.onnx"
    mine.write_bytes(b"another model")  # not hashed: a user may use their own model
    other = tmp_path / "other.onnx"
    other.write_bytes(b"x")
    monkeypatch.setenv(mw.MICROWINK_MODEL_ENV, str(mine))
    assert mw.microwink_model_path() == mine
    assert mw.microwink_model_path(other) == other
    assert fake_pip["calls"] == 0


def test_env_var_to_a_missing_file_is_a_config_error(fake_pip, tmp_path, monkeypatch):
    monkeypatch.setenv(mw.MICROWINK_MODEL_ENV, str(tmp_path / "gone.onnx"))
    with pytest.raises(ConfigError, match=r"IDSEG_MICROWINK_MODEL.*gone\.onnx.*not a file"):
        mw.microwink_model_path()
    with pytest.raises(InputError, match=r"gone2\.onnx"):
        mw.microwink_model_path(tmp_path / "gone2.onnx")
    assert fake_pip["calls"] == 0


def test_pip_failure_is_a_download_error(monkeypatch, tmp_path):
    import subprocess

    def fake_run(cmd, **kwargs):
        assert cmd[1:4] == ["-m", "pip", "download"] and "--no-binary" in cmd
        assert "--no-build-isolation" not in cmd  # would need hatchling installed here
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution\n")

    monkeypatch.setattr(mw.subprocess, "run", fake_run)
    with pytest.raises(DownloadError, match="exited with 1: ERROR: No matching distribution"):
        mw._pip_download(tmp_path)


def test_pip_timeout_is_a_download_error(monkeypatch, tmp_path):
    import subprocess

    def fake_run(cmd, **kwargs):
        raise subprocess.TimeoutExpired(cmd, kwargs["timeout"])

    monkeypatch.setattr(mw.subprocess, "run", fake_run)
    with pytest.raises(DownloadError, match="to finish within"):
        mw._pip_download(tmp_path)
