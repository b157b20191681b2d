"""Overlays and previews: coloured masks, prompts, boxes, quads and contact sheets.

Every function takes HWC uint8 RGB images and returns a new image; inputs are never modified.
Colours are RGB tuples.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from idseg.errors import InputError
from idseg.sam.results import Segments, mask_bbox_xyxy

logger = logging.getLogger(__name__)

Color = tuple[int, int, int]
CONTOUR_COLOR: Color = (255, 255, 255)
POSITIVE_COLOR: Color = (0, 255, 0)
NEGATIVE_COLOR: Color = (255, 0, 0)


def _check_image(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise InputError(
            f"image must be an H x W x 3 uint8 RGB array, got shape {arr.shape} dtype {arr.dtype}"
        )
    return arr


def _check_masks(masks: np.ndarray | Sequence[np.ndarray], hw: tuple[int, int]) -> np.ndarray:
    """Return masks as a boolean ``N x H x W`` array; a single ``H x W`` mask gives ``N = 1``."""
    try:
        arr = np.asarray(masks) if len(masks) else np.zeros((0, *hw), bool)
    except ValueError as exc:  # ragged sequence
        raise InputError(f"masks must all have the image's shape {hw}: {exc}") from exc
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1:] != hw:
        raise InputError(f"masks must be N x {hw[0]} x {hw[1]} to match the image, got {arr.shape}")
    if arr.dtype == bool:
        return arr
    if not np.issubdtype(arr.dtype, np.number) or not ((arr == 0) | (arr == 1)).all():
        raise InputError(f"masks must be boolean or contain only 0 and 1, got dtype {arr.dtype}")
    return arr != 0


def _mask_colors(n: int, seed: int, colors: np.ndarray | None) -> np.ndarray:
    if colors is None:
        return np.random.default_rng(seed).integers(0, 256, size=(n, 3)).astype(np.float32)
    arr = np.asarray(colors, dtype=np.float32)
    if arr.shape == (3,):
        arr = np.broadcast_to(arr, (n, 3))
    if arr.shape != (n, 3) or not ((arr >= 0) & (arr <= 255)).all():
        raise InputError(f"colors must be 3 or {n} x 3 values in [0, 255], got shape {arr.shape}")
    return arr


def overlay_masks(
    image: np.ndarray,
    masks: np.ndarray | Sequence[np.ndarray],
    *,
    alpha: float = 0.7,
    seed: int = 0,
    colors: np.ndarray | None = None,
    draw_contours: bool = True,
    contour_thickness: int = 2,
) -> np.ndarray:
    """Blend a colour into each mask's pixels, largest mask first so small ones stay on top.

    On each mask's pixels ``out = out * (1 - alpha) + color * alpha``, computed in float and
    rounded once at the end. Contours, if drawn, go on after all the fills.

    Args:
        image: ``H x W x 3`` uint8 RGB image.
        masks: ``N x H x W`` (or a list of ``H x W``) boolean or 0/1 masks.
        alpha: Opacity of the colours, in ``[0, 1]``.
        seed: Seed of the random colours (``np.random.default_rng``), one per mask in input order.
        colors: Explicit RGB colours, ``N x 3`` (or one ``3``), instead of random ones.
        draw_contours: Outline every mask in white.
        contour_thickness: Outline width in pixels.

    Returns:
        A new uint8 RGB image.

    Example:
        >>> img = np.full((4, 4, 3), 100, np.uint8); m = np.zeros((1, 4, 4), bool); m[0, 1, 1] = 1
        >>> overlay_masks(img, m, alpha=0.5, colors=[200, 0, 0], draw_contours=False)[1, 1].tolist()
        [150, 50, 50]
    """
    img = _check_image(image)
    arr = _check_masks(masks, img.shape[:2])
    if not 0.0 <= alpha <= 1.0:
        raise InputError(f"alpha must lie in [0, 1], got {alpha!r}")
    if contour_thickness < 1:
        raise InputError(f"contour_thickness must be >= 1, got {contour_thickness!r}")
    palette = _mask_colors(len(arr), seed, colors)
    areas = arr.sum(axis=(1, 2))
    order = [int(i) for i in np.argsort(-areas, kind="stable") if areas[i] > 0]
    boxes = {i: mask_bbox_xyxy(arr[i]) for i in order}
    out = img.astype(np.float32)
    for i in order:
        x0, y0, x1, y1 = boxes[i]
        region = out[y0 : y1 + 1, x0 : x1 + 1]
        sel = arr[i, y0 : y1 + 1, x0 : x1 + 1]
        blended = region * (1.0 - alpha) + palette[i] * alpha
        np.copyto(region, blended, where=sel[..., None])
    result = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    if draw_contours:
        for i in order:
            x0, y0, x1, y1 = boxes[i]
            crop = np.pad(arr[i, y0 : y1 + 1, x0 : x1 + 1], 1).astype(np.uint8)
            contours, _ = cv2.findContours(
                crop, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE, offset=(x0 - 1, y0 - 1)
            )
            cv2.drawContours(result, contours, -1, CONTOUR_COLOR, contour_thickness)
    return result


def overlay_segments(image: np.ndarray, segments: Segments, **kwargs: Any) -> np.ndarray:
    """Overlay the masks of :class:`~idseg.sam.results.Segments` (see :func:`overlay_masks`).

    Example:
        >>> from idseg.sam.results import Segment
        >>> m = np.zeros((20, 20), bool); m[4:16, 4:16] = True
        >>> seg = Segment(m, (4, 4, 15, 15), 144, 0.9, 0.9, (9, 9), (0, 0, 20, 20))
        >>> out = overlay_segments(np.zeros((20, 20, 3), np.uint8), Segments([seg], (20, 20)))
        >>> out[10, 10].tolist() != [0, 0, 0], out[4, 4].tolist()  # seeded colour, white outline
        (True, [255, 255, 255])
    """
    img = _check_image(image)
    if img.shape[:2] != tuple(segments.image_hw):
        raise InputError(f"image of shape {img.shape[:2]} does not match {segments.image_hw}")
    return overlay_masks(img, segments.masks, **kwargs)


def _points(points: np.ndarray | Sequence[Sequence[float]], ncols: int, name: str) -> np.ndarray:
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim == 1 and arr.size == ncols:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != ncols or not np.isfinite(arr).all():
        raise InputError(f"{name} must be a finite N x {ncols} array, got shape {arr.shape}")
    return arr


def draw_quad(
    image: np.ndarray,
    quad: np.ndarray,
    color: Color = (0, 255, 0),
    thickness: int = 2,
) -> np.ndarray:
    """Draw a closed quadrilateral (or any polygon) with a dot on its first corner.

    Args:
        image: ``H x W x 3`` uint8 RGB image (not modified).
        quad: ``K x 2`` ``(x, y)`` corners, ``K >= 3``, e.g. from :func:`idseg.quad.fit_quad`;
            sub-pixel positions are kept.
        color: RGB line colour.
        thickness: Line width in pixels; the dot's radius is ``thickness + 2``.

    Returns:
        A new uint8 RGB image.

    Raises:
        InputError: A bad image, or fewer than 3 corners.

    Example:
        >>> quad = np.array([[5, 5], [50, 5], [50, 30], [5, 30]])
        >>> draw_quad(np.zeros((40, 60, 3), np.uint8), quad)[5, 5].tolist()  # the dot
        [0, 255, 0]
    """
    out = _check_image(image).copy()
    pts = _points(quad, 2, "quad")
    if len(pts) < 3:
        raise InputError(f"a quad needs at least 3 corners, got {len(pts)}")
    fixed = np.rint(pts * 16).astype(np.int32)  # 4 fractional bits
    cv2.polylines(out, [fixed], True, color, thickness, cv2.LINE_AA, shift=4)
    cv2.circle(
        out, tuple(int(v) for v in fixed[0]), (thickness + 2) * 16, color, -1, cv2.LINE_AA, shift=4
    )
    return out


def draw_points(
    image: np.ndarray,
    points: np.ndarray | Sequence[Sequence[float]],
    labels: np.ndarray | Sequence[int] | None = None,
    radius: int | None = None,
) -> np.ndarray:
    """Draw prompt points: green for positive (label 1), red for negative (label 0).

    Args:
        image: ``H x W x 3`` uint8 RGB image (not modified).
        points: ``N x 2`` ``(x, y)`` pixels.
        labels: ``N`` labels of 0 or 1; all 1 when ``None``.
        radius: Dot radius in pixels; by default 1/120 of the shorter image side, at least 3.

    Returns:
        A new uint8 RGB image.

    Raises:
        InputError: A bad image or points, or labels that are not one 0/1 per point.

    Example:
        >>> out = draw_points(np.zeros((40, 60, 3), np.uint8), [[20, 10], [40, 30]], [1, 0])
        >>> out[10, 20].tolist(), out[30, 40].tolist()
        ([0, 255, 0], [255, 0, 0])
    """
    out = _check_image(image).copy()
    pts = _points(points, 2, "points")
    labs = np.ones(len(pts), int) if labels is None else np.asarray(labels).reshape(-1)
    if len(labs) != len(pts) or not np.isin(labs, (0, 1)).all():
        raise InputError(f"labels must be {len(pts)} values of 0 or 1, got {labels!r}")
    r = radius if radius is not None else max(3, round(min(out.shape[:2]) / 120))
    for (x, y), lab in zip(np.rint(pts).astype(int), labs, strict=True):
        color = POSITIVE_COLOR if lab == 1 else NEGATIVE_COLOR
        cv2.circle(out, (int(x), int(y)), r, color, -1, cv2.LINE_AA)
        cv2.circle(out, (int(x), int(y)), r, CONTOUR_COLOR, 1, cv2.LINE_AA)
    return out


def draw_boxes(
    image: np.ndarray,
    boxes_xyxy: np.ndarray | Sequence[Sequence[float]],
    color: Color = (255, 200, 0),
    thickness: int = 2,
) -> np.ndarray:
    """Draw XYXY boxes (inclusive max, as in :class:`~idseg.sam.results.Segment`).

    Example:
        >>> draw_boxes(np.zeros((40, 60, 3), np.uint8), [[5, 5, 30, 20]])[5, 15].tolist()
        [255, 200, 0]
    """
    out = _check_image(image).copy()
    for x0, y0, x1, y1 in np.rint(_points(boxes_xyxy, 4, "boxes_xyxy")).astype(int):
        cv2.rectangle(out, (int(x0), int(y0)), (int(x1), int(y1)), color, thickness)
    return out


def _as_rgb(image: np.ndarray, index: int) -> np.ndarray:
    arr = np.asarray(image)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    if arr.dtype != np.uint8 or arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] > 4):
        raise InputError(
            f"image {index} must be uint8 H x W, H x W x 3 or H x W x 4, "
            f"got shape {arr.shape} dtype {arr.dtype}"
        )
    if arr.ndim == 2 or arr.shape[2] == 1:
        return np.repeat(arr.reshape(arr.shape[0], arr.shape[1], 1), 3, axis=2)
    return arr[:, :, :3]


def _fit_cell(image: np.ndarray, cell: int) -> np.ndarray:
    h, w = image.shape[:2]
    scale = cell / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(image, size, interpolation=interp)


def _put_label(tile: np.ndarray, text: str) -> None:
    cell = tile.shape[0]
    scale = max(0.3, cell / 512)
    while text and cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] > cell - 6:
        text = text[:-1]
    (_, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    band = th + base + 6
    tile[cell - band :] = (tile[cell - band :] * 0.35).astype(np.uint8)
    cv2.putText(
        tile,
        text,
        (3, cell - base - 3),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        CONTOUR_COLOR,
        1,
        cv2.LINE_AA,
    )


def contact_sheet(
    images: Sequence[np.ndarray],
    cols: int,
    cell: int = 256,
    labels: Sequence[str] | None = None,
    background: Color = (32, 32, 32),
) -> np.ndarray:
    """Tile images into a grid of ``cell x cell`` squares, each image fitted and centred.

    Args:
        images: uint8 RGB, RGBA (alpha dropped) or grayscale images, or boolean masks.
        cols: Columns of the grid; fewer are used when there are fewer images.
        cell: Side of each square in pixels.
        labels: Optional caption per image, drawn at the bottom of its cell.
        background: Colour around the fitted images.

    Returns:
        A uint8 RGB image of ``ceil(N / cols) * cell`` by ``min(cols, N) * cell`` pixels.

    Raises:
        InputError: No image, ``cols < 1``, ``cell < 8``, a bad image, or one label too many
            or too few.

    Example:
        >>> contact_sheet([np.zeros((10, 20, 3), np.uint8)] * 3, cols=2, cell=32).shape
        (64, 64, 3)
    """
    if not images:
        raise InputError("contact_sheet needs at least one image")
    if cols < 1 or cell < 8:
        raise InputError(f"cols must be >= 1 and cell >= 8, got cols={cols!r} cell={cell!r}")
    if labels is not None and len(labels) != len(images):
        raise InputError(f"got {len(labels)} labels for {len(images)} images")
    ncols = min(cols, len(images))
    rows = math.ceil(len(images) / ncols)
    sheet = np.empty((rows * cell, ncols * cell, 3), np.uint8)
    sheet[:] = background
    for k, image in enumerate(images):
        fitted = _fit_cell(_as_rgb(image, k), cell)
        r, c = divmod(k, ncols)
        tile = sheet[r * cell : (r + 1) * cell, c * cell : (c + 1) * cell]
        fh, fw = fitted.shape[:2]
        oy, ox = (cell - fh) // 2, (cell - fw) // 2
        tile[oy : oy + fh, ox : ox + fw] = fitted
        if labels is not None and labels[k]:
            _put_label(tile, str(labels[k]))
    return sheet
