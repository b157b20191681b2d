"""Procedural backgrounds: wood, fabric, paper, marble, stone, mats, desks, gradients, studio white.

Every texture is drawn from the random generator alone (no photos are bundled), as a float32
``H x W x 3`` RGB array in ``[0, 255]``. Smooth noise is made by resizing a small random grid, so a
640 x 480 texture takes a few milliseconds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import cv2
import numpy as np

logger = logging.getLogger(__name__)

Texture = Callable[[np.random.Generator, int, int], np.ndarray]

_WOODS = np.array(
    [[196, 150, 102], [160, 110, 66], [120, 78, 45], [222, 184, 135], [94, 60, 36], [176, 140, 98]],
    np.float32,
)
_FABRICS = np.array(
    [[60, 72, 110], [120, 40, 45], [70, 100, 70], [150, 150, 150], [40, 40, 45], [190, 170, 140]],
    np.float32,
)
_DESKS = np.array(
    [[235, 235, 232], [200, 200, 198], [128, 128, 130], [50, 50, 54], [22, 22, 24], [215, 205, 185],
     [170, 190, 200], [90, 110, 95]],
    np.float32,
)  # fmt: skip


def smooth_noise(rng: np.random.Generator, h: int, w: int, cells: float) -> np.ndarray:
    """Smooth noise in about ``[-1, 1]``, ``H x W`` float32, with ``cells`` blobs across the width.

    Example:
        >>> smooth_noise(np.random.default_rng(0), 30, 40, 4).shape
        (30, 40)
    """
    gw = max(2, round(cells))
    gh = max(2, round(cells * h / max(w, 1)))
    grid = rng.uniform(-1.0, 1.0, (gh + 1, gw + 1)).astype(np.float32)
    big = cv2.resize(grid, (w + w // gw + 1, h + h // gh + 1), interpolation=cv2.INTER_CUBIC)
    return big[:h, :w]


def fractal_noise(
    rng: np.random.Generator, h: int, w: int, cells: float, octaves: int = 4
) -> np.ndarray:
    """Sum of :func:`smooth_noise` octaves (each twice as fine and half as strong).

    Example:
        >>> float(np.abs(fractal_noise(np.random.default_rng(0), 20, 20, 2)).max()) < 2.0
        True
    """
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for k in range(octaves):
        out += amp * smooth_noise(rng, h, w, cells * 2**k)
        total += amp
        amp /= 2.0
    return out / total


def _jitter(rng: np.random.Generator, palette: np.ndarray, amount: float = 18.0) -> np.ndarray:
    colour = palette[int(rng.integers(len(palette)))] + rng.normal(0.0, amount, 3)
    return np.clip(colour, 0, 255).astype(np.float32)


def _coords(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates rotated by a random angle (``u`` along, ``v`` across)."""
    theta = rng.uniform(0.0, np.pi)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    c, s = np.float32(np.cos(theta)), np.float32(np.sin(theta))
    return xs * c + ys * s, -xs * s + ys * c


def _mix(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    t3 = np.clip(t, 0.0, 1.0)[:, :, None]
    return a[None, None, :] * (1.0 - t3) + b[None, None, :] * t3


def wood(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Wood grain: stretched noise streaks along the grain and slightly wavy growth lines.

    Example:
        >>> wood(np.random.default_rng(0), 24, 32).shape
        (24, 32, 3)
    """
    light = _jitter(rng, _WOODS)
    dark = light * np.float32(rng.uniform(0.55, 0.8))
    _, v = _coords(rng, h, w)
    v = v + fractal_noise(rng, h, w, 3) * np.float32(rng.uniform(8.0, 30.0))
    period = rng.uniform(6.0, 22.0)
    rings = 0.5 + 0.5 * np.sin(v * np.float32(2 * np.pi / period))
    offset = v - v.min()
    lines = rng.uniform(0.0, 1.0, int(offset.max()) + 2).astype(np.float32)
    streak = np.convolve(lines, np.ones(2, np.float32) / 2, mode="same")[offset.astype(np.int64)]
    t = 0.55 * rings**3 + 0.45 * streak
    return _mix(light, dark, t)


def fabric(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Woven fabric: crossing threads with thread-level noise, sometimes a tartan check.

    Example:
        >>> fabric(np.random.default_rng(0), 24, 32).shape
        (24, 32, 3)
    """
    base = _jitter(rng, _FABRICS, 25.0)
    u, v = _coords(rng, h, w)
    pitch = rng.uniform(2.5, 6.0)
    weave = np.sin(u * (2 * np.pi / pitch)) * np.sin(v * (2 * np.pi / pitch))
    thread = smooth_noise(rng, h, w, w / 3.0)
    shade = 1.0 + 0.12 * weave + 0.06 * thread + 0.05 * fractal_noise(rng, h, w, 3)
    out = base[None, None, :] * shade[:, :, None]
    if rng.random() < 0.35:  # tartan bands
        stripe = _jitter(rng, _FABRICS, 40.0)
        band = rng.uniform(15.0, 60.0)
        t = ((np.sin(u * (2 * np.pi / band)) > 0.6) | (np.sin(v * (2 * np.pi / band)) > 0.6)) * 0.45
        out = out * (1 - t[:, :, None]) + stripe[None, None, :] * shade[:, :, None] * t[:, :, None]
    return out


def paper(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Off-white paper or cardboard: low-contrast blotches and fine fibres.

    Example:
        >>> paper(np.random.default_rng(0), 24, 32).shape
        (24, 32, 3)
    """
    tones = np.array(
        [[244, 241, 232], [232, 226, 210], [205, 180, 140], [250, 250, 248]], np.float32
    )
    base = _jitter(rng, tones, 6.0)
    shade = 1.0 + 0.04 * fractal_noise(rng, h, w, 4) + 0.03 * smooth_noise(rng, h, w, w / 2.0)
    return base[None, None, :] * shade[:, :, None]


def marble(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Marble: pale stone with dark turbulent veins.

    Example:
        >>> marble(np.random.default_rng(0), 24, 32).shape
        (24, 32, 3)
    """
    stone = _jitter(
        rng,
        np.array([[236, 234, 230], [40, 40, 44], [205, 200, 190], [120, 130, 125]], np.float32),
        8.0,
    )
    vein = np.clip(255 - stone, 20, 235).astype(np.float32) * 0.5 + stone * 0.5
    u, _ = _coords(rng, h, w)
    turb = fractal_noise(rng, h, w, 3, octaves=5) * rng.uniform(3.0, 7.0)
    t = np.abs(np.sin(u * rng.uniform(0.01, 0.03) + turb)) ** rng.uniform(6.0, 20.0)
    out = _mix(stone, vein, t.astype(np.float32))
    return out * (1.0 + 0.04 * fractal_noise(rng, h, w, 6))[:, :, None]


def speckle(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Speckled stone or carpet: a base colour with grains of two other tones.

    Example:
        >>> speckle(np.random.default_rng(0), 24, 32).shape
        (24, 32, 3)
    """
    base = _jitter(rng, _DESKS, 20.0)
    out = np.broadcast_to(base, (h, w, 3)).copy()
    grain = cv2.GaussianBlur(
        rng.uniform(0, 1, (h, w)).astype(np.float32), (0, 0), rng.uniform(0.5, 1.5)
    )
    for colour, cut in ((_jitter(rng, _DESKS, 30.0), 0.62), (_jitter(rng, _DESKS, 30.0), 0.38)):
        sel = grain > cut if cut > 0.5 else grain < cut
        out[sel] = colour
    return out * (1.0 + 0.05 * fractal_noise(rng, h, w, 3))[:, :, None]


def cutting_mat(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Cutting mat: a green, grey or blue mat with a printed grid.

    Example:
        >>> cutting_mat(np.random.default_rng(0), 24, 32).shape
        (24, 32, 3)
    """
    mats = np.array([[40, 110, 80], [60, 62, 68], [40, 70, 120]], np.float32)
    out = np.broadcast_to(_jitter(rng, mats, 10.0), (h, w, 3)).copy()
    step = rng.uniform(14.0, 40.0)
    u, v = _coords(rng, h, w) if rng.random() < 0.5 else np.mgrid[0:h, 0:w][::-1].astype(np.float32)
    dist = np.minimum(0.5 - np.abs((u / step) % 1 - 0.5), 0.5 - np.abs((v / step) % 1 - 0.5))
    line = np.clip(1.2 - dist * step, 0.0, 1.0) * 0.6
    out += (230.0 - out) * line[:, :, None]
    return out * (1.0 + 0.03 * fractal_noise(rng, h, w, 4))[:, :, None]


def desk(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A plain desk or table top: one colour with faint smudges.

    Example:
        >>> desk(np.random.default_rng(0), 24, 32).shape
        (24, 32, 3)
    """
    base = _jitter(rng, _DESKS, 12.0)
    shade = 1.0 + 0.05 * fractal_noise(rng, h, w, 2) + 0.015 * smooth_noise(rng, h, w, w / 2.5)
    return base[None, None, :] * shade[:, :, None]


def gradient(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A linear or radial blend of two colours (studio backdrops, screens, car seats).

    Example:
        >>> gradient(np.random.default_rng(0), 24, 32).shape
        (24, 32, 3)
    """
    a, b = rng.uniform(0, 255, 3).astype(np.float32), rng.uniform(0, 255, 3).astype(np.float32)
    if rng.random() < 0.5:
        u, _ = _coords(rng, h, w)
        t = (u - u.min()) / max(float(u.max() - u.min()), 1.0)
    else:
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        t = np.hypot(xs - cx, ys - cy) / np.float32(np.hypot(w, h))
    return _mix(a, b, t.astype(np.float32))


def studio(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A near-white sweep or scanner lid: light grey to white, faint gradient and grain.

    The hardest background for a localiser (light cards with white borders on white), and
    common in scans, product shots and phone photos on paper.

    Example:
        >>> bool(studio(np.random.default_rng(0), 24, 32).min() > 180)
        True
    """
    base = rng.uniform(212, 252) + rng.uniform(-4, 4, 3).astype(np.float32)
    u, _ = _coords(rng, h, w)
    t = (u - u.mean()) / max(float(u.max() - u.min()), 1.0)
    shade = 1.0 + rng.uniform(-0.06, 0.06) * t + 0.01 * smooth_noise(rng, h, w, w / 8)
    return base[None, None, :] * shade[:, :, None]


#: Texture generators by name.
TEXTURES: dict[str, Texture] = {
    "wood": wood,
    "fabric": fabric,
    "paper": paper,
    "marble": marble,
    "speckle": speckle,
    "cutting_mat": cutting_mat,
    "desk": desk,
    "gradient": gradient,
    "studio": studio,
}


def random_background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """One procedural background, ``H x W x 3`` float32 RGB in ``[0, 255]``.

    Example:
        >>> bg = random_background(np.random.default_rng(3), 48, 64)
        >>> bg.shape, bg.dtype, bool(bg.min() >= 0 and bg.max() <= 255)
        ((48, 64, 3), dtype('float32'), True)
    """
    name = list(TEXTURES)[int(rng.integers(len(TEXTURES)))]
    out = TEXTURES[name](rng, h, w).astype(np.float32)
    logger.debug("background %s", name)
    return np.clip(out, 0.0, 255.0, out=out)
