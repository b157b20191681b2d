"""Optional dependencies, imported on demand with an error that names the idseg extra."""

from __future__ import annotations

import importlib
from types import ModuleType

from idseg.errors import MissingExtraError

__all__ = ["require"]


def require(module: str, package: str | None = None, *, extra: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming the extra that provides it.

    Args:
        module: The import name (``onnxruntime``).
        package: The distribution name, when it differs from ``module``.
        extra: The idseg extra that installs it.

    Example:
        >>> require("json", extra="onnx").__name__
        'json'
        >>> require("no_such_module_here", extra="onnx")
        Traceback (most recent call last):
        idseg.errors.MissingExtraError: this feature needs the optional package ...
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(package or module, extra) from exc
