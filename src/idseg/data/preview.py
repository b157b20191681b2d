"""Contact sheets of a folder dataset: images with their class masks and quads overlaid.

Each class has a fixed colour (:func:`class_color`); background is left as it is and mask
values outside the class list show in :data:`UNKNOWN_COLOR`. A legend band under the grid names
the colours. Unreadable files still get a cell, captioned with what went wrong.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from idseg.data.check import read_mask
from idseg.data.folders import Sample, open_dataset
from idseg.errors import ImageError, InputError
from idseg.io.images import load_image
from idseg.viz import contact_sheet, draw_quad, overlay_masks

logger = logging.getLogger(__name__)

__all__ = [
    "LEGEND_ENTRY_WIDTH",
    "LEGEND_ROW_HEIGHT",
    "PALETTE",
    "UNKNOWN_COLOR",
    "class_color",
    "contact_sheet_for",
    "legend_height",
]

#: Colours of classes 1, 2, ... (class ``i`` takes entry ``(i - 1) % len``).
PALETTE: tuple[tuple[int, int, int], ...] = (
    (0, 114, 178),
    (230, 159, 0),
    (0, 158, 115),
    (240, 228, 66),
    (86, 180, 233),
    (213, 94, 0),
    (120, 200, 60),
    (160, 100, 40),
    (100, 100, 255),
    (0, 200, 200),
)
UNKNOWN_COLOR: tuple[int, int, int] = (255, 0, 255)
QUAD_COLOR: tuple[int, int, int] = (255, 48, 48)
LEGEND_ENTRY_WIDTH = 150
LEGEND_ROW_HEIGHT = 22
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def class_color(index: int) -> tuple[int, int, int]:
    """The fixed RGB colour of class ``index`` (``>= 1``; background is not coloured).

    Example:
        >>> class_color(1), class_color(1 + len(PALETTE)) == class_color(1)
        ((0, 114, 178), True)
    """
    return PALETTE[(index - 1) % len(PALETTE)]


def legend_height(entries: int, width: int) -> int:
    """Height of the legend band for ``entries`` names on a sheet ``width`` pixels wide.

    Example:
        >>> legend_height(6, 1024), legend_height(6, 300)
        (22, 66)
    """
    per_row = max(1, width // LEGEND_ENTRY_WIDTH)
    return math.ceil(entries / per_row) * LEGEND_ROW_HEIGHT


def contact_sheet_for(
    path: str | Path,
    n: int = 16,
    cols: int = 4,
    cell: int = 256,
    seed: int = 0,
    alpha: float = 0.5,
    classes: Sequence[str] | None = None,
) -> np.ndarray:
    """Draw up to ``n`` samples of a dataset with their masks overlaid, and a legend.

    Args:
        path: A flat dataset or a split root (see :func:`idseg.data.folders.open_dataset`).
        n: Samples to show; a seeded random choice when the dataset has more.
        cols: Columns of the grid.
        cell: Side of each square cell in pixels.
        seed: Seed of the choice of samples.
        alpha: Opacity of the class colours.
        classes: Class names by mask value; default the dataset's.

    Returns:
        An RGB ``uint8`` image: ``ceil(k / c) * cell`` rows of cells (``k`` samples shown,
        ``c = min(cols, k)``) over a legend band of :func:`legend_height` rows, ``c * cell``
        pixels wide. The legend lists every class but background, and ``unknown`` when a mask
        holds values outside the class list.

    Raises:
        InputError: No sample, ``n < 1``, or bad grid sizes.

    Example:
        >>> sheet = contact_sheet_for("data/train", n=8, cols=4, cell=128)  # doctest: +SKIP
        >>> sheet.shape[1]  # doctest: +SKIP
        512
    """
    if n < 1:
        raise InputError(f"n must be >= 1, got {n!r}")
    dataset = open_dataset(path, classes)
    if not dataset.samples:
        raise InputError(f"{path}: no image with a mask to preview")
    picked = dataset.samples
    if len(picked) > n:
        chosen = np.random.default_rng(seed).choice(len(picked), size=n, replace=False)
        picked = [picked[i] for i in sorted(chosen)]
    tiles, labels, unknown = [], [], False
    for sample in picked:
        tile, note, odd = _tile(sample, len(dataset.classes), cell, alpha)
        tiles.append(tile)
        label = f"{sample.split}/{sample.name}" if sample.split else sample.name
        labels.append(f"{label} ({note})" if note else label)
        unknown = unknown or odd
    sheet = contact_sheet(tiles, cols=cols, cell=cell, labels=labels)
    entries = [(name, class_color(i)) for i, name in enumerate(dataset.classes) if i > 0]
    if unknown:
        entries.append(("unknown", UNKNOWN_COLOR))
    return np.vstack([sheet, _legend(entries, sheet.shape[1])])


def _tile(sample: Sample, k: int, cell: int, alpha: float) -> tuple[np.ndarray, str, bool]:
    """The overlaid image of one sample, a note on what went wrong, and unknown values seen."""
    try:
        image = load_image(sample.image_path)
    except ImageError as exc:
        logger.debug("preview: unreadable image %s: %s", sample.image_path, exc)
        return np.full((cell, cell, 3), 64, np.uint8), "unreadable image", False
    h, w = image.shape[:2]
    scale = cell / max(h, w)  # drawn at cell size, so outlines are as thin small or large
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    image = cv2.resize(image, size, interpolation=interp)
    try:
        mask = read_mask(sample.mask_path)
    except ImageError as exc:
        logger.debug("preview: unreadable mask %s: %s", sample.mask_path, exc)
        return _with_quad(image, sample, scale), "unreadable mask", False
    note = "" if mask.shape == (h, w) else "size mismatch"
    if mask.shape != image.shape[:2]:
        size = (image.shape[1], image.shape[0])
        mask = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)
    values = [int(v) for v in np.unique(mask) if v > 0]
    if values:
        colors = np.array([class_color(v) if v < k else UNKNOWN_COLOR for v in values])
        stack = np.stack([mask == v for v in values])
        image = overlay_masks(image, stack, alpha=alpha, colors=colors, contour_thickness=1)
    return _with_quad(image, sample, scale), note, any(v >= k for v in values)


def _with_quad(image: np.ndarray, sample: Sample, scale: float) -> np.ndarray:
    from idseg.data.quads import read_quads

    if sample.quad_path is None:
        return image
    try:
        quads = read_quads(sample.quad_path)
    except InputError as exc:
        logger.debug("preview: quad %s not drawn: %s", sample.quad_path, exc)
        return image
    for quad in quads:  # continuous coordinates -> pixel centres of the scaled image
        image = draw_quad(image, quad * scale - 0.5, color=QUAD_COLOR, thickness=2)
    return image


def _legend(entries: list[tuple[str, tuple[int, int, int]]], width: int) -> np.ndarray:
    band = np.full((legend_height(len(entries), width), width, 3), 24, np.uint8)
    per_row = max(1, width // LEGEND_ENTRY_WIDTH)
    for k, (name, color) in enumerate(entries):
        row, col = divmod(k, per_row)
        x, y = col * LEGEND_ENTRY_WIDTH + 6, row * LEGEND_ROW_HEIGHT + 4
        cv2.rectangle(band, (x, y), (x + 13, y + 13), color, -1)
        text = name
        while text and cv2.getTextSize(text, _FONT, 0.45, 1)[0][0] > LEGEND_ENTRY_WIDTH - 30:
            text = text[:-1]
        cv2.putText(band, text, (x + 20, y + 12), _FONT, 0.45, (235, 235, 235), 1, cv2.LINE_AA)
    return band
