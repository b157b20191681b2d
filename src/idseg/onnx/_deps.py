"""Optional dependencies of the export and runtime code, imported on demand."""

from __future__ import annotations

from types import ModuleType

from idseg._deps import require


def require_exporter() -> None:
    """Check that ``torch.onnx.export`` (the dynamo exporter) can run: it needs onnx and onnxscript.

    Example:
        >>> require_exporter()  # doctest: +SKIP
    """
    require("onnx", extra="onnx")
    require("onnxscript", extra="onnx")


def require_runtime() -> ModuleType:
    """Return the ``onnxruntime`` module, or raise :class:`MissingExtraError`.

    Example:
        >>> require_runtime().__name__  # doctest: +SKIP
        'onnxruntime'
    """
    return require("onnxruntime", extra="onnx")
