"""Segment-everything, fast mode: a documented approximation of Meta's generator.

Exact mode (:class:`~idseg.sam.everything.EverythingGenerator` with ``mode="exact"``) decodes
every grid point, as Meta does. Fast mode changes three things, per crop:

1. **Coarse to fine** (opt-in: ``fast_coarse_step`` 2 or more; the default 1 decodes every
   point, because with idseg's small SAM2 skipping lost 12 % of Meta's masks for a 10 % gain).
   On a regular grid (``points_per_side``) the points on every ``fast_coarse_step``-th row and
   column are decoded first. The candidates that pass the filters
   and box NMS are *accepted*; a remaining (fine) point is skipped when it lies inside an accepted
   mask covering less than ``fast_skip_area`` of the crop, since decoding it would find that
   object (or its parts) again. Points on larger masks (a whole card, the background) are still
   decoded, so small objects on them are not lost. Explicit ``point_grids`` run in one pass.
2. **Windows until NMS.** Candidates are judged as in exact mode (predicted IoU, then the
   stability score and the crop-edge test on logits upsampled only inside each mask's window,
   :mod:`idseg.sam.upsample`), but stay windows: only box-NMS survivors are pasted into full
   masks and run-length encoded, where exact mode encodes every candidate before its NMS.
3. **bf16 decoding** where the hardware has it (``fast_dtype``; CUDA with bf16, CPUs with
   AVX512-BF16 or AMX): the decoder's upscaling and hypernetwork product, most of its time, run
   in bf16 (:class:`~idseg.sam.fast_decoder.FastMaskDecoder`).

The masks are close to exact mode's, not equal (bf16 rounding, skipped points):
``benchmarks/sam2_speed.py --cases fast`` reports the share of Meta's masks that fast mode
recovers at IoU 0.9.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import torch
from sam2.utils.amg import (
    MaskData,
    batch_iterator,
    is_box_near_crop_edge,
    mask_to_rle_pytorch,
    uncrop_masks,
)

from idseg.sam import postprocess as _post
from idseg.sam.predictor import ImageEmbedding
from idseg.sam.upsample import paste, windowed_masks

if TYPE_CHECKING:
    from idseg.sam.everything import EverythingGenerator

logger = logging.getLogger(__name__)


def coarse_split(n_side: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (row-major, as Meta's grid) of the coarse and the fine points of an ``n x n`` grid.

    Coarse points sit on every ``step``-th row and column, starting at ``step // 2`` so that they
    are centred in their ``step x step`` block.

    Example:
        >>> coarse, fine = coarse_split(4, 2)
        >>> coarse.tolist(), len(fine)
        ([5, 7, 13, 15], 12)
    """
    idx = np.arange(n_side * n_side).reshape(n_side, n_side)
    on = np.zeros((n_side, n_side), dtype=bool)
    on[step // 2 :: step, step // 2 :: step] = True
    if step <= 1:
        on[:] = True
    return idx[on], idx[~on]


def window_boxes(windows: list[np.ndarray], offsets: torch.Tensor) -> torch.Tensor:
    """XYXY boxes (inclusive max, Meta's convention) of window masks placed at ``offsets``.

    Empty masks get ``[0, 0, 0, 0]`` as Meta's ``batched_mask_to_box``.

    Example:
        >>> w = np.zeros((3, 4), bool); w[1, 2:4] = True
        >>> window_boxes([w], torch.tensor([[10, 20, 14, 23]])).tolist()
        [[12, 21, 13, 21]]
    """
    boxes = np.zeros((len(windows), 4), dtype=np.int64)
    for i, (win, (x0, y0, _, _)) in enumerate(zip(windows, offsets.tolist(), strict=True)):
        rows, cols = np.flatnonzero(win.any(1)), np.flatnonzero(win.any(0))
        if len(rows):
            boxes[i] = (x0 + cols[0], y0 + rows[0], x0 + cols[-1], y0 + rows[-1])
    return torch.from_numpy(boxes).to(offsets.device)


def points_covered(
    windows: list[np.ndarray],
    offsets: torch.Tensor,
    points: np.ndarray,
    max_area: float,
) -> np.ndarray:
    """Which ``points`` (crop pixels) lie in a window mask of fewer than ``max_area`` pixels.

    Example:
        >>> w = np.ones((2, 2), bool)
        >>> points_covered([w], torch.tensor([[0, 0, 2, 2]]), np.array([[1.0, 1.0], [5.0, 5.0]]), 10).tolist()
        [True, False]
    """
    covered = np.zeros(len(points), dtype=bool)
    px, py = points[:, 0].astype(int), points[:, 1].astype(int)
    for win, (x0, y0, x1, y1) in zip(windows, offsets.tolist(), strict=True):
        if win.size == 0 or int(np.count_nonzero(win)) >= max_area:
            continue
        inside = (px >= x0) & (px < x1) & (py >= y0) & (py < y1) & ~covered
        for i in np.nonzero(inside)[0]:
            covered[i] = bool(win[py[i] - y0, px[i] - x0])
    return covered


class FastCrop:
    """Fast-mode processing of one crop for an :class:`EverythingGenerator`.

    Args:
        gen: The generator (its settings and predictors are used).
        emb: The crop's embedding.
        crop_box: ``[x0, y0, x1, y1]`` of the crop in the image.
        crop_hw: ``(height, width)`` of the crop.
        orig_hw: ``(height, width)`` of the image.
    """

    def __init__(
        self,
        gen: EverythingGenerator,
        emb: ImageEmbedding,
        crop_box: list[int],
        crop_hw: tuple[int, int],
        orig_hw: tuple[int, int],
    ) -> None:
        self.gen, self.emb = gen, emb
        self.crop_box, self.crop_hw, self.orig_hw = crop_box, crop_hw, orig_hw
        self.decoded = 0

    def run(self, points: np.ndarray, n_side: int | None) -> MaskData:
        """Masks of ``points`` (crop pixels; ``n_side`` when they form Meta's regular grid).

        Returns:
            Meta's per-crop ``MaskData`` (``rles``, ``boxes`` and ``points`` in crop pixels,
            ``iou_preds``, ``stability_score``), after box NMS.
        """
        s = self.gen.settings
        if n_side is not None and n_side * n_side == len(points) and s.fast_coarse_step > 1:
            coarse, fine = coarse_split(n_side, s.fast_coarse_step)
        else:
            coarse, fine = np.arange(len(points)), np.zeros(0, dtype=int)
        data = self._candidates(points[coarse])
        if len(fine):
            keep = self._nms_keep(data).tolist()  # the accepted masks; all stay candidates
            windows = [data["windows"][i] for i in keep]
            max_area = s.fast_skip_area * self.crop_hw[0] * self.crop_hw[1]
            skip = points_covered(windows, data["offsets"][keep], points[fine], max_area)
            logger.debug("fast mode: %d of %d fine points skipped", int(skip.sum()), len(fine))
            data.cat(self._candidates(points[fine[~skip]]))
        data.filter(self._nms_keep(data))
        logger.debug("fast mode: %d of %d points decoded", self.decoded, len(points))
        return self._finish(data)

    def _candidates(self, points: np.ndarray) -> MaskData:
        """Decode ``points`` in batches; keep the candidates passing every filter, as windows."""
        data = _empty(self.gen.predictor.device)
        for (batch,) in batch_iterator(self.gen.settings.points_per_batch, points):
            data.cat(self._batch(batch))
        return data

    def _batch(self, points: np.ndarray) -> MaskData:
        s = self.gen.settings
        self.decoded += len(points)
        found = self.gen._decode_candidates(self.emb, points, self.crop_hw)
        windows, offsets, stability = windowed_masks(
            found["low_res"], self.crop_hw, s.mask_threshold, s.stability_score_offset
        )
        data = MaskData(
            windows=windows,
            offsets=offsets,
            iou_preds=found["iou_preds"],
            points=found["points"],
            stability_score=stability,
        )
        if s.stability_score_thresh > 0.0:
            data.filter(data["stability_score"] >= s.stability_score_thresh)
        data["boxes"] = window_boxes(data["windows"], data["offsets"])
        image_box = [0, 0, self.orig_hw[1], self.orig_hw[0]]
        keep = ~is_box_near_crop_edge(data["boxes"], self.crop_box, image_box)
        data.filter(keep)
        return data

    def _nms_keep(self, data: MaskData) -> torch.Tensor:
        """Indices box NMS keeps (all candidates of the crop together, as Meta)."""
        if len(data["iou_preds"]) == 0:
            return torch.zeros(0, dtype=torch.int64)
        return _post.box_nms(data["boxes"], data["iou_preds"], self.gen.settings.box_nms_thresh)

    def _finish(self, data: MaskData) -> MaskData:
        """Full masks and RLEs of the survivors (Meta's crop-level data)."""
        masks = paste(data["windows"], data["offsets"], self.crop_hw)
        del data["windows"], data["offsets"]
        data["rles"] = mask_to_rle_pytorch(uncrop_masks(masks, self.crop_box, *self.orig_hw))
        return data


def _empty(device: torch.device) -> MaskData:
    return MaskData(
        windows=[],
        offsets=torch.zeros((0, 4), dtype=torch.int64, device=device),
        iou_preds=torch.zeros(0, device=device),
        points=torch.zeros((0, 2), device=device),
        stability_score=torch.zeros(0, device=device),
        boxes=torch.zeros((0, 4), dtype=torch.int64, device=device),
    )
