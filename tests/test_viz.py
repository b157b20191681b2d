import numpy as np
import pytest

from idseg.errors import InputError
from idseg.sam.results import Segment, Segments, mask_bbox_xyxy
from idseg.viz import (
    contact_sheet,
    draw_boxes,
    draw_points,
    draw_quad,
    overlay_masks,
    overlay_segments,
)

H, W = 40, 50
RED, BLUE = (200, 0, 0), (0, 0, 200)


def gray(value=100):
    return np.full((H, W, 3), value, np.uint8)


def box_mask(y0, y1, x0, x1):
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


@pytest.fixture
def big_small():
    big = box_mask(5, 30, 5, 30)  # 625 px
    small = box_mask(20, 35, 20, 40)  # 300 px, straddles the big mask's lower-right corner
    return big, small


def test_small_mask_is_blended_on_top_of_large(big_small):
    big, small = big_small
    # small first in the input: drawing order must still be largest first
    out = overlay_masks(
        gray(), [small, big], alpha=0.5, colors=np.array([BLUE, RED]), draw_contours=False
    )
    # big only: 100 * .5 + (200, 0, 0) * .5
    assert out[10, 10].tolist() == [150, 50, 50]
    # both: big first -> (150, 50, 50), then small -> (150, 50, 50) * .5 + (0, 0, 200) * .5
    assert out[25, 25].tolist() == [75, 25, 125]
    # small only: 100 * .5 + (0, 0, 200) * .5
    assert out[33, 35].tolist() == [50, 50, 150]
    # neither
    assert out[0, 0].tolist() == [100, 100, 100]


def test_alpha_math_exact_on_one_pixel():
    img = np.zeros((H, W, 3), np.uint8)
    img[3, 4] = (100, 50, 10)
    m = np.zeros((H, W), np.uint8)
    m[3, 4] = 1
    out = overlay_masks(img, m[None], alpha=0.7, colors=(200, 100, 0), draw_contours=False)
    # 100*.3 + 200*.7 = 170, 50*.3 + 100*.7 = 85, 10*.3 + 0 = 3
    assert out[3, 4].tolist() == [170, 85, 3]
    assert out[3, 5].tolist() == [0, 0, 0]
    assert out.dtype == np.uint8 and out.shape == img.shape


def test_alpha_extremes(big_small):
    big, _ = big_small
    img = gray()
    assert (overlay_masks(img, [big], alpha=0.0, draw_contours=False) == img).all()
    full = overlay_masks(img, [big], alpha=1.0, colors=RED, draw_contours=False)
    assert full[10, 10].tolist() == list(RED)


def test_deterministic_under_seed_and_input_untouched(big_small):
    img = gray()
    before = img.copy()
    masks = np.stack(big_small)
    a = overlay_masks(img, masks, seed=3)
    b = overlay_masks(img, masks, seed=3)
    c = overlay_masks(img, masks, seed=4)
    assert a.tobytes() == b.tobytes()
    assert a[10, 10].tolist() != c[10, 10].tolist()
    assert (img == before).all()


def test_contours_are_white_on_the_boundary(big_small):
    big, _ = big_small
    out = overlay_masks(gray(), [big], colors=RED, contour_thickness=1)
    assert out[5, 15].tolist() == [255, 255, 255]  # top edge of the big mask
    assert out[15, 15].tolist() != [255, 255, 255]  # interior


def test_empty_masks_give_a_copy():
    img = gray()
    out = overlay_masks(img, np.zeros((0, H, W), bool))
    assert (out == img).all() and out is not img
    assert (overlay_masks(img, []) == img).all()
    assert (overlay_masks(img, [np.zeros((H, W), bool)]) == img).all()


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((H, W, 3), np.float32),
        np.zeros((H, W), np.uint8),
        np.zeros((H, W, 4), np.uint8),
    ],
)
def test_overlay_rejects_bad_images(image):
    with pytest.raises(InputError):
        overlay_masks(image, np.zeros((1, H, W), bool))


@pytest.mark.parametrize(
    "masks",
    [
        np.zeros((1, H, W + 1), bool),
        np.full((1, H, W), 255, np.uint8),
        [np.zeros((H, W), bool), np.zeros((H, 3), bool)],
        np.zeros((1, 1, H, W), bool),
    ],
)
def test_overlay_rejects_bad_masks(masks):
    with pytest.raises(InputError):
        overlay_masks(gray(), masks)


def test_overlay_rejects_bad_options(big_small):
    with pytest.raises(InputError):
        overlay_masks(gray(), [big_small[0]], alpha=1.5)
    with pytest.raises(InputError):
        overlay_masks(gray(), list(big_small), colors=np.zeros((3, 3)))
    with pytest.raises(InputError):
        overlay_masks(gray(), [big_small[0]], contour_thickness=0)


def test_overlay_segments_matches_overlay_masks(big_small):
    segs = Segments(
        [
            Segment(m, mask_bbox_xyxy(m), int(m.sum()), 0.9, 0.9, (0.0, 0.0), (0, 0, W, H))
            for m in big_small
        ],
        (H, W),
    )
    out = overlay_segments(gray(), segs, seed=1)
    np.testing.assert_array_equal(out, overlay_masks(gray(), segs.masks, seed=1))
    with pytest.raises(InputError):
        overlay_segments(np.zeros((H + 1, W, 3), np.uint8), segs)


def test_draw_points_colours():
    out = draw_points(gray(0), [[10, 10], [30, 20]], [1, 0], radius=3)
    assert out[10, 10].tolist() == [0, 255, 0]
    assert out[20, 30].tolist() == [255, 0, 0]
    assert out[0, 0].tolist() == [0, 0, 0]
    with pytest.raises(InputError):
        draw_points(gray(), [[1, 1]], [2])


def test_draw_boxes_and_quad():
    img = gray(0)
    out = draw_boxes(img, [[5, 6, 20, 30]], color=(1, 2, 3), thickness=1)
    assert out[6, 12].tolist() == [1, 2, 3] and out[30, 20].tolist() == [1, 2, 3]
    assert out[15, 12].tolist() == [0, 0, 0]
    quad = np.array([[5, 5], [40, 5], [40, 30], [5, 30]], np.float32)
    q = draw_quad(img, quad, color=(0, 255, 0), thickness=1)
    assert q[5, 20, 1] > 100 and q[30, 20, 1] > 100 and q[17, 40, 1] > 100
    assert q[17, 20].tolist() == [0, 0, 0]
    assert (img == 0).all()
    with pytest.raises(InputError):
        draw_quad(img, np.zeros((2, 2)))


def test_contact_sheet_layout_and_fit():
    red = np.zeros((100, 50, 3), np.uint8)
    red[..., 0] = 255
    mask = np.zeros((20, 20), bool)
    mask[:, 10:] = True
    sheet = contact_sheet([red, mask, red], cols=2, cell=64, background=(9, 9, 9))
    assert sheet.shape == (128, 128, 3) and sheet.dtype == np.uint8
    # red 100x50 fitted to 64x32, centred horizontally in cell (0, 0)
    assert sheet[32, 32].tolist() == [255, 0, 0]
    assert sheet[32, 4].tolist() == [9, 9, 9]
    # the boolean mask becomes gray 0/255 upscaled to 64x64 in cell (0, 1)
    assert sheet[32, 64 + 5].tolist() == [0, 0, 0]
    assert sheet[32, 64 + 60].tolist() == [255, 255, 255]
    # empty fourth cell keeps the background
    assert sheet[100, 100].tolist() == [9, 9, 9]
    assert contact_sheet([red], cols=5, cell=32).shape == (32, 32, 3)


def test_contact_sheet_labels_and_validation():
    img = np.full((64, 64, 3), 200, np.uint8)
    plain = contact_sheet([img], cols=1, cell=64)
    labelled = contact_sheet([img], cols=1, cell=64, labels=["seg 0"])
    assert (plain[:40] == labelled[:40]).all()
    assert (plain[50:] != labelled[50:]).any()
    with pytest.raises(InputError):
        contact_sheet([], cols=2)
    with pytest.raises(InputError):
        contact_sheet([img], cols=0)
    with pytest.raises(InputError):
        contact_sheet([img], cols=1, labels=["a", "b"])
    with pytest.raises(InputError):
        contact_sheet([img.astype(np.float32)], cols=1)
