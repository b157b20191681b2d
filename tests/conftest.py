"""Shared fixtures: tiny random-weight SAM2 checkpoints in Meta's format, and test images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from _helpers import make_scene

TINY_CONFIG = "idseg_test_tiny"

#: Fixtures of the loopback HTTPS server used by the download tests.
pytest_plugins = ["_https_server"]


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Never touch the user's cache; never download."""
    home = tmp_path_factory.mktemp("idseg_home")
    monkeypatch.setenv("IDSEG_HOME", str(home))
    monkeypatch.delenv("SAM2_CHECKPOINT_DIR", raising=False)
    monkeypatch.delenv("SAM2_CHECKPOINT_URL", raising=False)
    monkeypatch.delenv("SAM2_CHECKPOINT_SHA256", raising=False)
    monkeypatch.setenv("IDSEG_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight checkpoint of the tiny test config, saved as ``{"model": state_dict}``."""
    from idseg.models.sam2 import init_checkpoint

    path = tmp_path_factory.mktemp("ckpt") / "idseg_test_tiny.pt"
    return init_checkpoint(TINY_CONFIG, path, seed=0)


@pytest.fixture(scope="session")
def tiny_model(tiny_checkpoint: Path):
    """The tiny model loaded through the same code path users use."""
    from idseg.models.sam2 import load_sam2

    return load_sam2(tiny_checkpoint, TINY_CONFIG, device="cpu")


@pytest.fixture
def scene() -> np.ndarray:
    return make_scene()
