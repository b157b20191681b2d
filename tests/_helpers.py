"""Helpers shared by tests (imported as ``from _helpers import ...``)."""

from __future__ import annotations

import cv2
import numpy as np


def make_scene(h: int = 300, w: int = 420, seed: int = 0) -> np.ndarray:
    """A deterministic RGB scene with a few flat shapes on a textured background."""
    rng = np.random.default_rng(seed)
    img = (rng.normal(120, 20, (h, w, 3))).clip(0, 255).astype(np.uint8)
    cv2.rectangle(img, (30, 40), (200, 160), (230, 40, 40), -1)
    cv2.circle(img, (300, 200), 60, (40, 200, 60), -1)
    cv2.rectangle(img, (250, 30), (400, 90), (30, 30, 220), -1)
    cv2.ellipse(img, (120, 240), (80, 35), 15, 0, 360, (240, 240, 60), -1)
    return img


def meta_predictor(model):
    """Meta's SAM2ImagePredictor on the same model (feature sizes set for non-1024 inputs)."""
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    pred = SAM2ImagePredictor(model)
    s = int(model.image_size)
    pred._bb_feat_sizes = [(s // 4, s // 4), (s // 8, s // 8), (s // 16, s // 16)]
    return pred


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(bool), b.astype(bool)
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)
