"""Rectification: a document photographed in perspective comes back upright at its true aspect."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from idseg.documents.classes import KINDS
from idseg.documents.rectify import check_quad, map_points, rectify, snap_kind
from idseg.errors import InputError


def _card(h: int = 216, w: int = 342) -> np.ndarray:
    """A flat TD1-sized card with a distinctive pattern (quadrants of colour and a grid)."""
    card = np.zeros((h, w, 3), np.uint8)
    card[: h // 2, : w // 2] = (220, 30, 30)
    card[: h // 2, w // 2 :] = (30, 200, 30)
    card[h // 2 :, : w // 2] = (30, 30, 220)
    card[h // 2 :, w // 2 :] = (230, 230, 40)
    card[::24] = 0
    card[:, ::24] = 0
    return card


def _photo(card: np.ndarray, quad: np.ndarray, size=(480, 640)) -> np.ndarray:
    """Warp the card onto a grey photo so that its corners land on ``quad`` (continuous coords)."""
    h, w = card.shape[:2]
    src = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]], np.float32)
    hom = cv2.getPerspectiveTransform(src, (quad - 0.5).astype(np.float32))
    photo = np.full((*size, 3), 128, np.uint8)
    return cv2.warpPerspective(card, hom, size[::-1], dst=photo, borderMode=cv2.BORDER_TRANSPARENT)


@pytest.mark.parametrize(
    "quad",
    [
        [[100, 80], [442, 80], [442, 296], [100, 296]],  # axis-aligned, same size
        [[150, 60], [480, 120], [430, 330], [110, 260]],  # rotated + perspective
        [[300, 40], [520, 250], [330, 420], [120, 200]],  # about 45 degrees
    ],
)
def test_rectified_card_matches_the_flat_card(quad):
    card = _card()
    quad = np.array(quad, float)
    got = rectify(_photo(card, quad), quad, kind="td1", width=card.shape[1])
    assert got.kind == "td1" and abs(got.aspect - KINDS["td1"].aspect) < 1e-9
    assert got.image.shape == card.shape
    inner = (slice(8, -8), slice(8, -8))  # away from the resampled border
    diff = np.abs(got.image[inner].astype(int) - card[inner].astype(int))
    assert np.median(diff) <= 2
    quadrant = got.image[card.shape[0] // 4, card.shape[1] // 4]
    assert quadrant[0] > 150 and quadrant[1] < 90  # red quadrant stays top-left


def test_aspect_is_estimated_and_snapped_when_kind_is_unknown():
    card = _card()
    quad = np.array([[100, 80], [442, 80], [442, 296], [100, 296]], float)
    got = rectify(_photo(card, quad), quad)
    assert got.kind == "td1"
    page = np.array([[10, 10], [220, 10], [220, 307], [10, 307]], float)  # 210 x 297: A4
    assert rectify(np.zeros((320, 240, 3), np.uint8), page).kind == "a4"
    odd = np.array([[0, 0], [300, 0], [300, 100], [0, 100]], float)  # 3:1, no kind
    r = rectify(np.zeros((120, 320, 3), np.uint8), odd)
    assert r.kind is None and r.image.shape[:2] == (100, 300)


def test_portrait_format_card_rectifies_tall():
    tall = np.array([[100, 40], [316, 40], [316, 382], [100, 382]], float)  # 216 x 342: 1 / 1.583
    got = rectify(np.zeros((400, 400, 3), np.uint8), tall)
    assert got.kind == "td1v"
    h, w = got.image.shape[:2]
    assert w == 216 and abs(h / w - 85.6 / 53.98) < 0.01
    assert rectify(np.zeros((400, 400, 3), np.uint8), tall, kind="td1v").image.shape[:2] == (h, w)


def test_homography_maps_quad_corners_to_output_corners():
    quad = np.array([[150, 60], [480, 120], [430, 330], [110, 260]], float)
    r = rectify(np.zeros((480, 640, 3), np.uint8), quad, kind="td3", width=500)
    h, w = r.image.shape[:2]
    corners = map_points(quad - 0.5, r.homography) + 0.5
    np.testing.assert_allclose(corners, [[0, 0], [w, 0], [w, h], [0, h]], atol=1e-6)
    assert abs(w / h - KINDS["td3"].aspect) < 0.01


def test_snap_kind_table():
    assert snap_kind(KINDS["td2"].aspect) in {"td2", "td3"}  # 1.419 vs 1.420: both fit
    assert snap_kind(1.0) is None


@pytest.mark.parametrize(
    ("quad", "fragment"),
    [
        ([[0, 0], [1, 1]], "4 finite"),
        ([[0, 0], [1, 0], [np.nan, 1], [0, 1]], "4 finite"),
        ([[0, 0], [5, 5], [10, 10], [15, 15]], "at least 1 square pixel"),
    ],
)
def test_bad_quads(quad, fragment):
    with pytest.raises(InputError, match=fragment):
        check_quad(quad)


def test_bad_kind_and_image():
    quad = [[0, 0], [10, 0], [10, 5], [0, 5]]
    with pytest.raises(InputError, match="unknown document kind"):
        rectify(np.zeros((8, 12, 3), np.uint8), quad, kind="td9")
    with pytest.raises(InputError, match="uint8 RGB"):
        rectify(np.zeros((8, 12), np.uint8), quad)
