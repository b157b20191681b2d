"""MIDV-500 / MIDV-2019: downloader (loopback HTTPS, no network), safe unpacking and converter.

Trees are built here in the published layout; masks are checked against an independent
rasteriser (half-plane tests at pixel centres, homographies solved with numpy).
"""

from __future__ import annotations

import hashlib
import io
import json
import stat
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from idseg.data.midv import MIDV_TYPES, convert_midv, map_regions, resolve_types
from idseg.data.midv_archive import ExtractLimits, safe_extract
from idseg.data.midv_download import download_midv, read_manifest
from idseg.documents.classes import CLASS_NAMES
from idseg.errors import DownloadError, InputError

TYPE = "01_alb_id"


# --- independent references -------------------------------------------------------------------


def convex_mask(poly, hw):
    """Pixels whose centre (c + 0.5, r + 0.5) is inside or on a convex polygon."""
    poly = np.asarray(poly, float)
    yy, xx = np.mgrid[0 : hw[0], 0 : hw[1]] + 0.5
    cross = []
    for i in range(len(poly)):
        (ax, ay), (bx, by) = poly[i], poly[(i + 1) % len(poly)]
        cross.append((bx - ax) * (yy - ay) - (by - ay) * (xx - ax))
    cross = np.stack(cross)
    return (cross >= 0).all(0) | (cross <= 0).all(0)


def homography(src, dst):
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    h = np.linalg.solve(np.array(rows, float), np.array(rhs, float))
    return np.append(h, 1).reshape(3, 3)


def apply(h, pts):
    pts = np.asarray(pts, float)
    p = np.c_[pts, np.ones(len(pts))] @ h.T
    return p[:, :2] / p[:, 2:]


# --- published-layout builders ----------------------------------------------------------------


def frame_image(hw=(40, 60), seed=0):
    return np.random.default_rng(seed).integers(0, 256, (*hw, 3), dtype=np.uint8)


def write_type(root: Path, name: str, frames: dict[str, object], template=None, hw=(40, 60)):
    """frames: 'CA01_01' -> quad (list) or raw JSON text; template: (fields dict, (h, w))."""
    folder = root / name
    for stem, quad in frames.items():
        clip = stem[:2]
        (folder / "images" / clip).mkdir(parents=True, exist_ok=True)
        (folder / "ground_truth" / clip).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / "images" / clip / f"{stem}.tif"), frame_image(hw, len(stem)))
        text = quad if isinstance(quad, str) else json.dumps({"quad": quad})
        (folder / "ground_truth" / clip / f"{stem}.json").write_text(text)
    if template is not None:
        fields, thw = template
        cv2.imwrite(str(folder / "images" / f"{name}.tif"), frame_image(thw, 7))
        (folder / "ground_truth" / f"{name}.json").write_text(json.dumps(fields))
    return folder


def zip_bytes(entries: dict[str, bytes], symlinks=()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        for name in symlinks:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


def type_zip(name=TYPE, quad=((5, 5), (50, 6), (52, 30), (4, 33))) -> bytes:
    ok, tif = cv2.imencode(".tif", frame_image())
    assert ok
    return zip_bytes(
        {
            f"{name}/images/{name}.tif": tif.tobytes(),
            f"{name}/ground_truth/{name}.json": b'{"photo": {"quad": [[1,1],[9,1],[9,9],[1,9]]}}',
            f"{name}/images/CA/CA01_01.tif": tif.tobytes(),
            f"{name}/ground_truth/CA/CA01_01.json": json.dumps({"quad": quad}).encode(),
        }
    )


# --- downloader -------------------------------------------------------------------------------


@pytest.fixture
def server(_https, monkeypatch):
    monkeypatch.delenv("IDSEG_OFFLINE", raising=False)
    for var in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    _https.reset(type_zip())
    yield _https
    _https.behaviour.release.set()


def get(server, ctx, out, **kw):
    return download_midv("midv500", out, ["alb_id"], server.url("/midv/"), ssl_context=ctx, **kw)


def failures(report, match=""):
    """``(type, error type)`` of the failed types; every message must contain ``match``."""
    assert all(match in message for _, _, message in report.failed), report.failed
    return [(name, error) for name, error, _ in report.failed]


def test_download_unpacks_published_layout_and_records_hash(server, ctx, tmp_path):
    report = get(server, ctx, tmp_path / "m")
    assert report.downloaded == [TYPE] and report.extracted == [TYPE]
    assert server.behaviour.requests == [(f"/midv/{TYPE}.zip", None)]
    folder = tmp_path / "m" / TYPE
    assert (folder / "images" / "CA" / "CA01_01.tif").is_file()
    quad = json.loads((folder / "ground_truth" / "CA" / "CA01_01.json").read_text())["quad"]
    assert quad[0] == [5, 5]
    digest = hashlib.sha256(type_zip()).hexdigest()
    assert read_manifest(tmp_path / "m") == {f"{TYPE}.zip": digest}
    assert (tmp_path / "m" / "archives" / f"{TYPE}.zip").read_bytes() == type_zip()


def test_second_run_verifies_present_archive_without_network(server, ctx, tmp_path):
    get(server, ctx, tmp_path / "m")
    server.reset(b"not used")
    report = get(server, ctx, tmp_path / "m")
    assert report.verified == [TYPE] and report.up_to_date == [TYPE]
    assert report.downloaded == [] and report.extracted == []
    assert server.behaviour.requests == []


def test_without_archives_kept_the_unpacked_folder_is_enough(server, ctx, tmp_path):
    get(server, ctx, tmp_path / "m", keep_archives=False)
    assert not (tmp_path / "m" / "archives" / f"{TYPE}.zip").exists()
    server.reset(b"not used")
    report = download_midv("midv500", tmp_path / "m", [TYPE])  # no base URL needed
    assert report.up_to_date == [TYPE] and server.behaviour.requests == []


def test_interrupted_transfer_resumes(server, ctx, tmp_path):
    payload = type_zip()
    server.behaviour.etag = '"v1"'
    server.behaviour.close_after = len(payload) // 2
    report = get(server, ctx, tmp_path / "m")
    assert failures(report) == [(TYPE, "DownloadError")] and not report.ok
    part = tmp_path / "m" / "archives" / f"{TYPE}.zip.part"
    assert part.stat().st_size == len(payload) // 2
    assert not (tmp_path / "m" / TYPE).exists()
    server.reset(payload).etag = '"v1"'
    report = get(server, ctx, tmp_path / "m")
    assert report.downloaded == [TYPE]
    assert server.behaviour.requests == [(f"/midv/{TYPE}.zip", f"bytes={len(payload) // 2}-")]
    assert (tmp_path / "m" / "archives" / f"{TYPE}.zip").read_bytes() == payload
    assert (tmp_path / "m" / TYPE / "images" / "CA" / "CA01_01.tif").is_file()


def test_wrong_given_hash_refused(server, ctx, tmp_path):
    report = get(server, ctx, tmp_path / "m", sha256={"alb_id": "0" * 64})
    assert failures(report) == [(TYPE, "HashMismatchError")]
    assert not (tmp_path / "m" / TYPE).exists()
    assert not (tmp_path / "m" / "archives" / f"{TYPE}.zip").exists()
    assert read_manifest(tmp_path / "m") == {}


def test_redownload_checked_against_recorded_hash(server, ctx, tmp_path):
    get(server, ctx, tmp_path / "m")
    (tmp_path / "m" / "archives" / f"{TYPE}.zip").unlink()
    (tmp_path / "m" / TYPE / ".idseg-archive.json").unlink()
    server.reset(type_zip(quad=((1, 1), (9, 1), (9, 9), (1, 9))))
    assert failures(get(server, ctx, tmp_path / "m")) == [(TYPE, "HashMismatchError")]


def test_changed_present_archive_refused(server, ctx, tmp_path):
    get(server, ctx, tmp_path / "m")
    (tmp_path / "m" / "archives" / f"{TYPE}.zip").write_bytes(type_zip(quad=((0, 0),) * 4))
    report = get(server, ctx, tmp_path / "m")
    assert failures(report, "delete it to download it again") == [(TYPE, "HashMismatchError")]


def test_zip_slip_refused_nothing_written(server, ctx, tmp_path):
    server.reset(zip_bytes({f"{TYPE}/ok.json": b"{}", f"{TYPE}/../../evil.txt": b"x"}))
    assert failures(get(server, ctx, tmp_path / "m"), "..") == [(TYPE, "DownloadError")]
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "m" / "evil.txt").exists()
    assert not (tmp_path / "m" / TYPE).exists()
    assert not (tmp_path / "m" / "archives" / f"{TYPE}.zip").exists()
    assert read_manifest(tmp_path / "m") == {}


def test_ftp_only_source_explained(tmp_path, monkeypatch):
    monkeypatch.delenv("IDSEG_OFFLINE", raising=False)
    with pytest.raises(DownloadError) as err:
        download_midv("midv2019", tmp_path / "m", ["alb_id"])
    text = str(err.value)
    assert "ftp://smartengines.com/midv-500/extra/midv-2019/dataset/01_alb_id.zip" in text
    assert "--base-url" in text and "--archives" in text
    with pytest.raises(DownloadError):
        download_midv("midv500", tmp_path / "m", ["1"], "ftp://smartengines.com/midv-500/dataset/")
    with pytest.raises(DownloadError):
        download_midv("midv500", tmp_path / "m", ["1"], "http://mirror.example/midv/")


def test_archives_from_a_local_folder(tmp_path):
    folder = tmp_path / "zips"
    folder.mkdir()
    (folder / f"{TYPE}.zip").write_bytes(type_zip())
    report = download_midv("midv500", tmp_path / "m", [TYPE], archive_dir=folder, offline=True)
    assert report.verified == [TYPE] and report.extracted == [TYPE]
    assert (tmp_path / "m" / TYPE / "ground_truth" / f"{TYPE}.json").is_file()
    assert (folder / f"{TYPE}.zip").is_file()
    report = download_midv("midv500", tmp_path / "m", ["2"], archive_dir=folder)
    assert failures(report, "is missing") == [("02_aut_drvlic_new", "DownloadError")]


def test_a_bad_archive_does_not_stop_the_other_types(tmp_path):
    folder = tmp_path / "zips"
    folder.mkdir()
    (folder / f"{TYPE}.zip").write_bytes(type_zip())
    unsafe = zip_bytes({"02_aut_drvlic_new/a.json": b"{}", "02_aut_drvlic_new/../../x": b"x"})
    (folder / "02_aut_drvlic_new.zip").write_bytes(unsafe)
    (folder / "05_aze_passport.zip").write_bytes(type_zip("05_aze_passport"))
    out = tmp_path / "m"
    report = download_midv("midv500", out, ["1", "2", "5", "6"], archive_dir=folder)
    assert report.verified == [TYPE, "02_aut_drvlic_new", "05_aze_passport"]
    assert report.extracted == [TYPE, "05_aze_passport"]
    assert failures(report) == [
        ("02_aut_drvlic_new", "DownloadError"),
        ("06_bra_passport", "DownloadError"),
    ]
    assert ".." in report.failed[0][2]
    assert "06_bra_passport.zip" in report.failed[1][2]
    assert (out / "05_aze_passport" / "images" / "CA" / "CA01_01.tif").is_file()
    assert not (out / "02_aut_drvlic_new").exists() and not (tmp_path / "x").exists()
    assert sorted(read_manifest(out)) == [f"{TYPE}.zip", "05_aze_passport.zip"]
    assert report.succeeded == [TYPE, "05_aze_passport"]
    summary = report.to_dict()
    assert not summary["ok"] and summary["failed"][0]["type"] == "02_aut_drvlic_new"
    assert summary["succeeded"] == [TYPE, "05_aze_passport"]


def test_refused_sources_create_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("IDSEG_OFFLINE", raising=False)
    out = tmp_path / "new" / "m"
    for url in ("ftp://smartengines.com/midv-500/dataset/", "http://mirror.example/midv/", None):
        with pytest.raises(DownloadError):
            download_midv("midv500", out, ["1"], url)
        assert not (tmp_path / "new").exists()
    with pytest.raises(InputError, match="--archives must be a folder"):
        download_midv("midv500", out, ["1"], archive_dir=tmp_path / "no-such-folder")
    assert not (tmp_path / "new").exists()
    (tmp_path / "file").write_text("mine")
    with pytest.raises(InputError, match="--out must be a folder, but"):
        download_midv("midv500", tmp_path / "file", ["1"], "https://mirror.example/midv/")
    assert (tmp_path / "file").read_text() == "mine"


def test_hash_mismatch_advice_depends_on_where_the_archive_came_from(tmp_path):
    folder = tmp_path / "zips"
    folder.mkdir()
    (folder / f"{TYPE}.zip").write_bytes(type_zip())
    download_midv("midv500", tmp_path / "m", [TYPE], archive_dir=folder)  # records its hash
    changed = type_zip(quad=((0, 0),) * 4)
    (folder / f"{TYPE}.zip").write_bytes(changed)
    report = download_midv("midv500", tmp_path / "m", [TYPE], archive_dir=folder)
    assert failures(report) == [(TYPE, "HashMismatchError")]
    message = report.failed[0][2]
    digest = hashlib.sha256(changed).hexdigest()
    assert "delete it" not in message and "download it again" not in message
    assert f"--sha256 {TYPE}={digest}" in message and str(folder) in message
    trusted = download_midv(
        "midv500", tmp_path / "m", [TYPE], sha256={TYPE: digest}, archive_dir=folder
    )
    assert trusted.ok and trusted.extracted == [TYPE]


@pytest.mark.parametrize(
    ("entries", "symlinks", "limits", "match"),
    [
        ({"/etc/x": b"1"}, (), None, "absolute"),
        ({f"{TYPE}/a": b"1"}, (f"{TYPE}/link",), None, "link"),
        ({"other/a": b"1"}, (), None, "outside"),
        ({f"{TYPE}/big": b"\0" * (3 << 20)}, (), ExtractLimits(max_ratio=50), "compressed"),
        ({f"{TYPE}/a": b"12345"}, (), ExtractLimits(max_total_bytes=4), "more than"),
        ({f"{TYPE}/a": b"1", f"{TYPE}/b": b"2"}, (), ExtractLimits(max_members=1), "members"),
    ],
)
def test_unsafe_archives_refused(tmp_path, entries, symlinks, limits, match):
    archive = tmp_path / f"{TYPE}.zip"
    archive.write_bytes(zip_bytes(entries, symlinks))
    dest = tmp_path / "out" / TYPE
    dest.mkdir(parents=True)
    (dest / "old.txt").write_text("kept")
    with pytest.raises(DownloadError, match=match):
        safe_extract(archive, dest, TYPE, limits)
    assert [p.name for p in dest.iterdir()] == ["old.txt"]


def test_not_a_zip_refused(tmp_path):
    (tmp_path / "a.zip").write_bytes(b"no zip here")
    with pytest.raises(DownloadError, match="not a readable zip"):
        safe_extract(tmp_path / "a.zip", tmp_path / "out", TYPE)


def test_resolve_types():
    assert len(MIDV_TYPES) == 50 and MIDV_TYPES[-1] == "50_xpo_id"
    assert resolve_types(["43", "tur_id", "43_tur_id"]) == ["43_tur_id"]
    with pytest.raises(InputError, match="alb_id"):
        resolve_types(["alb_idd"])


# --- converter --------------------------------------------------------------------------------

INSIDE = [[6, 4], [50, 7], [47, 33], [9, 30]]
OUTSIDE = [[-10.5, -6], [70, 3], [55, 52], [2, 36.5]]  # corners beyond the 60 x 40 frame


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "midv500"
    write_type(root, TYPE, {"CA01_01": INSIDE, "CA01_02": OUTSIDE, "TS01_01": INSIDE})
    write_type(root, "02_aut_drvlic_new", {"HA02_01": OUTSIDE})
    return root


def read_mask(path):
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert mask is not None and mask.dtype == np.uint8 and mask.ndim == 2
    return mask


def test_convert_masks_quads_images_groups(tree, tmp_path):
    out = tmp_path / "ds"
    report = convert_midv(tree, out)
    assert report.images == 4 and report.skipped == []
    expected = {
        f"{TYPE}_CA01_01": INSIDE,
        f"{TYPE}_CA01_02": OUTSIDE,
        f"{TYPE}_TS01_01": INSIDE,
        "02_aut_drvlic_new_HA02_01": OUTSIDE,
    }
    for stem, quad in expected.items():
        mask = read_mask(out / "masks" / f"{stem}.png")
        assert mask.shape == (40, 60)
        assert np.array_equal(mask, convex_mask(quad, (40, 60)).astype(np.uint8))
        record = json.loads((out / "quads" / f"{stem}.json").read_text())
        assert record == {"quad": quad}
        assert [type(v) for p in record["quad"] for v in p] == [type(v) for p in quad for v in p]
    src = tree / TYPE / "images" / "CA" / "CA01_02.tif"
    assert (out / "images" / f"{TYPE}_CA01_02.tif").read_bytes() == src.read_bytes()
    dataset = json.loads((out / "dataset.json").read_text())
    assert dataset["classes"] == list(CLASS_NAMES) and dataset["source"] == "midv500"
    assert dataset["groups"] == {
        f"{TYPE}_CA01_01.tif": TYPE,
        f"{TYPE}_CA01_02.tif": TYPE,
        f"{TYPE}_TS01_01.tif": TYPE,
        "02_aut_drvlic_new_HA02_01.tif": "02_aut_drvlic_new",
    }


def test_outside_corners_clipped_exactly():
    # The frame is fully covered except the corner triangles the quad leaves out.
    mask = convex_mask(OUTSIDE, (40, 60))
    assert mask[0, 0] and not mask[39, 0] and not mask[0, 59] and mask[39, 40]


def test_coco_loads_with_exact_areas(tree, tmp_path):
    convert_midv(tree, tmp_path / "ds")
    coco = COCO(str(tmp_path / "ds" / "coco.json"))
    cats = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
    assert cats == {i: name for i, name in enumerate(CLASS_NAMES) if i > 0}
    quads = {f"{TYPE}_CA01_01.tif": INSIDE, f"{TYPE}_CA01_02.tif": OUTSIDE}
    for img in coco.loadImgs(coco.getImgIds()):
        if img["file_name"] not in quads:
            continue
        expected = convex_mask(quads[img["file_name"]], (40, 60))
        (ann,) = coco.loadAnns(coco.getAnnIds(imgIds=[img["id"]]))
        assert ann["category_id"] == 1 and ann["area"] == int(expected.sum())
        assert np.array_equal(coco.annToMask(ann).astype(bool), expected)
        ys, xs = np.nonzero(expected)
        assert ann["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]


def test_bad_files_reported_and_skipped(tree, tmp_path):
    write_type(tree, "03_aut_id_old", {"CA03_01": "{not json", "CA03_02": [[1, 2], [3, 4]]})
    write_type(tree, "03_aut_id_old", {"CA03_03": {"quad": 1}, "CA03_04": INSIDE})
    (tree / "03_aut_id_old" / "images" / "CA" / "CA03_04.tif").unlink()
    write_type(tree, "03_aut_id_old", {"KA03_01": INSIDE})
    (tree / "03_aut_id_old" / "images" / "KA" / "KA03_01.tif").write_bytes(b"broken")
    report = convert_midv(tree, tmp_path / "ds")
    assert report.images == 4
    skipped = dict(report.skipped)
    assert set(skipped) == {
        f"03_aut_id_old/ground_truth/{s[:2]}/{s}.json"
        for s in ("CA03_01", "CA03_02", "CA03_03", "CA03_04", "KA03_01")
    }
    assert "JSON" in skipped["03_aut_id_old/ground_truth/CA/CA03_01.json"]
    assert "must be 4 finite (x, y) points" in skipped["03_aut_id_old/ground_truth/CA/CA03_02.json"]
    assert "quad" in skipped["03_aut_id_old/ground_truth/CA/CA03_03.json"]
    assert "CA03_04.tif" in skipped["03_aut_id_old/ground_truth/CA/CA03_04.json"]
    listed = json.loads((tmp_path / "ds" / "dataset.json").read_text())["skipped"]
    assert {s["path"] for s in listed} == set(skipped)
    assert not list((tmp_path / "ds" / "images").glob("03_*"))


def test_template_fields_mapped_through_homography(tmp_path):
    fields = {
        "photo": {"quad": [[10, 10], [60, 10], [60, 80], [10, 80]], "value": ""},
        "surname": {"quad": [[80, 20], [180, 20], [180, 35], [80, 35]], "value": "X"},
        "signature": {"quad": [[80, 60], [150, 60], [150, 90], [80, 90]]},
    }
    quad = [[8, 6], [55, 9], [52, 35], [5, 31]]
    root = tmp_path / "midv"
    write_type(root, TYPE, {"CA01_01": quad}, template=(fields, (100, 200)))
    report = convert_midv(root, tmp_path / "ds", fields=True)
    assert report.images == 1 and report.skipped == []
    h = homography([[0, 0], [200, 0], [200, 100], [0, 100]], quad)
    doc = convex_mask(quad, (40, 60))
    expected = doc.astype(np.uint8)
    parts = {}
    for name, cls in (("surname", "text"), ("signature", "signature"), ("photo", "portrait")):
        part = convex_mask(apply(h, fields[name]["quad"]), (40, 60)) & doc
        expected[part] = CLASS_NAMES.index(cls)
        parts[name] = part
    mask = read_mask(tmp_path / "ds" / "masks" / f"{TYPE}_CA01_01.png")
    assert np.array_equal(mask, expected)
    assert {int(v) for v in np.unique(mask)} == {0, 1, 2, 4, 5}
    coco = COCO(str(tmp_path / "ds" / "coco.json"))
    anns = {a.get("field_name", "document"): a for a in coco.loadAnns(coco.getAnnIds())}
    assert anns["photo"]["category_id"] == CLASS_NAMES.index("portrait")
    for name, part in parts.items():
        assert anns[name]["area"] == int(part.sum())
        assert np.array_equal(coco.annToMask(anns[name]).astype(bool), part)
    record = json.loads((tmp_path / "ds" / "quads" / f"{TYPE}_CA01_01.json").read_text())
    assert record["quad"] == quad
    assert {f["name"]: f["class"] for f in record["fields"]} == {
        "photo": "portrait",
        "surname": "text",
        "signature": "signature",
    }


def test_map_regions_matches_numpy_homography():
    from idseg.data.convert_geometry import Region

    quad = np.array([[3.5, 2.0], [90.0, 11.0], [80.0, 70.0], [-4.0, 50.0]])
    poly = np.array([[10.0, 5.0], [40.0, 5.0], [40.0, 25.0], [10.0, 25.0]])
    (mapped,) = map_regions([Region("x", "text", poly)], (50, 100), quad)
    h = homography([[0, 0], [100, 0], [100, 50], [0, 50]], quad)
    assert np.allclose(mapped.polygon, apply(h, poly), atol=1e-3)


def test_every_nth_frame_png_and_type_filter(tree, tmp_path):
    write_type(tree, TYPE, {"CA01_03": INSIDE})
    report = convert_midv(tree, tmp_path / "ds", every=2, image_format="png", types=["1"])
    names = sorted(p.name for p in (tmp_path / "ds" / "images").iterdir())
    assert names == [f"{TYPE}_CA01_01.png", f"{TYPE}_CA01_03.png", f"{TYPE}_TS01_01.png"]
    assert report.images == 3
    png = cv2.imread(str(tmp_path / "ds" / "images" / f"{TYPE}_CA01_01.png"))
    src = cv2.imread(str(tree / TYPE / "images" / "CA" / "CA01_01.tif"))
    assert np.array_equal(png, src)


def test_output_folder_guards(tree, tmp_path):
    with pytest.raises(InputError, match="outside"):
        convert_midv(tree, tree / "ds")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("keep")
    with pytest.raises(InputError, match="not empty"):
        convert_midv(tree, busy)
    assert (busy / "mine.txt").read_text() == "keep"
    convert_midv(tree, tmp_path / "ds")
    convert_midv(tree, tmp_path / "ds", types=["2"])  # an earlier dataset is replaced whole
    assert len(list((tmp_path / "ds" / "images").iterdir())) == 1
    with pytest.raises(InputError, match="no MIDV type folder"):
        convert_midv(tmp_path / "busy", tmp_path / "ds2")


# --- command line -----------------------------------------------------------------------------


def test_cli_download_and_convert(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from idseg.cli.midv import app

    monkeypatch.delenv("IDSEG_OFFLINE", raising=False)
    runner = CliRunner()
    result = runner.invoke(app, ["download", "midv500", "-o", str(tmp_path / "m"), "--types", "1"])
    assert result.exit_code == 2 and "FTP" in result.output
    (tmp_path / "zips").mkdir()
    (tmp_path / "zips" / f"{TYPE}.zip").write_bytes(type_zip())
    args = ["download", "midv500", "-o", str(tmp_path / "m"), "--types", "alb_id", "--json"]
    result = runner.invoke(app, [*args, "--archives", str(tmp_path / "zips")])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["extracted"] == [TYPE]
    result = runner.invoke(app, ["convert", str(tmp_path / "m"), "-o", str(tmp_path / "ds")])
    assert result.exit_code == 0, result.output
    assert "midv500: 1 images" in result.output
    assert (tmp_path / "ds" / "masks" / f"{TYPE}_CA01_01.png").is_file()
    result = runner.invoke(app, ["convert", str(tmp_path / "zips"), "-o", str(tmp_path / "x")])
    assert result.exit_code == 2


def test_cli_download_reports_failures_and_exits_1(tmp_path):
    from typer.testing import CliRunner

    from idseg.cli.midv import app

    (tmp_path / "zips").mkdir()
    (tmp_path / "zips" / f"{TYPE}.zip").write_bytes(type_zip())
    (tmp_path / "zips" / "05_aze_passport.zip").write_bytes(type_zip("05_aze_passport"))
    args = ["download", "midv500", "-o", str(tmp_path / "m"), "--types", "1,2,5"]
    args += ["--archives", str(tmp_path / "zips")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    flat = " ".join(result.output.split())
    assert "extracted: 2 (01_alb_id, 05_aze_passport)" in flat
    assert "failed: 02_aut_drvlic_new: DownloadError" in flat
    assert "1 type(s) failed, 2 succeeded (01_alb_id, 05_aze_passport)" in flat
    as_json = CliRunner().invoke(app, [*args, "--json"])
    assert as_json.exit_code == 1
    summary = json.loads(as_json.stdout)
    assert summary["up_to_date"] == [TYPE, "05_aze_passport"] and not summary["ok"]
    assert [f["type"] for f in summary["failed"]] == ["02_aut_drvlic_new"]


def test_cli_out_naming_a_file_is_a_clean_error(tmp_path, tree):
    from typer.testing import CliRunner

    from idseg.cli.midv import app

    mine = tmp_path / "mine.txt"
    mine.write_text("keep")
    for args in (
        ["download", "midv500", "-o", str(mine), "--types", "1", "--archives", str(tmp_path)],
        ["convert", str(tree), "-o", str(mine)],
    ):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, result.output
        assert "--out must be a folder, but" in " ".join(result.output.split())
        assert not isinstance(result.exception, FileExistsError)
        assert mine.read_text() == "keep"
