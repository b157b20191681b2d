"""Warp a flat document into a scene and layer its ground truth, exactly.

The flat image, premultiplied by its alpha, and the alpha itself go through the *same*
``cv2.warpPerspective`` (bilinear, zero border). A scene pixel belongs to the document where the
warped alpha is ``>= 0.5``; for a straight document edge that is exactly the set of pixel centres
inside the mapped rectangle (bilinear interpolation against the zero border crosses 0.5 at the
edge), so the quad and the mask agree. Field pixels are the document pixels whose centre lies
inside the field polygon mapped by the homography (homographies keep straight lines straight, so
the mapped polygon is exact). Documents far smaller in the scene than in the flat render are first
shrunk with ``INTER_AREA`` (antialiasing); the homography is adjusted so the geometry is unchanged.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from idseg.documents.synth.raster import (
    apply_homography,
    image_corners,
    polygon_bbox,
    polygon_window,
    resize_matrix,
    translation,
)
from idseg.geometry import polygon_area

logger = logging.getLogger(__name__)

#: Shrink the flat document first when the scene shows it below this share of its size.
SHRINK_BELOW = 0.75


@dataclass
class WarpedDocument:
    """One document warped into the frame window ``box``.

    Attributes:
        box: ``(x0, y0, x1, y1)`` frame window (exclusive ends) that holds the document.
        premult: Window-sized float32 RGB premultiplied by ``alpha``.
        alpha: Window-sized float32 coverage.
        quad: ``4 x 2`` document corners in the frame.
    """

    box: tuple[int, int, int, int]
    premult: np.ndarray
    alpha: np.ndarray
    quad: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        """Window-sized bool: the document's pixels (``alpha >= 0.5``)."""
        return self.alpha >= 0.5


def _premultiplied(image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """uint8 image times alpha, touching only the (few) pixels whose alpha is below 1."""
    out = np.array(image, dtype=np.uint8, copy=True)
    low = alpha < 1.0
    if low.any():
        out[low] = np.rint(out[low] * alpha[low][:, None]).astype(np.uint8)
    return out


def warp_document(doc: Any, matrix: np.ndarray, hw: tuple[int, int]) -> WarpedDocument | None:
    """Warp a rendered document (``image``, ``alpha``) by ``matrix`` into a frame of size ``hw``.

    Args:
        doc: A :class:`~idseg.documents.synth.render.RenderedDocument` (``image``, ``alpha``).
        matrix: Homography from flat pixel centres to frame pixel centres.
        hw: Frame ``(height, width)``.

    Returns:
        The warped window, or ``None`` when the document misses the frame.

    Example:
        >>> from types import SimpleNamespace
        >>> doc = SimpleNamespace(image=np.full((10, 20, 3), 200, np.uint8), alpha=np.ones((10, 20), np.float32))
        >>> warped = warp_document(doc, translation(5, 5), (40, 40))
        >>> warped.box, int(warped.mask.sum())
        ((4, 4, 26, 16), 200)
    """
    fh, fw = doc.alpha.shape
    quad = apply_homography(matrix, image_corners(fw, fh))
    box = polygon_bbox(quad, hw[1], hw[0])
    if box is None:
        return None
    x0, y0, x1, y1 = (
        max(0, box[0] - 1),
        max(0, box[1] - 1),
        min(hw[1], box[2] + 1),
        min(hw[0], box[3] + 1),
    )
    image: np.ndarray = _premultiplied(doc.image, doc.alpha)
    alpha: np.ndarray = np.asarray(doc.alpha, np.float32)
    shrink = math.sqrt(polygon_area(quad) / float(fw * fh))
    if shrink < SHRINK_BELOW:
        nw, nh = max(2, round(fw * shrink * 1.25)), max(2, round(fh * shrink * 1.25))
        image = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
        alpha = cv2.resize(alpha, (nw, nh), interpolation=cv2.INTER_AREA)
        matrix = matrix @ np.linalg.inv(resize_matrix(nw / fw, nh / fh))
    local = translation(-x0, -y0) @ matrix
    size = (x1 - x0, y1 - y0)
    flags = cv2.INTER_LINEAR
    warped = cv2.warpPerspective(
        image, local, size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    walpha = cv2.warpPerspective(
        alpha, local, size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    return WarpedDocument((x0, y0, x1, y1), warped.astype(np.float32), walpha, quad)


def composite(canvas: np.ndarray, warped: WarpedDocument) -> None:
    """Lay the warped document over the float32 ``canvas`` (premultiplied "over"), in place.

    Example:
        >>> canvas = np.zeros((4, 4, 3), np.float32)
        >>> w = WarpedDocument((1, 1, 3, 3), np.full((2, 2, 3), 50, np.float32), np.full((2, 2), 0.5, np.float32), np.zeros((4, 2)))
        >>> composite(canvas, w); canvas[1, 1].tolist(), canvas[0, 0].tolist()
        ([50.0, 50.0, 50.0], [0.0, 0.0, 0.0])
    """
    x0, y0, x1, y1 = warped.box
    win = canvas[y0:y1, x0:x1]
    win *= 1.0 - warped.alpha[:, :, None]
    win += warped.premult


def layer_fields(
    field_map: np.ndarray,
    warped: WarpedDocument,
    polygons: list[np.ndarray],
    first_id: int,
) -> None:
    """Write field ids ``first_id, first_id + 1, ...`` into ``field_map`` for one document.

    The document's pixels are cleared first (it lies above earlier documents); then each field
    takes the document pixels whose centre is inside its mapped polygon, later fields over
    earlier ones.

    Example:
        >>> fmap = np.zeros((8, 8), np.uint16)
        >>> w = WarpedDocument((0, 0, 8, 8), np.zeros((8, 8, 3), np.float32), np.ones((8, 8), np.float32), np.zeros((4, 2)))
        >>> layer_fields(fmap, w, [np.array([[1.5, 1.5], [4.5, 1.5], [4.5, 3.5], [1.5, 3.5]])], 7)
        >>> int((fmap == 7).sum())
        6
    """
    x0, y0, x1, y1 = warped.box
    mask = warped.mask
    view = field_map[y0:y1, x0:x1]
    view[mask] = 0
    for j, poly in enumerate(polygons):
        local = np.asarray(poly, np.float64) - [x0, y0]
        box = polygon_bbox(local, x1 - x0, y1 - y0) if len(local) >= 3 else None
        if box is None:
            continue
        bx0, by0, bx1, by1 = box
        inside = polygon_window(local, box) & mask[by0:by1, bx0:bx1]
        view[by0:by1, bx0:bx1][inside] = first_id + j


def map_polygon(matrix: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """A flat-document polygon in scene coordinates.

    Example:
        >>> map_polygon(translation(1, 2), np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 1.0]])).tolist()
        [[1.0, 2.0], [3.0, 2.0], [3.0, 3.0]]
    """
    return apply_homography(matrix, np.asarray(polygon, np.float64))
