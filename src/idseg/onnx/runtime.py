"""Prompting on exported SAM2 graphs: :class:`OnnxSAM2Predictor` and :class:`TorchScriptSAM2Predictor`.

Both are :class:`~idseg.sam.predictor.SAM2Predictor` subclasses that replace only the two model
calls (``embed``'s encoder and ``decode``'s prompt encoder and mask decoder), so prompt validation,
coordinate mapping, upsampling, thresholding, refinement and the :class:`~idseg.sam.results.Masks`
results are idseg's own code, shared with the PyTorch backend.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from idseg.errors import InputError
from idseg.onnx.graphs import DECODER_INPUTS, DECODER_OUTPUTS, ENCODER_OUTPUTS, select_masks
from idseg.onnx.manifest import ExportManifest, read_manifest
from idseg.sam.predictor import SAM2Predictor, _as_rgb
from idseg.sam.transforms import ImageEmbedding, image_to_tensor

logger = logging.getLogger(__name__)

__all__ = [
    "ExportedSAM2Predictor",
    "OnnxSAM2Predictor",
    "TorchScriptSAM2Predictor",
    "onnx_providers",
]


class ExportedSAM2Predictor(SAM2Predictor):
    """A :class:`SAM2Predictor` whose model halves are exported graphs described by a manifest.

    Subclasses implement :meth:`run_encoder` and :meth:`run_decoder`; everything else is
    inherited. There is no PyTorch model (``model`` is not set).

    Args:
        folder: The export folder.
        manifest: Its manifest.
        mask_threshold: Overrides the manifest's threshold.
    """

    def __init__(
        self, folder: Path, manifest: ExportManifest, mask_threshold: float | None = None
    ) -> None:
        self.folder = folder
        self.manifest = manifest
        threshold = manifest.mask_threshold if mask_threshold is None else mask_threshold
        self.mask_threshold = float(threshold)
        self.image_size = manifest.image_size
        self.low_res_size = manifest.low_res_size
        self._embedding: ImageEmbedding | None = None

    @property
    def device(self) -> torch.device:
        """Where the input and output tensors live (the CPU unless a subclass says otherwise)."""
        return torch.device("cpu")

    def run_encoder(self, image: torch.Tensor) -> list[torch.Tensor]:
        """``image_embed``, ``high_res_feats_0`` and ``high_res_feats_1`` of a normalised image."""
        raise NotImplementedError

    def run_decoder(self, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        """``low_res_masks`` and ``iou_predictions`` of the decoder inputs (see ``graphs``)."""
        raise NotImplementedError

    @torch.inference_mode()
    def embed(self, image: Any) -> ImageEmbedding:
        """Compute the embedding of an image (see :meth:`SAM2Predictor.embed`).

        Example:
            >>> embedding = predictor.embed("card.jpg")  # doctest: +SKIP
        """
        rgb = _as_rgb(image)
        x = image_to_tensor(rgb, self.image_size, self.device)
        image_embed, feat0, feat1 = self.run_encoder(x)
        return ImageEmbedding(image_embed, [feat0, feat1], (int(rgb.shape[0]), int(rgb.shape[1])))

    @torch.inference_mode()
    def decode(
        self,
        embedding: ImageEmbedding,
        coords: torch.Tensor | None,
        labels: torch.Tensor | None,
        mask_input: torch.Tensor | None = None,
        multimask_output: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Same contract as :meth:`SAM2Predictor.decode`, on the exported decoder.

        Like SAM2's prompt encoder, a padding point (label -1) ends the points of every prompt
        set; the output is picked from the four mask tokens as SAM2's mask decoder does.

        Example:
            >>> low_res, iou = predictor.decode(predictor.embedding, xy, labels)  # doctest: +SKIP
        """
        dev, low = self.device, self.low_res_size
        if coords is not None and labels is not None:
            batch = int(coords.shape[0])
            pad_xy = torch.zeros(batch, 1, 2, device=dev)
            pad_label = torch.full((batch, 1), -1, dtype=torch.int64, device=dev)
            xy = torch.cat([coords.to(dev, torch.float32), pad_xy], dim=1)
            lab = torch.cat([labels.to(dev, torch.int64), pad_label], dim=1)
        else:
            batch = int(mask_input.shape[0]) if mask_input is not None else 1
            xy = torch.zeros(batch, 0, 2, device=dev)
            lab = torch.zeros(batch, 0, dtype=torch.int64, device=dev)
        if mask_input is None:
            mask, flag = torch.zeros(batch, 1, low, low, device=dev), 0.0
        else:
            mask, flag = mask_input.to(dev, torch.float32), 1.0
        feats = [embedding.image_embed, *embedding.high_res_feats]
        inputs = [*(f.to(dev) for f in feats), xy, lab, mask, torch.tensor([flag], device=dev)]
        masks, iou = self.run_decoder(inputs)
        return select_masks(masks, iou, multimask_output, self.manifest.stability)

    def record(self) -> dict[str, Any]:
        """Where the graphs come from, for result metadata.

        Example:
            >>> predictor.record()["backend"]  # doctest: +SKIP
            'onnx'
        """
        return {"backend": self.manifest.backend, "folder": str(self.folder.resolve())} | {
            k: v
            for k, v in self.manifest.to_dict().items()
            if k in ("config_name", "checkpoint_sha256", "opset", "image_size", "idseg_version")
        }


def onnx_providers(device: str = "auto") -> list[str]:
    """The onnxruntime execution providers for an idseg device name.

    ``auto`` takes CUDA when this onnxruntime build has it, then the CPU; ``cpu`` the CPU only;
    ``cuda`` needs the CUDA provider.

    Raises:
        InputError: An unknown device, or one this onnxruntime build cannot use.

    Example:
        >>> onnx_providers("cpu")
        ['CPUExecutionProvider']
    """
    from idseg.onnx._deps import require_runtime

    name = str(device).strip().lower()
    available = require_runtime().get_available_providers()
    if name == "cpu":
        return ["CPUExecutionProvider"]
    if name == "auto":
        return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
    if name.split(":")[0] == "cuda":
        if "CUDAExecutionProvider" not in available:
            raise InputError(
                "device 'cuda' was requested but this onnxruntime has no CUDA provider "
                f"(available: {', '.join(available)}); install onnxruntime-gpu or use --device cpu"
            )
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    raise InputError(f"the onnx backend runs on auto, cpu or cuda, got {device!r}")


class OnnxSAM2Predictor(ExportedSAM2Predictor):
    """Prompted segmentation on the ONNX graphs of ``idseg export onnx``, with onnxruntime.

    Args:
        folder: The export folder (with ``idseg_onnx.json``).
        providers: onnxruntime execution providers; default the CPU.
        mask_threshold: Overrides the threshold recorded at export.

    Raises:
        MissingExtraError: onnxruntime is not installed.
        CheckpointError: The folder is missing, holds no ONNX export, or a graph does not load.

    Example:
        >>> predictor = OnnxSAM2Predictor("tiny_onnx")  # doctest: +SKIP
        >>> predictor.set_image("card.jpg")  # doctest: +SKIP
        >>> answer = predictor.predict(points=[[420, 310]], labels=[1])  # doctest: +SKIP
    """

    def __init__(
        self,
        folder: str | Path,
        providers: Sequence[str] | None = None,
        mask_threshold: float | None = None,
    ) -> None:
        from idseg.onnx.export import onnx_session

        root = Path(folder)
        super().__init__(root, read_manifest(root, "onnx"), mask_threshold)
        self.encoder = onnx_session(root / self.manifest.image_encoder, providers)
        self.decoder = onnx_session(root / self.manifest.prompt_decoder, providers)

    @classmethod
    def from_pretrained(
        cls,
        checkpoint: str | Path | None = None,
        config: str | Path | None = None,
        device: str = "auto",
        offline: bool | None = None,
        **kwargs: Any,
    ) -> OnnxSAM2Predictor:
        """Open an export folder (``checkpoint``); ``device`` picks the execution providers.

        Raises:
            InputError: No folder, or a ``config`` (the graphs already fix the model).

        Example:
            >>> predictor = OnnxSAM2Predictor.from_pretrained("tiny_onnx", device="cpu")  # doctest: +SKIP
        """
        if checkpoint is None or config is not None:
            raise InputError("OnnxSAM2Predictor.from_pretrained takes an export folder, no config")
        return cls(checkpoint, providers=onnx_providers(device), **kwargs)

    def run_encoder(self, image: torch.Tensor) -> list[torch.Tensor]:
        """Run ``image_encoder.onnx``."""
        outs = self.encoder.run(list(ENCODER_OUTPUTS), {"image": image.cpu().numpy()})
        return [torch.from_numpy(o) for o in outs]

    def run_decoder(self, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        """Run ``prompt_decoder.onnx``."""
        feed = {n: t.cpu().numpy() for n, t in zip(DECODER_INPUTS, inputs, strict=True)}
        return [torch.from_numpy(o) for o in self.decoder.run(list(DECODER_OUTPUTS), feed)]


class TorchScriptSAM2Predictor(ExportedSAM2Predictor):
    """Prompted segmentation on the TorchScript modules of ``idseg export torchscript``.

    Args:
        folder: The export folder (with ``idseg_torchscript.json``).
        device: Where to load the modules (``cpu``, ``cuda[:N]``; ``auto`` picks CUDA if present).
        mask_threshold: Overrides the threshold recorded at export.

    Raises:
        CheckpointError: The folder is missing, holds no TorchScript export, or a module does
            not load.

    Example:
        >>> predictor = TorchScriptSAM2Predictor("tiny_ts")  # doctest: +SKIP
        >>> predictor.set_image("card.jpg")  # doctest: +SKIP
    """

    def __init__(
        self, folder: str | Path, device: str = "cpu", mask_threshold: float | None = None
    ) -> None:
        from idseg.models.sam2 import select_device
        from idseg.onnx.torchscript import load_torchscript

        root = Path(folder)
        super().__init__(root, read_manifest(root, "torchscript"), mask_threshold)
        self._device = select_device(device)
        self.encoder = load_torchscript(root / self.manifest.image_encoder, self._device)
        self.decoder = load_torchscript(root / self.manifest.prompt_decoder, self._device)

    @classmethod
    def from_pretrained(
        cls,
        checkpoint: str | Path | None = None,
        config: str | Path | None = None,
        device: str = "auto",
        offline: bool | None = None,
        **kwargs: Any,
    ) -> TorchScriptSAM2Predictor:
        """Open an export folder (``checkpoint``) on ``device``.

        Raises:
            InputError: No folder, or a ``config`` (the modules already fix the model).

        Example:
            >>> predictor = TorchScriptSAM2Predictor.from_pretrained("tiny_ts")  # doctest: +SKIP
        """
        if checkpoint is None or config is not None:
            raise InputError(
                "TorchScriptSAM2Predictor.from_pretrained takes an export folder, no config"
            )
        return cls(checkpoint, device=device, **kwargs)

    @property
    def device(self) -> torch.device:
        """The device the modules were loaded on."""
        return self._device

    def run_encoder(self, image: torch.Tensor) -> list[torch.Tensor]:
        """Run the traced image encoder."""
        return list(self.encoder(image))

    def run_decoder(self, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        """Run the traced prompt decoder."""
        return list(self.decoder(*inputs))
