"""Training sets of the document models: instance maps, edge bands, localiser and field datasets."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from idseg.data.prepare import (
    HIDDEN_MIN_VISIBLE,
    LOCALIZER_CLASSES,
    LOCALIZER_HIDDEN_CLASSES,
    fields_dataset,
    instance_map,
    localizer_dataset,
    outline_edges,
)
from idseg.documents.classes import CLASS_NAMES, KINDS
from idseg.errors import InputError


def _quad(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)


# --- instance_map -------------------------------------------------------------------------------


def test_instance_map_order_and_occlusion():
    quads = [_quad(0, 0, 6, 4), _quad(4, 2, 8, 6)]
    visible = np.ones((7, 9), bool)
    visible[1, 1] = False
    visible[3, 5] = False
    out = instance_map((7, 9), quads, visible)
    assert out[0, 0] == out[3, 2] == 1  # only the first quad
    assert out[2, 4] == out[2, 5] == out[5, 7] == 2  # the overlap belongs to the later quad
    assert out[1, 1] == out[3, 5] == 0  # occluded
    assert out[6, 0] == out[0, 8] == 0  # no quad


def test_instance_map_later_quads_on_top_and_occluded_pixels_zero():
    quads = [_quad(0, 0, 6, 4), _quad(4, 2, 8, 6)]
    visible = np.ones((7, 9), bool)
    visible[0, 0] = False  # an occluder over the first document
    visible[3, 5] = False  # ... and over the overlap
    expected = np.zeros((7, 9), np.uint8)
    expected[0:4, 0:6] = 1  # pixel centres inside [0, 6) x [0, 4)
    expected[2:6, 4:8] = 2  # the second quad lies on top
    expected[0, 0] = 0
    expected[3, 5] = 0
    np.testing.assert_array_equal(instance_map((7, 9), quads, visible), expected)


def test_instance_map_fractional_quad_covers_pixel_centres_inside():
    # Sides at x = 1.4 and 5.6 include the pixels whose centres 1.5 .. 5.5 lie inside.
    out = instance_map((6, 8), [_quad(1.4, 0.6, 5.6, 4.4)], np.ones((6, 8), bool))
    expected = np.zeros((6, 8), np.uint8)
    expected[1:4, 1:6] = 1  # row centres 1.5 .. 3.5, column centres 1.5 .. 5.5
    np.testing.assert_array_equal(out, expected)


def test_instance_map_no_quads_is_all_zero():
    assert not instance_map((5, 5), [], np.ones((5, 5), bool)).any()


# --- outline_edges ------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [1, 2, 3])
def test_outline_edges_band_width_exact_on_a_square(width: int):
    quad = np.array([[5, 5], [15, 5], [15, 15], [5, 15]], float)
    inst = instance_map((20, 20), [quad], np.ones((20, 20), bool))
    expected = inst > 0
    expected[5 + width : 15 - width, 5 + width : 15 - width] = False
    out = outline_edges((20, 20), [quad], inst, width)
    assert out.dtype == bool
    np.testing.assert_array_equal(out, expected)
    assert out.sum() == 100 - (10 - 2 * width) ** 2


def test_outline_edges_touching_documents_get_a_band_on_both_sides():
    quads = [
        np.array([[2, 2], [8, 2], [8, 12], [2, 12]], float),
        np.array([[8, 2], [14, 2], [14, 12], [8, 12]], float),
    ]
    inst = instance_map((14, 16), quads, np.ones((14, 16), bool))
    expected = inst > 0
    expected[3:11, 3:7] = False  # interior of document 1 (its column 7 touches document 2)
    expected[3:11, 9:13] = False  # interior of document 2 (its column 8 touches document 1)
    out = outline_edges((14, 16), quads, inst, 1)
    np.testing.assert_array_equal(out, expected)
    assert out[5, 7] and out[5, 8]


# --- localizer_dataset / fields_dataset ---------------------------------------------------------


@pytest.fixture(scope="module")
def doc_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from idseg.documents.synth.dataset import generate_dataset

    out = tmp_path_factory.mktemp("prep") / "ds"
    generate_dataset(
        out, 4, seed=0, size=(96, 128), docs_per_scene=(1, 2), negatives=0.0, workers=1
    )
    return out


@pytest.fixture(scope="module")
def loc_dataset(doc_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("prep_loc") / "loc"
    report = localizer_dataset(doc_dataset, out)
    assert report.images == 4 and report.skipped == []
    return out


def _read_mask(path: Path) -> np.ndarray:
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert mask is not None and mask.ndim == 2
    return mask


def test_localizer_dataset_masks_are_background_document_edge(doc_dataset: Path, loc_dataset: Path):
    masks = sorted((loc_dataset / "masks").glob("*.png"))
    assert [m.stem for m in masks] == sorted(p.stem for p in (doc_dataset / "images").iterdir())
    for path in masks:
        out = _read_mask(path)
        src = _read_mask(doc_dataset / "masks" / path.name)
        assert out.shape == src.shape
        assert set(np.unique(out).tolist()) <= {0, 1, 2}
        assert (out == 2).any(), "every document gets an edge band"
        document = (src > 0) & (src < len(CLASS_NAMES))
        assert not (out[~document] > 0).any(), "labels only where the source shows a document"
        assert (out[document] > 0).all()


def test_localizer_dataset_edge_follows_the_outline(tmp_path: Path):
    from idseg.documents.synth.dataset import generate_dataset
    from idseg.documents.synth.scene_options import SceneOptions

    src_dir = tmp_path / "single"
    generate_dataset(  # no occluders and nothing out of frame: the visible outline is the quad's
        src_dir,
        2,
        seed=1,
        size=(96, 128),
        docs_per_scene=(1, 1),
        negatives=0.0,
        workers=1,
        options=SceneOptions.plain(),
    )
    localizer_dataset(src_dir, tmp_path / "loc")
    for path in sorted((tmp_path / "loc" / "masks").glob("*.png")):
        out = _read_mask(path)
        document = (_read_mask(src_dir / "masks" / path.name) > 0).astype(np.uint8)
        # One document, band width max(2, round(0.008 * 128)) = 2: pixels next to the
        # background are edge; pixels 3 or more pixels inside are plain document.
        ones = np.ones((3, 3), np.uint8)
        rim = (document > 0) & (cv2.erode(document, ones, borderType=cv2.BORDER_REPLICATE) == 0)
        assert rim.any() and (out[rim] == 2).mean() > 0.95
        deep = cv2.erode(document, np.ones((7, 7), np.uint8), borderType=cv2.BORDER_REPLICATE)
        assert deep.any() and (out[deep > 0] == 1).all()


def test_localizer_dataset_amodal_labels_the_whole_quad_under_occluders(tmp_path: Path):
    from idseg.data.quads import read_quads
    from idseg.documents.synth.dataset import generate_dataset
    from idseg.documents.synth.scene_options import SceneOptions

    src_dir = tmp_path / "hands"
    generate_dataset(  # one document per photo, always a hand and an object on it
        src_dir,
        3,
        seed=3,
        size=(96, 128),
        docs_per_scene=(1, 1),
        negatives=0.0,
        workers=1,
        options=SceneOptions(p_hand=1.0, p_object=1.0),
    )
    localizer_dataset(src_dir, tmp_path / "amodal", amodal=True)
    localizer_dataset(src_dir, tmp_path / "modal")
    ys, xs = np.mgrid[0:96, 0:128]
    hidden_total = 0
    for path in sorted((tmp_path / "amodal" / "masks").glob("*.png")):
        out = _read_mask(path)
        modal = _read_mask(tmp_path / "modal" / "masks" / path.name)
        quad = read_quads(src_dir / "quads" / f"{path.stem}.json")[0].astype(np.float32)
        # Signed distance of each pixel centre to the quad, computed here with OpenCV.
        dist = np.array(
            [
                cv2.pointPolygonTest(quad, (x + 0.5, y + 0.5), True)
                for x, y in zip(xs.ravel(), ys.ravel(), strict=True)
            ]
        ).reshape(96, 128)
        keep = np.abs(dist) > 1.0  # away from the outline, where rounding may differ
        assert ((out > 0) == (dist > 0))[keep].all(), "document exactly inside the quad"
        assert (out[dist > 3] == 1).all(), "plain document deep inside, occluders included"
        hidden = (dist > 3) & (modal == 0)  # inside the quad but covered in the photo
        hidden_total += int(hidden.sum())
    assert hidden_total > 0, "the occluders hid part of the documents"


def _write_one_card_dataset(root: Path, seen: float) -> tuple[np.ndarray, np.ndarray]:
    """A 60 x 80 photo of one card (quad [10, 10]-[70, 48]) with a thumb on it; its mask, quad."""
    from idseg.io.writers import save_label_png

    for sub in ("images", "masks", "quads", "polygons"):
        (root / sub).mkdir(parents=True)
    mask = np.zeros((60, 80), np.uint8)
    mask[10:48, 10:70] = 1
    mask[20:30, 30:40] = 0  # a thumb covers the card there
    mask[40:60, 60:80] = 0  # and a hand its lower right corner
    quad = [[10, 10], [70, 10], [70, 48], [10, 48]]
    cv2.imwrite(str(root / "images" / "a.png"), np.full((60, 80, 3), 128, np.uint8))
    save_label_png(mask, root / "masks" / "a.png")
    (root / "quads" / "a.json").write_text(json.dumps({"quads": [quad]}))
    doc = {"kind": "td1", "quad": quad, "visible_fraction": seen, "fields": []}
    (root / "polygons" / "a.json").write_text(json.dumps({"documents": [doc]}))
    (root / "dataset.json").write_text(json.dumps({"classes": list(CLASS_NAMES)}))
    return mask, np.array(quad, float)


@pytest.mark.parametrize("seen", [0.9, 0.2])
def test_localizer_dataset_hidden_labels_what_covers_a_seen_document(tmp_path: Path, seen: float):
    mask, _ = _write_one_card_dataset(tmp_path / "src", seen)
    localizer_dataset(tmp_path / "src", tmp_path / "hid", hidden=True)
    localizer_dataset(tmp_path / "src", tmp_path / "plain")
    out = _read_mask(tmp_path / "hid" / "masks" / "a.png")
    plain = _read_mask(tmp_path / "plain" / "masks" / "a.png")
    meta = json.loads((tmp_path / "hid" / "dataset.json").read_text())
    assert meta["classes"] == list(LOCALIZER_HIDDEN_CLASSES)
    covered = np.zeros_like(mask, bool)
    covered[20:30, 30:40] = True
    covered[40:48, 60:70] = True  # the hand, inside the quad only
    if seen >= HIDDEN_MIN_VISIBLE:
        assert ((out == 3) == covered).all()
        assert (out[~covered] == plain[~covered]).all()  # the rest as without hidden
    else:  # too little of it is seen to say where it lies: nothing is labelled hidden
        assert (out == plain).all()


def test_localizer_dataset_amodal_and_hidden_exclude_each_other(tmp_path: Path):
    _write_one_card_dataset(tmp_path / "src", 1.0)
    with pytest.raises(InputError, match="one of amodal"):
        localizer_dataset(tmp_path / "src", tmp_path / "x", amodal=True, hidden=True)


def test_outline_edges_ignore_occluders_and_the_frame():
    quad = np.array([[-10, 2], [20, 2], [20, 14], [-10, 14]], float)  # leaves the frame on the left
    inst = instance_map((16, 24), [quad], np.ones((16, 24), bool))
    inst[6:10, 8:12] = 0  # a thumb on the document
    edges = outline_edges((16, 24), [quad], inst, 1)
    assert edges[2, 5] and edges[13, 5] and edges[8, 19]  # top, bottom, right outline
    assert not edges[8, 0]  # the frame's left border is no outline
    assert not edges[5:11, 7:13].any()  # no band around the thumb


def test_localizer_dataset_copies_images_groups_and_classes(doc_dataset: Path, loc_dataset: Path):
    meta = json.loads((loc_dataset / "dataset.json").read_text())
    src = json.loads((doc_dataset / "dataset.json").read_text())
    assert meta["classes"] == list(LOCALIZER_CLASSES)
    assert meta["groups"] == src["groups"]
    for image in (doc_dataset / "images").iterdir():
        assert (loc_dataset / "images" / image.name).read_bytes() == image.read_bytes()


def _kinds_of(doc_dataset: Path, stem: str) -> list[str]:
    docs = json.loads((doc_dataset / "polygons" / f"{stem}.json").read_text())["documents"]
    return [d["kind"] for d in docs]


def test_fields_dataset_writes_upright_crops_with_the_source_fields(
    doc_dataset: Path, tmp_path: Path
):
    report = fields_dataset(doc_dataset, tmp_path / "f", jitter=0.0, max_side=96, min_visible=0.0)
    crops = sorted((tmp_path / "f" / "images").glob("*.jpg"))
    assert report.images == len(crops) >= 4
    src_groups = json.loads((doc_dataset / "dataset.json").read_text())["groups"]
    groups = json.loads((tmp_path / "f" / "dataset.json").read_text())["groups"]
    assert set(groups) == {c.name for c in crops}
    for crop in crops:
        stem, d, _copy = crop.stem.rsplit("_", 2)
        assert groups[crop.name] == src_groups[f"{stem}.jpg"]
        image = cv2.imread(str(crop))
        mask = _read_mask(tmp_path / "f" / "masks" / f"{crop.stem}.png")
        assert image.shape[:2] == mask.shape and max(mask.shape) == 96
        kind = _kinds_of(doc_dataset, stem)[int(d)]
        h, w = mask.shape
        assert abs((w / h) / KINDS[kind].aspect - 1) < 0.03, (crop.name, kind, w, h)
        valid = mask != 255
        assert (mask[valid] > 0).mean() > 0.9
        src = _read_mask(doc_dataset / "masks" / f"{stem}.png")
        crop_fields = set(np.unique(mask[valid]).tolist()) - {0, 1}
        assert crop_fields <= set(np.unique(src).tolist()) - {0, 1}
    # Every field class of the (single- or double-document) sources shows up in some crop.
    all_src = set().union(
        *(set(np.unique(_read_mask(m)).tolist()) for m in (doc_dataset / "masks").glob("*.png"))
    )
    all_crops = set().union(
        *(set(np.unique(_read_mask(m)).tolist()) for m in (tmp_path / "f" / "masks").glob("*.png"))
    )
    assert (all_src - {0, 1}) <= all_crops


def test_fields_dataset_copies_and_jitter(doc_dataset: Path, tmp_path: Path):
    report = fields_dataset(doc_dataset, tmp_path / "f", copies=2, max_side=64, min_visible=0.0)
    crops = sorted((tmp_path / "f" / "images").glob("*.jpg"))
    assert report.images == len(crops) and len(crops) % 2 == 0
    assert {c.stem.rsplit("_", 1)[1] for c in crops} == {"0", "1"}


@pytest.mark.parametrize(
    "kwargs", [{"copies": 0}, {"jitter": -0.1}, {"max_side": 16}], ids=["copies", "jitter", "side"]
)
def test_fields_dataset_bad_arguments(doc_dataset: Path, tmp_path: Path, kwargs):
    with pytest.raises(InputError):
        fields_dataset(doc_dataset, tmp_path / "f", **kwargs)
    assert not (tmp_path / "f").exists()


@pytest.mark.parametrize("edge", [0.0, 0.1, -0.01])
def test_localizer_dataset_bad_edge(doc_dataset: Path, tmp_path: Path, edge: float):
    with pytest.raises(InputError, match="edge"):
        localizer_dataset(doc_dataset, tmp_path / "l", edge=edge)


def test_non_document_dataset_is_refused(tmp_path: Path):
    src = tmp_path / "cats"
    (src / "images").mkdir(parents=True)
    (src / "masks").mkdir()
    (src / "quads").mkdir()
    cv2.imwrite(str(src / "images" / "a.png"), np.zeros((8, 8, 3), np.uint8))
    cv2.imwrite(str(src / "masks" / "a.png"), np.zeros((8, 8), np.uint8))
    (src / "quads" / "a.json").write_text(json.dumps({"quad": _quad(1, 1, 6, 6).tolist()}))
    (src / "dataset.json").write_text(json.dumps({"classes": ["background", "cat"]}))
    with pytest.raises(InputError, match="document dataset"):
        localizer_dataset(src, tmp_path / "l")
    with pytest.raises(InputError, match="document dataset"):
        fields_dataset(src, tmp_path / "f")


def test_dataset_without_quads_is_refused(tmp_path: Path):
    src = tmp_path / "noquads"
    (src / "images").mkdir(parents=True)
    (src / "masks").mkdir()
    cv2.imwrite(str(src / "images" / "a.png"), np.zeros((8, 8, 3), np.uint8))
    cv2.imwrite(str(src / "masks" / "a.png"), np.zeros((8, 8), np.uint8))
    with pytest.raises(InputError, match="quad"):
        localizer_dataset(src, tmp_path / "l")


def test_cli_prepare_localizer_hidden(tmp_path: Path):
    from typer.testing import CliRunner

    from idseg.cli.data import app

    _write_one_card_dataset(tmp_path / "src", 0.9)
    args = ["prepare", "localizer", str(tmp_path / "src"), "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(app, [*args, "--hidden", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["images"] == 1
    assert int((_read_mask(tmp_path / "out" / "masks" / "a.png") == 3).sum()) == 100 + 80
    both = CliRunner().invoke(app, [*args, "--hidden", "--amodal", "--force"])
    assert both.exit_code != 0 and "one of amodal" in " ".join(both.output.split())


def _doc_offset(plain: np.ndarray, close: np.ndarray) -> tuple[int, int]:
    """Where a close-up's document pixels lie in the full photo's (the one exact match)."""
    h, w = close.shape
    hits = [
        (x0, y0)
        for y0 in range(plain.shape[0] - h + 1)
        for x0 in range(plain.shape[1] - w + 1)
        if ((plain[y0 : y0 + h, x0 : x0 + w] > 0) == (close > 0)).all()
    ]
    assert len(hits) == 1, "the close-up is one cut of the photo"
    return hits[0]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_localizer_dataset_closeups_cut_the_photo_to_its_card(tmp_path: Path, seed: int):
    _write_one_card_dataset(tmp_path / "src", 0.9)  # card [10, 10]-[70, 48] in a 60 x 80 photo
    report = localizer_dataset(tmp_path / "src", tmp_path / "out", closeups=1.0, seed=seed)
    assert report.images == 2
    meta = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert meta["groups"]["a_close.jpg"] == meta["groups"]["a.png"]  # one split group
    plain = _read_mask(tmp_path / "out" / "masks" / "a.png")
    close = _read_mask(tmp_path / "out" / "masks" / "a_close.png")
    image = cv2.imread(str(tmp_path / "out" / "images" / "a_close.jpg"))
    assert image.shape[:2] == close.shape
    h, w = close.shape
    # Each side 3 % of the card inside to 10 % outside it: 60 x 38 px card.
    assert 60 * 0.94 - 1 <= w <= min(80, 60 * 1.2 + 1) and 38 * 0.94 - 1 <= h <= 38 * 1.2 + 1
    x0, y0 = _doc_offset(plain, close)
    assert 10 - 6 - 1 <= x0 <= 10 + 1.8 + 1 and 10 - 3.8 - 1 <= y0 <= 10 + 1.14 + 1
    # The band lies along the card's own outline (2 px: 0.8 % of the cut's longer side, at
    # least 2), never along a border of the cut that crosses the card.
    rows, cols = np.nonzero(close == 2)
    xs, ys = cols + 0.5 + x0, rows + 0.5 + y0  # pixel centres in the photo
    to_outline = np.minimum.reduce([xs - 10, 70 - xs, ys - 10, 48 - ys])
    assert len(xs) and (to_outline <= 2.0).all()
    assert ((close == 1) | (close == 2)).sum() == (close > 0).sum()


def _write_cards_dataset(root: Path, n: int) -> list[np.ndarray]:
    """``n`` 120 x 160 photos (a gradient: every pixel its own colour), each with two cards.

    Card 1 (small) lies at [10, 10]-[50, 35]; card 2 (large) at [60, 30]-[150, 90]; in the
    photos with an odd number a third, larger card leaves the photo on the right.
    """
    from idseg.io.writers import save_label_png

    for sub in ("images", "masks", "quads", "polygons"):
        (root / sub).mkdir(parents=True)
    ys, xs = np.mgrid[0:120, 0:160]
    photo = np.stack([xs, ys * 2, (xs + ys) % 256], axis=-1).astype(np.uint8)
    quads = [_quad(10, 10, 50, 35), _quad(60, 30, 150, 90), _quad(100, 0, 200, 115)]
    for k in range(n):
        mine = quads[: 3 if k % 2 else 2]
        mask = np.zeros((120, 160), np.uint8)
        for q in mine:
            x0, y0 = q.min(axis=0).astype(int)
            x1, y1 = q.max(axis=0).astype(int)
            mask[y0:y1, x0:x1] = 1
        cv2.imwrite(str(root / "images" / f"p{k}.png"), photo[:, :, ::-1])
        save_label_png(mask, root / "masks" / f"p{k}.png")
        (root / "quads" / f"p{k}.json").write_text(
            json.dumps({"quads": [q.tolist() for q in mine]})
        )
        docs = [{"kind": "td1", "quad": q.tolist(), "visible_fraction": 1.0} for q in mine]
        (root / "polygons" / f"p{k}.json").write_text(json.dumps({"documents": docs}))
    (root / "dataset.json").write_text(json.dumps({"classes": list(CLASS_NAMES)}))
    return [photo]


def _boxes(root: Path, photo: np.ndarray) -> dict[str, tuple[int, int, int, int]]:
    """Each close-up's box in its photo: where its pixels match the photo's best (unique colours)."""
    out = {}
    for path in sorted((root / "images").glob("*_close.jpg")):
        cut = cv2.imread(str(path))[:, :, ::-1]
        h, w = cut.shape[:2]
        score = cv2.matchTemplate(photo, cut, cv2.TM_SQDIFF)
        x0, y0 = cv2.minMaxLoc(score)[2]
        out[path.name] = (x0, y0, x0 + w, y0 + h)
    return out


def test_localizer_dataset_closeups_follow_the_seed_and_share(tmp_path: Path):
    _write_one_card_dataset(tmp_path / "src", 0.9)
    localizer_dataset(tmp_path / "src", tmp_path / "none")
    assert sorted(p.name for p in (tmp_path / "none" / "images").iterdir()) == ["a.png"]
    photo = _write_cards_dataset(tmp_path / "many", 40)[0]
    for name, seed in (("s1", 5), ("s2", 5), ("s3", 6)):
        localizer_dataset(tmp_path / "many", tmp_path / name, closeups=0.5, seed=seed)
    same, other = _boxes(tmp_path / "s1", photo), _boxes(tmp_path / "s3", photo)
    assert same == _boxes(tmp_path / "s2", photo)  # the seed decides
    assert same != other
    assert 10 <= len(same) <= 30 and 10 <= len(other) <= 30  # about half of 40
    for name, (x0, y0, x1, y1) in same.items():
        # Around the larger card that stays in the photo ([60, 30]-[150, 90]), never the
        # largest one, which leaves the photo: 3 % inside to 10 % outside, 90 x 60 px.
        assert 60 - 9 - 1 <= x0 <= 60 + 2.7 + 1 and 30 - 6 - 1 <= y0 <= 30 + 1.8 + 1
        assert 150 - 2.7 - 1 <= x1 <= 150 + 9 + 1 and 90 - 1.8 - 1 <= y1 <= 90 + 6 + 1
        cut = cv2.imread(str(tmp_path / "s1" / "images" / name))[:, :, ::-1].astype(int)
        assert np.abs(cut - photo[y0:y1, x0:x1]).mean() < 3  # the photo's own pixels (JPEG)


def test_localizer_dataset_closeups_bad_arguments(tmp_path: Path):
    from typer.testing import CliRunner

    from idseg.cli.data import app

    _write_one_card_dataset(tmp_path / "src", 0.9)
    with pytest.raises(InputError, match="closeups"):
        localizer_dataset(tmp_path / "src", tmp_path / "bad", closeups=1.5)
    with pytest.raises(InputError, match="seed"):
        localizer_dataset(tmp_path / "src", tmp_path / "bad", closeups=0.5, seed=-1)
    args = ["prepare", "localizer", str(tmp_path / "src"), "--out", str(tmp_path / "o")]
    assert CliRunner().invoke(app, [*args, "--closeups", "0.5", "--seed", "-1"]).exit_code != 0
    localizer_dataset(tmp_path / "src", tmp_path / "once", closeups=1.0)
    with pytest.raises(InputError, match="a_close"):  # its close-up's name is taken
        localizer_dataset(tmp_path / "once", tmp_path / "twice", closeups=1.0)


def test_localizer_dataset_no_closeup_of_a_card_seen_too_little(tmp_path: Path):
    _write_one_card_dataset(tmp_path / "src", 0.5)  # under 85 % visible: not worth a close-up
    report = localizer_dataset(tmp_path / "src", tmp_path / "out", closeups=1.0)
    assert report.images == 1


def test_a_closeup_inside_the_card_has_no_band_along_its_borders(tmp_path: Path, monkeypatch):
    import idseg.data.prepare as prepare
    from idseg.io.writers import save_label_png

    monkeypatch.setattr(prepare, "CLOSEUP_MARGIN", (-0.2, -0.1))  # every side cuts the card
    src = tmp_path / "src"
    for sub in ("images", "masks", "quads", "polygons"):
        (src / sub).mkdir(parents=True)
    mask = np.zeros((200, 300), np.uint8)
    mask[20:184, 20:280] = 1
    quad = [[20, 20], [280, 20], [280, 184], [20, 184]]
    cv2.imwrite(str(src / "images" / "a.png"), np.full((200, 300, 3), 128, np.uint8))
    save_label_png(mask, src / "masks" / "a.png")
    (src / "quads" / "a.json").write_text(json.dumps({"quads": [quad]}))
    doc = {"kind": "td1", "quad": quad, "visible_fraction": 1.0, "fields": []}
    (src / "polygons" / "a.json").write_text(json.dumps({"documents": [doc]}))
    (src / "dataset.json").write_text(json.dumps({"classes": list(CLASS_NAMES)}))
    localizer_dataset(src, tmp_path / "out", closeups=1.0)
    close = _read_mask(tmp_path / "out" / "masks" / "a_close.png")
    assert (close == 1).all()  # card all over, and the card's outline is outside the cut
