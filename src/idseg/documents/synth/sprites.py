"""Sprites: small antialiased RGB + alpha patches that clutter and occluders are made of.

A :class:`Sprite` covers a window of the frame (it may stick out of it). Shapes are drawn
analytically where that is cheap (capsules and discs get their alpha from the exact distance to
their outline, so they are antialiased at any size and shaded like cylinders or domes), and
upright pictures (notes, cards, phones) are rotated into place with ``cv2.warpAffine``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import cv2
import numpy as np

logger = logging.getLogger(__name__)


@dataclass
class Sprite:
    """An RGB + alpha patch placed at ``(x0, y0)`` in the frame.

    Attributes:
        x0: Column of the patch's left edge in the frame (may be negative).
        y0: Row of the patch's top edge in the frame (may be negative).
        alpha: ``h x w`` float32 coverage in ``[0, 1]``.
        rgb: ``h x w x 3`` float32 colour in ``[0, 255]``.
    """

    x0: int
    y0: int
    alpha: np.ndarray
    rgb: np.ndarray

    def window(self, hw: tuple[int, int]) -> tuple[slice, slice, slice, slice] | None:
        """Frame and patch slices of the part inside a frame of size ``hw``; ``None`` if outside.

        Example:
            >>> s = Sprite(-2, 0, np.ones((3, 4), np.float32), np.zeros((3, 4, 3), np.float32))
            >>> s.window((10, 10))
            (slice(0, 3, None), slice(0, 2, None), slice(0, 3, None), slice(2, 4, None))
        """
        h, w = self.alpha.shape
        fy0, fx0 = max(0, self.y0), max(0, self.x0)
        fy1, fx1 = min(hw[0], self.y0 + h), min(hw[1], self.x0 + w)
        if fy0 >= fy1 or fx0 >= fx1:
            return None
        return (
            slice(fy0, fy1),
            slice(fx0, fx1),
            slice(fy0 - self.y0, fy1 - self.y0),
            slice(fx0 - self.x0, fx1 - self.x0),
        )


def paste(canvas: np.ndarray, sprite: Sprite, coverage: np.ndarray | None = None) -> None:
    """Composite ``sprite`` over a float32 ``canvas`` in place; add its alpha into ``coverage``.

    ``coverage`` (``H x W`` float32) accumulates ``1 - (1 - a)(1 - b)``, the union of alphas.

    Example:
        >>> canvas = np.zeros((2, 2, 3), np.float32)
        >>> paste(canvas, Sprite(0, 0, np.full((1, 1), 0.5, np.float32), np.full((1, 1, 3), 200, np.float32)))
        >>> canvas[0, 0].tolist()
        [100.0, 100.0, 100.0]
    """
    win = sprite.window(canvas.shape[:2])
    if win is None:
        return
    fy, fx, sy, sx = win
    a = sprite.alpha[sy, sx, None]
    view = canvas[fy, fx]
    view += (sprite.rgb[sy, sx] - view) * a
    if coverage is not None:
        cov = coverage[fy, fx]
        cov += (1.0 - cov) * a[:, :, 0]


def darken(canvas: np.ndarray, x0: int, y0: int, amount: np.ndarray) -> None:
    """Multiply ``canvas`` by ``1 - amount`` over the window at ``(x0, y0)``, in place.

    Example:
        >>> canvas = np.full((3, 3, 3), 100, np.float32)
        >>> darken(canvas, 2, 2, np.full((4, 4), 0.25, np.float32))
        >>> float(canvas[2, 2, 0]), float(canvas[1, 1, 0])
        (75.0, 100.0)
    """
    sprite = Sprite(x0, y0, amount, np.empty((0, 0, 3), np.float32))
    win = sprite.window(canvas.shape[:2])
    if win is None:
        return
    fy, fx, sy, sx = win
    canvas[fy, fx] *= 1.0 - amount[sy, sx, None]


def cast_shadow(
    canvas: np.ndarray, sprite: Sprite, offset: tuple[float, float], blur: float, strength: float
) -> None:
    """Darken ``canvas`` under a blurred, shifted copy of the sprite's alpha (a soft cast shadow).

    A wide shadow (``blur > 4``) is made on a copy binned by ``f = floor(blur / 2)`` pixels,
    shifted and blurred there and enlarged back over the frame only: a soft shadow has no
    detail finer than ``blur``, and this costs a fraction of a full-size blur.

    Example:
        >>> canvas = np.full((20, 20, 3), 100, np.float32)
        >>> cast_shadow(canvas, Sprite(5, 5, np.ones((6, 6), np.float32), np.zeros((6, 6, 3), np.float32)), (2, 2), 1.5, 0.5)
        >>> bool(canvas[10, 10, 0] < 100 and canvas[0, 0, 0] == 100)
        True
    """
    f = int(blur // 2) if blur > 4.0 else 1
    h, w = sprite.alpha.shape
    sh, sw = -(-h // f), -(-w // f)
    pad = math.ceil((3 * blur + max(abs(offset[0]), abs(offset[1]))) / f) + 1
    shadow = np.zeros((sh + 2 * pad, sw + 2 * pad), np.float32)
    if f == 1:
        shadow[pad : pad + h, pad : pad + w] = sprite.alpha
    else:
        binned = np.zeros((sh * f, sw * f), np.float32)
        binned[:h, :w] = sprite.alpha
        shadow[pad : pad + sh, pad : pad + sw] = binned.reshape(sh, f, sw, f).mean(axis=(1, 3))
    shift = np.array([[1, 0, offset[0] / f], [0, 1, offset[1] / f]], np.float32)
    shadow = cv2.warpAffine(shadow, shift, shadow.shape[::-1])
    if blur > 0:
        shadow = cv2.GaussianBlur(shadow, (0, 0), blur / f)
    x0, y0 = sprite.x0 - pad * f, sprite.y0 - pad * f
    if (
        f > 1
    ):  # enlarge back only the binned cells that reach the frame (plus one for interpolation)
        ch, cw = canvas.shape[:2]
        c0, r0 = max(0, -x0 // f - 1), max(0, -y0 // f - 1)
        c1 = min(shadow.shape[1], -(-(cw - x0) // f) + 1)
        r1 = min(shadow.shape[0], -(-(ch - y0) // f) + 1)
        if c1 <= c0 or r1 <= r0:
            return
        cells = shadow[r0:r1, c0:c1]
        big = cv2.resize(cells, ((c1 - c0) * f, (r1 - r0) * f), interpolation=cv2.INTER_LINEAR)
        shadow, x0, y0 = big, x0 + c0 * f, y0 + r0 * f
    darken(canvas, x0, y0, shadow * np.float32(strength))


def _grid(x0: int, y0: int, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[y0 : y0 + h, x0 : x0 + w].astype(np.float32)
    return xs, ys


def capsule(
    a: tuple[float, float],
    b: tuple[float, float],
    radius: float,
    colour: np.ndarray,
    shading: float = 0.35,
) -> Sprite:
    """A capsule (a segment swept by a disc: pens, pencils) shaded like a cylinder.

    Example:
        >>> s = capsule((10, 10), (30, 10), 4.0, np.array([200, 150, 120], np.float32))
        >>> float(s.alpha.max()), s.alpha.shape
        (1.0, (11, 31))
    """
    x0 = math.floor(min(a[0], b[0]) - radius - 1)
    y0 = math.floor(min(a[1], b[1]) - radius - 1)
    x1 = math.ceil(max(a[0], b[0]) + radius + 1)
    y1 = math.ceil(max(a[1], b[1]) + radius + 1)
    xs, ys = _grid(x0, y0, x1 - x0 + 1, y1 - y0 + 1)
    dx, dy = b[0] - a[0], b[1] - a[1]
    length2 = max(dx * dx + dy * dy, 1e-9)
    t = np.clip(((xs - a[0]) * dx + (ys - a[1]) * dy) / np.float32(length2), 0.0, 1.0)
    dist = np.hypot(xs - (a[0] + t * dx), ys - (a[1] + t * dy))
    alpha = np.clip(radius - dist + 0.5, 0.0, 1.0).astype(np.float32)
    shade = 1.0 - shading * np.clip(dist / max(radius, 1e-6), 0.0, 1.0) ** 2
    rgb = colour[None, None, :] * shade[:, :, None]
    return Sprite(x0, y0, alpha, rgb.astype(np.float32))


def disc(
    centre: tuple[float, float], radius: float, colour: np.ndarray, shading: float = 0.3
) -> Sprite:
    """A disc (coins, buttons) lit from the top-left, with a slightly darker rim.

    Example:
        >>> disc((5.0, 5.0), 3.0, np.array([180, 180, 180], np.float32)).alpha.shape
        (11, 11)
    """
    x0, y0 = math.floor(centre[0] - radius - 2), math.floor(centre[1] - radius - 2)
    size = math.ceil(2 * radius + 4) + 1
    xs, ys = _grid(x0, y0, size, size)
    rx, ry = xs - centre[0], ys - centre[1]
    dist = np.hypot(rx, ry)
    alpha = np.clip(radius - dist + 0.5, 0.0, 1.0).astype(np.float32)
    light = 1.0 + shading * (-(rx + ry) / (1.414 * max(radius, 1e-6)))
    rim = np.where(dist > 0.85 * radius, 0.8, 1.0)
    return Sprite(
        x0, y0, alpha, (colour[None, None, :] * (light * rim)[:, :, None]).astype(np.float32)
    )


def upright(
    rgb: np.ndarray, alpha: np.ndarray, centre: tuple[float, float], angle_deg: float
) -> Sprite:
    """Rotate an upright picture about its centre and place its centre at ``centre``.

    Example:
        >>> pic = np.full((10, 20, 3), 255, np.float32)
        >>> s = upright(pic, np.ones((10, 20), np.float32), (50.0, 50.0), 90.0)
        >>> s.alpha.shape[0] > s.alpha.shape[1]
        True
    """
    h, w = alpha.shape
    theta = math.radians(angle_deg)
    c, s = abs(math.cos(theta)), abs(math.sin(theta))
    bw, bh = math.ceil(w * c + h * s) + 4, math.ceil(w * s + h * c) + 4
    x0, y0 = math.floor(centre[0] - bw / 2), math.floor(centre[1] - bh / 2)
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle_deg, 1.0)
    matrix[:, 2] += [centre[0] - x0 - (w - 1) / 2, centre[1] - y0 - (h - 1) / 2]
    premult = rgb.astype(np.float32) * alpha[:, :, None]
    out_rgb = cv2.warpAffine(premult, matrix, (bw, bh), flags=cv2.INTER_LINEAR)
    out_a = cv2.warpAffine(alpha.astype(np.float32), matrix, (bw, bh), flags=cv2.INTER_LINEAR)
    safe = np.maximum(out_a, 1e-6)[:, :, None]
    return Sprite(x0, y0, out_a, out_rgb / safe)


def rounded_rect_alpha(h: int, w: int, radius: float) -> np.ndarray:
    """``h x w`` float32 alpha of a rectangle with antialiased rounded corners.

    Example:
        >>> a = rounded_rect_alpha(10, 10, 4.0)
        >>> float(a[0, 0]) < 0.5 < float(a[5, 0])
        True
    """
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    r = max(0.0, min(radius, h / 2, w / 2))
    cx = np.clip(xs, r - 0.5, w - 0.5 - r)
    cy = np.clip(ys, r - 0.5, h - 0.5 - r)
    dist = np.hypot(xs - cx, ys - cy)
    return (
        np.clip(r - dist + 0.5, 0.0, 1.0).astype(np.float32)
        if r > 0
        else np.ones((h, w), np.float32)
    )
