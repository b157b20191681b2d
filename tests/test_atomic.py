"""Atomic writes: no partial files, no temporaries left, normal permissions, folder swaps."""

from __future__ import annotations

import os
import stat

import pytest

from idseg.io.atomic import atomic_dir, atomic_path, atomic_write_json, atomic_write_text


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_write_replaces_and_leaves_no_temporaries(tmp_path):
    target = tmp_path / "sub" / "a.txt"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.txt"]


def test_failed_write_keeps_old_file_and_removes_temporary(tmp_path):
    target = tmp_path / "a.json"
    atomic_write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text().strip().replace(" ", "").replace("\n", "") == '{"v":1}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_files_get_umask_permissions_not_0600(tmp_path):
    old = os.umask(0o022)
    try:
        import idseg.io.atomic as atomic

        atomic._umask.cache_clear()
        path = atomic_write_text(tmp_path / "p.txt", "x")
    finally:
        os.umask(old)
        atomic._umask.cache_clear()
    assert _mode(path) == 0o644


def test_atomic_dir_replaces_whole_folder(tmp_path):
    dest = tmp_path / "card"
    with atomic_dir(dest) as tmp:
        (tmp / "mask_000.png").write_text("a")
        (tmp / "mask_001.png").write_text("b")
    with atomic_dir(dest) as tmp:
        (tmp / "mask_000.png").write_text("c")
    assert sorted(p.name for p in dest.iterdir()) == ["mask_000.png"]  # no stale mask_001
    assert (dest / "mask_000.png").read_text() == "c"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card"]


def test_atomic_dir_failure_keeps_old_content(tmp_path):
    dest = tmp_path / "card"
    with atomic_dir(dest) as tmp:
        (tmp / "ok.txt").write_text("old")
    with pytest.raises(ValueError), atomic_dir(dest) as tmp:
        (tmp / "ok.txt").write_text("new")
        raise ValueError("export failed")
    assert (dest / "ok.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card"]


def test_atomic_dir_refuses_a_file(tmp_path):
    (tmp_path / "x").write_text("file")
    with pytest.raises(FileExistsError), atomic_dir(tmp_path / "x"):
        pass
