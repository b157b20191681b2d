"""idseg: segment identity documents, and any other image, with Meta's SAM2.

The public API is imported lazily, so ``import idseg`` (and ``idseg --version``) does not load torch.

Example:
    >>> from idseg import SAM2Predictor, Segmenter  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from idseg._version import __version__

_EXPORTS = {
    "SAM2Predictor": "idseg.sam.predictor",
    "ImageEmbedding": "idseg.sam.predictor",
    "EverythingGenerator": "idseg.sam.everything",
    "segment_everything": "idseg.sam.everything",
    "EverythingSettings": "idseg.sam.settings",
    "PRESETS": "idseg.sam.settings",
    "preset": "idseg.sam.settings",
    "Masks": "idseg.sam.results",
    "Segment": "idseg.sam.results",
    "Segments": "idseg.sam.results",
    "Segmenter": "idseg.segmenter",
    "load_sam2": "idseg.models.sam2",
    "build_model": "idseg.models.sam2",
    "load_image": "idseg.io.images",
    "load_config": "idseg.config",
    "IdsegConfig": "idseg.config",
    "mask_to_polygons": "idseg.geometry",
    "fit_quad": "idseg.geometry",
    "overlay_masks": "idseg.viz",
    "DocumentPipeline": "idseg.documents.pipeline",
    "analyze_document": "idseg.documents.pipeline",
    "Document": "idseg.documents.result",
    "DocumentField": "idseg.documents.result",
    "DocumentResult": "idseg.documents.result",
    "redact": "idseg.documents.redact",
}

__all__ = [
    "PRESETS",
    "Document",
    "DocumentField",
    "DocumentPipeline",
    "DocumentResult",
    "EverythingGenerator",
    "EverythingSettings",
    "IdsegConfig",
    "ImageEmbedding",
    "Masks",
    "SAM2Predictor",
    "Segment",
    "Segmenter",
    "Segments",
    "__version__",
    "analyze_document",
    "build_model",
    "fit_quad",
    "load_config",
    "load_image",
    "load_sam2",
    "mask_to_polygons",
    "overlay_masks",
    "preset",
    "redact",
    "segment_everything",
]

if TYPE_CHECKING:
    from idseg.config import IdsegConfig, load_config
    from idseg.documents.pipeline import DocumentPipeline, analyze_document
    from idseg.documents.redact import redact
    from idseg.documents.result import Document, DocumentField, DocumentResult
    from idseg.geometry import fit_quad, mask_to_polygons
    from idseg.io.images import load_image
    from idseg.models.sam2 import build_model, load_sam2
    from idseg.sam.everything import EverythingGenerator, segment_everything
    from idseg.sam.predictor import ImageEmbedding, SAM2Predictor
    from idseg.sam.results import Masks, Segment, Segments
    from idseg.sam.settings import PRESETS, EverythingSettings, preset
    from idseg.segmenter import Segmenter
    from idseg.viz import overlay_masks


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'idseg' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
