"""Bilinear upsampling of mask logits, evaluated only where a mask can be.

Meta's generator upsamples every candidate's ``h x w`` logits to the whole crop before it computes
the stability score and binarises. But a bilinearly interpolated value is a convex combination of
its (at most 2 x 2) source pixels, so it can only exceed a threshold ``t`` where one of those does.
:class:`WindowedUpsampler` finds the bounding box of the source pixels above the lowest threshold
that matters (``mask_threshold - stability_score_offset``), interpolates the output pixels that
read from it, and knows that every other output pixel is at or below ``t``: the stability score,
the mask and its box come out as from the full upsampling, at the cost of the mask's box instead
of the crop.

The arithmetic is PyTorch's ``F.interpolate(..., mode="bilinear", align_corners=False)``: the same
source indices and weights, the width pass first, then the height pass, each as ``v0 * w0 +
v1 * w1``. Values agree to float rounding (about 1e-6); ``tests/test_upsample.py`` finds the
same masks and stability scores pixel for pixel.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class _Axis:
    """Source indices and weights of one axis: output ``i`` reads ``i0[i]`` and ``i1[i]``."""

    i0: np.ndarray
    i1: np.ndarray
    w0: np.ndarray
    w1: np.ndarray

    @classmethod
    def build(cls, n_in: int, n_out: int) -> _Axis:
        scale = np.float32(n_in) / np.float32(n_out)
        src = np.maximum(scale * (np.arange(n_out, dtype=np.float64) + 0.5) - 0.5, 0.0)
        src = src.astype(np.float32)
        i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
        lam = np.clip(src - i0.astype(np.float32), 0.0, 1.0).astype(np.float32)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return cls(i0, i1, (np.float32(1.0) - lam).astype(np.float32), lam)

    def span(self, lo: int, hi: int) -> tuple[int, int]:
        """Output range ``[a, b)`` of the pixels reading any source index in ``[lo, hi]``."""
        a = int(np.searchsorted(self.i1, lo, side="left"))
        b = int(np.searchsorted(self.i0, hi, side="right"))
        return a, b


@functools.lru_cache(maxsize=32)
def _axis(n_in: int, n_out: int) -> _Axis:
    """The tables of one axis, built once per size pair.

    Every batch of a generator, and both the bound and the upsampler, share them; nothing
    writes to them.
    """
    return _Axis.build(n_in, n_out)


class WindowedUpsampler:
    """Upsample ``h x w`` logits to ``out_hw`` inside the box where they can pass a threshold.

    Takes and returns NumPy float32 arrays (counting and comparing cost less there than in
    PyTorch); the interpolation itself runs on PyTorch's ``index_select``.

    Args:
        in_hw: ``(h, w)`` of the logits.
        out_hw: ``(height, width)`` to upsample to.

    Example:
        >>> up = WindowedUpsampler((4, 4), (8, 8))
        >>> low = np.full((4, 4), -5.0, np.float32); low[1, 1] = 5.0
        >>> win = up.window(low, 0.0)
        >>> win.box, bool((win.logits > 0).any())
        ((0, 0, 5, 5), True)
    """

    def __init__(self, in_hw: tuple[int, int], out_hw: tuple[int, int]) -> None:
        self.in_hw, self.out_hw = in_hw, out_hw
        self.rows = _axis(in_hw[0], out_hw[0])
        self.cols = _axis(in_hw[1], out_hw[1])
        self._torch = {
            f"{axis}{name}": torch.from_numpy(getattr(getattr(self, attr), name))
            for axis, attr in (("r", "rows"), ("c", "cols"))
            for name in ("i0", "i1", "w0", "w1")
        }

    def window(self, low: np.ndarray, floor: float) -> Window:
        """The upsampled logits of ``low`` (``h x w`` float32) where they can exceed ``floor``.

        Returns:
            A :class:`Window`; empty (``box`` ``(0, 0, 0, 0)``) when no source pixel exceeds
            ``floor``.
        """
        above = low > floor
        rows = np.flatnonzero(above.any(1))
        if len(rows) == 0:
            return Window(np.zeros((0, 0), np.float32), (0, 0, 0, 0))
        cols = np.flatnonzero(above.any(0))
        r, c = self.rows, self.cols
        y0, y1 = r.span(int(rows[0]), int(rows[-1]))
        x0, x1 = c.span(int(cols[0]), int(cols[-1]))
        sr0, sr1 = int(r.i0[y0]), int(r.i1[y1 - 1]) + 1
        # PyTorch's index_select and in-place products: several times faster than NumPy's
        # fancy indexing on large windows; the same operations, so the same values.
        src = torch.from_numpy(low[sr0:sr1])
        t = self._torch
        wide = src.index_select(1, t["ci0"][x0:x1]).mul_(t["cw0"][x0:x1])
        wide.add_(src.index_select(1, t["ci1"][x0:x1]).mul_(t["cw1"][x0:x1]))
        out = wide.index_select(0, t["ri0"][y0:y1] - sr0).mul_(t["rw0"][y0:y1, None])
        out.add_(wide.index_select(0, t["ri1"][y0:y1] - sr0).mul_(t["rw1"][y0:y1, None]))
        return Window(out.numpy(), (x0, y0, x1, y1))


@dataclass
class Window:
    """Upsampled logits inside ``box`` (``x0, y0, x1, y1``, exclusive max); below it elsewhere."""

    logits: np.ndarray
    box: tuple[int, int, int, int]

    def count_above(self, threshold: float) -> int:
        """Output pixels above ``threshold`` (all of them lie in the window)."""
        return int(np.count_nonzero(self.logits > threshold))


def windowed_masks(
    low_res: torch.Tensor,
    out_hw: tuple[int, int],
    mask_threshold: float,
    stability_score_offset: float,
) -> tuple[list[np.ndarray], torch.Tensor, torch.Tensor]:
    """Masks of ``B x h x w`` logits upsampled to ``out_hw``, kept as windows, and their scores.

    Args:
        low_res: ``B x h x w`` logits.
        out_hw: ``(height, width)`` of the upsampled masks.
        mask_threshold: Logit threshold of the masks.
        stability_score_offset: Offset of Meta's stability score.

    Returns:
        ``(windows, boxes, scores)``: per mask the boolean ``logits > mask_threshold`` inside its
        window (NumPy), the windows as ``B x 4`` int64 ``x0, y0, x1, y1`` (exclusive max; all
        zero when empty), and float32 stability scores (NaN where nothing passes the lower
        threshold, as Meta's 0 / 0).

    Example:
        >>> low = torch.full((1, 4, 4), -5.0); low[0, 1:3, 1:3] = 5.0
        >>> wins, boxes, scores = windowed_masks(low, (8, 8), 0.0, 1.0)
        >>> int(wins[0].sum()), boxes[0].tolist(), round(float(scores[0]), 3)
        (16, [0, 0, 7, 7], 0.75)
    """
    n = len(low_res)
    counts = np.zeros((2, n), dtype=np.int32)
    boxes = np.zeros((n, 4), dtype=np.int64)
    windows: list[np.ndarray] = []
    up = WindowedUpsampler((int(low_res.shape[-2]), int(low_res.shape[-1])), out_hw)
    lo = mask_threshold - stability_score_offset
    hi = mask_threshold + stability_score_offset
    floor = min(lo, mask_threshold)
    logits = low_res.detach().float().cpu().numpy()
    for i in range(n):
        win = up.window(logits[i], floor)
        counts[0, i] = win.count_above(hi)
        counts[1, i] = win.count_above(lo)
        windows.append(win.logits > mask_threshold)
        boxes[i] = win.box
    scores = torch.from_numpy(counts[0]) / torch.from_numpy(counts[1])
    return windows, torch.from_numpy(boxes).to(low_res.device), scores.to(low_res.device)


def paste(windows: list[np.ndarray], boxes: torch.Tensor, out_hw: tuple[int, int]) -> torch.Tensor:
    """Full ``B x H x W`` boolean masks from windows and their ``x0, y0, x1, y1`` boxes.

    Example:
        >>> paste([torch.ones(1, 2, dtype=torch.bool)], torch.tensor([[1, 2, 3, 3]]), (4, 4)).sum()
        tensor(2)
    """
    device = boxes.device
    masks = torch.zeros((len(windows), *out_hw), dtype=torch.bool, device=device)
    for i, (win, box) in enumerate(zip(windows, boxes.tolist(), strict=True)):
        x0, y0, x1, y1 = box
        masks[i, y0:y1, x0:x1] = torch.from_numpy(np.asarray(win))
    return masks


def windowed_binarise(
    low_res: torch.Tensor,
    out_hw: tuple[int, int],
    mask_threshold: float,
    stability_score_offset: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Boolean masks and stability scores of ``B x h x w`` logits upsampled to ``out_hw``.

    The same values as upsampling each mask to ``out_hw`` with ``F.interpolate`` (bilinear,
    ``align_corners=False``) and applying Meta's ``calculate_stability_score``, but computed
    inside each mask's window only (see the module docstring).

    Example:
        >>> low = torch.full((1, 4, 4), -5.0); low[0, 1:3, 1:3] = 5.0
        >>> masks, scores = windowed_binarise(low, (8, 8), 0.0, 1.0)
        >>> int(masks.sum()), round(float(scores[0]), 3)
        (16, 0.75)
    """
    windows, boxes, scores = windowed_masks(low_res, out_hw, mask_threshold, stability_score_offset)
    return paste(windows, boxes, out_hw), scores


def stability_upper_bound(
    low_res: torch.Tensor,
    out_hw: tuple[int, int],
    mask_threshold: float,
    stability_score_offset: float,
) -> torch.Tensor:
    """An upper bound of Meta's stability score of each upsampled mask, from the logits alone.

    An output pixel lies in one cell of the source grid (between source pixels ``i0`` and ``i1``
    on each axis) and its bilinear value lies between the cell's smallest and largest corner. So
    the pixels above ``t + offset`` are at most the pixels of cells with a corner above it, and
    the pixels above ``t - offset`` at least those of cells with every corner above it. Their
    ratio bounds the score from above (a margin of 1e-4 covers float rounding): a candidate whose
    bound is below ``stability_score_thresh`` can be dropped without upsampling it.

    Args:
        low_res: ``B x h x w`` logits.
        out_hw: ``(height, width)`` the masks would be upsampled to.
        mask_threshold: Logit threshold of the masks.
        stability_score_offset: Offset of the stability score.

    Returns:
        ``B`` float32 bounds (``inf`` where no cell lies wholly above the lower threshold).

    Example:
        >>> low = torch.full((1, 4, 4), -5.0); low[0, 1:3, 1:3] = 5.0
        >>> bound = stability_upper_bound(low, (8, 8), 0.0, 1.0)
        >>> _, score = windowed_binarise(low, (8, 8), 0.0, 1.0)
        >>> bool(bound[0] >= score[0])
        True
    """
    h, w = int(low_res.shape[-2]), int(low_res.shape[-1])
    rows = _axis(h, out_hw[0])
    cols = _axis(w, out_hw[1])
    per_row = torch.from_numpy(np.bincount(rows.i0, minlength=h).astype(np.float32))
    per_col = torch.from_numpy(np.bincount(cols.i0, minlength=w).astype(np.float32))
    padded = F.pad(low_res.float()[:, None], (0, 1, 0, 1), mode="replicate")
    corner_max = F.max_pool2d(padded, 2, stride=1)[:, 0]
    corner_min = -F.max_pool2d(-padded, 2, stride=1)[:, 0]
    margin = 1e-4
    hi = (corner_max > mask_threshold + stability_score_offset - margin).float()
    lo = (corner_min > mask_threshold - stability_score_offset + margin).float()
    weights = per_row.to(low_res.device)[:, None] * per_col.to(low_res.device)[None, :]
    most_inter = (hi * weights).sum(dim=(1, 2))
    least_union = (lo * weights).sum(dim=(1, 2))
    return torch.where(
        least_union > 0, most_inter / least_union.clamp(min=1), torch.full_like(most_inter, np.inf)
    )
