"""Prompts sampled from ground truth the way SAM and SAM2 were trained.

- :func:`jittered_boxes`: each object's tight box, every coordinate moved by Gaussian noise of
  ``noise`` times the box side (at most ``max_noise`` pixels), clipped to the image;
- :func:`random_points`: one (or more) positive points drawn uniformly from each object, and
  optionally negative points from the background around it;
- :func:`corrective_points`: after a prediction, one click per object in its error region: a
  positive click where the object was missed, a negative one where the mask spills over (the
  kind chosen in proportion to the two errors' areas), drawn uniformly from that region, or at
  its centre (the pixel farthest from the region's border) with ``center=True``, as an
  annotator would click; the evaluation uses the centre.

Coordinates are ``(x, y)`` pixel centres of the ``S x S`` model input; boxes are ``x0, y0, x1,
y1`` pixel edges, as SAM2's predictor takes them.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

__all__ = ["corrective_points", "jittered_boxes", "mask_boxes", "random_points"]


def mask_boxes(masks: torch.Tensor) -> torch.Tensor:
    """Tight ``K x 4`` boxes (pixel edges) of ``K x H x W`` boolean masks (zeros if empty).

    Example:
        >>> m = torch.zeros(1, 6, 8, dtype=torch.bool); m[0, 1:3, 2:5] = True
        >>> mask_boxes(m).tolist()
        [[2.0, 1.0, 5.0, 3.0]]
    """
    k, _h, _w = masks.shape
    out = torch.zeros(k, 4)
    rows, cols = masks.any(dim=2), masks.any(dim=1)
    for i in range(k):
        ys, xs = torch.nonzero(rows[i]).flatten(), torch.nonzero(cols[i]).flatten()
        if len(ys) and len(xs):
            out[i] = torch.tensor([xs[0], ys[0], xs[-1] + 1, ys[-1] + 1], dtype=torch.float32)
    return out


def jittered_boxes(
    masks: torch.Tensor, rng: np.random.Generator, noise: float = 0.1, max_noise: float = 20.0
) -> torch.Tensor:
    """Boxes of the masks with SAM's noise (``K x 4``, clipped to the image).

    Example:
        >>> m = torch.zeros(1, 64, 64, dtype=torch.bool); m[0, 10:30, 20:40] = True
        >>> jittered_boxes(m, np.random.default_rng(0), noise=0.0).tolist()
        [[20.0, 10.0, 40.0, 30.0]]
    """
    boxes = mask_boxes(masks)
    if noise > 0 and len(boxes):
        side = torch.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], dim=1)
        scale = (side * noise).repeat(1, 2)
        jitter = torch.from_numpy(rng.standard_normal(boxes.shape).astype(np.float32)) * scale
        boxes = boxes + jitter.clamp(-max_noise, max_noise)
    h, w = masks.shape[1:]
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h)
    return boxes


def random_points(
    masks: torch.Tensor, rng: np.random.Generator, n: int = 1, negatives: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` positive points per object drawn uniformly from its pixels, then ``negatives``.

    Negative points are drawn from the pixels outside the object within its box grown by half
    its size on each side (the background an annotator would click near the object), or
    anywhere outside it when that ring is empty.

    Returns:
        ``(coords K x (n + negatives) x 2, labels K x (n + negatives))``, labels 1 then 0; an
        empty mask gets its points at the image centre.

    Example:
        >>> m = torch.zeros(1, 8, 8, dtype=torch.bool); m[0, 2, 5] = True
        >>> random_points(m, np.random.default_rng(0))[0].tolist()
        [[[5.5, 2.5]]]
        >>> c, lab = random_points(m, np.random.default_rng(0), negatives=2)
        >>> lab.tolist(), bool(m[0, int(c[0, 1, 1]), int(c[0, 1, 0])])
        ([[1, 0, 0]], False)
    """
    k, h, w = masks.shape
    total = n + negatives
    coords = torch.full((k, total, 2), 0.0)
    coords[..., 0], coords[..., 1] = w / 2, h / 2
    labels = torch.ones(k, total, dtype=torch.int32)
    labels[:, n:] = 0
    for i in range(k):
        m = masks[i].numpy()
        ys, xs = np.nonzero(m)
        if not len(ys):
            continue
        pick = rng.integers(0, len(ys), n)
        coords[i, :n, 0] = torch.from_numpy(xs[pick] + 0.5)
        coords[i, :n, 1] = torch.from_numpy(ys[pick] + 0.5)
        if negatives:
            coords[i, n:] = _negatives(m, ys, xs, rng, negatives)
    return coords, labels


def _negatives(
    m: np.ndarray, ys: np.ndarray, xs: np.ndarray, rng: np.random.Generator, count: int
) -> torch.Tensor:
    h, w = m.shape
    bh, bw = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
    y0, y1 = max(0, ys.min() - bh // 2), min(h, ys.max() + 1 + bh // 2)
    x0, x1 = max(0, xs.min() - bw // 2), min(w, xs.max() + 1 + bw // 2)
    ring = np.zeros_like(m)
    ring[y0:y1, x0:x1] = True
    ring &= ~m
    if not ring.any():
        ring = ~m
    if not ring.any():  # the object fills the image: no background to click
        return torch.tensor([[w / 2, h / 2]] * count, dtype=torch.float32)
    ny, nx = np.nonzero(ring)
    pick = rng.integers(0, len(ny), count)
    return torch.from_numpy(np.stack([nx[pick] + 0.5, ny[pick] + 0.5], axis=1).astype(np.float32))


def _center(region: np.ndarray) -> tuple[int, int]:
    padded = np.pad(region.astype(np.uint8), 1)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return int(y), int(x)


def corrective_points(
    pred: torch.Tensor, target: torch.Tensor, rng: np.random.Generator, center: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """One corrective click per object from the error between ``pred`` and ``target``.

    Args:
        pred: ``K x H x W`` boolean predictions.
        target: ``K x H x W`` boolean ground truth.
        rng: Source of randomness (the error kind, and the pixel when not ``center``).
        center: Click the centre of the larger error region instead of a random error pixel.

    Returns:
        ``(coords K x 1 x 2, labels K x 1)``: label 1 in a missed region, 0 in a spill; an
        object without error gets a positive click inside it (label 1), which changes nothing.

    Example:
        >>> t = torch.zeros(1, 9, 9, dtype=torch.bool); t[0, 1:8, 1:8] = True
        >>> p = t.clone(); p[0, 1:8, 4:8] = False   # the right part missed
        >>> c, l = corrective_points(p, t, np.random.default_rng(0), center=True)
        >>> l.tolist(), c[0, 0, 0].item() > 4
        ([[1]], True)
    """
    k = pred.shape[0]
    coords = torch.zeros(k, 1, 2)
    labels = torch.ones(k, 1, dtype=torch.int32)
    for i in range(k):
        p, t = pred[i].numpy(), target[i].numpy()
        missed, spill = t & ~p, p & ~t
        n_miss, n_spill = int(missed.sum()), int(spill.sum())
        if n_miss + n_spill == 0:
            region, label = (t if t.any() else np.ones_like(t)), 1
        elif center:
            region, label = (missed, 1) if n_miss >= n_spill else (spill, 0)
        else:
            region, label = (
                (missed, 1) if rng.random() < n_miss / (n_miss + n_spill) else (spill, 0)
            )
        if center:
            y, x = _center(region)
        else:
            ys, xs = np.nonzero(region)
            j = int(rng.integers(0, len(ys)))
            y, x = int(ys[j]), int(xs[j])
        coords[i, 0] = torch.tensor([x + 0.5, y + 0.5])
        labels[i, 0] = label
    return coords, labels
