"""Exports of idseg's models (ONNX, TorchScript) and prompting on the exported SAM2 graphs.

Importing this package needs neither onnx nor onnxruntime; the functions that do raise
:class:`~idseg.errors.MissingExtraError` naming ``pip install 'idseg[onnx]'`` when they are missing.

Example:
    >>> from idseg.onnx import export_sam2_onnx, OnnxSAM2Predictor
    >>> export_sam2_onnx("sam2.1_hiera_tiny", "tiny_onnx")  # doctest: +SKIP
    >>> predictor = OnnxSAM2Predictor("tiny_onnx")  # doctest: +SKIP
"""

from __future__ import annotations

from idseg.onnx.export import DEFAULT_OPSET, export_sam2_onnx, onnx_session
from idseg.onnx.manifest import ExportManifest, read_manifest
from idseg.onnx.runtime import (
    ExportedSAM2Predictor,
    OnnxSAM2Predictor,
    TorchScriptSAM2Predictor,
    onnx_providers,
)
from idseg.onnx.source import SAM2Export
from idseg.onnx.torchscript import export_sam2_torchscript, load_torchscript
from idseg.onnx.unet import OnnxUNet, export_unet_onnx, export_unet_torchscript

__all__ = [
    "DEFAULT_OPSET",
    "ExportManifest",
    "ExportedSAM2Predictor",
    "OnnxSAM2Predictor",
    "OnnxUNet",
    "SAM2Export",
    "TorchScriptSAM2Predictor",
    "export_sam2_onnx",
    "export_sam2_torchscript",
    "export_unet_onnx",
    "export_unet_torchscript",
    "load_torchscript",
    "onnx_providers",
    "onnx_session",
    "read_manifest",
]
