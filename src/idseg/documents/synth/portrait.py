"""Procedurally drawn head-and-shoulders portraits (never a real face).

A portrait is a plain tinted background with a figure built from filled shapes: shoulders and
clothing, neck, ears, head, hair, and simple eyes, brows, nose and mouth, sometimes glasses or a
beard. Skin tones, proportions, hair styles and colours vary with the random generator. Shapes are
drawn without antialiasing so the returned person mask matches the drawn pixels exactly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from idseg.documents.synth.photo import photo_finish
from idseg.errors import InputError

logger = logging.getLogger(__name__)

Colour = tuple[int, int, int]

_SKIN: tuple[Colour, ...] = (
    (255, 224, 196), (241, 194, 150), (234, 192, 134), (224, 172, 105), (198, 134, 66),
    (170, 110, 65), (141, 85, 36), (110, 66, 34), (92, 51, 23),
)  # fmt: skip
_HAIR: tuple[Colour, ...] = (
    (20, 16, 14), (45, 30, 20), (80, 50, 30), (120, 80, 45), (170, 130, 80), (215, 180, 120),
    (150, 60, 30), (150, 150, 150), (215, 215, 210),
)  # fmt: skip
_CLOTHES: tuple[Colour, ...] = (
    (30, 35, 50), (50, 50, 55), (20, 20, 22), (90, 30, 40), (40, 70, 110), (200, 200, 205),
    (120, 110, 90), (30, 80, 60), (150, 40, 40), (230, 230, 230),
)  # fmt: skip
_BACKGROUNDS: tuple[Colour, ...] = (
    (236, 240, 244), (220, 228, 238), (245, 245, 240), (230, 232, 228), (210, 222, 235),
    (240, 236, 226), (250, 250, 250), (200, 212, 224),
)  # fmt: skip
_MIN_SIDE = 8
_MAX_SIDE = 4096


@dataclass(frozen=True)
class _Head:
    cx: int
    cy: int
    rx: int
    ry: int


def _jitter(rng: np.random.Generator, colour: Colour, amount: int) -> Colour:
    noise = rng.integers(-amount, amount + 1, size=3)
    r, g, b = (int(np.clip(c + n, 0, 255)) for c, n in zip(colour, noise, strict=True))
    return r, g, b


def _pick(rng: np.random.Generator, colours: tuple[Colour, ...], amount: int) -> Colour:
    return _jitter(rng, colours[int(rng.integers(len(colours)))], amount)


def _shade(colour: Colour, factor: float) -> Colour:
    r, g, b = (int(np.clip(c * factor, 0, 255)) for c in colour)
    return r, g, b


def _fill_ellipse(
    img: np.ndarray,
    mask: np.ndarray | None,
    centre: tuple[int, int],
    axes: tuple[int, int],
    colour: Colour,
    arc: tuple[int, int] = (0, 360),
) -> None:
    axes = (max(1, axes[0]), max(1, axes[1]))
    cv2.ellipse(img, centre, axes, 0, arc[0], arc[1], colour, -1, cv2.LINE_8)
    if mask is not None:
        cv2.ellipse(mask, centre, axes, 0, arc[0], arc[1], 1, -1, cv2.LINE_8)


def _fill_poly(
    img: np.ndarray, mask: np.ndarray | None, points: np.ndarray, colour: Colour
) -> None:
    pts = np.round(points).astype(np.int32).reshape(-1, 1, 2)
    cv2.fillPoly(img, [pts], colour, cv2.LINE_8)
    if mask is not None:
        cv2.fillPoly(mask, [pts], 1, cv2.LINE_8)


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    top = np.array(_pick(rng, _BACKGROUNDS, 8), dtype=np.float32)
    bottom = top * float(rng.uniform(0.82, 1.0))
    ramp = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    img = top * (1.0 - ramp) + bottom * ramp
    return np.ascontiguousarray(np.broadcast_to(img, (height, width, 3)).astype(np.uint8))


def _body(
    rng: np.random.Generator, img: np.ndarray, mask: np.ndarray, head: _Head, skin: Colour
) -> None:
    h, w = mask.shape
    clothes = _pick(rng, _CLOTHES, 12)
    shoulder_y = int(head.cy + head.ry * rng.uniform(1.2, 1.45))
    half = int(w * rng.uniform(0.4, 0.52))
    round_y = int(h * rng.uniform(0.1, 0.16))
    _fill_ellipse(img, mask, (head.cx, shoulder_y + round_y), (half, round_y), clothes)
    body = np.array([[head.cx - half, shoulder_y + round_y], [head.cx + half, shoulder_y + round_y],
                     [head.cx + half * 1.1, h], [head.cx - half * 1.1, h]])  # fmt: skip
    _fill_poly(img, mask, body, clothes)
    neck_w = int(head.rx * rng.uniform(0.42, 0.6))
    neck_top = head.cy + int(head.ry * 0.6)
    neck = np.array([[head.cx - neck_w, neck_top], [head.cx + neck_w, neck_top],
                     [head.cx + neck_w, shoulder_y + 2], [head.cx - neck_w, shoulder_y + 2]])  # fmt: skip
    _fill_poly(img, mask, neck, _shade(skin, 0.88))
    depth = head.ry * rng.uniform(0.25, 0.55)
    collar = _pick(rng, _CLOTHES, 10) if rng.random() < 0.5 else _shade(skin, 0.88)
    _fill_poly(img, mask, np.array([[head.cx - neck_w * 1.3, shoulder_y],
                                    [head.cx + neck_w * 1.3, shoulder_y],
                                    [head.cx, shoulder_y + depth]]), collar)  # fmt: skip


def _hair_back(
    rng: np.random.Generator, img: np.ndarray, mask: np.ndarray, head: _Head, hair: Colour
) -> str:
    style = str(
        rng.choice(["short", "long", "bald", "bun", "curly"], p=[0.4, 0.25, 0.1, 0.1, 0.15])
    )
    if style == "long":
        length = head.ry * rng.uniform(1.2, 1.9)
        _fill_ellipse(
            img, mask, (head.cx, head.cy), (int(head.rx * 1.18), int(head.ry * 1.1)), hair
        )
        _fill_poly(img, mask, np.array([[head.cx - head.rx * 1.18, head.cy],
                                        [head.cx + head.rx * 1.18, head.cy],
                                        [head.cx + head.rx * 1.05, head.cy + length],
                                        [head.cx - head.rx * 1.05, head.cy + length]]), hair)  # fmt: skip
    elif style == "bun":
        r = int(head.rx * rng.uniform(0.35, 0.5))
        _fill_ellipse(img, mask, (head.cx, head.cy - head.ry - r // 2), (r, r), hair)
    elif style == "curly":
        for angle in np.linspace(np.pi * 0.95, np.pi * 2.05, 9):
            r = int(head.rx * rng.uniform(0.3, 0.42))
            x = head.cx + int(np.cos(angle) * head.rx * 1.0)
            y = head.cy + int(np.sin(angle) * head.ry * 0.95)
            _fill_ellipse(img, mask, (x, y), (r, r), hair)
    return style


def _ears(img: np.ndarray, mask: np.ndarray, head: _Head, skin: Colour) -> None:
    axes = (max(1, int(head.rx * 0.16)), max(1, int(head.ry * 0.2)))
    for side in (-1, 1):
        _fill_ellipse(img, mask, (head.cx + side * head.rx, head.cy), axes, _shade(skin, 0.92))


def _hair_top(
    rng: np.random.Generator,
    img: np.ndarray,
    mask: np.ndarray,
    head: _Head,
    hair: Colour,
    style: str,
) -> None:
    if style == "bald":
        return
    lift = rng.uniform(0.3, 0.5)
    axes = (int(head.rx * rng.uniform(1.02, 1.1)), int(head.ry * rng.uniform(0.75, 0.95)))
    _fill_ellipse(img, mask, (head.cx, int(head.cy - head.ry * lift)), axes, hair, (180, 360))
    if rng.random() < 0.5:  # side parting / fringe
        side = int(rng.choice([-1, 1]))
        fringe = (int(head.rx * 0.7), int(head.ry * rng.uniform(0.2, 0.25)))
        centre = (head.cx + side * int(head.rx * 0.35), int(head.cy - head.ry * 0.55))
        _fill_ellipse(img, mask, centre, fringe, hair)


def _face(
    rng: np.random.Generator,
    img: np.ndarray,
    head: _Head,
    skin: Colour,
    hair: Colour,
    photo: bool = False,
) -> None:
    eye_y = head.cy + int(head.ry * rng.uniform(-0.08, 0.05))
    eye_dx = int(head.rx * rng.uniform(0.33, 0.42))
    eye_axes = (max(1, int(head.rx * 0.15)), max(1, int(head.ry * 0.07)))
    iris = _pick(rng, ((60, 40, 25), (90, 60, 30), (60, 90, 120), (70, 100, 60), (30, 25, 20)), 10)
    thick = max(1, round(head.rx * 0.06))
    white = (200, 192, 186) if photo else (245, 245, 240)
    for side in (-1, 1):
        x = head.cx + side * eye_dx
        _fill_ellipse(img, None, (x, eye_y), eye_axes, white)
        _fill_ellipse(img, None, (x, eye_y), (eye_axes[1], eye_axes[1]), iris)
        _fill_ellipse(img, None, (x, eye_y), (max(1, eye_axes[1] // 2),) * 2, (15, 15, 15))
        if photo:  # the upper lid and lashes: a dark arc over the eye
            lid = _shade(skin, 0.35)
            cv2.ellipse(img, (x, eye_y), eye_axes, 0, 180, 360, lid, max(1, thick), cv2.LINE_8)
        brow_y = eye_y - int(head.ry * rng.uniform(0.16, 0.22))
        p1, p2 = (x - eye_axes[0], brow_y + thick), (x + eye_axes[0], brow_y)
        cv2.line(img, p1 if side < 0 else (p1[0], brow_y), p2 if side < 0 else (p2[0], brow_y + thick),
                 _shade(hair, 0.8), thick, cv2.LINE_8)  # fmt: skip
    nose_tip = eye_y + int(head.ry * rng.uniform(0.32, 0.42))
    nose = np.array([[head.cx, eye_y + head.ry * 0.08], [head.cx - head.rx * 0.12, nose_tip],
                     [head.cx + head.rx * 0.1, nose_tip]])  # fmt: skip
    _fill_poly(img, None, nose, _shade(skin, 0.85))
    mouth_y = nose_tip + int(head.ry * rng.uniform(0.18, 0.26))
    lips = _jitter(rng, _shade(skin, 0.7), 10)
    mouth = (max(1, int(head.rx * rng.uniform(0.22, 0.32))), max(1, int(head.ry * 0.05)))
    _fill_ellipse(img, None, (head.cx, mouth_y), mouth, (lips[0], int(lips[1] * 0.8), lips[2]))


def _extras(rng: np.random.Generator, img: np.ndarray, head: _Head, hair: Colour) -> None:
    if rng.random() < 0.2:  # beard along the jaw, below the mouth
        beard = np.array(
            [[head.cx - head.rx * 0.95, head.cy + head.ry * 0.2],
             [head.cx + head.rx * 0.95, head.cy + head.ry * 0.2],
             [head.cx + head.rx * 0.5, head.cy + head.ry * 0.95],
             [head.cx, head.cy + head.ry * 1.05],
             [head.cx - head.rx * 0.5, head.cy + head.ry * 0.95]]
        )  # fmt: skip
        chin = np.zeros(img.shape[:2], dtype=np.uint8)
        _fill_poly(chin, None, beard, (1, 1, 1))
        head_mask = np.zeros_like(chin)
        cv2.ellipse(head_mask, (head.cx, head.cy), (head.rx, head.ry), 0, 0, 360, 1, -1)
        below_mouth = np.zeros_like(chin)
        below_mouth[head.cy + int(head.ry * 0.62) :, :] = 1
        img[(chin & head_mask & below_mouth).astype(bool)] = _shade(hair, 0.9)
    if rng.random() < 0.3:  # glasses
        eye_y = head.cy
        dx = int(head.rx * 0.38)
        r = max(2, int(head.rx * rng.uniform(0.2, 0.26)))
        frame = _pick(rng, ((20, 20, 20), (90, 60, 30), (150, 150, 155), (120, 20, 20)), 10)
        thick = max(1, round(head.rx * 0.035))
        for side in (-1, 1):
            cv2.circle(img, (head.cx + side * dx, eye_y), r, frame, thick, cv2.LINE_8)
        cv2.line(img, (head.cx - dx + r, eye_y), (head.cx + dx - r, eye_y), frame, thick)


def _validate(width: int, height: int) -> None:
    for name, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise InputError(f"portrait {name} must be an integer, got {type(value).__name__}")
        if not _MIN_SIDE <= value <= _MAX_SIDE:
            raise InputError(f"portrait {name} must be {_MIN_SIDE} to {_MAX_SIDE} px, got {value}")


def draw_portrait(
    rng: np.random.Generator, width: int, height: int, photo: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Draw a synthetic head-and-shoulders portrait.

    Args:
        rng: NumPy random generator (consumed); the same state gives the same pixels.
        width: Image width in pixels (8 to 4096).
        height: Image height in pixels (8 to 4096).
        photo: Finish it like a photograph (:func:`~idseg.documents.synth.photo.photo_finish`:
            studio backdrop, one-sided light, hair strands, soft edges, colour grade, noise)
            instead of flat shapes on a plain background.

    Returns:
        ``(rgb, person)``: an ``H x W x 3`` uint8 image and an ``H x W`` bool mask of the figure's
        pixels (body, neck, head, ears and hair; not the background).

    Raises:
        InputError: A size that is not an integer in range.

    Example:
        >>> import numpy as np
        >>> rgb, person = draw_portrait(np.random.default_rng(0), 60, 80)
        >>> rgb.shape, person.shape, bool(person.any()), bool(person.all())
        ((80, 60, 3), (80, 60), True, False)
    """
    _validate(width, height)
    width, height = int(width), int(height)
    img = _background(rng, width, height)
    mask = np.zeros((height, width), dtype=np.uint8)
    ry = int(height * (rng.uniform(0.27, 0.34) if photo else rng.uniform(0.22, 0.27)))
    rx = min(int(ry * rng.uniform(0.7, 0.82)), int(width * 0.4))
    head = _Head(int(width / 2 + width * rng.uniform(-0.03, 0.03)),
                 int(height * rng.uniform(0.08, 0.13)) + ry, max(2, rx), max(2, ry))  # fmt: skip
    skin = _pick(rng, _SKIN, 10)
    hair = _pick(rng, _HAIR, 10)
    style = _hair_back(rng, img, mask, head, hair)
    _body(rng, img, mask, head, skin)
    _ears(img, mask, head, skin)
    _fill_ellipse(img, mask, (head.cx, head.cy), (head.rx, head.ry), skin)
    _hair_top(rng, img, mask, head, hair, style)
    # the hair as drawn, before the face's features go over it (photos texture it)
    hair_px = np.all(img == np.array(hair, np.uint8), axis=2) & mask.astype(bool) if photo else None
    _face(rng, img, head, skin, hair, photo)
    _extras(rng, img, head, hair)
    person = mask.astype(bool)
    if hair_px is not None:
        box = (head.cx, head.cy, head.rx, head.ry)
        return photo_finish(rng, img, person, hair_px, box), person
    light = np.linspace(float(rng.uniform(0.88, 1.0)), float(rng.uniform(0.95, 1.08)), width)
    if rng.random() < 0.5:
        light = light[::-1]
    gain = np.round(light * 256).astype(np.uint32)[None, :, None]
    lit = np.minimum((img.astype(np.uint32) * gain) >> 8, 255).astype(np.uint8)
    np.copyto(img, lit, where=person[:, :, None])
    return img, person
