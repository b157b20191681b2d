"""Validation and normalisation of prompts (points, labels, boxes, mask inputs).

Every check raises :class:`~idseg.errors.InputError` naming what was expected and what came, before
the model is touched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from idseg.errors import InputError

#: Point labels: 1 foreground, 0 background.
VALID_LABELS = (0, 1)


@dataclass(frozen=True)
class Prompts:
    """Validated prompts for ``B`` prompt sets, in image pixel coordinates.

    Attributes:
        points: ``B x N x 2`` float32 ``(x, y)`` or ``None``.
        labels: ``B x N`` int32 (1 foreground, 0 background) or ``None``.
        boxes: ``B x 4`` float32 XYXY or ``None``.
        mask_input: ``B x 1 x h x w`` float32 low-resolution logits or ``None``.

    Example:
        >>> prompts = build_prompts([[10, 20]], [1], None, None, low_res=64)
        >>> prompts.points.shape, prompts.labels.tolist(), prompts.boxes is None
        ((1, 1, 2), [[1]], True)
    """

    points: np.ndarray | None
    labels: np.ndarray | None
    boxes: np.ndarray | None
    mask_input: np.ndarray | None

    @property
    def batch(self) -> int:
        """Number of prompt sets ``B``.

        Example:
            >>> Prompts(None, None, np.zeros((3, 4), np.float32), None).batch
            3
        """
        for arr in (self.boxes, self.points, self.mask_input):
            if arr is not None:
                return int(arr.shape[0])
        return 0


def _as_float_array(value: ArrayLike, name: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be numeric, got {type(value).__name__}") from exc
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name} must be finite numbers, got NaN or infinity")
    return arr


def normalize_points(points: ArrayLike, labels: ArrayLike | None) -> tuple[np.ndarray, np.ndarray]:
    """Check points (``N x 2`` or ``B x N x 2``) and labels (``N`` or ``B x N``; default all 1).

    Example:
        >>> p, l = normalize_points([[10, 20]], [1])
        >>> p.shape, l.tolist()
        ((1, 1, 2), [[1]])
    """
    pts = _as_float_array(points, "points")
    if pts.ndim == 1 and pts.shape == (2,):
        pts = pts[None]
    if pts.ndim == 2:
        pts = pts[None]
    if pts.ndim != 3 or pts.shape[-1] != 2 or pts.shape[1] == 0:
        raise InputError(f"points must have shape N x 2 or B x N x 2 (x, y), got {pts.shape}")
    if labels is None:
        lab = np.ones(pts.shape[:2], dtype=np.int64)
    else:
        lab = _as_float_array(labels, "labels")
        if lab.ndim == 1:
            lab = lab[None]
        if lab.shape != pts.shape[:2]:
            raise InputError(
                f"labels must have one entry per point: expected shape {pts.shape[:2]}, "
                f"got {lab.shape}"
            )
        if not np.all(np.isin(lab, VALID_LABELS)):
            bad = sorted({float(v) for v in np.unique(lab)} - {0.0, 1.0})
            raise InputError(f"labels must be 1 (foreground) or 0 (background), got {bad}")
    return pts.astype(np.float32), lab.astype(np.int32)


def normalize_boxes(boxes: ArrayLike) -> np.ndarray:
    """Check XYXY boxes (``4`` or ``B x 4``) with ``x1 >= x0`` and ``y1 >= y0``.

    Returns:
        ``B x 4`` float32 boxes.

    Raises:
        InputError: Not numeric or finite, a wrong shape, or a box with ``x1 < x0`` or ``y1 < y0``.

    Example:
        >>> normalize_boxes([10, 20, 50, 60]).tolist()
        [[10.0, 20.0, 50.0, 60.0]]
        >>> normalize_boxes([50, 20, 10, 60])
        Traceback (most recent call last):
        idseg.errors.InputError: boxes must be XYXY with x1 >= x0 and y1 >= y0; box 0 is [50.0, ...]
    """
    arr = _as_float_array(boxes, "boxes")
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 4 or arr.shape[0] == 0:
        raise InputError(f"boxes must have shape 4 or B x 4 (x0, y0, x1, y1), got {arr.shape}")
    bad = np.flatnonzero((arr[:, 2] < arr[:, 0]) | (arr[:, 3] < arr[:, 1]))
    if bad.size:
        raise InputError(
            f"boxes must be XYXY with x1 >= x0 and y1 >= y0; box {int(bad[0])} is "
            f"{arr[bad[0]].tolist()}"
        )
    return arr.astype(np.float32)


def normalize_mask_input(mask_input: ArrayLike, low_res: int) -> np.ndarray:
    """Check low-resolution mask logits: ``h x w``, ``1 x h x w`` or ``B x 1 x h x w``.

    Args:
        mask_input: The logits, e.g. :meth:`~idseg.sam.results.Masks.best_logits` of an earlier
            answer.
        low_res: Their expected side, ``image_size / 4`` of the model (256 for official models).

    Returns:
        ``B x 1 x low_res x low_res`` float32 logits.

    Raises:
        InputError: Not numeric or finite, or a shape other than the ones above.

    Example:
        >>> normalize_mask_input(np.zeros((64, 64)), low_res=64).shape
        (1, 1, 64, 64)
    """
    arr = _as_float_array(mask_input, "mask_input")
    while arr.ndim < 4:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[1:] != (1, low_res, low_res):
        raise InputError(
            f"mask_input must be low-resolution logits of shape 1 x {low_res} x {low_res} "
            f"(or B x 1 x {low_res} x {low_res}), got {np.asarray(mask_input).shape}"
        )
    return arr.astype(np.float32)


def build_prompts(
    points: ArrayLike | None,
    labels: ArrayLike | None,
    boxes: ArrayLike | None,
    mask_input: ArrayLike | None,
    low_res: int,
) -> Prompts:
    """Validate all prompts together and make their batch sizes agree.

    Points given as ``N x 2`` together with ``B`` boxes apply to every box.

    Args:
        points: ``N x 2`` or ``B x N x 2`` ``(x, y)`` points in image pixels, or ``None``.
        labels: ``N`` or ``B x N`` labels (1 foreground, 0 background); all 1 when ``None``.
        boxes: One XYXY box or ``B x 4`` boxes in image pixels, or ``None``.
        mask_input: Low-resolution logits (see :func:`normalize_mask_input`), or ``None``.
        low_res: Side of the low-resolution logits, ``image_size / 4`` of the model.

    Returns:
        The prompts with one leading batch dimension ``B`` shared by all of them.

    Raises:
        InputError: No prompt at all, bad shapes or values, or batch sizes that disagree.

    Example:
        >>> prompts = build_prompts([[10, 20]], None, [[0, 0, 50, 50], [5, 5, 40, 40]], None, 64)
        >>> prompts.batch, prompts.points.shape
        (2, (2, 1, 2))
    """
    if points is None and labels is not None:
        raise InputError("labels were given without points")
    if points is None and boxes is None and mask_input is None:
        raise InputError("give at least one prompt: points, a box or a mask_input")
    pts = lab = bxs = msk = None
    if points is not None:
        pts, lab = normalize_points(points, labels)
    if boxes is not None:
        bxs = normalize_boxes(boxes)
    if mask_input is not None:
        msk = normalize_mask_input(mask_input, low_res)
    sizes = {a.shape[0] for a in (pts, bxs, msk) if a is not None}
    batch = max(sizes)
    if sizes - {1, batch}:
        raise InputError(f"prompt batch sizes disagree: {sorted(sizes)}")
    if pts is not None and lab is not None and pts.shape[0] != batch:
        pts, lab = np.repeat(pts, batch, axis=0), np.repeat(lab, batch, axis=0)
    if bxs is not None and bxs.shape[0] != batch:
        bxs = np.repeat(bxs, batch, axis=0)
    if msk is not None and msk.shape[0] != batch:
        msk = np.repeat(msk, batch, axis=0)
    return Prompts(pts, lab, bxs, msk)


def check_in_image(prompts: Prompts, image_hw: tuple[int, int]) -> None:
    """Raise :class:`InputError` for points outside the image or boxes that miss it entirely.

    Points may lie on the border (``0 <= x <= W``, ``0 <= y <= H``); boxes may extend past it but
    must overlap it. A point far outside usually means swapped ``x``/``y`` or another image's
    coordinates.

    Example:
        >>> check_in_image(build_prompts([[500, 20]], None, None, None, 64), (300, 420))
        Traceback (most recent call last):
        idseg.errors.InputError: points must lie inside the 420x300 image (0 <= x <= 420, ...
    """
    h, w = image_hw
    if prompts.points is not None:
        pts = prompts.points.reshape(-1, 2)
        outside = (pts[:, 0] < 0) | (pts[:, 0] > w) | (pts[:, 1] < 0) | (pts[:, 1] > h)
        if outside.any():
            x, y = pts[np.flatnonzero(outside)[0]].tolist()
            raise InputError(
                f"points must lie inside the {w}x{h} image (0 <= x <= {w}, 0 <= y <= {h}), "
                f"got ({x:g}, {y:g})"
            )
    if prompts.boxes is not None:
        b = prompts.boxes
        misses = (b[:, 0] >= w) | (b[:, 1] >= h) | (b[:, 2] <= 0) | (b[:, 3] <= 0)
        if misses.any():
            box = b[np.flatnonzero(misses)[0]].tolist()
            raise InputError(f"boxes must overlap the {w}x{h} image, got {box}")
