"""Helpers the training recipes call (recipes/*.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

RECIPES = Path(__file__).resolve().parent.parent / "recipes"


def _dataset(root: Path, names: list[str], group: str) -> None:
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
        for name in names:
            (root / sub / name).write_bytes(f"{sub}/{name}".encode())
    groups = {name: f"{group}{i}" for i, name in enumerate(names)}
    meta = {"classes": ["background", "document", "edge"], "groups": groups}
    (root / "dataset.json").write_text(json.dumps(meta))


def test_link_datasets_keeps_both_sources_and_their_groups_apart(tmp_path: Path):
    _dataset(tmp_path / "a", ["000000.png"], "t")
    _dataset(tmp_path / "b", ["000000.png", "000001.png"], "t")
    out = tmp_path / "all"
    cmd = [sys.executable, str(RECIPES / "link_datasets.py"), str(out)]
    subprocess.run([*cmd, f"s1_={tmp_path / 'a'}", f"s2_={tmp_path / 'b'}"], check=True)
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["groups"] == {"s1_000000.png": "t0", "s2_000000.png": "t0", "s2_000001.png": "t1"}
    assert meta["classes"] == ["background", "document", "edge"]
    assert meta["source"] == f"s1_={tmp_path / 'a'} + s2_={tmp_path / 'b'}"
    for sub in ("images", "masks"):
        names = sorted(p.name for p in (out / sub).iterdir())
        assert names == ["s1_000000.png", "s2_000000.png", "s2_000001.png"]
        assert (out / sub / "s2_000001.png").read_bytes() == f"{sub}/000001.png".encode()
        assert (out / sub / "s1_000000.png").is_symlink()
