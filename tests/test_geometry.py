import cv2
import numpy as np
import pytest

from idseg.errors import InputError
from idseg.geometry import (
    Polygon,
    fit_quad,
    mask_to_box,
    mask_to_polygons,
    order_quad,
    polygon_area,
    polygons_to_mask,
    xywh_to_xyxy,
    xyxy_to_xywh,
)
from idseg.quad import approx_quad, enclosing_quad


def iou(a, b):
    return (a & b).sum() / (a | b).sum()


def blob_mask(seed, hw=(256, 256)):
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.random(hw).astype(np.float32), (0, 0), 10)
    return noise > np.quantile(noise, 0.55)


# --- boxes -------------------------------------------------------------------------------------


def test_box_conversions_single_and_batch():
    one = xywh_to_xyxy([10, 20, 30, 40])
    assert one.shape == (4,)
    assert one.tolist() == [10.0, 20.0, 40.0, 60.0]
    batch = xyxy_to_xywh(np.array([[10, 20, 40, 60], [0, 0, 5, 7]]))
    assert batch.shape == (2, 4)
    assert batch.dtype == np.float64
    assert batch.tolist() == [[10, 20, 30, 40], [0, 0, 5, 7]]
    np.testing.assert_array_equal(xywh_to_xyxy(xyxy_to_xywh(batch)), batch)


def test_box_conversion_does_not_modify_input():
    boxes = np.array([[1.0, 2.0, 3.0, 4.0]])
    xywh_to_xyxy(boxes)
    assert boxes.tolist() == [[1.0, 2.0, 3.0, 4.0]]


@pytest.mark.parametrize("bad", [[1, 2, 3], np.zeros((2, 5)), np.zeros((1, 2, 4))])
def test_box_conversion_rejects_bad_shapes(bad):
    with pytest.raises(InputError):
        xywh_to_xyxy(bad)


def test_mask_to_box_inclusive():
    m = np.zeros((10, 12), bool)
    m[2:5, 3:9] = True
    assert mask_to_box(m) == (3, 2, 8, 4)


def test_polygon_area_shoelace():
    assert polygon_area(np.array([[0, 0], [4, 0], [4, 3], [0, 3]])) == 12.0
    assert polygon_area(np.array([[0, 0], [4, 0], [0, 3]])) == 6.0
    assert polygon_area(np.array([[0, 0], [4, 0]])) == 0.0


# --- polygons ----------------------------------------------------------------------------------


def test_rectangle_round_trip_is_exact_and_pixel_centred():
    m = np.zeros((30, 50), bool)
    m[10:20, 20:40] = True
    polys = mask_to_polygons(m, tolerance=0)
    assert len(polys) == 1
    ext = polys[0].exterior
    assert ext.dtype == np.float64 and ext.shape[1] == 2
    assert sorted(map(tuple, ext.tolist())) == [(20, 10), (20, 19), (39, 10), (39, 19)]
    assert polys[0].holes == []
    assert polys[0].area == 19 * 9
    np.testing.assert_array_equal(polygons_to_mask(polys, m.shape), m)


def test_mask_touching_image_border_round_trips():
    m = np.zeros((20, 20), bool)
    m[0:8, 12:20] = True
    polys = mask_to_polygons(m, tolerance=0)
    np.testing.assert_array_equal(polygons_to_mask(polys, m.shape), m)


def test_ring_keeps_its_hole():
    m = np.zeros((40, 40), bool)
    m[5:35, 5:35] = True
    m[15:25, 15:25] = False
    polys = mask_to_polygons(m, tolerance=0)
    assert len(polys) == 1
    assert len(polys[0].holes) == 1
    hole = polys[0].holes[0]
    # the hole boundary runs along the foreground pixels around the hole
    assert hole[:, 0].min() == 14 and hole[:, 0].max() == 25
    assert polys[0].area == pytest.approx(29 * 29 - polygon_area(hole))
    back = polygons_to_mask(polys, m.shape)
    np.testing.assert_array_equal(back, m)
    assert not back[20, 20]


def test_two_blobs_give_two_polygons():
    m = np.zeros((30, 60), bool)
    m[5:15, 5:15] = True
    m[10:25, 30:50] = True
    polys = mask_to_polygons(m, tolerance=0)
    assert len(polys) == 2
    boxes = sorted((p.exterior[:, 0].min(), p.exterior[:, 0].max()) for p in polys)
    assert boxes == [(5, 14), (30, 49)]
    np.testing.assert_array_equal(polygons_to_mask(polys, m.shape), m)


def test_island_inside_hole_is_a_separate_polygon():
    m = np.zeros((50, 50), bool)
    m[5:45, 5:45] = True
    m[15:35, 15:35] = False
    m[22:28, 22:28] = True
    polys = mask_to_polygons(m, tolerance=0)
    assert len(polys) == 2
    outer = max(polys, key=lambda p: p.area)
    island = min(polys, key=lambda p: p.area)
    assert len(outer.holes) == 1 and island.holes == []
    assert island.exterior[:, 0].min() == 22 and island.exterior[:, 0].max() == 27
    # union rasterisation keeps the island whatever the polygon order
    np.testing.assert_array_equal(polygons_to_mask(polys, m.shape), m)
    np.testing.assert_array_equal(polygons_to_mask(polys[::-1], m.shape), m)


@pytest.mark.parametrize("seed", range(6))
def test_random_blobs_round_trip(seed):
    m = blob_mask(seed)
    assert m.any()
    exact = polygons_to_mask(mask_to_polygons(m, tolerance=0), m.shape)
    np.testing.assert_array_equal(exact, m)
    simplified = mask_to_polygons(m, tolerance=1.0)
    assert iou(polygons_to_mask(simplified, m.shape), m) >= 0.98
    n_vertices = sum(len(p.exterior) for p in simplified)
    n_raw = sum(len(p.exterior) for p in mask_to_polygons(m, tolerance=0))
    assert n_vertices < n_raw


def test_min_area_drops_small_polygons_and_holes():
    m = np.zeros((60, 60), bool)
    m[5:45, 5:45] = True
    m[10:13, 10:13] = False  # small hole
    m[50:53, 50:53] = True  # small blob, polygon area 4
    assert len(mask_to_polygons(m, tolerance=0)) == 2
    polys = mask_to_polygons(m, tolerance=0, min_area=20)
    assert len(polys) == 1
    assert polys[0].holes == []


def test_tiny_components_with_fewer_than_three_points_are_dropped():
    m = np.zeros((10, 10), bool)
    m[2, 2] = True
    m[5, 5:7] = True
    assert mask_to_polygons(m, tolerance=0) == []


def test_empty_mask_and_bad_input():
    assert mask_to_polygons(np.zeros((5, 5), bool)) == []
    with pytest.raises(InputError):
        mask_to_polygons(np.zeros((2, 5, 5), bool))
    with pytest.raises(InputError):
        mask_to_polygons(np.ones((5, 5), bool), tolerance=-1)


def test_polygon_to_dict_is_json_ready():
    poly = Polygon(
        np.array([[0.0, 0.0], [4.0, 0.0], [4.0, 3.0]]), [np.array([[1, 1], [2, 1], [2, 2]])]
    )
    d = poly.to_dict()
    assert d == {"exterior": [[0, 0], [4, 0], [4, 3]], "holes": [[[1, 1], [2, 1], [2, 2]]]}
    assert isinstance(d["holes"][0][0][0], float)


# --- quads -------------------------------------------------------------------------------------


def test_order_quad_axis_aligned_any_input_order():
    expected = [[0, 0], [10, 0], [10, 5], [0, 5]]
    rng = np.random.default_rng(1)
    for _ in range(5):
        shuffled = np.array(expected)[rng.permutation(4)]
        assert order_quad(shuffled).tolist() == expected


def test_order_quad_rotated_is_clockwise_from_top_left():
    # rotated by 30 degrees: the top-left corner has the smallest x + y
    quad = np.array([[50, 10], [90, 40], [60, 80], [20, 50]], float)
    out = order_quad(quad[[2, 0, 3, 1]])
    assert out.tolist() == quad.tolist()


def test_order_quad_45_degrees_is_deterministic():
    diamond = np.array([[50, 0], [100, 50], [50, 100], [0, 50]], float)
    for perm in ([0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]):
        # top and left tie on x + y; the upper one starts
        assert order_quad(diamond[perm]).tolist() == diamond.tolist()


def test_order_quad_rejects_bad_shape():
    with pytest.raises(InputError):
        order_quad(np.zeros((3, 2)))


def rotated_rect(cx, cy, w, h, deg):
    t = np.deg2rad(deg)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    corners = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    return np.rint(corners @ rot.T + [cx, cy]).astype(np.int32)


@pytest.mark.parametrize("deg", [0, 17, 45, 62, -30])
def test_fit_quad_rotated_rectangle(deg):
    corners = rotated_rect(200, 150, 240, 140, deg)
    m = np.zeros((300, 400), np.uint8)
    cv2.fillPoly(m, [corners], 1)
    quad = fit_quad(m)
    assert quad.dtype == np.float32 and quad.shape == (4, 2)
    assert np.linalg.norm(quad - order_quad(corners), axis=1).max() <= 2.0


def test_fit_quad_perspective_quad_and_largest_region_only():
    corners = np.array([[60, 40], [330, 70], [300, 260], [40, 220]], np.int32)
    m = np.zeros((300, 400), bool)
    cv2.fillPoly(m.view(np.uint8), [corners], 1)
    m[5:20, 360:395] = True  # a smaller, separate region is ignored
    quad = fit_quad(m)
    assert np.linalg.norm(quad - corners, axis=1).max() <= 2.0


def rounded_card(x0, y0, w, h, r, hw=(300, 400)):
    m = np.zeros(hw, np.uint8)
    x1, y1 = x0 + w - 1, y0 + h - 1
    cv2.rectangle(m, (x0 + r, y0), (x1 - r, y1), 1, -1)
    cv2.rectangle(m, (x0, y0 + r), (x1, y1 - r), 1, -1)
    for cx, cy in [(x0 + r, y0 + r), (x1 - r, y0 + r), (x1 - r, y1 - r), (x0 + r, y1 - r)]:
        cv2.circle(m, (cx, cy), r, 1, -1)
    return m


def test_fit_quad_rounded_corners_meet_at_straight_sides():
    m = rounded_card(50, 60, 300, 190, 15)
    assert m[60, 50] == 0 and m[60, 200] == 1  # the corner pixel itself is cut away
    quad = fit_quad(m)
    expected = np.array([[50, 60], [349, 60], [349, 249], [50, 249]])
    assert np.linalg.norm(quad - expected, axis=1).max() <= 3.0


def test_fit_quad_rotated_rounded_card():
    m = rounded_card(50, 60, 300, 190, 15)
    rot = cv2.getRotationMatrix2D((200, 155), 20, 1.0)
    m = cv2.warpAffine(m, rot, (400, 300), flags=cv2.INTER_NEAREST)
    corners = np.c_[[[50, 60], [349, 60], [349, 249], [50, 249]], np.ones(4)] @ rot.T
    quad = fit_quad(m)
    assert np.linalg.norm(quad - order_quad(corners), axis=1).max() <= 3.0


def test_fit_quad_empty_and_degenerate():
    assert fit_quad(np.zeros((50, 50), bool)) is None
    line = np.zeros((50, 50), bool)
    line[10, 5:40] = True
    assert fit_quad(line) is None
    with pytest.raises(InputError):
        fit_quad(np.zeros(10))


def test_uint8_and_strided_masks_match_bool():
    m = blob_mask(7)
    ref = [p.exterior.tolist() for p in mask_to_polygons(m)]
    assert [p.exterior.tolist() for p in mask_to_polygons(m.astype(np.uint8) * 255)] == ref
    wide = np.repeat(m, 2, axis=1)[:, ::2]  # non-contiguous view of the same mask
    assert [p.exterior.tolist() for p in mask_to_polygons(wide)] == ref
    np.testing.assert_array_equal(fit_quad(m.astype(np.uint8)), fit_quad(m))


# --- enclosing quads ---------------------------------------------------------------------------


def _turned(points, deg, centre=(50.0, 40.0)):
    a = np.deg2rad(deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return (np.asarray(points, np.float64) - centre) @ rot.T + centre


@pytest.mark.parametrize("start", range(5))
@pytest.mark.parametrize("deg", [0.0, 17.0, -33.0])
def test_enclosing_quad_restores_a_corner_cut_off(deg, start):
    card = _turned([[10, 10], [90, 10], [90, 60], [10, 60]], deg)
    # The hull of a card whose top-left corner a thumb hides: a long slanted edge across it,
    # listed from each vertex in turn (the slanted edge wraps round the list's end once).
    cut = _turned([[10, 30], [35, 10], [90, 10], [90, 60], [10, 60]], deg)
    quad = enclosing_quad(np.roll(cut, start, axis=0).astype(np.float32))
    assert quad is not None
    assert np.abs(order_quad(quad) - order_quad(card)).max() < 1e-3


def test_enclosing_quad_of_a_rounded_card_is_nearer_its_sharp_corners():
    m = rounded_card(50, 60, 300, 190, 15)
    contour = max(cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)[0], key=len)
    hull = cv2.convexHull(contour)
    # Pixel centres of the outermost pixels: 50..349 and 60..249.
    sharp = np.array([[50, 60], [349, 60], [349, 249], [50, 249]], np.float64)
    quad = enclosing_quad(hull)
    assert quad is not None
    error = np.linalg.norm(order_quad(quad) - sharp, axis=1).max()
    inscribed = np.linalg.norm(order_quad(approx_quad(hull)) - sharp, axis=1).max()
    # Coarse corners (fit_corners refines them): on the arcs' chords, not on the arcs.
    assert error < 3.5 < inscribed


def test_enclosing_quad_refuses_to_grow_far():
    # A regular pentagon: any corner restored adds 45 % of its area.
    angles = np.deg2rad(90 + 72 * np.arange(5))
    pentagon = (50 + 40 * np.c_[np.cos(angles), np.sin(angles)]).astype(np.float32)
    assert enclosing_quad(pentagon, max_grow=0.4) is None
    quad = enclosing_quad(pentagon, max_grow=0.5)
    assert quad is not None
    added = cv2.contourArea(quad.astype(np.float32)) / cv2.contourArea(pentagon) - 1
    assert added == pytest.approx(0.447, abs=0.01)
    assert enclosing_quad(np.array([[0, 0], [10, 0], [5, 8]], np.float32)) is None  # 3 vertices


@pytest.mark.parametrize(
    ("hull", "grow"),
    [
        (np.zeros((0, 2)), 0.25),
        (np.array([[0, 0], [4, 0], [np.nan, 3], [0, 3]]), 0.25),
        (np.array([[0, 0], [4, 0], [4, 3], [0, 3]]), -0.1),
        (np.array([[0, 0], [4, 0], [4, 3], [0, 3]]), float("nan")),
    ],
    ids=["empty", "nan", "negative-grow", "nan-grow"],
)
def test_enclosing_quad_refuses_bad_input(hull, grow):
    with pytest.raises(InputError):
        enclosing_quad(hull, max_grow=grow)
