"""Exporters: COCO (compressed RLE), polygons and YOLO-seg labels; file writers re-exported.

Polygon coordinates follow :mod:`idseg.geometry`: ``(x, y)`` at pixel centres. The YOLO-seg
export (:func:`masks_to_yolo`, :func:`segments_to_yolo`, :func:`bridge_outlines`) lives in
:mod:`idseg.yolo`, and the PNG and JSON writers (:func:`save_mask_png`, :func:`save_mask_pngs`,
:func:`save_label_png`, :func:`write_json`) in :mod:`idseg.io.writers`; both are re-exported
here. Every file is written atomically (see :mod:`idseg.io.atomic`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import cv2  # noqa: F401  (``formats.cv2`` is the module the PNG writers encode with)
import numpy as np
from pycocotools import mask as mask_utils

from idseg._version import __version__
from idseg.errors import InputError
from idseg.geometry import mask_to_polygons
from idseg.io.writers import (
    PathLike,
    _mask_2d,
    save_label_png,
    save_mask_png,
    save_mask_pngs,
    write_json,
)
from idseg.sam.results import Segments, mask_bbox_xyxy
from idseg.yolo import _delaunay_pairs as _delaunay_pairs  # patch point of the YOLO bridging
from idseg.yolo import bridge_outlines, masks_to_yolo, segments_to_yolo

logger = logging.getLogger(__name__)


# --- COCO run-length encoding ------------------------------------------------------------------


def mask_to_rle(mask: np.ndarray) -> dict[str, Any]:
    """Encode a binary mask as COCO compressed RLE with ``counts`` as a JSON-ready string.

    Example:
        >>> m = np.zeros((4, 5), bool); m[1:3, 2:4] = True
        >>> mask_to_rle(m)
        {'size': [4, 5], 'counts': '92203'}

    """
    arr = np.asfortranarray(_mask_2d(mask), dtype=np.uint8)
    rle = mask_utils.encode(arr)
    return {"size": [int(arr.shape[0]), int(arr.shape[1])], "counts": rle["counts"].decode("ascii")}


def _compressed(rle: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise InputError(
            f"an RLE must be a dict with 'size' and 'counts', got {type(rle).__name__}"
        )
    h, w = (int(v) for v in rle["size"])
    counts = rle["counts"]
    if isinstance(counts, list):  # uncompressed RLE
        return dict(mask_utils.frPyObjects({"size": [h, w], "counts": counts}, h, w))
    if isinstance(counts, str):
        counts = counts.encode("ascii")
    if not isinstance(counts, bytes):
        raise InputError(f"RLE counts must be str, bytes or a list, got {type(counts).__name__}")
    return {"size": [h, w], "counts": counts}


def rle_to_mask(rle: dict[str, Any]) -> np.ndarray:
    """Decode a COCO RLE (compressed or uncompressed) into a boolean ``H x W`` mask.

    Raises:
        InputError: Counts of the wrong type, or counts that do not fit ``size``.

    Example:
        >>> int(rle_to_mask({'size': [4, 5], 'counts': '92203'}).sum())
        4

    """
    compressed = _compressed(rle)
    try:
        return mask_utils.decode(compressed).astype(bool)
    except ValueError as exc:
        raise InputError(f"invalid RLE for size {rle['size']}: {exc}") from exc


def rle_area(rle: dict[str, Any]) -> int:
    """Count the foreground pixels of a COCO RLE without decoding it.

    Example:
        >>> rle_area({'size': [4, 5], 'counts': '92203'})
        4

    """
    return int(mask_utils.area(_compressed(rle)))


# --- COCO datasets -----------------------------------------------------------------------------


def _coco_bbox(mask: np.ndarray) -> list[float]:
    """COCO ``[x, y, w, h]`` of the tight mask box, ``w = x1 - x0 + 1``; zeros if empty."""
    if not mask.any():
        return [0.0, 0.0, 0.0, 0.0]
    x0, y0, x1, y1 = mask_bbox_xyxy(mask)
    return [float(x0), float(y0), float(x1 - x0 + 1), float(y1 - y0 + 1)]


def _info() -> dict[str, Any]:
    return {"description": "idseg segmentation", "version": __version__}


def segments_to_coco(
    segments: Segments,
    image_id: int = 1,
    file_name: str = "image",
    category_id: int = 1,
    category_name: str = "object",
) -> dict[str, Any]:
    """Build a COCO dataset dict for one image: one compressed-RLE annotation per segment.

    Annotations keep ``iscrowd`` 0 even for masks with holes; ``area`` is the true pixel count
    and ``bbox`` the tight box with COCO widths (``w = x1 - x0 + 1``). Annotation ids start at 1,
    in the order of ``segments`` (largest first). Meta's metadata (``predicted_iou``,
    ``stability_score``, ``point_coords``, ``crop_box``) is kept on each annotation.

    Args:
        segments: The segments of one image.
        image_id: Id of the image (and ``image_id`` of every annotation).
        file_name: File name recorded for the image.
        category_id: Category of every annotation.
        category_name: Name of that category.

    Raises:
        InputError: A segment's mask does not have the image's size.

    Example:
        >>> from idseg.sam.results import Segment
        >>> m = np.zeros((8, 8), bool); m[2:6, 2:6] = True
        >>> seg = Segment(m, (2, 2, 5, 5), 16, 0.9, 0.95, (3.5, 3.5), (0, 0, 8, 8))
        >>> ann = segments_to_coco(Segments([seg], (8, 8)), file_name="card.jpg")["annotations"][0]
        >>> ann["segmentation"], ann["area"], ann["iscrowd"]
        ({'size': [8, 8], 'counts': 'b04400000>'}, 16, 0)

    """
    h, w = (int(v) for v in segments.image_hw)
    annotations = []
    for ann_id, seg in enumerate(segments, start=1):
        mask = _mask_2d(seg.mask)
        if mask.shape != (h, w):
            raise InputError(f"segment mask of shape {mask.shape} does not match image {(h, w)}")
        annotations.append(
            {
                "id": ann_id,
                "image_id": image_id,
                "category_id": category_id,
                "segmentation": mask_to_rle(mask),
                "area": int(mask.sum()),
                "bbox": _coco_bbox(mask),
                "iscrowd": 0,
                "predicted_iou": float(seg.predicted_iou),
                "stability_score": float(seg.stability_score),
                "point_coords": [[float(v) for v in seg.point]],
                "crop_box": [int(v) for v in seg.crop_box],
            }
        )
    return {
        "info": _info(),
        "licenses": [],
        "images": [{"id": image_id, "file_name": file_name, "height": h, "width": w}],
        "annotations": annotations,
        "categories": [{"id": category_id, "name": category_name, "supercategory": "object"}],
    }


def merge_coco(datasets: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Combine COCO dicts (one per image, say) into one dataset with unique ids.

    Images and annotations are renumbered from 1 in input order; annotations follow their
    image. Categories are merged by id; the same id with two different names is an error.
    The inputs are not modified.

    Raises:
        InputError: An image id twice in one dataset, an annotation of an unknown image, or one
            category id with two names.

    Example:
        >>> coco_a = segments_to_coco(Segments([], (8, 8)), file_name="a.jpg")
        >>> coco_b = segments_to_coco(Segments([], (8, 8)), file_name="b.jpg")
        >>> [(im["id"], im["file_name"]) for im in merge_coco([coco_a, coco_b])["images"]]
        [(1, 'a.jpg'), (2, 'b.jpg')]

    """
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    categories: dict[int, dict[str, Any]] = {}
    for index, data in enumerate(datasets):
        id_map: dict[Any, int] = {}
        for image in data.get("images", []):
            if image["id"] in id_map:
                raise InputError(f"dataset {index} has the image id {image['id']!r} twice")
            id_map[image["id"]] = len(images) + 1
            images.append({**image, "id": id_map[image["id"]]})
        for ann in data.get("annotations", []):
            if ann["image_id"] not in id_map:
                raise InputError(
                    f"dataset {index}: annotation {ann.get('id')!r} refers to unknown image "
                    f"id {ann['image_id']!r}"
                )
            new = {**ann, "id": len(annotations) + 1, "image_id": id_map[ann["image_id"]]}
            annotations.append(new)
        for cat in data.get("categories", []):
            known = categories.setdefault(int(cat["id"]), dict(cat))
            if known.get("name") != cat.get("name"):
                raise InputError(
                    f"category id {cat['id']} is named both {known.get('name')!r} and "
                    f"{cat.get('name')!r}"
                )
    first_info = datasets[0].get("info") if datasets else None
    return {
        "info": dict(first_info) if first_info else _info(),
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [categories[k] for k in sorted(categories)],
    }


# --- polygons ----------------------------------------------------------------------------------


def segments_to_polygons(segments: Segments, tolerance: float = 1.0) -> list[dict[str, Any]]:
    """Each segment as JSON-ready polygons with holes plus its metadata.

    Returns:
        One dict per segment, in order: ``index``, ``area`` (pixels), ``bbox_xyxy``,
        ``predicted_iou``, ``stability_score`` and ``polygons`` (a list of
        ``{"exterior": [[x, y], ...], "holes": [[[x, y], ...], ...]}``).

    Example:
        >>> from idseg.sam.results import Segment
        >>> m = np.zeros((8, 8), bool); m[2:6, 2:6] = True
        >>> seg = Segment(m, (2, 2, 5, 5), 16, 0.9, 0.95, (3.5, 3.5), (0, 0, 8, 8))
        >>> segments_to_polygons(Segments([seg], (8, 8)))[0]["polygons"][0]["exterior"][:2]
        [[2.0, 2.0], [2.0, 5.0]]

    """
    return [
        {
            "index": index,
            "area": int(seg.area),
            "bbox_xyxy": [int(v) for v in seg.bbox_xyxy],
            "predicted_iou": float(seg.predicted_iou),
            "stability_score": float(seg.stability_score),
            "polygons": [p.to_dict() for p in mask_to_polygons(seg.mask, tolerance=tolerance)],
        }
        for index, seg in enumerate(segments)
    ]


__all__ = [
    "PathLike",
    "bridge_outlines",
    "mask_to_rle",
    "masks_to_yolo",
    "merge_coco",
    "rle_area",
    "rle_to_mask",
    "save_label_png",
    "save_mask_png",
    "save_mask_pngs",
    "segments_to_coco",
    "segments_to_polygons",
    "segments_to_yolo",
    "write_json",
]
