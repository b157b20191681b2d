"""Procedural handwritten signatures: smooth pen strokes of varying width.

A signature is one to three strokes. Each stroke is a Catmull-Rom spline through random control
points that advance left to right with loops and swings; the pen width follows a smooth random
pressure profile. Strokes are drawn four times oversampled and reduced by area averaging, which
antialiases them.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from idseg.errors import InputError

logger = logging.getLogger(__name__)

_OVERSAMPLE = 4


def _catmull_rom(points: np.ndarray, samples: int) -> np.ndarray:
    """Points along a Catmull-Rom spline through ``points`` (``N x 2``), ``samples`` per span."""
    p = np.vstack([points[0], points, points[-1]])
    t = np.linspace(0.0, 1.0, samples, endpoint=False)[:, None]
    t2, t3 = t * t, t * t * t
    spans = []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        spans.append(
            0.5
            * (
                2 * p1
                + (p2 - p0) * t
                + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t2
                + (3 * p1 - p0 - 3 * p2 + p3) * t3
            )
        )
    spans.append(p[-2][None])
    return np.vstack(spans)


def _smooth(rng: np.random.Generator, t: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """A smooth random curve over ``t`` with values in ``[lo, hi]`` (two random sinusoids)."""
    f = rng.uniform(0.05, 0.4, 2)
    p = rng.uniform(0, 2 * np.pi, 2)
    wave = 0.5 + 0.25 * (np.sin(f[0] * t + p[0]) + np.sin(f[1] * t + p[1]))
    return lo + (hi - lo) * wave


def _cursive(rng: np.random.Generator, x0: float, cycles: int) -> np.ndarray:
    """A run of handwriting: a prolate trochoid (loops where the swing beats the advance).

    The swing, the letter height and the rhythm drift smoothly; a few tall ascenders and a large
    first letter break the rhythm.
    """
    t = np.linspace(0.0, 2 * np.pi * cycles, 24 * cycles)
    swing = _smooth(rng, t, 0.02, rng.uniform(0.15, 0.32))
    height = _smooth(rng, t, 0.18, 0.42)
    phase = t + 0.4 * np.sin(_smooth(rng, t, 0.0, 3.0))
    x = x0 + 0.3 * t / (2 * np.pi) - swing * np.sin(phase)
    y = 0.55 - height * np.cos(phase)
    for _ in range(int(rng.integers(0, 3))):  # ascenders
        c = rng.uniform(0, t[-1])
        y -= 0.45 * np.exp(-(((t - c) / 1.2) ** 2))
    y[:24] -= 0.35 * np.sin(np.linspace(0, np.pi, 24)) * rng.uniform(0.5, 1.0)  # capital
    x += rng.uniform(0.0, 0.35) * (0.55 - y)  # slant
    return np.stack([x, y], axis=1)


def _paths(rng: np.random.Generator) -> list[np.ndarray]:
    """One to three cursive runs and sometimes an underline flourish, in about unit height."""
    paths = []
    x = 0.0
    for _ in range(int(rng.integers(1, 4))):
        run = _cursive(rng, x, int(rng.integers(3, 8)))
        paths.append(run)
        x = float(run[:, 0].max()) + rng.uniform(0.1, 0.4)
    if rng.random() < 0.5:
        y = float(max(p[:, 1].max() for p in paths)) + rng.uniform(0.05, 0.2)
        ctrl = np.array([[-0.1, y - 0.1], [0.4 * x, y + 0.05], [0.95 * x, y - 0.15]])
        paths.append(_catmull_rom(ctrl, 16))
    return paths


def signature(rng: np.random.Generator, w: int, h: int, pen_px: float) -> np.ndarray:
    """Coverage (``h x w`` float32, 0..1) of a random signature filling most of the box.

    Args:
        rng: Random generator (the only source of randomness).
        w: Box width in pixels.
        h: Box height in pixels.
        pen_px: Mean pen width in pixels.

    Example:
        >>> cov = signature(np.random.default_rng(0), 120, 40, 2.5)
        >>> cov.shape, bool(cov.max() > 0.9), float(cov[0].max()) == 0.0
        ((40, 120), True, True)
    """
    if w < 8 or h < 8 or pen_px <= 0:
        raise InputError(
            f"signature box must be at least 8 x 8 px with pen > 0, got {w}x{h}, {pen_px}"
        )
    paths = _paths(rng)
    allpts = np.vstack(paths)
    lo, hi = allpts.min(axis=0), allpts.max(axis=0)
    margin = pen_px + 1.0
    scale = min(
        (w - 2 * margin) / max(hi[0] - lo[0], 1e-6), (h - 2 * margin) / max(hi[1] - lo[1], 1e-6)
    )
    offset = np.array([w, h]) / 2 - (lo + hi) / 2 * scale
    s = _OVERSAMPLE
    big = np.zeros((h * s, w * s), np.uint8)
    for path in paths:
        pts = (path * scale + offset) * s
        n = len(pts)
        phase = rng.uniform(0, 2 * np.pi)
        pressure = 0.55 + 0.45 * np.sin(np.linspace(0, rng.uniform(2, 6), n) + phase) ** 2
        taper = np.minimum(1.0, np.minimum(np.arange(n), np.arange(n)[::-1]) / 6.0 + 0.3)
        widths = np.maximum(1, np.round(pen_px * s * pressure * taper)).astype(int)
        ipts = np.round(pts).astype(np.int32)
        for i in range(n - 1):
            p0, p1 = (int(ipts[i, 0]), int(ipts[i, 1])), (int(ipts[i + 1, 0]), int(ipts[i + 1, 1]))
            cv2.line(big, p0, p1, 255, int(widths[i]), cv2.LINE_8)
    small = cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA)
    return small.astype(np.float32) / 255.0
