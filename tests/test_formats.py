import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from idseg import formats
from idseg.errors import InputError
from idseg.formats import (
    bridge_outlines,
    mask_to_rle,
    masks_to_yolo,
    merge_coco,
    rle_area,
    rle_to_mask,
    save_label_png,
    save_mask_png,
    save_mask_pngs,
    segments_to_coco,
    segments_to_polygons,
    segments_to_yolo,
    write_json,
)
from idseg.geometry import mask_to_polygons
from idseg.sam.results import Segment, Segments, mask_bbox_xyxy

H, W = 40, 60


def make_segment(mask, iou=0.9, stability=0.95, point=(1.5, 2.5)):
    return Segment(
        mask=mask,
        bbox_xyxy=mask_bbox_xyxy(mask),
        area=int(mask.sum()),
        predicted_iou=iou,
        stability_score=stability,
        point=point,
        crop_box=(0, 0, mask.shape[1], mask.shape[0]),
    )


def rect(y0, y1, x0, x1, hw=(H, W)):
    m = np.zeros(hw, bool)
    m[y0:y1, x0:x1] = True
    return m


def ring():
    m = rect(5, 35, 10, 40)
    m[15:25, 20:30] = False
    return m


@pytest.fixture
def segments():
    return Segments([make_segment(rect(2, 6, 3, 9), iou=0.8), make_segment(ring())], (H, W))


# --- RLE ---------------------------------------------------------------------------------------


def test_rle_round_trip_and_json_ready():
    rng = np.random.default_rng(0)
    m = rng.random((37, 53)) > 0.6
    rle = mask_to_rle(m)
    assert rle["size"] == [37, 53]
    assert isinstance(rle["counts"], str)
    json.dumps(rle)
    np.testing.assert_array_equal(rle_to_mask(rle), m)
    assert rle_to_mask(rle).dtype == bool
    assert rle_area(rle) == int(m.sum())


def test_rle_accepts_uint8_and_bytes_counts():
    m = rect(3, 9, 2, 5).astype(np.uint8) * 255
    rle = mask_to_rle(m)
    again = rle_to_mask({"size": rle["size"], "counts": rle["counts"].encode()})
    np.testing.assert_array_equal(again, m > 0)


def test_rle_uncompressed_counts_are_column_major():
    # 1 zero, 2 ones, 3 zeros, read down the columns of a 2 x 3 mask
    out = rle_to_mask({"size": [2, 3], "counts": [1, 2, 3]})
    assert out.tolist() == [[False, True, False], [True, False, False]]
    assert rle_area({"size": [2, 3], "counts": [1, 2, 3]}) == 2


@pytest.mark.parametrize("bad", [{"counts": "abc"}, "not a dict", {"size": [2, 2], "counts": 5}])
def test_rle_rejects_bad_input(bad):
    with pytest.raises(InputError):
        rle_to_mask(bad)


def test_mask_to_rle_rejects_3d():
    with pytest.raises(InputError):
        mask_to_rle(np.zeros((2, 3, 4), bool))


# --- COCO --------------------------------------------------------------------------------------


def test_coco_ring_keeps_true_area_and_iscrowd_zero(segments):
    coco = segments_to_coco(segments, image_id=7, file_name="card.jpg")
    ring_ann = coco["annotations"][0]  # largest first
    assert ring_ann["area"] == int(ring().sum()) == 30 * 30 - 10 * 10
    assert ring_ann["iscrowd"] == 0
    np.testing.assert_array_equal(rle_to_mask(ring_ann["segmentation"]), ring())
    assert coco["images"] == [{"id": 7, "file_name": "card.jpg", "height": H, "width": W}]
    assert [a["id"] for a in coco["annotations"]] == [1, 2]
    assert {a["image_id"] for a in coco["annotations"]} == {7}
    assert coco["categories"][0]["id"] == 1 and coco["categories"][0]["name"] == "object"


def test_coco_bbox_and_metadata_for_hand_made_mask(segments):
    coco = segments_to_coco(segments)
    small = coco["annotations"][1]
    # rows 2..5, columns 3..8 -> x=3, y=2, w=6, h=4
    assert small["bbox"] == [3.0, 2.0, 6.0, 4.0]
    assert all(isinstance(v, float) for v in small["bbox"])
    assert small["area"] == 24
    assert small["predicted_iou"] == pytest.approx(0.8)
    assert small["stability_score"] == pytest.approx(0.95)
    assert small["point_coords"] == [[1.5, 2.5]]
    assert small["crop_box"] == [0, 0, W, H]
    json.dumps(coco)


def test_coco_empty_mask_has_zero_bbox():
    segs = Segments([make_segment(np.zeros((H, W), bool))], (H, W))
    ann = segments_to_coco(segs)["annotations"][0]
    assert ann["bbox"] == [0.0, 0.0, 0.0, 0.0] and ann["area"] == 0


def test_coco_rejects_mask_of_wrong_size():
    segs = Segments([make_segment(rect(1, 3, 1, 3, hw=(10, 10)))], (H, W))
    with pytest.raises(InputError):
        segments_to_coco(segs)


def test_coco_loads_in_pycocotools(tmp_path, segments):
    path = write_json(segments.to_coco(file_name="x.png", category_id=3), tmp_path / "coco.json")
    api = COCO(str(path))
    ann_ids = api.getAnnIds(imgIds=[1])
    assert len(ann_ids) == 2
    for ann_id, seg in zip(ann_ids, segments, strict=True):
        ann = api.loadAnns([ann_id])[0]
        assert ann["category_id"] == 3
        np.testing.assert_array_equal(api.annToMask(ann).astype(bool), seg.mask)


def test_merge_coco_renumbers_ids_uniquely(tmp_path, segments):
    one = segments_to_coco(segments, file_name="a.png")
    two = segments_to_coco(segments[:1], file_name="b.png")
    snapshot = json.dumps([one, two])
    merged = merge_coco([one, two])
    assert json.dumps([one, two]) == snapshot  # inputs untouched
    assert [(im["id"], im["file_name"]) for im in merged["images"]] == [(1, "a.png"), (2, "b.png")]
    assert [a["id"] for a in merged["annotations"]] == [1, 2, 3]
    assert [a["image_id"] for a in merged["annotations"]] == [1, 1, 2]
    assert len(merged["categories"]) == 1
    api = COCO(str(write_json(merged, tmp_path / "all.json")))
    assert len(api.getAnnIds(imgIds=[2])) == 1


def test_merge_coco_category_conflict_and_dangling_annotation(segments):
    a = segments_to_coco(segments, category_name="card")
    b = segments_to_coco(segments, category_name="face")
    with pytest.raises(InputError):
        merge_coco([a, b])
    bad = segments_to_coco(segments)
    bad["annotations"][0]["image_id"] = 99
    with pytest.raises(InputError):
        merge_coco([bad])
    assert merge_coco([])["images"] == []


# --- polygons and YOLO ---------------------------------------------------------------------------


def test_segments_to_polygons(segments):
    out = segments_to_polygons(segments, tolerance=0)
    assert [d["index"] for d in out] == [0, 1]
    assert out[0]["area"] == 800 and out[0]["bbox_xyxy"] == [10, 5, 39, 34]
    assert len(out[0]["polygons"]) == 1 and len(out[0]["polygons"][0]["holes"]) == 1
    small = out[1]["polygons"][0]
    assert sorted(map(tuple, small["exterior"])) == [(3, 2), (3, 5), (8, 2), (8, 5)]
    assert small["holes"] == []
    assert segments.to_polygons(tolerance=0) == out
    json.dumps(out)


def test_yolo_rectangle_exact_numbers():
    m = np.zeros((1, 50, 100), bool)
    m[0, 10:20, 20:40] = True
    text = masks_to_yolo(m, class_ids=2, tolerance=0)
    # corners at pixel centres (20, 10), (20, 19), (39, 19), (39, 10); x / 100, y / 50
    assert text == "2 0.200000 0.200000 0.200000 0.380000 0.390000 0.380000 0.390000 0.200000\n"


def test_yolo_drops_holes_and_uses_class_per_mask():
    masks = np.stack([ring(), rect(2, 6, 3, 9)])
    lines = masks_to_yolo(masks, class_ids=[4, 1], tolerance=0).splitlines()
    assert len(lines) == 2  # the ring's hole is not written
    assert lines[0].startswith("4 ") and lines[1].startswith("1 ")
    values = [float(v) for v in lines[0].split()[1:]]
    assert len(values) == 8  # the ring's outer square only
    assert min(values[0::2]) == pytest.approx(10 / W, abs=1e-6)
    assert max(values[1::2]) == pytest.approx(34 / H, abs=1e-6)


def test_yolo_skips_tiny_and_validates_class_ids(segments):
    tiny = np.zeros((1, 10, 10), bool)
    tiny[0, 4, 4] = True
    assert masks_to_yolo(tiny) == ""
    with pytest.raises(InputError):
        masks_to_yolo(np.zeros((2, 5, 5), bool), class_ids=[0])
    with pytest.raises(InputError):
        masks_to_yolo(np.zeros((1, 5, 5), bool), class_ids=-1)
    assert segments_to_yolo(segments, class_id=5) == segments.to_yolo(class_id=5)
    assert all(line.startswith("5 ") for line in segments.to_yolo(class_id=5).splitlines())


def yolo_fill(line, hw):
    """Rasterise one YOLO-seg line's polygon at image size, as a trainer would."""
    h, w = hw
    xy = np.array([float(v) for v in line.split()[1:]]).reshape(-1, 2) * [w, h]
    out = np.zeros(hw, np.uint8)
    cv2.fillPoly(out, [np.rint(xy).astype(np.int32)], 1)
    return out.astype(bool)


def iou(a, b):
    return (a & b).sum() / (a | b).sum()


def disk(cy, cx, r, hw=(H, W)):
    yy, xx = np.mgrid[: hw[0], : hw[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


@pytest.mark.parametrize("tolerance", [0, 1.0])
def test_yolo_multi_part_mask_is_one_instance_covering_every_part(tolerance):
    mask = rect(5, 30, 4, 20) | disk(20, 45, 9)
    lines = masks_to_yolo(mask[None], class_ids=3, tolerance=tolerance).splitlines()
    assert len(lines) == 1 and lines[0].startswith("3 ")
    filled = yolo_fill(lines[0], (H, W))
    assert filled[rect(5, 30, 4, 20)].all() and filled[disk(20, 45, 9)].mean() > 0.97
    assert iou(filled, mask) >= 0.95


def test_yolo_three_parts_and_island_in_hole():
    three = rect(2, 8, 2, 8) | rect(32, 38, 50, 58) | rect(30, 38, 2, 10)
    (line,) = masks_to_yolo(three[None], tolerance=0).splitlines()
    filled = yolo_fill(line, (H, W))
    # Every part is covered; the only extra pixels are the two one-pixel bridges between
    # nearest corners: (2, 7) -> (2, 30) (22 pixels between) and (9, 37) -> (50, 37) (40).
    assert filled[three].all()
    extra = filled & ~three
    assert extra.sum() == 22 + 40
    assert extra[8:30, 2].all() and extra[37, 10:50].all()
    # An island inside the ring's hole is covered once the hole is dropped: still one line,
    # and the island must not punch a hole into the filled ring.
    nested = ring() | rect(18, 22, 23, 27)
    (line,) = masks_to_yolo(nested[None], tolerance=0).splitlines()
    assert len(line.split()) == 1 + 8
    assert yolo_fill(line, (H, W)).sum() == rect(5, 35, 10, 40).sum()


def test_yolo_single_blob_unchanged():
    blob = disk(20, 30, 12) | rect(8, 14, 30, 50)
    (poly,) = mask_to_polygons(blob, tolerance=1.0)
    xy = poly.exterior / [W, H]
    expected = "7 " + " ".join(f"{v:.6f}" for v in xy.ravel()) + "\n"
    assert masks_to_yolo(blob[None], class_ids=7) == expected


def test_bridge_outlines_goes_out_and_back_over_each_bridge():
    a = np.array([[0.0, 0], [0, 1], [1, 1], [1, 0]])
    b = np.array([[3.0, 0], [3, 0.5], [4, 0.5], [4, 0]])
    c = a * 3 + np.array([-5, 5])  # the largest part: the walk starts at its vertex 0
    # Shortest bridges (no ties): c (-2, 5) -> a (0, 1) and a (1, 0) -> b (3, 0).
    expected = [
        [-5, 5], [-5, 8], [-2, 8], [-2, 5],
        [0, 1], [1, 1], [1, 0],
        [3, 0], [3, 0.5], [4, 0.5], [4, 0], [3, 0],
        [1, 0], [0, 0], [0, 1],
        [-2, 5],
    ]  # fmt: skip
    assert bridge_outlines([a, b, c]).tolist() == expected
    np.testing.assert_array_equal(bridge_outlines([a]), a)


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ([], "one or more"),
        ([np.zeros((0, 2))], r"got shapes \[\(0, 2\)\]"),
        ([np.zeros((3, 2)), np.zeros((3, 3))], r"got shapes \[\(3, 2\), \(3, 3\)\]"),
        ([np.array([[0.0, np.nan], [1, 1], [2, 0]])], "NaN or inf"),
    ],
)
def test_bridge_outlines_rejects_bad_parts(parts, message):
    with pytest.raises(InputError, match=message):
        bridge_outlines(parts)


def test_bridge_outlines_without_triangulation_uses_brute_force(monkeypatch):
    a = np.array([[0.0, 0], [0, 1], [1, 1], [1, 0]])
    parts = [a, np.array([[3.0, 0], [3, 0.5], [4, 0.5], [4, 0]]), a * 3 + np.array([-5, 5])]
    expected = bridge_outlines(parts).tolist()
    monkeypatch.setattr(formats, "_delaunay_pairs", lambda pts: np.zeros((0, 2), np.int64))
    assert bridge_outlines(parts).tolist() == expected


def test_yolo_many_specks_are_one_line_with_shortest_bridges():
    mask = np.zeros((300, 300), bool)
    mask[1::6, 1::6] = True
    mask |= np.roll(mask, 1, axis=0) | np.roll(mask, 1, axis=1)
    mask |= np.roll(mask, 1, axis=1)  # 2500 blobs of 2 x 3 pixels
    (line,) = masks_to_yolo(mask[None], tolerance=0).splitlines()
    filled = yolo_fill(line, mask.shape)
    assert filled[mask].all()
    # A 50 x 50 grid of blobs; 2499 shortest bridges: 49 per row across 3-pixel gaps, and
    # 49 joining the rows across 4-pixel gaps. Nothing else is added.
    assert (filled & ~mask).sum() == 50 * 49 * 3 + 49 * 4


# --- PNG and JSON --------------------------------------------------------------------------------


def test_save_mask_png_round_trip_without_temp_files(tmp_path):
    m = ring()
    path = save_mask_png(m, tmp_path / "sub" / "m.png")
    assert path == tmp_path / "sub" / "m.png"
    assert [p.name for p in path.parent.iterdir()] == ["m.png"]
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert img.dtype == np.uint8 and img.shape == (H, W)
    assert set(np.unique(img).tolist()) == {0, 255}
    np.testing.assert_array_equal(img == 255, m)


def test_failed_encode_leaves_nothing(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("encoder failed")

    monkeypatch.setattr(formats.cv2, "imencode", boom)
    with pytest.raises(RuntimeError):
        save_mask_png(ring(), tmp_path / "m.png")
    assert list(tmp_path.iterdir()) == []


def test_interrupted_write_keeps_old_file_and_leaves_no_partial(tmp_path, monkeypatch):
    dest = tmp_path / "m.png"
    save_mask_png(rect(1, 5, 1, 5), dest)
    before = dest.read_bytes()
    real_write = Path.write_bytes

    def half_then_fail(self, data):
        real_write(self, data[: len(data) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_bytes", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        save_mask_png(ring(), dest)
    monkeypatch.undo()
    assert dest.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.png"]


def test_save_mask_pngs_names_and_contents(tmp_path, segments):
    paths = save_mask_pngs(segments.masks, tmp_path / "out", prefix="seg")
    assert [p.name for p in paths] == ["seg_000.png", "seg_001.png"]
    for p, m in zip(paths, segments.masks, strict=True):
        np.testing.assert_array_equal(cv2.imread(str(p), cv2.IMREAD_UNCHANGED) > 0, m)
    assert [p.name for p in segments.save_pngs(tmp_path / "b")] == ["mask_000.png", "mask_001.png"]


@pytest.mark.parametrize("prefix", ["", "../x", "a/b", ".."])
def test_save_mask_pngs_rejects_path_like_prefix(tmp_path, prefix):
    with pytest.raises(InputError):
        save_mask_pngs(np.zeros((1, 4, 4), bool), tmp_path, prefix=prefix)


def test_png_path_must_end_with_png(tmp_path):
    with pytest.raises(InputError):
        save_mask_png(ring(), tmp_path / "m.jpg")
    assert list(tmp_path.iterdir()) == []


def test_save_label_png_depths(tmp_path):
    labels16 = np.arange(12, dtype=np.uint16).reshape(3, 4) * 1000
    back = cv2.imread(str(save_label_png(labels16, tmp_path / "a.png")), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, labels16)
    small = np.array([[0, 1], [2, 3]], dtype=np.int64)
    back = cv2.imread(str(save_label_png(small, tmp_path / "b.png")), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, small)
    with pytest.raises(InputError):
        save_label_png(np.array([[-1, 0]]), tmp_path / "c.png")
    with pytest.raises(InputError):
        save_label_png(np.zeros((2, 2), np.float32), tmp_path / "d.png")


def test_write_json(tmp_path):
    path = write_json({"a": [1, 2], "é": "ü"}, tmp_path / "x.json")
    assert json.loads(path.read_text(encoding="utf-8")) == {"a": [1, 2], "é": "ü"}
