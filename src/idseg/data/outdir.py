"""The output folder of idseg's dataset writers, and when an existing one may be replaced.

``idseg synth`` (:func:`idseg.documents.synth.dataset.generate_dataset`) and the MIDV converters
(:func:`idseg.data.midv.convert_midv`, :func:`idseg.data.midv2020.import_midv2020`) build their
dataset in a folder beside ``out`` and swap it in whole at the end (:func:`output_folder`), so
everything ``out`` held before is gone. Without ``overwrite`` (``--force``) an existing ``out``
is therefore replaced only when it is empty, or when it is an earlier idseg dataset: its
``dataset.json`` carries idseg's marker (``"generator": "idseg <version> ..."``) and it holds
nothing but :data:`DATASET_ENTRIES`. Anything else (a user's folder that happens to hold a
``dataset.json``, an idseg dataset with the user's own files beside it) is refused with a
message saying what was found.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

from idseg._version import __version__
from idseg.errors import InputError
from idseg.io.atomic import atomic_dir
from idseg.io.files import require_folder

logger = logging.getLogger(__name__)

#: Folders idseg's dataset writers create at the top of a dataset.
DATASET_FOLDERS: frozenset[str] = frozenset({"images", "masks", "quads", "polygons"})
#: Files idseg's dataset writers create at the top of a dataset.
DATASET_FILES: frozenset[str] = frozenset({"dataset.json", "coco.json"})
#: Every top-level entry of a dataset written by ``idseg synth`` or the MIDV converters.
DATASET_ENTRIES: frozenset[str] = DATASET_FOLDERS | DATASET_FILES
#: Start of the ``generator`` value in the ``dataset.json`` of every dataset idseg writes.
GENERATOR_PREFIX = "idseg "
#: The replacement policy in words, for the commands' ``--force`` help.
REPLACE_POLICY = (
    "Without --force a non-empty --out is replaced only when it is an earlier idseg dataset: "
    'its dataset.json says "generator": "idseg ..." and it holds nothing but '
    + ", ".join([*(f"{n}/" for n in sorted(DATASET_FOLDERS)), *sorted(DATASET_FILES)])
    + "; any other non-empty folder is refused."
)


def generator(tool: str | None = None) -> str:
    """The ``generator`` value idseg writes into ``dataset.json`` (its marker).

    Example:
        >>> generator("midv-convert").split()[0], generator("midv-convert").split()[-1]
        ('idseg', 'midv-convert')
    """
    return f"{GENERATOR_PREFIX}{__version__}" + (f" {tool}" if tool else "")


def _marker(path: Path) -> str | None:
    """Why ``path`` (a ``dataset.json``) is no idseg marker, or None when it is one."""
    if path.is_symlink():
        return "holds a dataset.json that is a link"
    if not path.is_file():
        return "holds no dataset.json"
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("generator")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        return "holds a dataset.json that is not an idseg dataset's (not a readable JSON object)"
    if not isinstance(value, str) or not value.startswith(GENERATOR_PREFIX):
        return (
            'holds a dataset.json without idseg\'s marker ("generator": "idseg ..."), '
            "so it was not written by idseg synth or idseg data midv convert"
        )
    return None


def foreign_content(folder: Path) -> str | None:
    """Why the non-empty ``folder`` is not an earlier idseg dataset, or None when it is one.

    An idseg dataset has a ``dataset.json`` with idseg's marker and nothing at its top but
    :data:`DATASET_ENTRIES` (folders as folders, files as files; no links).

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     _ = (Path(tmp) / "dataset.json").write_text('{"generator": "idseg 1.0"}')
        ...     (Path(tmp) / "images").mkdir()
        ...     ok = foreign_content(Path(tmp))
        ...     _ = (Path(tmp) / "notes.txt").write_text("mine")
        ...     ok, foreign_content(Path(tmp))
        (None, 'holds entries idseg does not write: notes.txt')
    """
    reason = _marker(folder / "dataset.json")
    if reason is not None:
        return reason
    foreign = []
    for entry in sorted(folder.iterdir()):
        if entry.is_symlink():
            foreign.append(f"{entry.name} (a link)")
        elif entry.name in DATASET_FOLDERS and not entry.is_dir():
            foreign.append(f"{entry.name} (not a folder)")
        elif entry.name in DATASET_FILES and not entry.is_file():
            foreign.append(f"{entry.name} (not a file)")
        elif entry.name not in DATASET_ENTRIES:
            foreign.append(entry.name + ("/" if entry.is_dir() else ""))
    if not foreign:
        return None
    more = f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
    return f"holds entries idseg does not write: {', '.join(foreign[:5])}{more}"


def _inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def check_output_folder(out: Path, inputs: Sequence[Path] = (), overwrite: bool = False) -> None:
    """Refuse an ``out`` that :func:`output_folder` must not replace; see the module docstring.

    Raises:
        InputError: ``out`` is a file, overlaps an input folder, or is a non-empty folder that
            is not an earlier idseg dataset while ``overwrite`` is off.

    Example:
        >>> check_output_folder(Path("/nonexistent/ds"))  # a new folder is always fine
    """
    out = require_folder(out)
    for src in inputs:
        if _inside(out, src) or _inside(src, out):
            raise InputError(f"the output folder {out} must lie outside the input {src}")
    if overwrite or not out.is_dir() or not any(out.iterdir()):
        return
    reason = foreign_content(out)
    if reason is not None:
        raise InputError(
            f"the output folder {out} is not empty and {reason}; without --force only an "
            "earlier idseg dataset is replaced. Choose a new or empty folder, or pass --force "
            "(overwrite=True) to replace the folder and everything in it"
        )


@contextlib.contextmanager
def output_folder(out: Path, inputs: Sequence[Path], overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder that replaces ``out`` as a whole when the block succeeds.

    ``out`` is checked first (:func:`check_output_folder`); a failed block leaves it as it was.

    Raises:
        InputError: See :func:`check_output_folder`.

    Example:
        >>> with output_folder(Path("out"), [Path("midv")]) as tmp:  # doctest: +SKIP
        ...     DatasetWriter(tmp, "midv500").finish()
    """
    check_output_folder(out, inputs, overwrite)
    if overwrite and Path(out).is_dir():
        logger.debug("replacing the output folder %s (overwrite)", out)
    with atomic_dir(out) as tmp:
        yield tmp


__all__ = [
    "DATASET_ENTRIES",
    "DATASET_FILES",
    "DATASET_FOLDERS",
    "GENERATOR_PREFIX",
    "REPLACE_POLICY",
    "check_output_folder",
    "foreign_content",
    "generator",
    "output_folder",
]
