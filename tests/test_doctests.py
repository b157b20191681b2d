"""Run the docstring examples of every idseg module so they cannot rot.

Every module under ``src/idseg`` is found with :func:`pkgutil.walk_packages` and imported by its
dotted name (never by file path, so nothing is imported twice). Examples that need a model, a file
or the network are marked ``# doctest: +SKIP`` in the source; everything else runs here. Nothing
here downloads: the autouse fixture in conftest.py sets ``IDSEG_OFFLINE=1`` and a temporary home.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import idseg

MODULES = sorted(
    {"idseg"} | {m.name for m in pkgutil.walk_packages(idseg.__path__, prefix="idseg.")}
)

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def test_modules_are_found():
    # Spot-check the discovery itself: a broken walk would make every other test vacuous.
    for name in ("idseg.geometry", "idseg.sam.results", "idseg.models.registry", "idseg.cli.app"):
        assert name in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=FLAGS, verbose=False, report=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_examples_run():
    # The library's own examples must actually execute, not all be skipped.
    attempted = sum(
        doctest.testmod(importlib.import_module(name), optionflags=FLAGS, report=False).attempted
        for name in ("idseg.geometry", "idseg.sam.results", "idseg.config_values")
    )
    assert attempted >= 50
