"""Procedural security printing: gradients, guilloche and fine-line patterns, emblems, holograms.

Everything is drawn with numpy and OpenCV from a seeded generator, so a seed gives the same pixels.
Layers are ``float32`` coverage arrays in ``[0, 1]``; :func:`blend` lays one over an RGB ``float32``
canvas (values 0..255) in a colour. These elements are document background, never fields.
"""

from __future__ import annotations

import logging
import math

import cv2
import numpy as np

from idseg.documents.synth.styles import PATTERNS, Color
from idseg.errors import InputError

logger = logging.getLogger(__name__)


def gradient(h: int, w: int, c0: Color, c1: Color, angle: float) -> np.ndarray:
    """An ``H x W x 3`` float32 linear gradient from ``c0`` to ``c1`` along ``angle`` degrees.

    Example:
        >>> g = gradient(2, 3, (0, 0, 0), (255, 255, 255), 0.0)
        >>> g[0, 0, 0], g[0, -1, 0]
        (np.float32(0.0), np.float32(255.0))
    """
    a = math.radians(angle)
    tx = np.linspace(0.0, 1.0, w, dtype=np.float32) * np.float32(math.cos(a))
    ty = np.linspace(0.0, 1.0, h, dtype=np.float32) * np.float32(math.sin(a))
    lo = float(min(tx.min(), tx.max()) + min(ty.min(), ty.max()))
    hi = float(max(tx.min(), tx.max()) + max(ty.min(), ty.max()))
    t = (ty[:, None] + tx[None, :] - np.float32(lo)) / np.float32(max(hi - lo, 1e-6))
    chans = [t * np.float32(b - a0) + np.float32(a0) for a0, b in zip(c0, c1, strict=True)]
    return cv2.merge(chans)


def blend(canvas: np.ndarray, cov: np.ndarray, color: Color, alpha: float = 1.0) -> None:
    """Lay colour ``color`` over ``canvas`` (in place) where ``cov`` (same H x W) is positive.

    Example:
        >>> c = np.zeros((1, 2, 3), np.float32)
        >>> blend(c, np.array([[0.0, 0.5]], np.float32), (200, 0, 0))
        >>> c[0, :, 0].tolist()
        [0.0, 100.0]
    """
    a = (cov * np.float32(alpha))[..., None]
    canvas *= 1.0 - a
    canvas += a * np.asarray(color, np.float32)


def blend_image(canvas: np.ndarray, alpha: np.ndarray, rgb: np.ndarray) -> None:
    """Lay the image ``rgb`` (``H x W x 3``) over ``canvas`` (in place) with ``H x W`` opacity ``alpha``.

    Example:
        >>> c = np.zeros((1, 2, 3), np.float32)
        >>> blend_image(c, np.array([[0.0, 0.5]], np.float32), np.full((1, 2, 3), 200, np.float32))
        >>> c[0, :, 0].tolist()
        [0.0, 100.0]
    """
    a = alpha[..., None]
    canvas *= 1.0 - a
    canvas += a * rgb


def _lines(phase: np.ndarray, grad: np.ndarray | float, period: float, width: float) -> np.ndarray:
    """Antialiased lines where ``phase`` is a multiple of ``period`` (phase and width in px)."""
    d = np.abs(np.mod(phase / period + 0.5, 1.0) - 0.5) * period / grad
    return np.clip(width / 2 + 0.5 - d, 0.0, 1.0).astype(np.float32)


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return x, y


def _waves(x: np.ndarray, y: np.ndarray, px: float, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros_like(x)
    for _ in range(2):
        lam, amp = rng.uniform(12, 30) * px, rng.uniform(0.8, 2.5) * px
        k, phi = 2 * math.pi / lam, rng.uniform(0, 2 * math.pi)
        phase = y + amp * np.sin(k * x + phi)
        grad = np.sqrt(1.0 + (amp * k * np.cos(k * x + phi)) ** 2)
        out = np.maximum(out, _lines(phase, grad, rng.uniform(0.7, 1.2) * px, 0.12 * px + 0.6))
    return out


def _guilloche(x: np.ndarray, y: np.ndarray, px: float, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros_like(x)
    lam, mu = rng.uniform(10, 20) * px, rng.uniform(15, 40) * px
    amp = rng.uniform(1.5, 3.5) * px
    for sign in (1.0, -1.0):
        arg = 2 * math.pi * (x / lam + y / mu) * sign
        phase = y + amp * np.sin(arg)
        gx = amp * np.cos(arg) * 2 * math.pi / lam
        gy = 1.0 + amp * np.cos(arg) * 2 * math.pi / mu * sign
        grad = np.sqrt(gx**2 + gy**2) + 1e-3
        out = np.maximum(out, _lines(phase, grad, 1.1 * px, 0.1 * px + 0.6))
    return out


def _rosette(x: np.ndarray, y: np.ndarray, px: float, rng: np.random.Generator) -> np.ndarray:
    h, w = x.shape
    cx, cy = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h
    r = np.hypot(x - cx, y - cy)
    theta = np.arctan2(y - cy, x - cx)
    out = np.zeros_like(x)
    for n, amp in ((int(rng.integers(8, 16)), 1.2), (int(rng.integers(17, 30)), 0.8)):
        phase = r + amp * px * np.sin(n * theta + rng.uniform(0, 2 * math.pi))
        out = np.maximum(out, _lines(phase, 1.0, 1.3 * px, 0.1 * px + 0.6))
    return out


def _straight(x: np.ndarray, y: np.ndarray, px: float, rng: np.random.Generator) -> np.ndarray:
    a = rng.uniform(20, 70)
    out = np.zeros_like(x)
    for ang in (a, -a):
        c, s = math.cos(math.radians(ang)), math.sin(math.radians(ang))
        out = np.maximum(out, _lines(x * s + y * c, 1.0, 0.8 * px, 0.08 * px + 0.5))
    return out


def _mesh(x: np.ndarray, y: np.ndarray, px: float, rng: np.random.Generator) -> np.ndarray:
    lam, amp = rng.uniform(8, 16) * px, rng.uniform(0.4, 1.0) * px
    k = 2 * math.pi / lam
    horiz = _lines(y + amp * np.sin(k * x), 1.0, 1.5 * px, 0.1 * px + 0.6)
    vert = _lines(x + amp * np.sin(k * y + 1.0), 1.0, 1.5 * px, 0.1 * px + 0.6)
    return np.maximum(horiz, vert)


_DRAW = {
    "waves": _waves,
    "guilloche": _guilloche,
    "rosette": _rosette,
    "lines": _straight,
    "mesh": _mesh,
}


def pattern(name: str, h: int, w: int, px_per_mm: float, rng: np.random.Generator) -> np.ndarray:
    """Coverage (``H x W`` float32, 0..1) of a background security pattern.

    Example:
        >>> p = pattern("guilloche", 40, 60, 8.0, np.random.default_rng(0))
        >>> p.shape, bool(0 < p.mean() < 1)
        ((40, 60), True)
    """
    if name not in PATTERNS:
        raise InputError(f"pattern must be one of {PATTERNS}, got {name!r}")
    if name == "none":
        return np.zeros((h, w), np.float32)
    x, y = _grid(h, w)
    return _DRAW[name](x, y, px_per_mm, rng)


def _star(size: int, th: int) -> np.ndarray:
    c, r = size / 2, size * 0.46
    pts = [
        (c + (r if i % 2 == 0 else r * 0.42) * math.sin(i * math.pi / 5),
         c - (r if i % 2 == 0 else r * 0.42) * math.cos(i * math.pi / 5))
        for i in range(10)
    ]  # fmt: skip
    layer = np.zeros((size, size), np.uint8)
    cv2.fillPoly(layer, [np.round(np.array(pts) * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
    return layer


def _shield(size: int, th: int) -> np.ndarray:
    layer = np.zeros((size, size), np.uint8)
    s = size
    pts = np.array([[0.12, 0.08], [0.88, 0.08], [0.88, 0.5], [0.5, 0.94], [0.12, 0.5]]) * s
    cv2.polylines(layer, [np.round(pts * 16).astype(np.int32)], True, 255, th, cv2.LINE_AA, 4)
    cv2.line(layer, (s // 2, int(0.18 * s)), (s // 2, int(0.8 * s)), 255, th, cv2.LINE_AA)
    cv2.line(
        layer, (int(0.22 * s), int(0.38 * s)), (int(0.78 * s), int(0.38 * s)), 255, th, cv2.LINE_AA
    )
    return layer


def _sun(size: int, th: int) -> np.ndarray:
    layer = np.zeros((size, size), np.uint8)
    c = size // 2
    cv2.circle(layer, (c, c), int(size * 0.2), 255, -1, cv2.LINE_AA)
    for i in range(16):
        a = i * math.pi / 8
        p0 = (int(c + 0.27 * size * math.cos(a)), int(c + 0.27 * size * math.sin(a)))
        p1 = (int(c + 0.47 * size * math.cos(a)), int(c + 0.47 * size * math.sin(a)))
        cv2.line(layer, p0, p1, 255, th, cv2.LINE_AA)
    return layer


def _globe(size: int, th: int) -> np.ndarray:
    layer = np.zeros((size, size), np.uint8)
    c, r = size // 2, int(size * 0.45)
    cv2.circle(layer, (c, c), r, 255, th, cv2.LINE_AA)
    for f in (0.35, 0.7):
        cv2.ellipse(layer, (c, c), (int(r * f), r), 0, 0, 360, 255, th, cv2.LINE_AA)
        cv2.ellipse(layer, (c, c), (r, int(r * f)), 0, 0, 360, 255, th, cv2.LINE_AA)
    return layer


def _laurel(size: int, th: int) -> np.ndarray:
    layer = np.zeros((size, size), np.uint8)
    c, r = size / 2, size * 0.4
    for side in (-1, 1):
        for i in range(7):
            a = math.radians(110 + i * 20)
            px, py = c + side * r * math.cos(a) * -1, c + r * math.sin(a) * -1 + size * 0.05
            ang = math.degrees(a) * side + 90
            axes = (max(int(size * 0.09), 1), max(int(size * 0.035), 1))
            cv2.ellipse(layer, (int(px), int(py)), axes, ang, 0, 360, 255, -1, cv2.LINE_AA)
    cv2.circle(layer, (int(c), int(c)), int(size * 0.12), 255, th, cv2.LINE_AA)
    return layer


_LOGOS = {"star": _star, "shield": _shield, "sun": _sun, "globe": _globe, "laurel": _laurel}


def logo(name: str, size: int) -> np.ndarray:
    """Coverage (``size x size`` float32, 0..1) of a procedural emblem; ``none`` is empty.

    Example:
        >>> m = logo("globe", 64)
        >>> m.shape, float(m.max())
        ((64, 64), 1.0)
    """
    if name == "none" or size < 4:
        return np.zeros((max(size, 0), max(size, 0)), np.float32)
    if name not in _LOGOS:
        raise InputError(f"logo must be one of {(*_LOGOS, 'none')}, got {name!r}")
    th = max(1, size // 22)
    return _LOGOS[name](size, th).astype(np.float32) / 255.0


def hologram(h: int, w: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A rainbow holographic patch: ``(rgb H x W x 3 float32, opacity H x W float32)``.

    The opacity is an ellipse with soft edges and concentric wavy rings, at most about 0.35.

    Example:
        >>> rgb, a = hologram(30, 40, np.random.default_rng(1))
        >>> rgb.shape, bool(a.max() <= 0.35)
        ((30, 40, 3), True)
    """
    x, y = _grid(h, w)
    u, v = (x + 0.5) / w * 2 - 1, (y + 0.5) / h * 2 - 1
    r = np.sqrt(u**2 + v**2)
    hue = np.mod(rng.uniform(0, 1) + 0.6 * u + 0.4 * v + 0.15 * np.sin(9 * r), 1.0)
    rgb = _hue_rgb(hue)
    edge = np.clip((1.0 - r) * 6.0, 0.0, 1.0)
    rings = 0.6 + 0.4 * np.cos(r * rng.uniform(18, 30) + 3 * np.arctan2(v, u))
    alpha = (edge * rings * rng.uniform(0.2, 0.35)).astype(np.float32)
    return rgb, alpha


def _hue_rgb(hue: np.ndarray) -> np.ndarray:
    """Pastel RGB (0..255) of hues in ``[0, 1)`` at full saturation and value."""
    k = np.stack([(5 + hue * 6) % 6, (3 + hue * 6) % 6, (1 + hue * 6) % 6], axis=-1)
    rgb = 1.0 - np.clip(np.minimum(k, 4 - k), 0.0, 1.0)
    return (rgb * 175 + 80).astype(np.float32)
