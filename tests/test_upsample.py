"""Windowed bilinear upsampling against PyTorch's F.interpolate and Meta's stability score."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sam2.utils.amg import batched_mask_to_box, calculate_stability_score

from idseg.sam.upsample import (
    WindowedUpsampler,
    paste,
    stability_upper_bound,
    windowed_binarise,
    windowed_masks,
)


def blobs(n: int, hw: tuple[int, int], seed: int = 0) -> torch.Tensor:
    """Logits of discs of random centres and radii with noise (localised, like SAM masks)."""
    g = torch.Generator().manual_seed(seed)
    h, w = hw
    yy, xx = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    cy, cx = torch.rand(n, generator=g) * h, torch.rand(n, generator=g) * w
    r = torch.rand(n, generator=g) ** 2 * min(h, w) * 0.4 + 0.5
    dist = ((yy - cy[:, None, None]) ** 2 + (xx - cx[:, None, None]) ** 2).sqrt()
    return (r[:, None, None] - dist) * 3 + torch.randn(n, h, w, generator=g) * 0.7


def reference(low: torch.Tensor, out_hw, threshold: float, offset: float):
    up = F.interpolate(low[:, None], out_hw, mode="bilinear", align_corners=False)[:, 0]
    return up > threshold, calculate_stability_score(up, threshold, offset)


@pytest.mark.parametrize(
    ("in_hw", "out_hw"),
    [((64, 64), (315, 1200)), ((32, 32), (300, 420)), ((16, 24), (100, 77)), ((64, 64), (37, 500))],
)
@pytest.mark.parametrize(("threshold", "offset"), [(0.0, 1.0), (0.5, 0.0), (-1.0, 2.5)])
def test_equals_full_upsampling_pixel_for_pixel(in_hw, out_hw, threshold, offset):
    low = blobs(24, in_hw)
    masks, scores = windowed_binarise(low, out_hw, threshold, offset)
    ref_masks, ref_scores = reference(low, out_hw, threshold, offset)
    assert torch.equal(masks, ref_masks)
    assert torch.equal(scores.isnan(), ref_scores.isnan())
    assert torch.equal(scores.nan_to_num(-1), ref_scores.nan_to_num(-1))


def test_empty_and_everywhere_masks():
    low = torch.stack([torch.full((16, 16), -9.0), torch.full((16, 16), 9.0)])
    masks, scores = windowed_binarise(low, (50, 70), 0.0, 1.0)
    ref_masks, ref_scores = reference(low, (50, 70), 0.0, 1.0)
    assert torch.equal(masks, ref_masks)
    assert bool(scores[0].isnan()) and bool(ref_scores[0].isnan())  # Meta's 0 / 0
    assert float(scores[1]) == float(ref_scores[1]) == 1.0
    assert windowed_binarise(low[:0], (5, 5), 0.0, 1.0)[0].shape == (0, 5, 5)


def test_window_holds_every_pixel_above_the_floor():
    low = blobs(10, (32, 32), seed=3)
    up = WindowedUpsampler((32, 32), (200, 150))
    full = F.interpolate(low[:, None], (200, 150), mode="bilinear", align_corners=False)[:, 0]
    for i in range(len(low)):
        win = up.window(low[i].numpy(), -1.0)
        x0, y0, x1, y1 = win.box
        outside = full[i].clone()
        outside[y0:y1, x0:x1] = -1e9
        assert not bool((outside > -1.0).any())
        np.testing.assert_allclose(win.logits, full[i, y0:y1, x0:x1].numpy(), rtol=1e-6, atol=1e-5)


def test_windows_paste_back_and_boxes():
    low = blobs(8, (32, 32), seed=5)
    windows, boxes, scores = windowed_masks(low, (120, 90), 0.0, 1.0)
    full = paste(windows, boxes, (120, 90))
    ref_masks, ref_scores = reference(low, (120, 90), 0.0, 1.0)
    assert torch.equal(full, ref_masks)
    assert torch.equal(scores.nan_to_num(-1), ref_scores.nan_to_num(-1))
    for win, (x0, y0, x1, y1) in zip(windows, boxes.tolist(), strict=True):
        assert tuple(win.shape) == (y1 - y0, x1 - x0)
    assert torch.equal(batched_mask_to_box(full) >= 0, torch.ones(8, 4, dtype=torch.bool))


@pytest.mark.parametrize(
    ("in_hw", "out_hw"),
    [((64, 64), (768, 1024)), ((32, 32), (300, 420)), ((16, 24), (100, 77)), ((64, 64), (37, 500))],
)
@pytest.mark.parametrize(("threshold", "offset"), [(0.0, 1.0), (0.5, 0.2), (0.0, 0.0)])
def test_stability_bound_is_never_below_the_score(in_hw, out_hw, threshold, offset):
    for seed in range(3):
        low = blobs(40, in_hw, seed)
        _, score = reference(low, out_hw, threshold, offset)
        bound = stability_upper_bound(low, out_hw, threshold, offset)
        finite = ~score.isnan()
        assert bool((bound[finite] >= score[finite]).all())


def test_stability_bound_rejects_unstable_masks():
    """A shallow ramp is unstable (score about 0.5); a steep disc is stable; the bound tells."""
    xx = torch.arange(32.0)[None, :].expand(32, 32)
    shallow = (xx - 16) / 8.0  # logits -2..2 across the image
    steep = torch.full((32, 32), -20.0)
    steep[8:24, 8:24] = 20.0
    low = torch.stack([shallow, steep])
    _, score = reference(low, (128, 128), 0.0, 1.0)
    bound = stability_upper_bound(low, (128, 128), 0.0, 1.0)
    assert float(score[0]) < 0.6 and float(bound[0]) < 0.9  # dropped at Meta's 0.95
    assert float(score[1]) > 0.95 and float(bound[1]) >= float(score[1])
