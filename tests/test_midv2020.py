"""MIDV-2020 importer: VIA JSON variants in the published layout, masks against an independent
rasteriser, COCO areas, groups, and bad files reported while the batch carries on."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from idseg.data.midv2020 import import_midv2020, shape_polygon, via_entries
from idseg.documents.classes import CLASS_NAMES
from idseg.errors import InputError

HW = (40, 60)
# Upside-down document: its own top-left is the image's bottom-right corner; one corner is outside.
DOC = [[57, 36], [4, 38], [2, 3], [66, -4]]
FACE = {"name": "rect", "x": 30, "y": 10, "width": 15, "height": 18}
SURNAME = {"name": "rect", "x": 10, "y": 20, "width": 30, "height": 5}  # overlaps the face
MRZ = {"name": "polygon", "all_points_x": [8, 40, 40, 8], "all_points_y": [6, 6, 9, 9]}
MRZ_POINTS = [[8, 6], [40, 6], [40, 9], [8, 9]]


def convex_mask(poly, hw=HW):
    poly = np.asarray(poly, float)
    yy, xx = np.mgrid[0 : hw[0], 0 : hw[1]] + 0.5
    cross = []
    for i in range(len(poly)):
        (ax, ay), (bx, by) = poly[i], poly[(i + 1) % len(poly)]
        cross.append((bx - ax) * (yy - ay) - (by - ay) * (xx - ax))
    cross = np.stack(cross)
    return (cross >= 0).all(0) | (cross <= 0).all(0)


def rect(shape):
    x, y, w, h = shape["x"], shape["y"], shape["width"], shape["height"]
    return [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]


def region(name, shape):
    return {"shape_attributes": shape, "region_attributes": {"field_name": name}}


def doc_region(points):
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return region("doc_quad", {"name": "polygon", "all_points_x": xs, "all_points_y": ys})


def write_image(path: Path, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.random.default_rng(seed).integers(0, 256, (*HW, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), img)


def entry(filename, regions):
    return {"filename": filename, "size": 1234, "regions": regions, "file_attributes": {}}


def write_json(path: Path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "midv2020"
    full = [doc_region(DOC), region("face", FACE), region("surname", SURNAME)]
    full.append(region("mrz_line0", MRZ))
    project = {
        "_via_settings": {"ui": {}},
        "_via_img_metadata": {
            "00.jpg1234": entry("00.jpg", full),
            "01.jpg99": entry("01.jpg", [doc_region([[5, 5], [50, 6], [48, 30], [6, 29]])]),
        },
        "_via_attributes": {},
    }
    write_json(root / "photo" / "annotations" / "alb_id.json", project)
    for name in ("00.jpg", "01.jpg"):
        write_image(root / "photo" / "images" / "alb_id" / name)
    # A clip annotated as a plain export keyed by image, regions as a VIA 1 dict.
    clip = {
        f"{i:06d}.jpg": {
            "filename": f"{i:06d}.jpg",
            "regions": {"0": doc_region([[10, 5], [55, 5], [55, 35], [10, 35]])},
        }
        for i in (1, 2, 3)
    }
    write_json(root / "clips" / "annotations" / "esp_id" / "07.json", clip)
    for i in (1, 2, 3):
        write_image(root / "clips" / "images" / "esp_id" / "07" / f"{i:06d}.jpg", i)
    # A template: no doc_quad, the whole image is the document.
    write_json(
        root / "templates" / "annotations" / "esp_id.json",
        [entry("07.jpg", [region("photo", {"name": "circle", "cx": 20, "cy": 15, "r": 6})])],
    )
    write_image(root / "templates" / "images" / "esp_id" / "07.jpg")
    return root


def test_photo_masks_quads_and_classes(tree, tmp_path):
    report = import_midv2020(tree, tmp_path / "ds", subsets=["photo"])
    assert report.images == 2 and report.skipped == []
    mask = cv2.imread(str(tmp_path / "ds" / "masks" / "photo_alb_id_00.png"), cv2.IMREAD_UNCHANGED)
    doc = convex_mask(DOC)
    expected = doc.astype(np.uint8)
    expected[convex_mask(MRZ_POINTS) & doc] = CLASS_NAMES.index("mrz")
    expected[convex_mask(rect(SURNAME)) & doc] = CLASS_NAMES.index("text")
    expected[convex_mask(rect(FACE)) & doc] = CLASS_NAMES.index("portrait")  # portrait wins
    assert np.array_equal(mask, expected)
    quad = json.loads((tmp_path / "ds" / "quads" / "photo_alb_id_00.json").read_text())
    assert quad["quad"] == DOC  # the annotation's (document's) order, not re-sorted
    assert {f["name"]: f["class"] for f in quad["fields"]} == {
        "face": "portrait",
        "surname": "text",
        "mrz_line0": "mrz",
    }
    src = tree / "photo" / "images" / "alb_id" / "00.jpg"
    assert (tmp_path / "ds" / "images" / "photo_alb_id_00.jpg").read_bytes() == src.read_bytes()


def test_coco_areas_and_groups(tree, tmp_path):
    import_midv2020(tree, tmp_path / "ds")
    coco = COCO(str(tmp_path / "ds" / "coco.json"))
    images = {img["file_name"]: img for img in coco.loadImgs(coco.getImgIds())}
    assert len(images) == 6
    anns = coco.loadAnns(coco.getAnnIds(imgIds=[images["photo_alb_id_00.jpg"]["id"]]))
    by_name = {a.get("field_name", "document"): a for a in anns}
    doc = convex_mask(DOC)
    for name, poly in (("document", DOC), ("face", rect(FACE)), ("surname", rect(SURNAME))):
        part = convex_mask(poly) & doc
        assert by_name[name]["area"] == int(part.sum())
        assert np.array_equal(coco.annToMask(by_name[name]).astype(bool), part)
    assert by_name["face"]["category_id"] == CLASS_NAMES.index("portrait")
    groups = json.loads((tmp_path / "ds" / "dataset.json").read_text())["groups"]
    assert groups["photo_alb_id_00.jpg"] == "alb_id"
    assert groups["clips_esp_id_07_000002.jpg"] == "esp_id"
    assert groups["templates_esp_id_07.jpg"] == "esp_id"


def test_template_is_whole_image_and_group_by_document(tree, tmp_path):
    import_midv2020(tree, tmp_path / "ds", subsets=["templates", "clips"], group_by="document")
    mask = cv2.imread(str(tmp_path / "ds" / "masks" / "templates_esp_id_07.png"), 0)
    yy, xx = np.mgrid[0:40, 0:60] + 0.5
    dist = np.hypot(xx - 20, yy - 15)
    assert (mask[dist < 5.5] == CLASS_NAMES.index("portrait")).all()
    assert (mask[dist > 6.5] == 1).all()
    groups = json.loads((tmp_path / "ds" / "dataset.json").read_text())["groups"]
    assert set(groups.values()) == {"esp_id/07"}
    assert len(groups) == 4


def test_bad_files_reported_batch_carries_on(tree, tmp_path):
    write_json(tree / "photo" / "annotations" / "aze_passport.json", "{broken")
    bad = {
        "_via_img_metadata": {
            "a": entry("02.jpg", [doc_region(DOC)]),  # image missing
            "b": entry("03.jpg", [doc_region(DOC[:3])]),  # 3 corners
            "c": entry("04.jpg", [doc_region(DOC), region("face", {"name": "point", "cx": 1})]),
            "d": entry("../../../05.jpg", [doc_region(DOC)]),
            "e": entry("06.jpg", [region("face", FACE)]),  # no doc_quad
            "f": entry("07.jpg", [doc_region(DOC), {"shape_attributes": FACE}]),  # unnamed
        }
    }
    write_json(tree / "photo" / "annotations" / "est_id.json", bad)
    for name in ("03.jpg", "04.jpg", "06.jpg", "07.jpg"):
        write_image(tree / "photo" / "images" / "est_id" / name)
    write_image(tree / "05.jpg")
    report = import_midv2020(tree, tmp_path / "ds", subsets=["photo"])
    assert report.images == 2
    reasons = dict(report.skipped)
    assert "JSON" in reasons["photo/annotations/aze_passport.json"]
    est = "photo/annotations/est_id.json: "
    assert "no image 02.jpg" in reasons[est + "02.jpg"]
    assert "4 points" in reasons[est + "03.jpg"]
    assert "point" in reasons[est + "04.jpg"]
    assert "outside" in reasons[est + "../../../05.jpg"]
    assert "doc_quad" in reasons[est + "06.jpg"]
    assert "field_name" in reasons[est + "07.jpg"]
    assert len(reasons) == 7
    assert not list((tmp_path / "ds" / "images").glob("*est_id*"))


def test_via_variants_and_shapes():
    assert via_entries([{"filename": "a.jpg"}]) == [{"filename": "a.jpg"}]
    with pytest.raises(InputError, match="VIA"):
        via_entries({"a": {"regions": []}})
    ellipse = shape_polygon({"name": "ellipse", "cx": 10, "cy": 5, "rx": 4, "ry": 2, "theta": 0})
    assert np.allclose([ellipse[:, 0].min(), ellipse[:, 0].max()], [6, 14])
    with pytest.raises(InputError, match="lacks a number"):
        shape_polygon({"name": "rect", "x": 1})


def test_options_checked(tree, tmp_path):
    with pytest.raises(InputError, match="subsets"):
        import_midv2020(tree, tmp_path / "ds", subsets=["photos"])
    with pytest.raises(InputError, match="no VIA annotation"):
        import_midv2020(tree, tmp_path / "ds", types=["xxx"])
    report = import_midv2020(tree, tmp_path / "ds", subsets=["clips"], every=2)
    assert report.images == 2
