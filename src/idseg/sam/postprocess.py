"""Segment-everything output: binarised masks, box NMS, small-region clean-up, segments, records.

The masks of a generation run live in a :class:`sam2.utils.amg.MaskData` (Meta's container) as
uncompressed RLEs (``rles``) with ``boxes`` (XYXY, inclusive max), ``iou_preds``,
``stability_score``, ``points`` (``x, y``) and ``crop_boxes`` (XYXY), all in image pixels.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from sam2.utils.amg import (
    MaskData,
    area_from_rle,
    calculate_stability_score,
    coco_encode_rle,
    mask_to_rle_pytorch,
    remove_small_regions,
    rle_to_mask,
)
from torchvision.ops import batched_nms

from idseg.sam.results import Segment, Segments, mask_bbox_xyxy

logger = logging.getLogger(__name__)

#: Masks upsampled to full resolution together (bounds the float logits held at once).
UPSCALE_CHUNK = 16


def binarise_logits(
    low_res: torch.Tensor,
    crop_hw: tuple[int, int],
    upscale: Callable[[torch.Tensor, tuple[int, int]], torch.Tensor],
    mask_threshold: float,
    stability_score_offset: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Upsample logits to the crop a few at a time: boolean masks and stability scores.

    Args:
        low_res: ``B x h x w`` low-resolution logits.
        crop_hw: ``(height, width)`` to upsample to.
        upscale: Upsamples ``B x 1 x h x w`` logits to a size (``SAM2Predictor.upscale``).
        mask_threshold: Logit threshold of the masks.
        stability_score_offset: Offset of Meta's stability score.

    Returns:
        ``B x H x W`` boolean masks and ``B`` float32 stability scores.

    Example:
        >>> import torch.nn.functional as F
        >>> up = lambda x, hw: F.interpolate(x, hw, mode="bilinear", align_corners=False)
        >>> masks, scores = binarise_logits(torch.ones(2, 4, 4), (8, 8), up, 0.0, 0.5)
        >>> masks.shape, scores.tolist()
        (torch.Size([2, 8, 8]), [1.0, 1.0])
    """
    masks = torch.zeros((len(low_res), *crop_hw), dtype=torch.bool, device=low_res.device)
    scores = torch.zeros(len(low_res), dtype=torch.float32, device=low_res.device)
    for start in range(0, len(low_res), UPSCALE_CHUNK):
        chunk = low_res[start : start + UPSCALE_CHUNK, None]
        logits = upscale(chunk, crop_hw)[:, 0]
        scores[start : start + len(chunk)] = calculate_stability_score(
            logits, mask_threshold, stability_score_offset
        )
        masks[start : start + len(chunk)] = logits > mask_threshold
    return masks, scores


def clean_mask(mask: np.ndarray, min_area: float) -> tuple[np.ndarray, bool]:
    """Fill holes, then remove islands, smaller than ``min_area`` pixels (8-connectivity).

    Holes are background regions enclosed by the mask; islands are separate foreground regions.
    When every island is small, the largest one is kept, so a non-empty mask stays non-empty.

    Args:
        mask: Boolean ``H x W`` mask.
        min_area: Regions with fewer pixels than this are changed.

    Returns:
        ``(cleaned mask, whether anything changed)``.

    Example:
        >>> m = np.zeros((8, 8), bool); m[1:6, 1:6] = True; m[3, 3] = False; m[7, 7] = True
        >>> cleaned, changed = clean_mask(m, 2)
        >>> bool(cleaned[3, 3]), bool(cleaned[7, 7]), changed
        (True, False, True)
    """
    mask, holes_changed = remove_small_regions(np.asarray(mask, dtype=bool), min_area, "holes")
    mask, islands_changed = remove_small_regions(mask, min_area, "islands")
    return np.asarray(mask, dtype=bool), bool(holes_changed or islands_changed)


def box_nms(boxes: torch.Tensor, scores: torch.Tensor, thresh: float) -> torch.Tensor:
    """Class-agnostic box NMS (XYXY boxes); kept indices, best first.

    Example:
        >>> boxes = torch.tensor([[0, 0, 9, 9], [1, 1, 9, 9], [20, 20, 29, 29]])
        >>> box_nms(boxes, torch.tensor([0.5, 0.9, 0.1]), 0.7).tolist()
        [1, 2]
    """
    categories = torch.zeros(len(boxes), dtype=torch.int64, device=boxes.device)
    return batched_nms(boxes.float(), scores.to(boxes.device), categories, iou_threshold=thresh)


def postprocess_small_regions(data: MaskData, min_area: float, nms_thresh: float) -> MaskData:
    """Clean every mask with :func:`clean_mask`, then re-run box NMS preferring unchanged masks.

    Same procedure as Meta's ``postprocess_small_regions`` (SAM1 calls it with
    ``max(box_nms_thresh, crop_nms_thresh)``): unchanged masks score 1 and changed ones 0, so a
    cleaned mask that now duplicates an untouched one is dropped. Only the kept changed masks get
    a new RLE and box; their ``iou_preds`` and ``stability_score`` still describe the raw mask.
    Works on ``data`` in place and returns it.

    Args:
        data: Masks of one image (see the module docstring); ``boxes`` as a tensor.
        min_area: Holes and islands smaller than this many pixels are removed.
        nms_thresh: Box IoU above which the lower-scoring mask is suppressed.

    Returns:
        ``data``, filtered and updated.

    Example:
        >>> from sam2.utils.amg import mask_to_rle_pytorch
        >>> m = torch.zeros(1, 6, 6, dtype=torch.bool); m[0, 1:5, 1:5] = True; m[0, 2, 2] = False
        >>> d = MaskData(rles=mask_to_rle_pytorch(m), boxes=torch.tensor([[1, 1, 4, 4]]))
        >>> area_from_rle(postprocess_small_regions(d, 4, 0.7)["rles"][0])
        16
    """
    rles = data["rles"]
    if len(rles) == 0:
        return data
    boxes = torch.as_tensor(data["boxes"]).detach().cpu().clone()
    changed: dict[int, np.ndarray] = {}
    for i, rle in enumerate(rles):
        mask, was_changed = clean_mask(rle_to_mask(rle), min_area)
        if was_changed:
            changed[i] = mask
            boxes[i] = torch.as_tensor(mask_bbox_xyxy(mask), dtype=boxes.dtype)
    scores = torch.ones(len(rles), dtype=torch.float32)
    scores[list(changed)] = 0.0
    keep = box_nms(boxes, scores, nms_thresh)
    for i in keep.tolist():
        if i in changed:
            rles[i] = mask_to_rle_pytorch(torch.from_numpy(changed[i])[None])[0]
            data["boxes"][i] = boxes[i].to(data["boxes"].device, data["boxes"].dtype)
    logger.debug(
        "small-region clean-up: %d of %d masks changed, %d kept",
        len(changed),
        len(rles),
        len(keep),
    )
    data.filter(keep)
    return data


def _int_box(box: Any) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = (round(float(v)) for v in box)
    return (x0, y0, x1, y1)


def data_to_segments(
    data: MaskData, image_hw: tuple[int, int], settings: dict[str, Any]
) -> Segments:
    """Typed segments (largest first) from the numpy-converted masks of one image.

    Args:
        data: Masks of one image after ``data.to_numpy()``.
        image_hw: ``(height, width)`` of the image.
        settings: The generator's settings as a dict, stored on the result.

    Returns:
        :class:`~idseg.sam.results.Segments` sorted by area, largest first.

    Example:
        >>> m = torch.zeros(1, 6, 6, dtype=torch.bool); m[0, 1:5, 1:5] = True
        >>> d = MaskData(rles=mask_to_rle_pytorch(m), boxes=[[1, 1, 4, 4]], points=[[2, 2]],
        ...              iou_preds=[0.9], stability_score=[0.95], crop_boxes=[[0, 0, 6, 6]])
        >>> data_to_segments(d, (6, 6), {})[0].bbox_xyxy
        (1, 1, 4, 4)
    """
    items = []
    for i, rle in enumerate(data["rles"]):
        x, y = (float(v) for v in data["points"][i])
        items.append(
            Segment(
                mask=np.ascontiguousarray(rle_to_mask(rle)),
                bbox_xyxy=_int_box(data["boxes"][i]),
                area=int(area_from_rle(rle)),
                predicted_iou=float(data["iou_preds"][i]),
                stability_score=float(data["stability_score"][i]),
                point=(x, y),
                crop_box=_int_box(data["crop_boxes"][i]),
            )
        )
    return Segments(items, (int(image_hw[0]), int(image_hw[1])), settings)


def _xywh(box: np.ndarray) -> list[float]:
    x0, y0, x1, y1 = (float(v) for v in box)
    return [x0, y0, x1 - x0, y1 - y0]


def data_to_records(data: MaskData, output_mode: str) -> list[dict[str, Any]]:
    """Meta's record dicts (keys and meaning of ``SAM2AutomaticMaskGenerator.generate``).

    Args:
        data: Masks of one image after ``data.to_numpy()``.
        output_mode: ``binary_mask`` (boolean array), ``uncompressed_rle`` or ``coco_rle``.

    Returns:
        One dict per mask with ``segmentation``, ``area``, ``bbox`` (XYWH), ``predicted_iou``,
        ``point_coords``, ``stability_score`` and ``crop_box`` (XYWH).

    Example:
        >>> m = torch.zeros(1, 6, 6, dtype=torch.bool); m[0, 1:5, 1:5] = True
        >>> d = MaskData(rles=mask_to_rle_pytorch(m), boxes=[[1, 1, 4, 4]], points=[[2, 2]],
        ...              iou_preds=[0.9], stability_score=[0.95], crop_boxes=[[0, 0, 6, 6]])
        >>> [(r["area"], r["bbox"]) for r in data_to_records(d, "coco_rle")]
        [(16, [1.0, 1.0, 3.0, 3.0])]
    """
    records = []
    for i, rle in enumerate(data["rles"]):
        if output_mode == "coco_rle":
            segmentation: Any = coco_encode_rle(rle)
        elif output_mode == "binary_mask":
            segmentation = rle_to_mask(rle)
        else:
            segmentation = rle
        records.append(
            {
                "segmentation": segmentation,
                "area": area_from_rle(rle),
                "bbox": _xywh(data["boxes"][i]),
                "predicted_iou": float(data["iou_preds"][i]),
                "point_coords": [[float(v) for v in data["points"][i]]],
                "stability_score": float(data["stability_score"][i]),
                "crop_box": _xywh(data["crop_boxes"][i]),
            }
        )
    return records
