"""The JSON manifest beside exported SAM2 graphs: what they are, where they came from.

An export folder holds ``image_encoder.<ext>``, ``prompt_decoder.<ext>`` and a manifest
(``idseg_onnx.json`` for ONNX, ``idseg_torchscript.json`` for TorchScript). The manifest is
written last, so a folder with a manifest is a complete export.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from idseg.errors import CheckpointError

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
#: Manifest file name by backend.
MANIFEST_NAMES = {"onnx": "idseg_onnx.json", "torchscript": "idseg_torchscript.json"}
_LABELS = {"onnx": "an ONNX", "torchscript": "a TorchScript"}
#: Graph file extension by backend.
EXTENSIONS = {"onnx": ".onnx", "torchscript": ".pt"}


@dataclass(frozen=True)
class ExportManifest:
    """What an export folder holds.

    Attributes:
        backend: ``onnx`` or ``torchscript``.
        image_encoder: File name of the image encoder graph.
        prompt_decoder: File name of the prompt decoder graph.
        image_size: The model's square input side.
        mask_threshold: Logit threshold that turns mask logits into masks.
        stability: ``(delta, threshold)`` of SAM2's dynamic multimask fallback, or ``None``.
        config_name: The SAM2 config, when known.
        checkpoint_sha256: SHA-256 of the source checkpoint, when exported from a file.
        opset: ONNX opset (``None`` for TorchScript).
        idseg_version: The idseg version that exported.
        torch_version: The torch version that exported.
        format_version: Version of this manifest's layout.

    Example:
        >>> m = ExportManifest("onnx", "image_encoder.onnx", "prompt_decoder.onnx", 256, 0.0)
        >>> m.low_res_size
        64
    """

    backend: str
    image_encoder: str
    prompt_decoder: str
    image_size: int
    mask_threshold: float
    stability: tuple[float, float] | None = None
    config_name: str | None = None
    checkpoint_sha256: str | None = None
    opset: int | None = None
    idseg_version: str = ""
    torch_version: str = ""
    format_version: int = FORMAT_VERSION

    @property
    def low_res_size(self) -> int:
        """Side of the low-resolution mask logits, ``image_size / 4``."""
        return self.image_size // 4

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``stability`` as ``{"delta", "threshold"}``).

        Example:
            >>> ExportManifest("onnx", "e.onnx", "d.onnx", 256, 0.0).to_dict()["stability"] is None
            True
        """
        record = asdict(self)
        if self.stability is not None:
            record["stability"] = {"delta": self.stability[0], "threshold": self.stability[1]}
        record["format"] = f"idseg-sam2-{self.backend}"
        return record

    @classmethod
    def from_dict(cls, record: dict[str, Any], source: str) -> ExportManifest:
        """Read a manifest record; ``source`` names it in errors.

        Raises:
            CheckpointError: A required field is missing or malformed.

        Example:
            >>> rec = ExportManifest("onnx", "e.onnx", "d.onnx", 256, 0.0).to_dict()
            >>> ExportManifest.from_dict(rec, "idseg_onnx.json").image_size
            256
        """
        try:
            stab = record.get("stability")
            return cls(
                backend=str(record["backend"]),
                image_encoder=str(record["image_encoder"]),
                prompt_decoder=str(record["prompt_decoder"]),
                image_size=int(record["image_size"]),
                mask_threshold=float(record["mask_threshold"]),
                stability=None
                if stab is None
                else (float(stab["delta"]), float(stab["threshold"])),
                config_name=record.get("config_name"),
                checkpoint_sha256=record.get("checkpoint_sha256"),
                opset=None if record.get("opset") is None else int(record["opset"]),
                idseg_version=str(record.get("idseg_version", "")),
                torch_version=str(record.get("torch_version", "")),
                format_version=int(record.get("format_version", FORMAT_VERSION)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(
                f"{source} is not an idseg export manifest: {type(exc).__name__}: {exc}"
            ) from exc


def write_manifest(folder: Path, manifest: ExportManifest) -> Path:
    """Write ``manifest`` atomically into ``folder``; return its path.

    Example:
        >>> import tempfile
        >>> m = ExportManifest("onnx", "e.onnx", "d.onnx", 256, 0.0)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     write_manifest(Path(tmp), m).name
        'idseg_onnx.json'
    """
    from idseg.io.atomic import atomic_write_json

    return atomic_write_json(folder / MANIFEST_NAMES[manifest.backend], manifest.to_dict())


def read_manifest(folder: str | Path, backend: str) -> ExportManifest:
    """Read and check the manifest of an export folder made for ``backend``.

    Raises:
        CheckpointError: The folder does not exist, holds no manifest of that backend (the
            message says which export it holds instead, if any), or a graph file is missing.

    Example:
        >>> read_manifest("no/such/folder", "onnx")
        Traceback (most recent call last):
        idseg.errors.CheckpointError: onnx export folder not found: 'no/such/folder'
    """
    root = Path(folder)
    if not root.is_dir():
        raise CheckpointError(f"{backend} export folder not found: {str(root)!r}")
    path = root / MANIFEST_NAMES[backend]
    if not path.is_file():
        others = [b for b, name in MANIFEST_NAMES.items() if (root / name).is_file()]
        found = f"it holds {_LABELS[others[0]]} export" if others else "it holds no idseg export"
        raise CheckpointError(
            f"expected {MANIFEST_NAMES[backend]} in {str(root)!r} (written by `idseg export "
            f"{backend}`), but {found}"
        )
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read {path.name}: {exc}") from exc
    if not isinstance(record, dict):
        raise CheckpointError(f"{path.name} must hold a JSON object, got {type(record).__name__}")
    manifest = ExportManifest.from_dict(record, path.name)
    if manifest.backend != backend:
        raise CheckpointError(f"{path.name} describes a {manifest.backend} export, not {backend}")
    for name in (manifest.image_encoder, manifest.prompt_decoder):
        if not (root / name).is_file():
            raise CheckpointError(f"{name} listed in {path.name} is missing from {str(root)!r}")
    return manifest
