"""Optional dependencies of the export and runtime code, imported on demand."""

from __future__ import annotations

import importlib
from types import ModuleType

from idseg.errors import MissingExtraError


def require(module: str, package: str | None = None, extra: str = "onnx") -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming the extra that provides it.

    Args:
        module: The import name (``onnxruntime``).
        package: The distribution name, when it differs from ``module``.
        extra: The idseg extra that installs it.

    Example:
        >>> require("json").__name__
        'json'
        >>> require("no_such_module_here")
        Traceback (most recent call last):
        idseg.errors.MissingExtraError: this feature needs the optional package ...
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(package or module, extra) from exc


def require_exporter() -> None:
    """Check that ``torch.onnx.export`` (the dynamo exporter) can run: it needs onnx and onnxscript.

    Example:
        >>> require_exporter()  # doctest: +SKIP
    """
    require("onnx")
    require("onnxscript")


def require_runtime() -> ModuleType:
    """Return the ``onnxruntime`` module, or raise :class:`MissingExtraError`.

    Example:
        >>> require_runtime().__name__  # doctest: +SKIP
        'onnxruntime'
    """
    return require("onnxruntime")
