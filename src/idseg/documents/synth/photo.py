"""Make a flat procedural portrait look photographed: backdrop, light, texture, softness, grade.

Portraits on real cards are photographs: a studio backdrop (light or saturated blue, grey,
white, sometimes dark), a face lit from one side, hair with strands, soft edges, sensor noise,
and often a colour cast or a greyscale print. :func:`photo_finish` turns the flat shapes of
:func:`~idseg.documents.synth.portrait.draw_portrait` into that, so a field model trained on them
does not learn "a portrait is a cartoon".
"""

from __future__ import annotations

import cv2
import numpy as np

#: Studio backdrops: ``(centre, edge)`` RGB, lighter behind the head.
BACKDROPS: tuple[tuple[tuple[int, int, int], tuple[int, int, int]], ...] = (
    ((196, 214, 236), (150, 175, 210)),  # light blue
    ((120, 150, 200), (70, 95, 150)),  # mid blue
    ((215, 215, 212), (160, 162, 165)),  # grey
    ((245, 244, 238), (215, 212, 205)),  # off-white
    ((85, 85, 92), (30, 30, 36)),  # dark
    ((170, 205, 205), (110, 150, 155)),  # teal
    ((70, 150, 230), (35, 105, 195)),  # saturated blue (many US licences)
    ((120, 185, 240), (60, 140, 215)),  # bright sky blue
)


def _noise(rng: np.random.Generator, h: int, w: int, sigma: tuple[float, float]) -> np.ndarray:
    """Unit-variance smooth noise, blurred ``sigma = (sy, sx)`` px."""
    raw = rng.standard_normal((h, w)).astype(np.float32)
    n = cv2.GaussianBlur(raw, (0, 0), sigmaX=max(sigma[1], 0.3), sigmaY=max(sigma[0], 0.3))
    return np.asarray(n / max(float(n.std()), 1e-6), np.float32)


def _backdrop(rng: np.random.Generator, h: int, w: int, head: tuple[int, ...]) -> np.ndarray:
    centre, edge = (np.asarray(c, np.float32) for c in BACKDROPS[int(rng.integers(len(BACKDROPS)))])
    cx, cy = head[0], head[1]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.sqrt(((xx - cx) / (1.6 * w)) ** 2 + ((yy - cy) / (1.2 * h)) ** 2) * 2.0
    t = np.clip(r, 0.0, 1.0)[..., None] * np.float32(rng.uniform(0.5, 1.0))
    out = centre * (1.0 - t) + edge * t
    return out * (1.0 + 0.03 * _noise(rng, h, w, (h * 0.15, w * 0.15)))[..., None]


def _shading(rng: np.random.Generator, person: np.ndarray, head: tuple[int, ...]) -> np.ndarray:
    """Lambertian light: the head as an ellipsoid, the rest as the blurred figure's relief."""
    h, w = person.shape
    cx, cy, rx, ry = head
    sigma = max(1.0, 0.04 * min(h, w))
    height = cv2.GaussianBlur(person.astype(np.float32), (0, 0), sigma)
    gy, gx = np.gradient(height * np.float32(2.5 * sigma))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u, v = (xx - cx) / max(rx * 1.05, 1), (yy - cy) / max(ry * 1.05, 1)
    dome = np.sqrt(np.clip(1.0 - u * u - v * v, 0.0, 1.0))
    on_head = np.clip(dome * 4.0, 0.0, 1.0)
    n = np.stack(
        [on_head * u - (1 - on_head) * gx, on_head * v - (1 - on_head) * gy,
         on_head * dome + (1 - on_head)], axis=-1,
    )  # fmt: skip
    n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-6)
    side = 1.0 if rng.random() < 0.5 else -1.0  # from one side, never straight on
    light = np.array([side * rng.uniform(0.25, 0.8), rng.uniform(-0.7, 0.0), 1.0], np.float32)
    light /= np.linalg.norm(light)
    lambert = np.clip(n @ light, 0.0, 1.0)
    ambient = np.float32(rng.uniform(0.25, 0.5))
    return ambient + (1.2 - ambient) * lambert


def _grade(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Colour cast, gamma and contrast; a quarter of prints come out greyscale."""
    img = img * rng.uniform(0.9, 1.1, size=3).astype(np.float32)
    img = 255.0 * (np.clip(img, 0.0, 255.0) / 255.0) ** np.float32(rng.uniform(0.8, 1.2))
    mean = img.mean()
    img = (img - mean) * np.float32(rng.uniform(0.85, 1.2)) + mean
    if rng.random() < 0.25:
        grey = img @ np.array([0.299, 0.587, 0.114], np.float32)
        tint = np.array([1.0, 1.0, 1.0], np.float32) + rng.uniform(-0.05, 0.05, size=3)
        img = grey[..., None] * tint.astype(np.float32)
    return img


def photo_finish(
    rng: np.random.Generator,
    img: np.ndarray,
    person: np.ndarray,
    hair: np.ndarray,
    head: tuple[int, int, int, int],
) -> np.ndarray:
    """Turn a flat portrait into a photograph-like one.

    Args:
        rng: Random generator (consumed).
        img: ``H x W x 3`` uint8 flat portrait.
        person: ``H x W`` bool mask of the figure.
        hair: ``H x W`` bool mask of the hair.
        head: ``(cx, cy, rx, ry)`` of the head ellipse in pixels.

    Returns:
        The ``H x W x 3`` uint8 photograph: a studio backdrop behind the figure, one-sided
        light on it, strands in the hair, soft edges, a colour grade and sensor noise.

    Example:
        >>> import numpy as np
        >>> from idseg.documents.synth.portrait import draw_portrait
        >>> rgb, person = draw_portrait(np.random.default_rng(0), 60, 80, photo=True)
        >>> rgb.shape, rgb.dtype, int(rgb.std()) > 5
        ((80, 60, 3), dtype('uint8'), True)
    """
    h, w = person.shape
    out = img.astype(np.float32)
    out[~person] = _backdrop(rng, h, w, head)[~person]
    out[person] *= _shading(rng, person, head)[person][:, None]
    strands = _noise(rng, h, w, (h * 0.03, w * 0.004))
    out[hair] *= (1.0 + 0.22 * strands[hair])[:, None]
    skin = 1.0 + 0.04 * _noise(rng, h, w, (h * 0.05, w * 0.05))
    out[person & ~hair] *= skin[person & ~hair][:, None]
    out = np.asarray(cv2.GaussianBlur(out, (0, 0), max(0.4, float(rng.uniform(0.002, 0.007)) * h)))
    out = _grade(rng, out)
    out += rng.normal(0.0, rng.uniform(1.0, 4.0), size=out.shape).astype(np.float32)
    return np.clip(out + 0.5, 0.0, 255.0).astype(np.uint8)
