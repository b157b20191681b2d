"""A classical OpenCV document localiser: edges, contours, polygon approximation.

This is the baseline the document benchmark compares idseg's learned localiser with (the approach of
most "document scanner" tutorials). It finds bright-edged quadrilaterals: it works on a plain,
contrasting background and fails on clutter, low contrast, occlusion and corners out of frame.

Quads are returned in continuous image coordinates (pixel ``(c, r)`` covers ``[c, c + 1)``),
ordered clockwise from the top-left corner in the image (the document's own orientation is unknown
to this method).
"""

from __future__ import annotations

import cv2
import numpy as np

from idseg.documents.evaluate import quad_iou
from idseg.errors import InputError
from idseg.quad import order_quad


def _edges(gray: np.ndarray) -> np.ndarray:
    blurred = cv2.GaussianBlur(gray, (5, 5), 0)
    median = float(np.median(blurred))
    low, high = int(max(0, 0.66 * median)), int(min(255, 1.33 * median))
    edges = cv2.Canny(blurred, low, max(high, low + 1))
    # Closing joins broken edges without moving them outwards (a dilation alone would).
    return cv2.morphologyEx(edges, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))


def _contour_quad(contour: np.ndarray) -> np.ndarray:
    hull = cv2.convexHull(contour)
    perimeter = cv2.arcLength(hull, True)
    for eps in (0.02, 0.03, 0.05):
        approx = cv2.approxPolyDP(hull, eps * perimeter, True)
        if len(approx) == 4 and cv2.isContourConvex(approx):
            return approx.reshape(4, 2).astype(np.float64)
    return cv2.boxPoints(cv2.minAreaRect(hull)).astype(np.float64)


def localize_opencv(
    image: np.ndarray,
    max_side: int = 640,
    min_area_fraction: float = 0.03,
    max_documents: int = 4,
) -> list[np.ndarray]:
    """Find document-like quadrilaterals in a photo with classical image processing.

    Args:
        image: ``H x W x 3`` uint8 RGB photo.
        max_side: The photo is shrunk so that its longer side is at most this (speed).
        min_area_fraction: Smallest document area as a fraction of the photo.
        max_documents: At most this many quads, largest and most rectangular first.

    Returns:
        ``4 x 2`` float quads in continuous image coordinates; empty when nothing was found.

    Example:
        >>> img = np.full((120, 160, 3), 40, np.uint8); img[30:90, 40:130] = 230
        >>> [q.round().tolist() for q in localize_opencv(img)]
        [[[40.0, 30.0], [130.0, 30.0], [130.0, 90.0], [40.0, 90.0]]]
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError(f"image must be H x W x 3 uint8 RGB, got {image.shape} {image.dtype}")
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    small = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    contours, _ = cv2.findContours(_edges(gray), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    frame = gray.shape[0] * gray.shape[1]
    candidates: list[tuple[float, np.ndarray]] = []
    for contour in contours:
        area = cv2.contourArea(contour)
        if area < min_area_fraction * frame:
            continue
        quad = _contour_quad(contour)
        quad_area = cv2.contourArea(quad.astype(np.float32))
        if quad_area <= 0:
            continue
        rectangularity = min(1.0, area / quad_area)
        candidates.append((quad_area * rectangularity, quad))
    kept: list[np.ndarray] = []
    for _, quad in sorted(candidates, key=lambda c: -c[0]):
        if all(quad_iou(quad, k) < 0.5 for k in kept):
            kept.append(quad)
        if len(kept) == max_documents:
            break
    # Contour points are pixel centres of the shrunk photo: shift to continuous coordinates.
    return [order_quad((q + 0.5) / scale) for q in kept]
