"""Sub-pixel corner fitting on soft probability maps (rendered 8x supersampled, area-averaged)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from idseg.data.convert_geometry import rasterize_polygon
from idseg.documents.corners import fit_corners

SS = 8  # supersampling factor of the rendered maps


def _soft(binary_big: np.ndarray) -> np.ndarray:
    """Area-average an ``SS``-times supersampled binary mask into a soft probability map."""
    h, w = binary_big.shape[0] // SS, binary_big.shape[1] // SS
    return cv2.resize(binary_big.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)


def _render_quad(quad: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    big = rasterize_polygon(np.asarray(quad, np.float64) * SS, (hw[0] * SS, hw[1] * SS))
    return _soft(big)


def _centres(hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Continuous coordinates of the supersampled pixel centres, in map pixels."""
    ys, xs = np.mgrid[0 : hw[0] * SS, 0 : hw[1] * SS].astype(np.float64)
    return (xs + 0.5) / SS, (ys + 0.5) / SS


def _render_rounded(
    centre: tuple[float, float],
    size: tuple[float, float],
    radius: float,
    angle_deg: float,
    hw: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """A rounded rectangle (rotated about its centre) and its sharp corners, clockwise from TL."""
    x, y = _centres(hw)
    a = np.deg2rad(angle_deg)
    cx, cy = centre
    # Coordinates in the rectangle's own frame.
    u = (x - cx) * np.cos(a) + (y - cy) * np.sin(a)
    v = -(x - cx) * np.sin(a) + (y - cy) * np.cos(a)
    hw2 = np.array(size) / 2
    du = np.maximum(np.abs(u) - (hw2[0] - radius), 0)
    dv = np.maximum(np.abs(v) - (hw2[1] - radius), 0)
    inside = (np.abs(u) <= hw2[0]) & (np.abs(v) <= hw2[1]) & (du**2 + dv**2 <= radius**2)
    local = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64) * hw2
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    corners = local @ rot.T + np.array(centre)
    return _soft(inside), corners


def _max_error(found: np.ndarray | None, expected: np.ndarray) -> float:
    assert found is not None
    assert found.shape == (4, 2) and found.dtype == np.float64
    return float(np.linalg.norm(found - expected, axis=1).max())


@pytest.mark.parametrize(
    "quad",
    [
        [[20.0, 10.0], [70.0, 10.0], [70.0, 40.0], [20.0, 40.0]],
        [[20.3, 10.6], [70.8, 10.6], [70.8, 41.2], [20.3, 41.2]],
        [[17.25, 12.75], [71.5, 8.4], [74.6, 43.1], [22.2, 47.9]],  # rotated, perspective
        [[30.4, 6.1], [78.9, 20.7], [66.2, 53.3], [11.8, 37.5]],  # rotated by ~17 degrees
    ],
    ids=["aligned", "aligned-fractional", "perspective", "rotated"],
)
def test_quads_recovered_within_a_quarter_pixel(quad):
    q = np.array(quad)
    prob = _render_quad(q, (60, 90))
    assert prob.min() >= 0.0 and prob.max() == 1.0
    assert _max_error(fit_corners(prob), q) < 0.25


def test_rounded_corners_give_the_sharp_corners():
    prob, corners = _render_rounded((50.3, 35.6), (86.0, 54.0), 5.0, 0.0, (72, 100))
    assert prob[35, 50] == 1.0 and prob[9, 7] == 0.0
    assert _max_error(fit_corners(prob), corners) < 0.5


def test_rotated_rounded_card_gives_the_sharp_corners():
    prob, corners = _render_rounded((52.0, 40.0), (80.0, 50.0), 4.5, 12.0, (84, 108))
    assert _max_error(fit_corners(prob), corners) < 0.5


def test_a_notch_in_one_side_does_not_move_the_corners():
    q = np.array([[15.0, 12.0], [85.0, 12.0], [85.0, 56.0], [15.0, 56.0]])
    big = rasterize_polygon(q * SS, (70 * SS, 100 * SS))
    x, y = _centres((70, 100))
    big &= (x - 45.0) ** 2 + (y - 12.0) ** 2 > 6.0**2  # a finger over the top side
    prob = _soft(big)
    assert prob[14, 45] == 0.0, "the notch is there"
    assert _max_error(fit_corners(prob), q) < 0.5


@pytest.mark.parametrize("with_edge", [False, True], ids=["map-only", "edge-band"])
def test_a_thumb_over_a_corner_does_not_cut_the_corner_off(with_edge):
    # A tilted card; a thumb (a disc) covers its top-left corner and a good part of both sides
    # that meet there, so the outline's hull cuts that corner off with a long slanted edge.
    q = np.array([[20.0, 24.0], [98.0, 12.0], [104.0, 62.0], [26.0, 74.0]])
    hw = (90, 120)
    x, y = _centres(hw)
    thumb = (x - 27.0) ** 2 + (y - 28.0) ** 2 <= 16.0**2
    big = rasterize_polygon(q * SS, (hw[0] * SS, hw[1] * SS))
    prob = _soft(big & ~thumb)
    assert prob[30, 30] == 0.0 and prob[60, 30] == 1.0, "the corner is covered, the side is seen"
    edge = None
    if with_edge:  # the localiser's band along the document's own outline, not the thumb's
        inner = cv2.erode(big.astype(np.uint8), np.ones((2 * SS + 1, 2 * SS + 1), np.uint8))
        edge = _soft(big & ~inner.astype(bool) & ~thumb)
    assert _max_error(fit_corners(prob, edge=edge), q) < 1.0


def test_a_corner_out_of_the_frame_is_extrapolated():
    q = np.array([[-14.3, 8.4], [70.2, 12.1], [66.8, 58.3], [4.9, 55.6]])
    offset = np.array([20.0, 0.0])
    full = _render_quad(q + offset, (70, 110))
    prob = np.ascontiguousarray(full[:, 20:])  # the photo starts 20 px in: its top-left is out
    assert prob[:, 0].max() == 1.0, "the document is cut by the frame's left border"
    found = fit_corners(prob, frame=(0.0, 0.0, 90.0, 70.0))
    assert found is not None
    assert found[0, 0] < 0, "the corner lies outside the photo"
    assert _max_error(found, q) < 1.0


def test_frame_inside_a_letterbox_canvas():
    # The photo occupies rows 10..50 of a 60 x 80 canvas (letterbox); the document leaves it
    # through the bottom of the window, which is not a document side.
    q = np.array([[12.0, 20.0], [68.0, 20.0], [68.0, 64.0], [12.0, 64.0]])
    prob = _render_quad(q, (60, 80))
    prob[50:] = 0.0  # padding below the window
    found = fit_corners(prob, frame=(0.0, 10.0, 80.0, 50.0))
    assert found is not None
    # Top corners exact; the sides are extrapolated straight down past the window.
    assert np.linalg.norm(found[:2] - q[:2], axis=1).max() < 0.25
    assert found[2:, 1].min() >= 50.0 - 0.25


def test_empty_map_gives_none():
    assert fit_corners(np.zeros((40, 50), np.float32)) is None
    assert fit_corners(np.full((40, 50), 0.4, np.float32)) is None  # nothing above 0.5


def test_tiny_blob_gives_none():
    prob = np.zeros((40, 50), np.float32)
    prob[20, 25] = 1.0
    assert fit_corners(prob) is None


def test_largest_region_wins():
    big = np.array([[10.0, 8.0], [60.0, 8.0], [60.0, 40.0], [10.0, 40.0]])
    small = np.array([[66.0, 44.0], [76.0, 44.0], [76.0, 52.0], [66.0, 52.0]])
    prob = np.maximum(_render_quad(big, (56, 80)), _render_quad(small, (56, 80)))
    assert _max_error(fit_corners(prob), big) < 0.25


def test_finer_outline_with_a_larger_upsample():
    q = np.array([[20.3, 10.6], [70.8, 10.6], [70.8, 41.2], [20.3, 41.2]])
    prob = _render_quad(q, (60, 90))
    assert ((prob > 0) & (prob < 1)).any(), "a soft map"
    assert _max_error(fit_corners(prob, upsample=8), q) < 0.25


def test_snap_to_edges_finds_the_outer_edge_not_a_printed_border():
    import cv2

    from idseg.documents.corners import snap_to_edges

    g = np.full((120, 160), 40.0, np.float32)
    g[20:100, 30:140] = 220.0  # the card on a dark table
    cv2.rectangle(g, (40, 30), (129, 89), 120.0, 1)  # a printed frame 10 px inside
    g = cv2.GaussianBlur(g, (0, 0), 1.0)
    truth = np.array([[30.0, 20.0], [140.0, 20.0], [140.0, 100.0], [30.0, 100.0]])
    start = truth + np.array([[1.5, 1.2], [-1.4, 1.3], [-1.2, -1.5], [1.3, -1.1]])
    snapped = snap_to_edges(g, start, search=4.0)
    assert np.abs(snapped - truth).max() < 0.3


def test_snap_to_edges_leaves_a_quad_without_edges_alone():
    from idseg.documents.corners import snap_to_edges

    flat = np.full((50, 50), 128.0, np.float32)
    q = np.array([[10.0, 10.0], [40.0, 10.0], [40.0, 40.0], [10.0, 40.0]])
    assert np.array_equal(snap_to_edges(flat, q, search=3.0), q)
