"""U-Net checkpoints of ``idseg train unet`` to ONNX and TorchScript, and :class:`OnnxUNet`.

Both exports take a float ``N x 3 x S x S`` RGB batch in ``[0, 1]`` (the letterboxed image; the
ImageNet normalisation is inside the model) with ``N`` free and ``S`` the checkpoint's letterbox
size, and return ``N x C x S x S`` logits (``C = 1``: sigmoid, else softmax). What the model
predicts is stored inside the file as JSON (key ``idseg_unet``: ONNX ``metadata_props``, a
TorchScript extra file ``idseg_unet.json``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from idseg.errors import CheckpointError
from idseg.onnx._deps import require_exporter, require_runtime

logger = logging.getLogger(__name__)

__all__ = ["OnnxUNet", "export_unet_onnx", "export_unet_torchscript", "unet_metadata"]

#: Metadata key (ONNX) and extra-file stem (TorchScript) of the U-Net description.
META_KEY = "idseg_unet"


def _load(checkpoint: str | Path) -> tuple[torch.nn.Module, dict[str, Any], list[Any]]:
    """The U-Net in contiguous format, its metadata and two checking cases (batch 2 and 1)."""
    from idseg.models.unet_io import load_unet

    model, info = load_unet(checkpoint, device="cpu")
    model = model.to(memory_format=torch.contiguous_format).eval()
    meta = unet_metadata(info, checkpoint)
    gen = torch.Generator().manual_seed(0)
    cases = []
    for batch in (2, 1):
        x = torch.rand(batch, 3, info.size, info.size, generator=gen)
        with torch.no_grad():
            cases.append(((x,), (model(x),)))
    return model, meta, cases


def unet_metadata(info: Any, checkpoint: str | Path) -> dict[str, Any]:
    """What an exported U-Net predicts and where it came from.

    Example:
        >>> from idseg.models.unet_io import load_unet
        >>> _, info = load_unet("runs/doc/best.pt")  # doctest: +SKIP
        >>> unet_metadata(info, "runs/doc/best.pt")["size"]  # doctest: +SKIP
        192
    """
    from idseg._version import __version__
    from idseg.models.hashes import sha256_file

    return {
        "classes": list(info.classes),
        "binary": bool(info.binary),
        "size": int(info.size),
        "architecture": info.architecture.to_dict(),
        "checkpoint_sha256": sha256_file(checkpoint),
        "idseg_version": __version__,
    }


def export_unet_onnx(checkpoint: str | Path, out_path: str | Path, opset: int = 18) -> Path:
    """Export a U-Net checkpoint to one ONNX file (dynamic batch), checked with onnxruntime.

    Args:
        checkpoint: A checkpoint of ``idseg train unet`` (or a bundled one).
        out_path: The ``.onnx`` file to write (atomically).
        opset: ONNX opset version.

    Returns:
        ``out_path``.

    Raises:
        MissingExtraError: onnx, onnxscript or onnxruntime is not installed.
        CheckpointError: The checkpoint is missing or not a U-Net checkpoint.
        ExportError: The exporter failed or onnxruntime disagrees with PyTorch.

    Example:
        >>> export_unet_onnx("runs/doc/best.pt", "doc.onnx")  # doctest: +SKIP
        PosixPath('doc.onnx')
    """
    from idseg.onnx.export import export_graph

    require_exporter()
    require_runtime()
    model, meta, cases = _load(checkpoint)
    dest = export_graph(
        model,
        Path(out_path),
        (["image"], ["logits"]),
        cases,
        opset,
        dynamic_shapes=({0: torch.export.Dim("batch")},),
        metadata={META_KEY: json.dumps(meta)},
    )
    logger.info("exported U-Net (%d classes, size %d) to ONNX", len(meta["classes"]), meta["size"])
    return dest


def export_unet_torchscript(checkpoint: str | Path, out_path: str | Path) -> Path:
    """Trace a U-Net checkpoint to TorchScript; the trace is checked on batch sizes 2 and 1.

    The file loads with ``torch.jit.load``; :func:`idseg.models.unet_io.predict_proba` accepts it
    in place of the PyTorch model.

    Raises:
        CheckpointError: The checkpoint is missing or not a U-Net checkpoint.
        ExportError: Tracing failed or the traced module disagrees with PyTorch.

    Example:
        >>> export_unet_torchscript("runs/doc/best.pt", "doc.pt")  # doctest: +SKIP
        PosixPath('doc.pt')
    """
    from idseg.onnx.torchscript import trace_module

    model, meta, cases = _load(checkpoint)
    extra = {f"{META_KEY}.json": json.dumps(meta)}
    return trace_module(model, Path(out_path), cases, extra_files=extra)


class OnnxUNet:
    """A U-Net exported by :func:`export_unet_onnx`, run with onnxruntime.

    Args:
        path: The ``.onnx`` file.
        providers: onnxruntime execution providers; default the CPU.

    Attributes:
        meta: The stored description (``classes``, ``binary``, ``size``, ...).

    Raises:
        MissingExtraError: onnxruntime is not installed.
        CheckpointError: The file does not load or is not an idseg U-Net export.

    Example:
        >>> unet = OnnxUNet("doc.onnx")  # doctest: +SKIP
        >>> unet.predict_mask(image).shape  # doctest: +SKIP
        (600, 950)
    """

    def __init__(self, path: str | Path, providers: Sequence[str] | None = None) -> None:
        from idseg.onnx.export import onnx_session

        file = Path(path)
        if not file.is_file():
            raise CheckpointError(f"ONNX file not found: {str(file)!r}")
        self.session = onnx_session(file, providers)
        stored = self.session.get_modelmeta().custom_metadata_map.get(META_KEY)
        if stored is None:
            raise CheckpointError(f"{file.name!r} is not a U-Net exported by idseg (no {META_KEY})")
        self.meta: dict[str, Any] = json.loads(stored)
        self.size = int(self.meta["size"])

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """Logits ``N x C x S x S`` of a float32 ``N x 3 x S x S`` batch in ``[0, 1]``."""
        out = self.session.run(["logits"], {"image": np.ascontiguousarray(batch, np.float32)})
        return np.asarray(out[0])

    def predict_proba(self, image: np.ndarray) -> np.ndarray:
        """Class probabilities ``C x H x W``, as :func:`idseg.models.unet_io.predict_proba`.

        Example:
            >>> unet.predict_proba(image).shape  # doctest: +SKIP
            (3, 600, 950)
        """
        from idseg.models.unet_io import letterbox_image

        canvas, box = letterbox_image(image, self.size)
        x = torch.from_numpy(canvas).permute(2, 0, 1)[None].float().div_(255.0)
        logits = torch.from_numpy(self.logits(x.numpy()))
        rows, cols = box.window
        logits = F.interpolate(
            logits[..., rows, cols], size=(box.height, box.width), mode="bilinear"
        )[0]
        if logits.shape[0] == 1:
            fg = torch.sigmoid(logits[0])
            return torch.stack([1.0 - fg, fg]).numpy()
        return torch.softmax(logits, dim=0).numpy()

    def predict_mask(self, image: np.ndarray) -> np.ndarray:
        """Class map ``H x W`` uint8, as :func:`idseg.models.unet_io.predict_mask`.

        Example:
            >>> unet.predict_mask(image).max() < len(unet.meta["classes"])  # doctest: +SKIP
            True
        """
        probs = self.predict_proba(image)
        if probs.shape[0] == 2:
            return (probs[1] > 0.5).astype(np.uint8)
        return probs.argmax(axis=0).astype(np.uint8)
