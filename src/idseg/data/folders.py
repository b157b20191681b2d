"""Folder datasets: idseg's flat layout and the SAM2 ID Segmenter's ``train``/``val`` layout.

A flat folder (``idseg synth``, the MIDV converters) holds ``images/<name>.<ext>``,
``masks/<name>.png`` (single-channel class indices), optional ``quads/<name>.json`` and
``dataset.json`` (``{"classes": [...], "groups": {image file name: group}}``). A split root
(the wrapper's ``data/{train,val}``, :mod:`idseg.data.split`'s output) holds one flat folder per
split. Masks pair with images by stem; a sample's group is its ``dataset.json`` entry (keyed by
the image's file name, as idseg writes it, or by its stem, as older splits did), else
:func:`guess_group` of its name.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from idseg.documents.classes import CLASS_NAMES
from idseg.errors import InputError
from idseg.io.files import IMAGE_EXTENSIONS

logger = logging.getLogger(__name__)

#: Split folder names, in the order they are listed and written.
SPLIT_NAMES: tuple[str, ...] = ("train", "val", "test")

__all__ = [
    "MIDV2020_TYPES",
    "SPLIT_NAMES",
    "FolderDataset",
    "Sample",
    "guess_group",
    "open_dataset",
    "read_metadata",
]


@dataclass(frozen=True)
class Sample:
    """One image with its class mask.

    Attributes:
        image_path: The image file.
        mask_path: The single-channel class mask PNG.
        group: Group id; all samples of one group land in the same split.
        quad_path: The MIDV-form quad JSON, if the dataset has one for this image.
        split: The split folder the sample was found in (``None`` in a flat dataset).

    Example:
        >>> s = Sample(Path("d/images/a_001.jpg"), Path("d/masks/a_001.png"), "a")
        >>> s.name, s.quad_path is None
        ('a_001', True)
    """

    image_path: Path
    mask_path: Path
    group: str
    quad_path: Path | None = None
    split: str | None = None

    @property
    def name(self) -> str:
        """The image's file stem, which names the sample."""
        return self.image_path.stem


@dataclass
class FolderDataset:
    """The samples of a folder dataset, with the files that did not pair up.

    Attributes:
        root: The folder that was opened.
        samples: Paired image and mask files, by split then name.
        classes: Class names by mask value.
        missing_masks: Images without a mask.
        orphan_masks: Masks without an image.
        duplicates: Files whose stem another file of the same folder already has (skipped).
        explicit_groups: Whether every sample's group came from ``dataset.json``.
        parts: The flat dataset of each split folder of a split root (empty when flat).

    Example:
        >>> ds = FolderDataset(Path("d"), [Sample(Path("a.jpg"), Path("a.png"), "a")], ("bg", "doc"))
        >>> len(ds), [s.name for s in ds], ds.layout, ds.splits
        (1, ['a'], 'flat', ())
    """

    root: Path
    samples: list[Sample]
    classes: tuple[str, ...]
    missing_masks: list[Path] = field(default_factory=list)
    orphan_masks: list[Path] = field(default_factory=list)
    duplicates: list[Path] = field(default_factory=list)
    explicit_groups: bool = False
    parts: dict[str, FolderDataset] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    def __getitem__(self, index: int) -> Sample:
        return self.samples[index]

    @property
    def class_names(self) -> list[str]:
        """The class names as a list (index = mask value)."""
        return list(self.classes)

    @property
    def layout(self) -> str:
        """``"split"`` for a split root, else ``"flat"``."""
        return "split" if self.parts else "flat"

    @property
    def splits(self) -> tuple[str, ...]:
        """The split folders of a split root, in :data:`SPLIT_NAMES` order then by name."""
        return tuple(self.parts)


def _order_splits(names: Sequence[str]) -> list[str]:
    return sorted(set(names), key=lambda n: (SPLIT_NAMES.index(n) if n in SPLIT_NAMES else 9, n))


def open_dataset(
    path: str | Path, classes: Sequence[str] | None = None, *, split_name: str | None = None
) -> FolderDataset:
    """Open a flat dataset folder or a split root (``train``/``val``/``test`` subfolders).

    A folder with neither but a ``data`` subfolder that is a split root (the original
    wrapper's project layout) is opened through ``data``.

    Args:
        path: The folder.
        classes: Class names by mask value; default ``dataset.json`` ``classes``, else
            :data:`~idseg.documents.classes.CLASS_NAMES`.
        split_name: Tag the samples of a flat folder with this split name.

    Returns:
        The dataset; unpaired and duplicate files are listed in it, not raised.

    Raises:
        InputError: Not a folder, no ``images`` folder, or an unreadable ``dataset.json``.

    Example:
        >>> open_dataset("data/train").classes[:2]  # doctest: +SKIP
        ('background', 'document')
    """
    root = Path(path)
    if not root.is_dir():
        raise InputError(f"expected a dataset folder, got {str(root)!r} (not a folder)")
    if (root / "images").is_dir():
        return _open_flat(root, classes, split_name)
    splits = _split_folders(root)
    if not splits and _split_folders(root / "data"):
        root = root / "data"
        splits = _split_folders(root)
    if not splits:
        raise InputError(
            f"expected {root}/images and {root}/masks (a flat dataset) or "
            f"{root}/<split>/images (a split root such as train/val/test); found neither"
        )
    meta = read_metadata(root)
    names = _classes(classes, meta, [read_metadata(root / s) for s in splits])
    parts = {s: _open_flat(root / s, names, s, meta.get("groups")) for s in splits}
    each = parts.values()
    return FolderDataset(
        root=root,
        samples=[s for p in each for s in p.samples],
        classes=names,
        missing_masks=[f for p in each for f in p.missing_masks],
        orphan_masks=[f for p in each for f in p.orphan_masks],
        duplicates=[f for p in each for f in p.duplicates],
        explicit_groups=all(p.explicit_groups for p in each),
        parts=parts,
    )


def _split_folders(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    found = [d.name for d in root.iterdir() if d.is_dir() and (d / "images").is_dir()]
    return _order_splits([n for n in found if not n.startswith(".")])


def read_metadata(folder: Path) -> dict[str, Any]:
    """``folder/dataset.json`` as a dict, or ``{}`` when there is none.

    Raises:
        InputError: The file is not a JSON object.

    Example:
        >>> read_metadata(Path("/nonexistent"))
        {}
    """
    path = folder / "dataset.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{path}: expected a JSON object, could not read it: {exc}") from exc
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _classes(
    given: Sequence[str] | None, meta: dict[str, Any], others: Sequence[dict[str, Any]] = ()
) -> tuple[str, ...]:
    if given is not None:
        names = [str(n).strip() for n in given]
        if not names or not all(names):
            raise InputError(f"class names must be a non-empty list of names, got {given!r}")
        return tuple(names)
    value = next((d["classes"] for d in (meta, *others) if d.get("classes")), None)
    if value is None:
        return CLASS_NAMES
    # strings, or objects with a "name" key
    listed = value if isinstance(value, list) else [None]
    found = [v.get("name") if isinstance(v, dict) else v for v in listed]
    if not all(isinstance(n, str) and n for n in found):
        raise InputError(f"dataset.json 'classes' must be a list of class names, got {value!r}")
    return tuple(str(n) for n in found)


def _listing(folder: Path, extensions: Sequence[str]) -> tuple[dict[str, Path], list[Path]]:
    """Files by stem (sorted by name), and the files whose stem was already taken."""
    by_stem: dict[str, Path] = {}
    dupes: list[Path] = []
    if not folder.is_dir():
        return by_stem, dupes
    for f in sorted(folder.iterdir()):
        if f.name.startswith(".") or not f.is_file() or f.suffix.lower() not in extensions:
            continue
        if f.stem in by_stem:
            dupes.append(f)
        else:
            by_stem[f.stem] = f
    return by_stem, dupes


def _open_flat(
    root: Path,
    classes: Sequence[str] | None,
    split: str | None,
    root_groups: Any = None,
) -> FolderDataset:
    meta = read_metadata(root)
    groups = {**_groups(root_groups), **_groups(meta.get("groups"))}
    images, dup_images = _listing(root / "images", IMAGE_EXTENSIONS)
    masks, dup_masks = _listing(root / "masks", (".png",))
    samples = []
    explicit = True
    for stem, image in images.items():
        if stem not in masks:
            continue
        group = groups.get(image.name, groups.get(stem))
        explicit = explicit and group is not None
        quad = root / "quads" / f"{stem}.json"
        samples.append(
            Sample(
                image_path=image,
                mask_path=masks[stem],
                group=group if group is not None else guess_group(stem),
                quad_path=quad if quad.is_file() else None,
                split=split,
            )
        )
    logger.debug("%s: %d samples", root, len(samples))
    return FolderDataset(
        root=root,
        samples=samples,
        classes=_classes(classes, meta),
        missing_masks=[p for s, p in images.items() if s not in masks],
        orphan_masks=[p for s, p in masks.items() if s not in images],
        duplicates=dup_images + dup_masks,
        explicit_groups=explicit and bool(samples),
    )


def _groups(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"dataset.json 'groups' must map names to group ids, got {value!r}")
    return {str(k): str(v) for k, v in value.items()}


#: MIDV-500 / MIDV-2019 frame names: ``<type>_<clip>_<frame>``, e.g. ``01_alb_id_TS01_05``.
_MIDV500 = re.compile(r"^(?P<type>\d{2}_[a-z]{3}_[a-z0-9_]+?)_[A-Z]{2}\d{2}_\d+$")

#: The ten MIDV-2020 document types (templates).
MIDV2020_TYPES: tuple[str, ...] = (
    *("alb_id", "aze_passport", "esp_id", "est_id", "fin_id", "grc_passport", "lva_passport"),
    *("rus_internalpassport", "srb_passport", "svk_id"),
)
_MIDV2020 = re.compile(r"(?:^|_)(?P<type>" + "|".join(MIDV2020_TYPES) + r")(?:_|$)")

#: A trailing frame number, with an optional separator before it.
_FRAME = re.compile(r"^(?P<base>.*?)[_\-. ]*\d+$")


def guess_group(stem: str) -> str:
    """Guess a sample's group from its file stem.

    MIDV-500 and MIDV-2019 frames (``01_alb_id_TS01_05``) group by document type
    (``01_alb_id``): every clip of a type shows the same physical document. Names holding a
    MIDV-2020 type (``clips_alb_id_00_000001``) group by that type, i.e. its template. Any
    other name loses a trailing frame number (``card_0007`` -> ``card``); a name that is only a
    number is its own group.

    Example:
        >>> guess_group("01_alb_id_TS01_05"), guess_group("photo_aze_passport_07")
        ('01_alb_id', 'aze_passport')
        >>> guess_group("card_0007"), guess_group("000123"), guess_group("scan")
        ('card', '000123', 'scan')
    """
    found = _MIDV500.match(stem)
    if found:
        return found.group("type")
    found = _MIDV2020.search(stem)
    if found:
        return found.group("type")
    found = _FRAME.match(stem)
    return found.group("base") if found and found.group("base") else stem
