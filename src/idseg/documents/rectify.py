"""Rectify a document: warp its 4-corner quad to an upright rectangle of its true aspect ratio.

Quads use continuous image coordinates, as idseg's dataset files and MIDV-500 do: ``(0, 0)`` is the
top-left corner of the top-left pixel. Corners are ordered clockwise from the document's own
top-left. The aspect ratio comes from the document kind (TD1 85.6 x 54 mm = 1.586, portrait-format
ID-1 ``td1v`` 1 / 1.586, TD2 1.419, TD3 1.420, A4 / Letter pages) or is estimated from the quad,
snapping to a known kind when close.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from idseg.documents.classes import KINDS
from idseg.errors import InputError

#: Relative tolerance for snapping an estimated aspect ratio to a known document kind.
SNAP_TOLERANCE = 0.06


@dataclass(frozen=True)
class Rectified:
    """A rectified document.

    Attributes:
        image: The upright document, ``H x W x 3`` uint8 RGB.
        homography: 3 x 3 matrix mapping image pixel centres to rectified pixel centres.
        aspect: Width / height used.
        kind: The document kind used or snapped to, or ``None``.
    """

    image: np.ndarray
    homography: np.ndarray
    aspect: float
    kind: str | None


def check_quad(quad: np.ndarray | list[list[float]]) -> np.ndarray:
    """Validate a quad: 4 finite ``(x, y)`` points with a non-zero area.

    Example:
        >>> check_quad([[0, 0], [4, 0], [4, 2], [0, 2]]).shape
        (4, 2)
    """
    arr = np.asarray(quad, dtype=np.float64)
    if arr.shape != (4, 2) or not np.isfinite(arr).all():
        raise InputError(f"a quad must be 4 finite (x, y) points, got shape {arr.shape}")
    x, y = arr[:, 0], arr[:, 1]
    area = 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
    if area < 1.0:
        raise InputError(f"a quad must enclose at least 1 square pixel, got area {area:.3g}")
    return arr


def side_lengths(quad: np.ndarray) -> tuple[float, float]:
    """Mean lengths of the top/bottom and left/right sides of a quad.

    Example:
        >>> side_lengths(np.array([[0, 0], [8, 0], [8, 5], [0, 5]], float))
        (8.0, 5.0)
    """
    q = check_quad(quad)
    top, right = np.linalg.norm(q[1] - q[0]), np.linalg.norm(q[2] - q[1])
    bottom, left = np.linalg.norm(q[2] - q[3]), np.linalg.norm(q[3] - q[0])
    return float((top + bottom) / 2), float((left + right) / 2)


def snap_kind(
    aspect: float, kinds: tuple[str, ...] | None = None, tolerance: float = SNAP_TOLERANCE
) -> str | None:
    """The document kind whose aspect ratio is within ``tolerance`` (relative) of ``aspect``.

    Landscape ID formats and portrait pages are both considered; the closest one wins.

    Example:
        >>> snap_kind(1.55), snap_kind(0.72), snap_kind(3.0)
        ('td1', 'a4', None)
    """
    best, best_err = None, tolerance
    for name in kinds or tuple(KINDS):
        err = abs(aspect / KINDS[name].aspect - 1.0)
        if err < best_err:
            best, best_err = name, err
    return best


def rectify(
    image: np.ndarray,
    quad: np.ndarray | list[list[float]],
    kind: str | None = None,
    width: int | None = None,
    max_side: int = 2000,
) -> Rectified:
    """Warp the document inside ``quad`` to an upright rectangle.

    Args:
        image: ``H x W x 3`` uint8 RGB photo.
        quad: 4 corners, clockwise from the document's top-left, continuous coordinates.
        kind: Document kind (``td1``, ``td1v``, ``td2``, ``td3``, ``a4``, ``letter``) giving
            the aspect ratio; ``None`` estimates it from the quad and snaps it to a kind when close.
        width: Output width in pixels; default: the quad's mean top/bottom side length.
        max_side: Cap of the output's longer side.

    Returns:
        The rectified document and the homography used.

    Raises:
        InputError: A bad image, quad or kind.

    Example:
        >>> img = np.zeros((60, 80, 3), np.uint8); img[10:30, 20:52] = 255
        >>> r = rectify(img, [[20, 10], [52, 10], [52, 30], [20, 30]], kind="td1")
        >>> r.image.shape, int(r.image.mean())
        ((20, 32, 3), 255)
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError(f"image must be H x W x 3 uint8 RGB, got {image.shape} {image.dtype}")
    q = check_quad(quad)
    horizontal, vertical = side_lengths(q)
    if kind is not None and kind not in KINDS:
        raise InputError(f"unknown document kind {kind!r}; expected one of {', '.join(KINDS)}")
    estimated = horizontal / max(vertical, 1e-6)
    used_kind = kind if kind is not None else snap_kind(estimated)
    aspect = KINDS[used_kind].aspect if used_kind is not None else estimated
    out_w = round(width if width is not None else horizontal)
    out_h = round(out_w / aspect)
    scale = min(1.0, max_side / max(out_w, out_h, 1))
    out_w, out_h = max(1, round(out_w * scale)), max(1, round(out_h * scale))
    src = (q - 0.5).astype(np.float32)
    dst = np.array(
        [[-0.5, -0.5], [out_w - 0.5, -0.5], [out_w - 0.5, out_h - 0.5], [-0.5, out_h - 0.5]],
        dtype=np.float32,
    )
    h = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(
        image, h, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return Rectified(warped, h, aspect, used_kind)


def map_points(points: np.ndarray, homography: np.ndarray) -> np.ndarray:
    """Apply a homography to ``N x 2`` points (pixel-centre coordinates).

    Example:
        >>> map_points(np.array([[1.0, 2.0]]), np.eye(3)).tolist()
        [[1.0, 2.0]]
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 1, 2)
    return cv2.perspectiveTransform(pts, np.asarray(homography, dtype=np.float64)).reshape(-1, 2)
