"""The classical OpenCV localiser baseline on photos with a known document quad."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from idseg.documents.baselines import localize_opencv
from idseg.errors import InputError
from test_rectify import _card, _photo


def _iou(a: np.ndarray, b: np.ndarray, size=(480, 640)) -> float:
    ma, mb = np.zeros(size, np.uint8), np.zeros(size, np.uint8)
    cv2.fillPoly(ma, [np.round((a - 0.5) * 16).astype(np.int32)], 1, shift=4)
    cv2.fillPoly(mb, [np.round((b - 0.5) * 16).astype(np.int32)], 1, shift=4)
    return float((ma & mb).sum() / max((ma | mb).sum(), 1))


@pytest.mark.parametrize(
    "quad",
    [
        [[100, 80], [442, 80], [442, 296], [100, 296]],
        [[150, 60], [480, 120], [430, 330], [110, 260]],
        [[300, 40], [520, 250], [330, 420], [120, 200]],
    ],
)
def test_finds_a_card_on_a_plain_background(quad):
    quad = np.array(quad, float)
    photo = _photo(_card(), quad)
    found = localize_opencv(photo)
    assert found, "no quad found"
    assert _iou(found[0], quad) >= 0.97


def test_no_document_gives_nothing():
    flat = np.full((240, 320, 3), 90, np.uint8)
    assert localize_opencv(flat) == []


def test_bad_image():
    with pytest.raises(InputError, match="uint8 RGB"):
        localize_opencv(np.zeros((10, 10), np.uint8))
