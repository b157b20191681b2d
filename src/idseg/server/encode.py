"""Masks as JSON answers: COCO RLE, polygons or base64 PNG, with box, area and score."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from idseg.formats import mask_to_rle
from idseg.geometry import mask_to_polygons
from idseg.sam.results import mask_bbox_xyxy


def png_base64(array: np.ndarray) -> str:
    """A boolean mask (1-bit), a label map (8-bit) or an RGB image as a base64 PNG.

    Example:
        >>> png_base64(np.ones((2, 2), bool))[:8]
        'iVBORw0K'
    """
    buf = io.BytesIO()
    arr = np.asarray(array)
    if arr.dtype != bool:
        arr = arr.astype(np.uint8)
    Image.fromarray(arr).save(buf, format="PNG", optimize=arr.dtype == bool)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def encode_mask(
    mask: np.ndarray, fmt: str | Sequence[str], score: float | None = None
) -> dict[str, Any]:
    """One mask as a JSON-ready dict: ``area``, ``bbox`` (XYXY), ``score`` and the mask itself.

    ``fmt`` is ``rle`` (COCO compressed RLE), ``polygons`` (exterior and holes) or ``png``
    (base64), or a list of them.

    Example:
        >>> m = np.zeros((4, 4), bool); m[1:3, 1:3] = True
        >>> d = encode_mask(m, "rle", 0.9)
        >>> d["area"], d["bbox"], d["rle"]["size"]
        (4, [1, 1, 2, 2], [4, 4])
    """
    mask = np.asarray(mask, dtype=bool)
    out: dict[str, Any] = {"area": int(mask.sum()), "bbox": list(mask_bbox_xyxy(mask))}
    if score is not None:
        out["score"] = float(score)
    formats = [fmt] if isinstance(fmt, str) else list(fmt)
    if "rle" in formats:
        out["rle"] = mask_to_rle(mask)
    if "polygons" in formats:
        out["polygons"] = [p.to_dict() for p in mask_to_polygons(mask)]
    if "png" in formats:
        out["png"] = png_base64(mask)
    return out
