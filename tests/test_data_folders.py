"""Folder datasets: opening both layouts, grouped splits, checks and previews."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from idseg.data.check import check_dataset, class_weights, read_mask
from idseg.data.folders import guess_group, open_dataset
from idseg.data.preview import (
    LEGEND_ROW_HEIGHT,
    UNKNOWN_COLOR,
    class_color,
    contact_sheet_for,
    legend_height,
)
from idseg.data.split import assign_groups, check_ratios, split_dataset
from idseg.documents.classes import CLASS_NAMES
from idseg.errors import InputError

H, W = 24, 32


def label_mask(rects=(), h=H, w=W, dtype=np.uint8):
    """A class mask: 0 everywhere, then each (value, x0, y0, x1, y1) rectangle (exclusive end)."""
    mask = np.zeros((h, w), dtype)
    for value, x0, y0, x1, y1 in rects:
        mask[y0:y1, x0:x1] = value
    return mask


def write_sample(folder: Path, name: str, mask: np.ndarray, ext: str = ".png", quad=None):
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(parents=True, exist_ok=True)
    seed = sum(name.encode())
    image = np.random.default_rng(seed).integers(0, 256, (*mask.shape, 3), dtype=np.uint8)
    assert cv2.imwrite(str(folder / "images" / f"{name}{ext}"), image)
    assert cv2.imwrite(str(folder / "masks" / f"{name}.png"), mask)
    if quad is not None:
        (folder / "quads").mkdir(exist_ok=True)
        (folder / "quads" / f"{name}.json").write_text(json.dumps({"quad": quad}))


def make_dataset(root: Path, groups: dict[str, int], explicit: bool = True, quads: bool = True):
    """A flat idseg dataset: ``frames`` images per group, named ``<group>_<frame>``."""
    names = {}
    for g, frames in groups.items():
        for i in range(frames):
            name = f"{g}_{i:03d}"
            rects = [(1, 2, 2, 30, 22), (3, 4, 16, 28, 20)]
            quad = [[2, 2], [29, 2], [29, 21], [2, 21]] if quads else None
            write_sample(root, name, label_mask(rects), ".jpg", quad)
            names[name] = f"template-{g}"
    if explicit:
        meta = {"classes": list(CLASS_NAMES), "groups": names}
        (root / "dataset.json").write_text(json.dumps(meta))
    return root


def make_wrapper(root: Path, train: int = 4, val: int = 2):
    """The original wrapper's layout: data/{train,val}/{images,masks}, names without groups."""
    for split, count in (("train", train), ("val", val)):
        for i in range(count):
            write_sample(root / "data" / split, f"{split}{i:04d}", label_mask([(1, 0, 0, 8, 8)]))
    return root


# ---------------------------------------------------------------- opening


def test_open_flat_dataset_reads_classes_groups_and_quads(tmp_path):
    make_dataset(tmp_path, {"a": 2, "b": 3})
    ds = open_dataset(tmp_path)
    assert len(ds) == 5 and ds.layout == "flat" and ds.splits == ()
    assert [s.name for s in ds] == ["a_000", "a_001", "b_000", "b_001", "b_002"]
    assert ds.classes == CLASS_NAMES and ds.explicit_groups
    assert [s.group for s in ds] == ["template-a"] * 2 + ["template-b"] * 3
    assert all(s.quad_path == tmp_path / "quads" / f"{s.name}.json" for s in ds)
    assert ds[0].mask_path == tmp_path / "masks" / "a_000.png"


def test_groups_keyed_by_file_name_or_by_stem(tmp_path):
    make_dataset(tmp_path, {"a": 2}, explicit=False)
    meta = {"groups": {"a_000.jpg": "by-file", "a_001": "by-stem"}}  # idseg's form, older form
    (tmp_path / "dataset.json").write_text(json.dumps(meta))
    ds = open_dataset(tmp_path)
    assert [s.group for s in ds] == ["by-file", "by-stem"] and ds.explicit_groups


def test_open_wrapper_layout_through_the_project_folder(tmp_path):
    make_wrapper(tmp_path)
    ds = open_dataset(tmp_path, classes=["bg", "card"])
    assert ds.root == tmp_path / "data" and ds.layout == "split"
    assert ds.splits == ("train", "val") and ds.classes == ("bg", "card")
    assert Counter(s.split for s in ds) == {"train": 4, "val": 2}
    assert len(ds.parts["val"]) == 2 and ds.parts["val"].layout == "flat"
    assert not ds.explicit_groups and ds[0].quad_path is None
    assert open_dataset(tmp_path / "data" / "val").classes == CLASS_NAMES


def test_unpaired_and_duplicate_files_are_listed(tmp_path):
    make_dataset(tmp_path, {"a": 2}, explicit=False)
    (tmp_path / "images" / "a_000.jpg").rename(tmp_path / "images" / "lonely.jpg")
    write_sample(tmp_path, "a_001", label_mask(), ".png")  # a_001.jpg and a_001.png
    ds = open_dataset(tmp_path)
    assert [s.name for s in ds] == ["a_001"]
    assert ds.missing_masks == [tmp_path / "images" / "lonely.jpg"]
    assert ds.orphan_masks == [tmp_path / "masks" / "a_000.png"]
    assert ds.duplicates == [tmp_path / "images" / "a_001.png"]


def test_not_a_dataset_and_bad_metadata_raise(tmp_path):
    with pytest.raises(InputError, match="found neither"):
        open_dataset(tmp_path)
    with pytest.raises(InputError, match="not a folder"):
        open_dataset(tmp_path / "nope")
    make_dataset(tmp_path, {"a": 1})
    (tmp_path / "dataset.json").write_text("[1, 2]")
    with pytest.raises(InputError, match="JSON object"):
        open_dataset(tmp_path)
    for bad in ('{"classes": [1, 2]}', '{"classes": 5}', '{"classes": ["bg", ""]}'):
        (tmp_path / "dataset.json").write_text(bad)
        with pytest.raises(InputError, match="class names"):
            open_dataset(tmp_path)
    (tmp_path / "dataset.json").write_text('{"classes": [{"name": "bg"}, {"name": "doc"}]}')
    assert open_dataset(tmp_path).classes == ("bg", "doc")
    (tmp_path / "dataset.json").write_text('{"groups": ["a"]}')
    with pytest.raises(InputError, match="groups"):
        open_dataset(tmp_path)


@pytest.mark.parametrize(
    ("stem", "group"),
    [
        ("01_alb_id_TS01_05", "01_alb_id"),
        ("16_deu_passport_new_KA03_30", "16_deu_passport_new"),
        ("clips_rus_internalpassport_42_000017", "rus_internalpassport"),
        ("card-0007", "card"),
        ("doc12_frame003", "doc12_frame"),
        ("000123", "000123"),
        ("scan", "scan"),
    ],
)
def test_guess_group(stem, group):
    assert guess_group(stem) == group


def test_groups_fall_back_to_names_without_dataset_json(tmp_path):
    make_dataset(tmp_path, {"x": 2, "y": 1}, explicit=False)
    assert [s.group for s in open_dataset(tmp_path)] == ["x", "x", "y"]


# ---------------------------------------------------------------- splitting


@pytest.mark.parametrize(
    "bad", [(0.8, 0.3), (0.5, 0.5, 0.1), (0.0, 0.5, 0.5), (1.2, -0.2), (1.0,), (float("nan"), 1)]
)
def test_bad_ratios_are_refused(bad):
    with pytest.raises(InputError, match="ratios"):
        check_ratios(bad)


def test_assign_groups_is_deterministic_and_near_the_ratios():
    sizes = {f"g{i:02d}": 1 + i % 4 for i in range(60)}  # 150 samples
    first = assign_groups(sizes, (0.7, 0.2, 0.1), seed=3)
    assert first == assign_groups(dict(reversed(list(sizes.items()))), (0.7, 0.2, 0.1), seed=3)
    assert first != assign_groups(sizes, (0.7, 0.2, 0.1), seed=4)
    filled = Counter()
    for group, split in first.items():
        filled[split] += sizes[group]
    for split, ratio in zip(("train", "val", "test"), (0.7, 0.2, 0.1), strict=True):
        assert abs(filled[split] - ratio * 150) <= 4  # at most one group off


def test_assign_groups_never_uses_a_zero_ratio_split():
    split = assign_groups({"a": 9, "b": 1, "c": 1}, (0.5, 0.0, 0.5))
    assert set(split.values()) == {"train", "test"}


def _listing(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_split_is_grouped_deterministic_and_written_in_the_wrapper_layout(tmp_path):
    src = make_dataset(tmp_path / "src", {f"t{i}": 2 + i % 3 for i in range(20)})  # 59 samples
    one = split_dataset(src, tmp_path / "one", (0.8, 0.1, 0.1), seed=7)
    two = split_dataset(src, tmp_path / "two", (0.8, 0.1, 0.1), seed=7)
    assert _listing(tmp_path / "one") == _listing(tmp_path / "two")
    assert (tmp_path / "one/dataset.json").read_bytes() == (
        tmp_path / "two/dataset.json"
    ).read_bytes()
    assert one["counts"] == two["counts"] and sum(one["counts"].values()) == 59
    for split, ratio in (("train", 0.8), ("val", 0.1), ("test", 0.1)):
        assert abs(one["counts"][split] - ratio * 59) <= 4
    meta = json.loads((tmp_path / "one/dataset.json").read_text())
    assert meta["classes"] == list(CLASS_NAMES) and one["group_by"] == "dataset"
    seen = {}
    for split, names in meta["splits"].items():
        for file_name in names:  # keyed by image file name, like synth and the MIDV converters
            name = file_name.removesuffix(".jpg")
            assert file_name.endswith(".jpg") and name + ".jpg" == file_name
            assert (tmp_path / "one" / split / "images" / file_name).is_file()
            assert (tmp_path / "one" / split / "masks" / f"{name}.png").is_file()
            assert (tmp_path / "one" / split / "quads" / f"{name}.json").is_file()
            assert seen.setdefault(meta["groups"][file_name], split) == split  # one per group
    assert len(seen) == 20
    reopened = open_dataset(tmp_path / "one")
    assert reopened.explicit_groups and len(reopened) == 59
    assert check_dataset(tmp_path / "one").ok


def test_split_without_test_share_and_with_links(tmp_path):
    src = make_dataset(tmp_path / "src", {f"t{i}": 2 for i in range(6)}, quads=False)
    result = split_dataset(src, tmp_path / "hard", (0.5, 0.5), link="hardlink")
    assert sorted(p.name for p in (tmp_path / "hard").iterdir()) == ["dataset.json", "train", "val"]
    assert result["counts"] == {"train": 6, "val": 6} and result["groups"] == {"train": 3, "val": 3}
    a_file = next((tmp_path / "hard/train/images").iterdir())
    assert os.path.samefile(a_file, src / "images" / a_file.name)
    split_dataset(src, tmp_path / "soft", (0.5, 0.5), link="symlink")
    b_file = next((tmp_path / "soft/val/masks").iterdir())
    assert b_file.is_symlink() and b_file.resolve() == (src / "masks" / b_file.name).resolve()


def test_split_refuses_to_overwrite_or_replace_its_source(tmp_path):
    src = make_dataset(tmp_path / "src", {"a": 2, "b": 2, "c": 2})
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    with pytest.raises(InputError, match="not empty"):
        split_dataset(src, out)
    assert (out / "keep.txt").read_text() == "old"
    split_dataset(src, out, force=True)
    assert not (out / "keep.txt").exists() and (out / "train" / "images").is_dir()
    with pytest.raises(InputError, match="replace the source"):
        split_dataset(src, src, force=True)
    with pytest.raises(InputError, match="replace the source"):
        split_dataset(src, tmp_path, force=True)
    for inside in (src / "sp", src / "images" / "sp"):  # overlapping the source either way
        with pytest.raises(InputError, match="inside the source"):
            split_dataset(src, inside, force=True)
        assert not inside.exists()
    assert sorted(p.name for p in src.iterdir()) == ["dataset.json", "images", "masks", "quads"]
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(InputError, match="must be a folder, but"):
        split_dataset(src, tmp_path / "a_file")
    with pytest.raises(InputError, match="link"):
        split_dataset(src, tmp_path / "x", link="move")
    assert not (tmp_path / "x").exists()


def test_split_falls_back_to_files_when_names_give_one_group(tmp_path):
    src = make_dataset(tmp_path / "src", {"img": 10}, explicit=False)
    result = split_dataset(src, tmp_path / "out", (0.6, 0.2, 0.2))
    assert result["group_by"] == "file"
    assert result["counts"] == {"train": 6, "val": 2, "test": 2}
    by_name = split_dataset(src, tmp_path / "named", (0.6, 0.2, 0.2), group_by="name")
    assert by_name["counts"] == {"train": 10, "val": 0, "test": 0}


def test_resplitting_a_wrapper_split_root(tmp_path):
    make_wrapper(tmp_path / "proj", train=6, val=3)
    result = split_dataset(tmp_path / "proj", tmp_path / "out", (0.6, 0.4), group_by="file")
    assert result["counts"] == {"train": 5, "val": 4}  # targets 5.4 and 3.6
    assert len(open_dataset(tmp_path / "out")) == 9


# ---------------------------------------------------------------- checking


def test_class_frequencies_and_weights_equal_a_hand_count(tmp_path):
    write_sample(tmp_path, "a", label_mask([(1, 0, 0, 5, 4), (3, 6, 6, 8, 8)], 10, 10))
    write_sample(tmp_path, "b", label_mask([(1, 0, 0, 10, 6)], 10, 10))
    report = check_dataset(tmp_path)
    assert report.ok and report.samples == 2 and report.images == 2 and report.masks == 2
    # background 76 + 40, document 20 + 60, mrz 4; total 200 pixels
    assert report.pixels == [116, 80, 0, 4, 0, 0, 0]
    assert report.present_pixels == [200, 200, 0, 100, 0, 0, 0]
    stats = report.to_dict()["classes"]
    assert [c["fraction"] for c in stats] == pytest.approx([0.58, 0.40, 0, 0.02, 0, 0, 0])
    inverse = [c["inverse_frequency_weight"] for c in stats]
    assert inverse[:2] + inverse[3:4] == pytest.approx([200 / 348, 200 / 240, 200 / 12])
    assert inverse[2] is None and inverse[4:] == [None] * 3
    median = [c["median_frequency_weight"] for c in stats]  # freqs .58 .40 .04, median .40
    assert median[:2] + median[3:4] == pytest.approx([0.40 / 0.58, 1.0, 10.0])


def test_class_weights_of_nothing():
    assert class_weights([0, 0], [0, 0]) == ([None, None], [None, None])


def test_check_finds_every_planted_problem(tmp_path):
    make_dataset(tmp_path, {"ok": 2})
    write_sample(tmp_path, "value", label_mask([(9, 0, 0, 4, 4), (200, 5, 5, 6, 6)]))
    write_sample(tmp_path, "size", label_mask(h=H + 1))
    (tmp_path / "images" / "size.png").write_bytes(
        cv2.imencode(".png", np.zeros((H, W, 3), np.uint8))[1].tobytes()
    )
    write_sample(tmp_path, "broken", label_mask())
    (tmp_path / "masks" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"junk" * 10)
    write_sample(tmp_path, "colour", label_mask())
    cv2.imwrite(str(tmp_path / "masks" / "colour.png"), np.zeros((H, W, 3), np.uint8))
    write_sample(tmp_path, "badimage", label_mask())
    (tmp_path / "images" / "badimage.png").write_bytes(b"not an image")
    write_sample(tmp_path, "badquad", label_mask(), quad=[[1, 2], [3, 4]])
    cv2.imwrite(str(tmp_path / "masks" / "orphan.png"), label_mask())
    (tmp_path / "images" / "nomask.jpg").write_bytes((tmp_path / "images/ok_000.jpg").read_bytes())

    report = check_dataset(tmp_path)
    found = {(p.kind, Path(p.path).name) for p in report.problems}
    assert found == {
        ("unknown_values", "value.png"),
        ("size_mismatch", "size.png"),
        ("unreadable_mask", "broken.png"),
        ("bad_mask_format", "colour.png"),
        ("unreadable_image", "badimage.png"),
        ("bad_quad", "badquad.json"),
        ("orphan_mask", "orphan.png"),
        ("missing_mask", "nomask.jpg"),
    }
    assert not report.ok
    for problem in report.problems:  # the path is the problem's, never repeated in its message
        assert problem.path not in problem.message, problem
    colour = next(p for p in report.problems if p.kind == "bad_mask_format")
    assert colour.message.startswith("expected a single-channel class mask")
    unknown = report.to_dict()["unknown_values"]
    assert [(u["value"], u["pixels"]) for u in unknown] == [(9, 16), (200, 1)]
    assert all(Path(f).name == "value.png" for u in unknown for f in u["files"])
    # checking carried on: the two good masks, value, size, badimage, badquad were counted
    assert report.pixels[3] == 2 * 24 * 4 and report.samples == 8
    assert report.images == 9 and report.masks == 9


def test_sixteen_bit_and_palette_masks_are_read(tmp_path):
    m16 = label_mask([(300, 0, 0, 3, 3)], dtype=np.uint16)
    assert cv2.imwrite(str(tmp_path / "m16.png"), m16)
    assert read_mask(tmp_path / "m16.png").dtype == np.uint16
    assert (read_mask(tmp_path / "m16.png") == m16).all()
    from PIL import Image

    pal = Image.fromarray(label_mask([(2, 1, 1, 4, 4)]), mode="P")
    pal.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    pal.save(tmp_path / "pal.png")
    assert (read_mask(tmp_path / "pal.png") == label_mask([(2, 1, 1, 4, 4)])).all()


def test_check_split_root_reports_each_split_and_leaked_groups(tmp_path):
    src = make_dataset(tmp_path / "src", {f"t{i}": 2 for i in range(5)})
    split_dataset(src, tmp_path / "out", (0.6, 0.4), seed=1)
    meta = json.loads((tmp_path / "out/dataset.json").read_text())
    report = check_dataset(tmp_path / "out")
    assert report.ok and set(report.splits) == {"train", "val"}
    assert report.samples == 10 == sum(r.samples for r in report.splits.values())
    # per mask: document 28 x 20 less the mrz 24 x 4, background the rest of 32 x 24
    assert report.pixels == [10 * 208, 10 * 464, 0, 10 * 96, 0, 0, 0]
    assert report.splits["val"].pixels == [n * 4 // 10 for n in report.pixels]
    # move one frame of a train group into val: an explicit group now straddles splits
    file_name = meta["splits"]["train"][0]
    name = file_name.removesuffix(".jpg")
    for sub, ext in (("images", ".jpg"), ("masks", ".png"), ("quads", ".json")):
        (tmp_path / "out/val" / sub / f"{name}{ext}").parent.mkdir(exist_ok=True)
        (tmp_path / "out/train" / sub / f"{name}{ext}").rename(
            tmp_path / "out/val" / sub / f"{name}{ext}"
        )
    leaked = check_dataset(tmp_path / "out")
    assert [(p.kind, p.path) for p in leaked.problems] == [
        ("group_in_several_splits", meta["groups"][file_name])
    ]


def test_guessed_group_leaks_are_warnings(tmp_path):
    make_wrapper(tmp_path)  # train0000.. and val0000..: names guess groups "train" and "val"
    write_sample(tmp_path / "data" / "val", "train0099", label_mask())
    report = check_dataset(tmp_path)
    assert report.ok
    assert [(w.kind, w.path) for w in report.warnings] == [("group_in_several_splits", "train")]


# ---------------------------------------------------------------- previews


def test_preview_has_the_expected_size_colours_and_legend(tmp_path):
    make_dataset(tmp_path, {"a": 3, "b": 2})
    sheet = contact_sheet_for(tmp_path, n=4, cols=3, cell=64, seed=2)
    assert sheet.shape == (2 * 64 + legend_height(6, 192), 192, 3)
    assert legend_height(6, 192) == 6 * LEGEND_ROW_HEIGHT  # one legend entry per row
    assert (sheet == contact_sheet_for(tmp_path, n=4, cols=3, cell=64, seed=2)).all()
    write_sample(tmp_path, "c_odd", label_mask([(42, 0, 0, W, H)]))
    everything = contact_sheet_for(tmp_path, n=50, cols=6, cell=64, alpha=1.0)
    assert everything.shape == (64 + legend_height(7, 384), 384, 3)  # 6 classes + unknown
    # with alpha 1 the mrz rectangle of a_000 (cell 0) is painted in the mrz colour:
    # the 32 x 24 image is scaled by 2 into its cell and centred vertically (offset 8)
    assert tuple(everything[8 + 2 * 18, 2 * 16]) == class_color(3)
    assert tuple(everything[8 + 2 * 10, 2 * 8]) == class_color(1)  # document
    assert tuple(everything[32, 5 * 64 + 30]) == UNKNOWN_COLOR  # c_odd, the last cell


def test_preview_of_an_empty_dataset_is_refused(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(InputError, match="no image"):
        contact_sheet_for(tmp_path)


def test_check_and_preview_read_multi_document_and_negative_quads(tmp_path):
    """``idseg synth`` writes {"quads": [...]} for several documents and {"quads": []} for none."""
    import json

    import cv2
    import numpy as np

    from idseg.data.check import check_dataset
    from idseg.data.preview import contact_sheet_for
    from idseg.data.quads import parse_quads

    root = tmp_path / "ds"
    for sub in ("images", "masks", "quads"):
        (root / sub).mkdir(parents=True)
    quads = {
        "a": {"quad": [[1, 1], [9, 1], [9, 6], [1, 6]]},
        "b": {
            "quads": [[[1, 1], [5, 1], [5, 4], [1, 4]], [[6, 5], [9, 5], [9, 7], [6, 7]]],
            "documents": [{"kind": "td1", "template": "t"}] * 2,
        },
        "c": {"quads": []},
    }
    for name, record in quads.items():
        cv2.imwrite(str(root / "images" / f"{name}.png"), np.zeros((8, 10, 3), np.uint8))
        cv2.imwrite(str(root / "masks" / f"{name}.png"), np.zeros((8, 10), np.uint8))
        (root / "quads" / f"{name}.json").write_text(json.dumps(record))
    report = check_dataset(root)
    assert not [p for p in report.problems if p.kind == "bad_quad"]
    assert [len(parse_quads(q)) for q in quads.values()] == [1, 2, 0]
    assert contact_sheet_for(root, n=3, cols=3, cell=32).shape[1] == 96
    (root / "quads" / "a.json").write_text(json.dumps({"quad": [[1, 1], [2, 2]]}))
    assert [p.kind for p in check_dataset(root).problems] == ["bad_quad"]
