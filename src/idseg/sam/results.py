"""Typed results of the SAM2 engine: :class:`Masks` (prompted answers) and :class:`Segments`.

Conventions used everywhere in idseg:

* images are HWC uint8 RGB arrays;
* points are ``(x, y)`` in pixels of the original image;
* boxes are XYXY in pixels; ``bbox_xywh`` is the COCO form ``(x, y, w, h)``. Boxes computed from a mask
  follow Meta's convention: ``x1``/``y1`` are the last covered column/row (inclusive);
* masks are boolean ``H x W`` arrays at the original image resolution.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

import numpy as np

from idseg.errors import InputError


def masks_to_boxes(masks: np.ndarray) -> np.ndarray:
    """Tight XYXY boxes (inclusive max) of boolean masks ``... x H x W``; zeros for empty masks.

    Example:
        >>> m = np.zeros((2, 5, 6), bool); m[0, 1:3, 2:5] = True
        >>> masks_to_boxes(m).tolist()
        [[2, 1, 4, 2], [0, 0, 0, 0]]
    """
    lead = masks.shape[:-2]
    flat = np.asarray(masks, dtype=bool).reshape(-1, *masks.shape[-2:])
    boxes = np.zeros((flat.shape[0], 4), dtype=np.int64)
    rows_any = np.asarray(flat.any(axis=2))
    cols_any = np.asarray(flat.any(axis=1))
    for i in range(flat.shape[0]):
        rows, cols = np.flatnonzero(rows_any[i]), np.flatnonzero(cols_any[i])
        if rows.size:
            boxes[i] = (cols[0], rows[0], cols[-1], rows[-1])
    return boxes.reshape(*lead, 4)


def mask_bbox_xyxy(mask: np.ndarray) -> tuple[int, int, int, int]:
    """Return the tight XYXY box of a boolean mask (inclusive max), ``(0, 0, 0, 0)`` if empty.

    Example:
        >>> m = np.zeros((5, 6), bool); m[1:3, 2:5] = True
        >>> mask_bbox_xyxy(m)
        (2, 1, 4, 2)
    """
    x0, y0, x1, y1 = masks_to_boxes(np.asarray(mask, dtype=bool)[None])[0]
    return (int(x0), int(y0), int(x1), int(y1))


def pad_box(
    box_xyxy: Sequence[float],
    image_hw: tuple[int, int],
    pad_percent: float = 0.0,
    pad_pixels: int = 0,
) -> tuple[int, int, int, int]:
    """Grow an inclusive XYXY box on each side, clipped to the image.

    Args:
        box_xyxy: ``(x0, y0, x1, y1)`` with inclusive ``x1``/``y1``.
        image_hw: ``(height, width)`` of the image.
        pad_percent: Padding per side as a fraction of the box's width and height.
        pad_pixels: Padding per side in pixels (added to ``pad_percent``'s).

    Returns:
        ``(x0, y0, x1, y1)`` as slice bounds (``x1``/``y1`` exclusive), inside the image.

    Raises:
        InputError: A negative or non-finite ``pad_percent``, or ``pad_pixels`` that is not a
            whole number >= 0.

    Example:
        >>> pad_box((10, 20, 19, 29), (100, 100), pad_percent=0.1)
        (9, 19, 21, 31)
    """
    if not np.isfinite(pad_percent) or pad_percent < 0:
        raise InputError(f"pad_percent must be a finite number >= 0, got {pad_percent!r}")
    if isinstance(pad_pixels, bool) or int(pad_pixels) != pad_pixels or pad_pixels < 0:
        raise InputError(f"pad must be a whole number of pixels >= 0, got {pad_pixels!r}")
    h, w = image_hw
    x0, y0, x1, y1 = (float(v) for v in box_xyxy)
    px = (x1 - x0 + 1) * pad_percent + pad_pixels
    py = (y1 - y0 + 1) * pad_percent + pad_pixels
    return (
        max(0, int(np.floor(x0 - px))),
        max(0, int(np.floor(y0 - py))),
        min(w, int(np.ceil(x1 + 1 + px))),
        min(h, int(np.ceil(y1 + 1 + py))),
    )


@dataclass
class Segment:
    """One mask found by segment-everything, with Meta's per-mask metadata.

    Attributes:
        mask: Boolean ``H x W`` mask at image resolution.
        bbox_xyxy: Tight box ``(x0, y0, x1, y1)``, inclusive max, in image pixels.
        area: Number of mask pixels.
        predicted_iou: The model's own quality estimate.
        stability_score: IoU of the mask thresholded at ``+offset`` and ``-offset``.
        point: The ``(x, y)`` prompt that produced the mask, in image pixels.
        crop_box: The XYXY crop of the image the mask came from.

    Example:
        >>> m = np.zeros((8, 8), bool); m[2:6, 2:6] = True
        >>> seg = Segment(m, (2, 2, 5, 5), 16, 0.9, 0.95, (3.5, 3.5), (0, 0, 8, 8))
        >>> seg.area, seg.bbox_xyxy
        (16, (2, 2, 5, 5))
    """

    mask: np.ndarray
    bbox_xyxy: tuple[int, int, int, int]
    area: int
    predicted_iou: float
    stability_score: float
    point: tuple[float, float]
    crop_box: tuple[int, int, int, int]

    @property
    def bbox_xywh(self) -> tuple[int, int, int, int]:
        """The box in COCO ``(x, y, w, h)`` form (Meta's convention: ``w = x1 - x0``).

        Example:
            >>> m = np.zeros((8, 8), bool); m[2:6, 2:6] = True
            >>> seg = Segment(m, (2, 2, 5, 5), 16, 0.9, 0.95, (3.5, 3.5), (0, 0, 8, 8))
            >>> seg.bbox_xywh
            (2, 2, 3, 3)
        """
        x0, y0, x1, y1 = self.bbox_xyxy
        return (x0, y0, x1 - x0, y1 - y0)

    def crop(self, image: np.ndarray, pad_percent: float = 0.0, pad_pixels: int = 0) -> np.ndarray:
        """Cut the segment's box, padded on each side (see :func:`pad_box`), from ``image``.

        Args:
            image: HWC image of the mask's height and width.
            pad_percent: Padding per side as a fraction of the box size.
            pad_pixels: Padding per side in pixels.

        Returns:
            A copy of the padded box of ``image``, clipped to the image.

        Raises:
            InputError: ``image`` and the mask differ in height or width.

        Example:
            >>> m = np.zeros((8, 8), bool); m[2:6, 2:6] = True
            >>> seg = Segment(m, (2, 2, 5, 5), 16, 0.9, 0.95, (3.5, 3.5), (0, 0, 8, 8))
            >>> seg.crop(np.zeros((8, 8, 3), np.uint8), pad_pixels=1).shape
            (6, 6, 3)
        """
        if image.shape[:2] != self.mask.shape:
            raise InputError(
                f"image of shape {image.shape[:2]} does not match mask of shape {self.mask.shape}"
            )
        x0, y0, x1, y1 = pad_box(self.bbox_xyxy, self.mask.shape, pad_percent, pad_pixels)
        return image[y0:y1, x0:x1].copy()

    def crop_mask(self, pad_percent: float = 0.0, pad_pixels: int = 0) -> np.ndarray:
        """The mask cut to the same padded box as :meth:`crop`, as uint8 0/255.

        Example:
            >>> m = np.zeros((8, 8), bool); m[2:6, 2:6] = True
            >>> seg = Segment(m, (2, 2, 5, 5), 16, 0.9, 0.95, (3.5, 3.5), (0, 0, 8, 8))
            >>> seg.crop_mask().shape, int(seg.crop_mask().max())
            ((4, 4), 255)
        """
        x0, y0, x1, y1 = pad_box(self.bbox_xyxy, self.mask.shape, pad_percent, pad_pixels)
        return self.mask[y0:y1, x0:x1].astype(np.uint8) * 255

    def to_record(self) -> dict[str, Any]:
        """Metadata as a JSON-ready dict (no mask), with the keys of Meta's generator.

        ``bbox`` and ``crop_box`` are XYWH as in Meta's records; ``bbox_xyxy`` and
        ``crop_box_xyxy`` are added for convenience.

        Example:
            >>> m = np.zeros((8, 8), bool); m[2:6, 2:6] = True
            >>> seg = Segment(m, (2, 2, 5, 5), 16, 0.9, 0.95, (3.5, 3.5), (0, 0, 8, 8))
            >>> seg.to_record()["bbox"], seg.to_record()["crop_box_xyxy"]
            ([2, 2, 3, 3], [0, 0, 8, 8])
        """
        x0c, y0c, x1c, y1c = self.crop_box
        return {
            "bbox": list(self.bbox_xywh),
            "bbox_xyxy": list(self.bbox_xyxy),
            "area": self.area,
            "predicted_iou": self.predicted_iou,
            "stability_score": self.stability_score,
            "point_coords": [list(self.point)],
            "crop_box": [x0c, y0c, x1c - x0c, y1c - y0c],
            "crop_box_xyxy": list(self.crop_box),
        }


@dataclass
class Segments(Sequence[Segment]):
    """The segments of one image, largest first.

    Attributes:
        items: The segments, sorted by area, largest first.
        image_hw: ``(height, width)`` of the image.
        settings: The everything-mode settings that produced them (saved with the output).

    Example:
        >>> m = np.zeros((8, 8), bool); m[2:6, 2:6] = True
        >>> small = Segment(m & (np.arange(8) < 3), (2, 2, 2, 5), 4, 0.9, 0.9, (2, 3), (0, 0, 8, 8))
        >>> big = Segment(m, (2, 2, 5, 5), 16, 0.9, 0.95, (3.5, 3.5), (0, 0, 8, 8))
        >>> [s.area for s in Segments([small, big], (8, 8))]
        [16, 4]
    """

    items: list[Segment]
    image_hw: tuple[int, int]
    settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.items = sorted(self.items, key=lambda s: s.area, reverse=True)

    @overload
    def __getitem__(self, index: int) -> Segment: ...

    @overload
    def __getitem__(self, index: slice) -> Segments: ...

    def __getitem__(self, index: int | slice) -> Segment | Segments:
        if isinstance(index, slice):
            return Segments(self.items[index], self.image_hw, self.settings)
        return self.items[index]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Segment]:
        return iter(self.items)

    @property
    def masks(self) -> np.ndarray:
        """All masks stacked as a boolean ``N x H x W`` array.

        Example:
            >>> Segments([], (8, 8)).masks.shape
            (0, 8, 8)
        """
        h, w = self.image_hw
        if not self.items:
            return np.zeros((0, h, w), dtype=bool)
        return np.stack([s.mask for s in self.items])

    def crops(
        self, image: np.ndarray, pad_percent: float = 0.05
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(crop, mask)`` pairs, largest first; masks are uint8 0/255 cut to the same box.

        Example:
            >>> m = np.zeros((8, 8), bool); m[2:6, 2:6] = True
            >>> seg = Segment(m, (2, 2, 5, 5), 16, 0.9, 0.95, (3.5, 3.5), (0, 0, 8, 8))
            >>> crop, mask = Segments([seg], (8, 8)).crops(np.zeros((8, 8, 3), np.uint8))[0]
            >>> crop.shape, mask.shape
            ((6, 6, 3), (6, 6))
        """
        return [(s.crop(image, pad_percent), s.crop_mask(pad_percent)) for s in self.items]

    def to_records(self) -> list[dict[str, Any]]:
        """Per-segment metadata (no masks) as JSON-ready dicts, largest first.

        Example:
            >>> m = np.zeros((8, 8), bool); m[2:6, 2:6] = True
            >>> seg = Segment(m, (2, 2, 5, 5), 16, 0.9, 0.95, (3.5, 3.5), (0, 0, 8, 8))
            >>> [r["area"] for r in Segments([seg], (8, 8)).to_records()]
            [16]
        """
        return [s.to_record() for s in self.items]

    def to_coco(
        self,
        image_id: int = 1,
        file_name: str = "image",
        category_id: int = 1,
        category_name: str = "object",
    ) -> dict[str, Any]:
        """A COCO dataset dict: one image, compressed-RLE annotations (``iscrowd`` 0).

        COCO boxes there are ``[x, y, w, h]`` with ``w = x1 - x0 + 1`` (pixel counts), unlike
        :attr:`Segment.bbox_xywh`, which keeps Meta's ``w = x1 - x0`` for parity with its records.
        The arguments are those of :func:`idseg.formats.segments_to_coco`.

        Example:
            >>> m = np.zeros((8, 8), bool); m[2:6, 2:6] = True
            >>> seg = Segment(m, (2, 2, 5, 5), 16, 0.9, 0.95, (3.5, 3.5), (0, 0, 8, 8))
            >>> Segments([seg], (8, 8)).to_coco()["annotations"][0]["bbox"]
            [2.0, 2.0, 4.0, 4.0]
        """
        from idseg.formats import segments_to_coco

        return segments_to_coco(
            self,
            image_id=image_id,
            file_name=file_name,
            category_id=category_id,
            category_name=category_name,
        )

    def to_polygons(self, tolerance: float = 1.0) -> list[dict[str, Any]]:
        """Each segment as simplified polygons with holes (see :func:`idseg.geometry.mask_to_polygons`).

        Example:
            >>> m = np.zeros((8, 8), bool); m[2:6, 2:6] = True
            >>> seg = Segment(m, (2, 2, 5, 5), 16, 0.9, 0.95, (3.5, 3.5), (0, 0, 8, 8))
            >>> Segments([seg], (8, 8)).to_polygons()[0]["polygons"][0]["exterior"]
            [[2.0, 2.0], [2.0, 5.0], [5.0, 5.0], [5.0, 2.0]]
        """
        from idseg.formats import segments_to_polygons

        return segments_to_polygons(self, tolerance=tolerance)

    def to_yolo(self, class_id: int = 0, tolerance: float = 1.0) -> str:
        """YOLO-seg label text: one line per polygon, coordinates normalised to ``[0, 1]``.

        Example:
            >>> m = np.zeros((8, 8), bool); m[2:6, 2:6] = True
            >>> seg = Segment(m, (2, 2, 5, 5), 16, 0.9, 0.95, (3.5, 3.5), (0, 0, 8, 8))
            >>> Segments([seg], (8, 8)).to_yolo(class_id=2).split()[:3]
            ['2', '0.250000', '0.250000']
        """
        from idseg.formats import segments_to_yolo

        return segments_to_yolo(self, class_id=class_id, tolerance=tolerance)

    def save_pngs(self, folder: str | Path, prefix: str = "mask") -> list[Path]:
        """Write each mask as a 0/255 PNG named ``{prefix}_{index:03d}.png``; return the paths.

        Example:
            >>> segments.save_pngs("out/masks")[0].name  # doctest: +SKIP
            'mask_000.png'
        """
        from idseg.formats import save_mask_pngs

        return save_mask_pngs(self.masks, folder, prefix=prefix)


@dataclass
class Masks:
    """Answer to prompts: ``B`` prompt sets, ``C`` candidate masks each.

    ``B`` is 1 for a single prompt set (points and/or one box) and the number of boxes when many boxes
    are answered in one call. ``C`` is 3 with ``multimask_output=True``, else 1.

    Attributes:
        masks: Boolean ``B x C x H x W`` masks at image resolution.
        scores: ``B x C`` predicted IoU of each mask.
        low_res_logits: ``B x C x h x w`` mask logits (``h = w = image_size / 4``, 256 for the
            official models); pass one ``1 x h x w`` slice back as ``mask_input`` to refine.
        boxes: ``B x C x 4`` tight XYXY boxes (inclusive max) of the masks; zeros for empty masks.

    Example:
        >>> m = np.zeros((1, 2, 4, 4), bool); m[0, 1, 1:3, 1:3] = True
        >>> answer = Masks(m, np.array([[0.2, 0.7]]), np.zeros((1, 2, 1, 1)), masks_to_boxes(m))
        >>> len(answer), answer.best_index().tolist(), answer.best().shape
        (1, [1], (1, 4, 4))
    """

    masks: np.ndarray
    scores: np.ndarray
    low_res_logits: np.ndarray
    boxes: np.ndarray

    def __len__(self) -> int:
        return int(self.masks.shape[0])

    def best_index(self) -> np.ndarray:
        """Index of the highest-scoring candidate for each prompt set, shape ``B``.

        Example:
            >>> scores = np.array([[0.1, 0.9, 0.5], [0.8, 0.1, 0.2]])
            >>> m = np.zeros((2, 3, 4, 4), bool)
            >>> answer = Masks(m, scores, np.zeros((2, 3, 1, 1)), masks_to_boxes(m))
            >>> answer.best_index().tolist()
            [1, 0]
        """
        return np.argmax(self.scores, axis=1)

    def best(self) -> np.ndarray:
        """The highest-scoring mask of each prompt set, boolean ``B x H x W``.

        Example:
            >>> m = np.zeros((1, 2, 4, 4), bool); m[0, 1] = True
            >>> answer = Masks(m, np.array([[0.2, 0.7]]), np.zeros((1, 2, 1, 1)), masks_to_boxes(m))
            >>> bool(answer.best()[0].all())
            True
        """
        idx = self.best_index()
        return self.masks[np.arange(len(self)), idx]

    def best_logits(self) -> np.ndarray:
        """Low-resolution logits of the best mask of each prompt set, ``B x 1 x h x w``.

        Example:
            >>> logits = np.arange(8.0).reshape(1, 2, 2, 2)
            >>> answer = Masks(logits > 0, np.array([[0.2, 0.7]]), logits, np.zeros((1, 2, 4)))
            >>> answer.best_logits().tolist()
            [[[[4.0, 5.0], [6.0, 7.0]]]]
        """
        idx = self.best_index()
        return self.low_res_logits[np.arange(len(self)), idx][:, None]


def warn_absolute_pad(pad: int) -> int:
    """Explain that the absolute ``pad`` is deprecated; return it so callers can still use it.

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always"); pad = warn_absolute_pad(4)
        >>> pad, caught[0].category.__name__
        (4, 'DeprecationWarning')
    """
    warnings.warn(
        "'pad' (absolute pixels) is deprecated; use 'pad_percent' (a fraction of the box size)",
        DeprecationWarning,
        stacklevel=3,
    )
    return pad
