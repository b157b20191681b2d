"""Photometric effects: lighting, cast shadows, glare, defocus, motion blur, sensor noise, JPEG.

These change pixel values, never geometry, so the ground truth stays exact. Blur is the one
caveat: defocus and motion blur are applied after composition, so edges (document borders, field
outlines, fingers) are smeared over a pixel or two (the kernel radius) in the image while the
masks keep the sharp geometric boundary, as a real camera's ground truth would.

All functions take and return float32 ``H x W x 3`` RGB in ``[0, 255]`` (``jpeg`` returns uint8).
"""

from __future__ import annotations

import logging
import math

import cv2
import numpy as np

from idseg.documents.synth.scene_options import SceneOptions
from idseg.geometry import polygon_area

logger = logging.getLogger(__name__)


def lighting(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Uneven light: a brightness ramp, a vignette or spot, and a colour cast (white balance).

    Example:
        >>> out = lighting(np.random.default_rng(0), np.full((20, 30, 3), 128, np.float32))
        >>> out.shape, bool(out.std() > 0)
        ((20, 30, 3), True)
    """
    h, w = image.shape[:2]
    step = 8.0
    gh, gw = int(h / step) + 2, int(w / step) + 2
    ys, xs = np.mgrid[0:gh, 0:gw].astype(np.float32) * np.float32(step)
    theta = rng.uniform(0, 2 * np.pi)
    ramp = (xs * math.cos(theta) + ys * math.sin(theta)) / np.float32(max(h, w))
    gain = 1.0 + rng.uniform(-0.35, 0.35) * (ramp - ramp.mean())
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    r = np.hypot(xs - cx, ys - cy) / np.float32(math.hypot(h, w))
    gain *= 1.0 - rng.uniform(0.0, 0.45) * r**2
    gain *= rng.uniform(0.7, 1.15)
    full = cv2.resize(gain.astype(np.float32), (int(gw * step), int(gh * step)))[:h, :w]
    cast = np.clip(1.0 + rng.normal(0, 0.05, 3), 0.85, 1.15).astype(np.float32)
    return image * (full[:, :, None] * cast)


def shadows(rng: np.random.Generator, image: np.ndarray, count: int = 1) -> np.ndarray:
    """Soft dark polygons (the shadow of a phone, a head, a lamp arm) multiplied over the scene.

    Example:
        >>> out = shadows(np.random.default_rng(0), np.full((40, 60, 3), 200, np.float32))
        >>> bool(out.min() < 200)
        True
    """
    h, w = image.shape[:2]
    small = (max(8, w // 4), max(8, h // 4))
    mask = np.zeros((small[1], small[0]), np.float32)
    for _ in range(count):
        k = int(rng.integers(3, 7))
        centre = rng.uniform([0, 0], small)
        radius = rng.uniform(0.2, 0.7) * max(small)
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        pts = centre + np.stack([np.cos(ang), np.sin(ang)], 1) * radius * rng.uniform(
            0.5, 1.0, (k, 1)
        )
        cv2.fillPoly(mask, [np.round(pts * 16).astype(np.int32)], 1.0, cv2.LINE_AA, 4)
    mask = cv2.GaussianBlur(mask, (0, 0), rng.uniform(1.0, 6.0))
    mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR)
    return image * (1.0 - rng.uniform(0.2, 0.55) * mask)[:, :, None]


def glare(
    rng: np.random.Generator, image: np.ndarray, region: np.ndarray, size: float
) -> np.ndarray:
    """Specular blobs on laminate: bright soft ellipses, only inside ``region`` (a document).

    Args:
        rng: Random source.
        image: The scene.
        region: ``H x W`` bool, where the glare may fall (one document's visible pixels).
        size: Typical size of the document in pixels (sets the blob size).

    Example:
        >>> region = np.zeros((40, 60), bool); region[10:30, 10:50] = True
        >>> out = glare(np.random.default_rng(0), np.full((40, 60, 3), 100, np.float32), region, 40)
        >>> bool(out[~region].max() == 100 and out[region].max() > 100)
        True
    """
    ys, xs = np.nonzero(region)
    if len(ys) == 0:
        return image
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    light = np.zeros((y1 - y0, x1 - x0), np.float32)
    for _ in range(int(rng.integers(1, 3))):
        k = int(rng.integers(len(ys)))
        cx, cy = float(xs[k]), float(ys[k])
        a, b = size * rng.uniform(0.08, 0.35), size * rng.uniform(0.03, 0.15)
        t = rng.uniform(0, np.pi)
        u = (gx - cx) * math.cos(t) + (gy - cy) * math.sin(t)
        v = -(gx - cx) * math.sin(t) + (gy - cy) * math.cos(t)
        light += np.exp(-0.5 * ((u / a) ** 2 + (v / b) ** 2)) * rng.uniform(0.5, 0.95)
    light = np.clip(light, 0.0, 1.0) * region[y0:y1, x0:x1]
    out = image.copy()
    win = out[y0:y1, x0:x1]
    win += (255.0 - win) * light[:, :, None]
    return out


def defocus(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Out-of-focus blur with a disc kernel of radius 1 to 3.5 pixels.

    Example:
        >>> img = np.zeros((21, 21, 3), np.float32); img[10, 10] = 255
        >>> bool(defocus(np.random.default_rng(0), img)[10, 10, 0] < 255)
        True
    """
    radius = rng.uniform(1.0, 3.5)
    size = 2 * math.ceil(radius) + 1
    kernel = np.zeros((size, size), np.float32)
    c = size // 2
    cv2.circle(kernel, (c * 16, c * 16), round(radius * 16), 1.0, -1, cv2.LINE_AA, 4)
    return cv2.filter2D(image, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT)


def motion_blur(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Camera shake: a line kernel 3 to 11 pixels long at a random angle.

    Example:
        >>> img = np.zeros((21, 21, 3), np.float32); img[10, 10] = 255
        >>> bool(motion_blur(np.random.default_rng(0), img)[10, 10, 0] < 255)
        True
    """
    length = rng.uniform(3.0, 11.0)
    size = math.ceil(length) | 1
    kernel = np.zeros((size, size), np.float32)
    c, t = size // 2, rng.uniform(0, np.pi)
    dx, dy = math.cos(t) * (length - 1) / 2, math.sin(t) * (length - 1) / 2
    p0 = (round((c - dx) * 16), round((c - dy) * 16))
    p1 = (round((c + dx) * 16), round((c + dy) * 16))
    cv2.line(kernel, p0, p1, 1.0, 1, cv2.LINE_AA, 4)
    return cv2.filter2D(image, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT)


def sensor_noise(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Shot and read noise (brighter pixels noisier) plus blotchy colour noise.

    Example:
        >>> out = sensor_noise(np.random.default_rng(0), np.full((20, 30, 3), 128, np.float32))
        >>> bool(out.std() > 0)
        True
    """
    h, w = image.shape[:2]
    read, shot = rng.uniform(0.5, 4.0), rng.uniform(0.0, 0.35)
    level = cv2.cvtColor(np.clip(image, 0, 255, dtype=np.float32), cv2.COLOR_RGB2GRAY)
    sigma = cv2.sqrt(level * np.float32(shot) + np.float32(read**2))
    noise = cv2.multiply(rng.standard_normal((h, w), dtype=np.float32), sigma)
    small = rng.standard_normal((h // 3 + 1, w // 3 + 1, 3), dtype=np.float32)
    chroma = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    chroma = cv2.scaleAdd(chroma, float(rng.uniform(0.0, 3.0)), cv2.merge([noise, noise, noise]))
    return cv2.add(image.astype(np.float32, copy=False), chroma)


def jpeg(rng: np.random.Generator, image: np.ndarray, quality: tuple[int, int]) -> np.ndarray:
    """Round-trip through JPEG at a random quality in ``quality`` (inclusive); returns uint8 RGB.

    Example:
        >>> jpeg(np.random.default_rng(0), np.zeros((16, 16, 3), np.float32), (50, 60)).dtype
        dtype('uint8')
    """
    q = int(rng.integers(quality[0], quality[1] + 1))
    bgr = to_uint8(image)[:, :, ::-1]
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, q])
    if not ok:  # pragma: no cover - OpenCV always encodes a valid uint8 image
        raise RuntimeError("OpenCV could not encode a JPEG")
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if decoded is None:  # pragma: no cover - OpenCV decodes what it encoded
        raise RuntimeError("OpenCV could not decode its own JPEG")
    return np.ascontiguousarray(decoded[:, :, ::-1])


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Round and clip a float image to uint8.

    Example:
        >>> to_uint8(np.array([[-3.0, 127.5, 300.0]])).tolist()
        [[0, 128, 255]]
    """
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def apply_effects(
    rng: np.random.Generator,
    canvas: np.ndarray,
    quads: list[np.ndarray],
    instance_map: np.ndarray,
    opts: SceneOptions,
) -> np.ndarray:
    """Shadows, lighting, glare per document, blur, noise and JPEG, each with its probability.

    Args:
        rng: Random source.
        canvas: ``H x W x 3`` float32 scene (not changed).
        quads: Document quads, bottom to top (glare size).
        instance_map: ``H x W``, ``k + 1`` where document ``k`` is visible (glare region).
        opts: The ``p_*`` probabilities and ``jpeg_quality``.

    Returns:
        The finished ``H x W x 3`` uint8 RGB image.

    Example:
        >>> from idseg.documents.synth.scene_options import SceneOptions
        >>> img = np.full((30, 40, 3), 128, np.float32)
        >>> out = apply_effects(np.random.default_rng(0), img, [], np.zeros((30, 40), np.uint8), SceneOptions())
        >>> out.dtype, out.shape
        (dtype('uint8'), (30, 40, 3))
    """
    img = canvas
    if rng.random() < opts.p_shadow:
        img = shadows(rng, img, int(rng.integers(1, 3)))
    if rng.random() < opts.p_lighting:
        img = lighting(rng, img)
    for k, quad in enumerate(quads):
        if rng.random() < opts.p_glare:
            img = glare(rng, img, instance_map == k + 1, math.sqrt(polygon_area(quad)))
    if rng.random() < opts.p_defocus:
        img = defocus(rng, img)
    if rng.random() < opts.p_motion_blur:
        img = motion_blur(rng, img)
    if rng.random() < opts.p_noise:
        img = sensor_noise(rng, img)
    if rng.random() < opts.p_jpeg:
        return jpeg(rng, img, opts.jpeg_quality)
    return to_uint8(img)
