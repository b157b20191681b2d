"""When ``idseg synth`` and the MIDV converters may replace an existing output folder.

One policy for all three writers (:mod:`idseg.data.outdir`): a new or empty folder, or an earlier
idseg dataset (``dataset.json`` with ``"generator": "idseg ..."`` and nothing but idseg's
entries) is replaced; anything else needs ``overwrite`` (``--force``), and a file is refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from idseg._version import __version__
from idseg.cli.midv import app as midv_app
from idseg.cli.synth import synth
from idseg.data.midv import convert_midv
from idseg.data.midv2020 import import_midv2020
from idseg.data.outdir import DATASET_ENTRIES, foreign_content, output_folder
from idseg.documents.synth.dataset import generate_dataset
from idseg.errors import InputError
from test_midv import INSIDE, TYPE, write_type
from test_midv2020 import doc_region, entry, write_image, write_json


def midv_tree(root: Path) -> Path:
    if not root.exists():
        write_type(root, TYPE, {"CA01_01": INSIDE})
    return root


def midv2020_tree(root: Path) -> Path:
    if not root.exists():
        quad = [[5, 5], [50, 6], [48, 30], [6, 29]]
        write_json(
            root / "photo" / "annotations" / "alb_id.json", [entry("00.jpg", [doc_region(quad)])]
        )
        write_image(root / "photo" / "images" / "alb_id" / "00.jpg")
    return root


def run_synth(out, tmp, overwrite=False):
    return generate_dataset(out, 1, 0, size=(48, 64), negatives=1.0, workers=1, overwrite=overwrite)


def run_midv(out, tmp, overwrite=False):
    return convert_midv(midv_tree(tmp / "midv500"), out, overwrite=overwrite)


def run_midv2020(out, tmp, overwrite=False):
    return import_midv2020(midv2020_tree(tmp / "midv2020"), out, overwrite=overwrite)


WRITERS = {"synth": run_synth, "midv": run_midv, "midv2020": run_midv2020}
# what each writer's images/ holds after one run into an empty folder
IMAGES = {
    "synth": ["000000.jpg"],
    "midv": [f"{TYPE}_CA01_01.tif"],
    "midv2020": ["photo_alb_id_00.jpg"],
}


def tree_of(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def user_folder(folder: Path, meta: dict) -> dict[str, bytes]:
    """The reported data loss: a user's folder that happens to hold a dataset.json."""
    (folder / "train" / "images").mkdir(parents=True)
    (folder / "train" / "images" / "precious.jpg").write_bytes(b"\xff\xd8 my only copy")
    (folder / "dataset.json").write_text(json.dumps(meta))
    return tree_of(folder)


@pytest.mark.parametrize("writer", WRITERS)
def test_a_users_folder_with_a_dataset_json_is_never_replaced(writer, tmp_path):
    out = tmp_path / "userds"
    before = user_folder(out, {"classes": ["background", "document"], "groups": {}})
    with pytest.raises(InputError) as err:
        WRITERS[writer](out, tmp_path)
    message = str(err.value)
    assert "not empty" in message and '"generator": "idseg ..."' in message
    assert "--force" in message
    assert tree_of(out) == before


@pytest.mark.parametrize("writer", WRITERS)
def test_an_idseg_dataset_with_the_users_files_beside_it_is_kept(writer, tmp_path):
    out = tmp_path / "ds"
    WRITERS[writer](out, tmp_path)
    (out / "notes.txt").write_text("mine")
    (out / "train").mkdir()
    before = tree_of(out)
    with pytest.raises(InputError, match=r"idseg does not write: notes\.txt, train/; .*--force"):
        WRITERS[writer](out, tmp_path)
    assert tree_of(out) == before


@pytest.mark.parametrize("writer", WRITERS)
def test_only_idseg_entries_but_a_foreign_dataset_json_is_kept(writer, tmp_path):
    out = tmp_path / "ds"
    (out / "images").mkdir(parents=True)
    (out / "images" / "precious.jpg").write_bytes(b"mine")
    (out / "dataset.json").write_text('{"generator": "labelme 5.0"}')
    with pytest.raises(InputError, match="without idseg's marker"):
        WRITERS[writer](out, tmp_path)
    (out / "dataset.json").write_text("not json")
    with pytest.raises(InputError, match="not a readable JSON object"):
        WRITERS[writer](out, tmp_path)
    (out / "dataset.json").unlink()
    with pytest.raises(InputError, match=r"holds no dataset\.json"):
        WRITERS[writer](out, tmp_path)
    assert tree_of(out) == {"images/precious.jpg": b"mine"}


@pytest.mark.parametrize("first", WRITERS)
@pytest.mark.parametrize("second", WRITERS)
def test_an_earlier_idseg_dataset_of_any_writer_is_replaced_whole(first, second, tmp_path):
    out = tmp_path / "ds"
    WRITERS[first](out, tmp_path)
    assert {p.name for p in out.iterdir()} <= DATASET_ENTRIES  # the constant lists all entries
    WRITERS[second](out, tmp_path)
    assert sorted(p.name for p in (out / "images").iterdir()) == IMAGES[second]
    assert {p.name for p in out.iterdir()} <= DATASET_ENTRIES


@pytest.mark.parametrize("writer", WRITERS)
def test_force_replaces_anything_and_empty_folders_need_no_force(writer, tmp_path):
    out = tmp_path / "userds"
    user_folder(out, {"classes": []})
    WRITERS[writer](out, tmp_path, overwrite=True)
    assert not (out / "train").exists()
    assert sorted(p.name for p in (out / "images").iterdir()) == IMAGES[writer]
    empty = tmp_path / "empty"
    empty.mkdir()
    WRITERS[writer](empty, tmp_path)
    assert sorted(p.name for p in (empty / "images").iterdir()) == IMAGES[writer]


@pytest.mark.parametrize("writer", WRITERS)
def test_out_naming_a_file_is_an_input_error(writer, tmp_path):
    out = tmp_path / "file.json"
    out.write_text("keep")
    for overwrite in (False, True):
        with pytest.raises(InputError, match=r"--out must be a folder, but .*file\.json is a file"):
            WRITERS[writer](out, tmp_path, overwrite=overwrite)
    assert out.read_text() == "keep"


def test_every_writer_marks_its_dataset_json(tmp_path):
    marks = {}
    for name, writer in WRITERS.items():
        writer(tmp_path / f"{name}-ds", tmp_path)
        meta = json.loads((tmp_path / f"{name}-ds" / "dataset.json").read_text())
        marks[name] = meta["generator"]
    assert marks == {
        "synth": f"idseg {__version__}",
        "midv": f"idseg {__version__} midv-convert",
        "midv2020": f"idseg {__version__} midv-convert",
    }


def test_links_and_entries_of_the_wrong_kind_are_foreign(tmp_path):
    ds = tmp_path / "ds"
    ds.mkdir()
    (ds / "dataset.json").write_text('{"generator": "idseg 0.1.0"}')
    (ds / "images").mkdir()
    assert foreign_content(ds) is None
    (ds / "coco.json").mkdir()
    elsewhere = tmp_path / "photos"
    elsewhere.mkdir()
    (ds / "masks").symlink_to(elsewhere)
    (ds / "quads").write_text("")
    reason = foreign_content(ds)
    assert reason == (
        "holds entries idseg does not write: coco.json (not a file), masks (a link), "
        "quads (not a folder)"
    )
    with pytest.raises(InputError, match="masks \\(a link\\)"), output_folder(ds, []):
        pass
    assert elsewhere.is_dir() and (ds / "masks").is_symlink()


def test_inputs_must_not_overlap_the_output(tmp_path):
    src = midv_tree(tmp_path / "midv500")
    with pytest.raises(InputError, match="outside the input"):
        convert_midv(src, src / "ds", overwrite=True)
    with pytest.raises(InputError, match="outside the input"):
        convert_midv(src, tmp_path, overwrite=True)


# --- command line -----------------------------------------------------------------------------


def synth_app() -> typer.Typer:
    app = typer.Typer()
    app.command()(synth)
    return app


def flat(result) -> str:
    return " ".join(result.output.split())


def test_synth_cli_refuses_a_users_folder_and_a_file_cleanly(tmp_path):
    out = tmp_path / "userds"
    before = user_folder(out, {"classes": []})
    args = ["--n", "1", "--size", "64x48", "--negatives", "1", "--workers", "1"]
    result = CliRunner().invoke(synth_app(), [*args, "--out", str(out)])
    assert result.exit_code == 2 and "--force" in flat(result)
    assert tree_of(out) == before
    (tmp_path / "f").write_text("keep")
    result = CliRunner().invoke(synth_app(), [*args, "--out", str(tmp_path / "f"), "--force"])
    assert result.exit_code == 2 and not isinstance(result.exception, FileExistsError)
    assert "--out must be a folder, but" in flat(result)
    assert (tmp_path / "f").read_text() == "keep"
    forced = CliRunner().invoke(synth_app(), [*args, "--out", str(out), "--force"])
    assert forced.exit_code == 0, forced.output
    assert not (out / "train").exists()


def test_force_help_states_the_policy(tmp_path):
    policy = (
        "Without --force a non-empty --out is replaced only when it is an earlier idseg dataset"
    )
    for app, args in ((synth_app(), ["--help"]), (midv_app, ["convert", "--help"])):
        result = CliRunner().invoke(app, args, env={"COLUMNS": "1000"})
        assert result.exit_code == 0
        assert policy in flat(result) and "dataset.json" in flat(result)
        assert "Replace a non-empty output folder." not in flat(result)


def test_midv_convert_cli_refuses_a_users_folder(tmp_path):
    out = tmp_path / "userds"
    before = user_folder(out, {"classes": []})
    src = midv_tree(tmp_path / "midv500")
    result = CliRunner().invoke(midv_app, ["convert", str(src), "-o", str(out)])
    assert result.exit_code == 2 and "--force" in flat(result)
    assert tree_of(out) == before
    result = CliRunner().invoke(midv_app, ["convert", str(src), "-o", str(out), "--force"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / "images").iterdir()) == IMAGES["midv"]
