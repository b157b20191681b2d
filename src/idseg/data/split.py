"""Split a folder dataset into train / val / test by ratio, by group, deterministically.

Whole groups are assigned (frames of one document or template never straddle splits): the
groups are shuffled with the seed, then taken largest first, each going to the split furthest
below its target size. The same dataset and seed give the same split. The result is written in
the original SAM2 ID Segmenter's layout, ``OUT/<split>/{images,masks}`` (plus ``quads`` when the
source has them), with ``OUT/dataset.json`` holding the classes, the groups and the split
assignment, both keyed by image file name (``"card_01.jpg"``, as ``idseg synth`` and the MIDV
converters write them; :mod:`idseg.data.folders` also reads groups keyed by stem).
COCO files are not carried over. The output folder is built beside ``OUT`` and renamed into
place when complete.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from idseg.data.folders import SPLIT_NAMES, FolderDataset, Sample, guess_group, open_dataset
from idseg.errors import InputError
from idseg.io.atomic import atomic_dir, atomic_write_json
from idseg.io.files import require_folder

logger = logging.getLogger(__name__)

__all__ = ["GROUP_BY", "LINKS", "assign_groups", "check_ratios", "split_dataset"]

#: How samples are grouped: ``auto`` (``dataset.json`` groups, else guessed from names, else
#: one group per file when names give too few groups), ``name`` (guessed from names only),
#: ``file`` (no grouping).
GROUP_BY: tuple[str, ...] = ("auto", "name", "file")

#: How files get into the output: copied, hard-linked or symlinked (absolute targets).
LINKS: tuple[str, ...] = ("copy", "hardlink", "symlink")


def check_ratios(ratios: Sequence[float]) -> tuple[float, float, float]:
    """Validate train / val (/ test) ratios: non-negative, train above 0, summing to 1.

    Two values mean no test split.

    Raises:
        InputError: Wrong count, a negative or non-finite value, zero train, or a sum not 1.

    Example:
        >>> check_ratios([0.8, 0.2])
        (0.8, 0.2, 0.0)
    """
    values = [float(r) for r in ratios]
    if len(values) not in (2, 3):
        raise InputError(f"ratios must be 2 or 3 numbers (train, val[, test]), got {ratios!r}")
    if not all(math.isfinite(r) and r >= 0 for r in values) or values[0] <= 0:
        raise InputError(f"ratios must be >= 0 with train > 0, got {ratios!r}")
    if not math.isclose(sum(values), 1.0, abs_tol=1e-6):
        raise InputError(f"ratios must sum to 1, got {ratios!r} (sum {sum(values):g})")
    train, val, *rest = values
    return train, val, rest[0] if rest else 0.0


def assign_groups(
    sizes: Mapping[str, int], ratios: Sequence[float], seed: int = 0
) -> dict[str, str]:
    """Assign whole groups to splits so that the split sizes approach the ratios.

    The groups are put in sorted order, shuffled with ``seed``, then taken largest first
    (ties in shuffled order); each goes to the split with the largest shortfall
    ``ratio * total - size`` among splits with a non-zero ratio.

    Args:
        sizes: Samples per group.
        ratios: Train, val and test ratios (see :func:`check_ratios`).
        seed: Seed of the shuffle.

    Returns:
        Split name (``train``, ``val`` or ``test``) per group.

    Example:
        >>> split = assign_groups({"a": 4, "b": 3, "c": 1, "d": 1, "e": 1}, (0.7, 0.2, 0.1))
        >>> sorted(split.items())
        [('a', 'train'), ('b', 'train'), ('c', 'val'), ('d', 'test'), ('e', 'val')]
    """
    wanted = check_ratios(ratios)
    names = sorted(sizes)
    order = np.random.default_rng(seed).permutation(len(names))
    shuffled = [names[i] for i in order]
    shuffled.sort(key=lambda g: -sizes[g])  # stable: ties keep the shuffled order
    total = sum(sizes.values())
    targets = [r * total for r in wanted]
    filled = [0] * len(wanted)
    open_splits = [i for i, r in enumerate(wanted) if r > 0]
    result = {}
    for group in shuffled:
        best = max(open_splits, key=lambda i: (targets[i] - filled[i], -i))
        filled[best] += sizes[group]
        result[group] = SPLIT_NAMES[best]
    return result


def split_dataset(
    src: str | Path,
    out: str | Path,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    group_by: str = "auto",
    link: str = "copy",
    *,
    force: bool = False,
    classes: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Split the dataset at ``src`` into ``out/{train,val,test}``.

    Only images with a mask are split; unpaired files are counted in the result and skipped.

    Args:
        src: A flat dataset or a split root (re-split as one pool).
        out: Output folder; it must not exist or be empty, unless ``force``.
        ratios: Train, val and test shares (test may be 0, or left out: no test folder).
        seed: Seed of the group shuffle.
        group_by: One of :data:`GROUP_BY`.
        link: One of :data:`LINKS`.
        force: Replace a non-empty ``out``.
        classes: Class names for ``dataset.json``; default the source's.

    Returns:
        A JSON-ready summary: samples and groups per split, fractions, grouping, skipped files.

    Raises:
        InputError: Bad ratios, ``group_by`` or ``link``; ``out`` not empty without ``force``,
            or overlapping ``src``; names repeated across the source's splits; a failed link.

    Example:
        >>> split_dataset("synth", "data", (0.8, 0.2), seed=1)["counts"]  # doctest: +SKIP
        {'train': 800, 'val': 200}
    """
    wanted = check_ratios(ratios)
    _check_choice(group_by, GROUP_BY, "group_by")
    _check_choice(link, LINKS, "link")
    dataset = open_dataset(src, classes)
    out_path = Path(out)
    _check_out(Path(src), out_path, force)
    if not dataset.samples:
        raise InputError(f"{src}: no image with a mask to split")
    shares = {SPLIT_NAMES[i]: r for i, r in enumerate(wanted) if r > 0}
    groups, used = _groups(dataset, group_by, len(shares))
    placed = assign_groups(Counter(groups.values()), wanted, seed)
    where = {s.name: placed[groups[s.name]] for s in dataset}
    files = {s.name: s.image_path.name for s in dataset}  # keys of dataset.json: file names
    with atomic_dir(out_path) as tmp:
        for sample in dataset:
            _place(sample, tmp / where[sample.name], link)
        meta = {
            "classes": dataset.class_names,
            "groups": {files[s.name]: groups[s.name] for s in dataset},
            "splits": {n: sorted(files[k] for k, v in where.items() if v == n) for n in shares},
            "split": {"seed": seed, "ratios": shares, "group_by": used, "source": str(src)},
        }
        atomic_write_json(tmp / "dataset.json", meta)
    return _summary(dataset, out_path, shares, where, groups) | {
        "seed": seed,
        "group_by": used,
        "link": link,
    }


def _check_choice(value: str, choices: Sequence[str], what: str) -> None:
    if value not in choices:
        raise InputError(f"{what} must be one of {', '.join(choices)}, got {value!r}")


def _check_out(src: Path, out: Path, force: bool) -> None:
    require_folder(out)
    src_abs, out_abs = src.resolve(), out.resolve()
    if src_abs == out_abs or out_abs in src_abs.parents:
        raise InputError(f"--out {out} would replace the source {src}; choose another folder")
    if src_abs in out_abs.parents:
        raise InputError(
            f"--out {out} lies inside the source {src}, so the split would land in the "
            "dataset it splits; choose a folder outside it"
        )
    if out.is_dir() and any(out.iterdir()) and not force:
        raise InputError(f"--out {out} is not empty; pass --force to replace it")


def _groups(ds: FolderDataset, group_by: str, n_splits: int) -> tuple[dict[str, str], str]:
    """Group id per sample name, and the grouping actually used."""
    seen = Counter(s.name for s in ds)
    repeated = sorted(n for n, c in seen.items() if c > 1)
    if repeated:
        raise InputError(
            f"{len(repeated)} name(s) occur in several splits of the source (e.g. "
            f"{repeated[0]!r}); a split needs unique names"
        )
    if group_by == "file":
        return {s.name: s.name for s in ds}, "file"
    if group_by == "name":
        return {s.name: guess_group(s.name) for s in ds}, "name"
    groups = {s.name: s.group for s in ds}
    if ds.explicit_groups or len(set(groups.values())) >= min(n_splits, len(ds)):
        return groups, "dataset" if ds.explicit_groups else "auto"
    logger.warning(
        "names give %d group(s) for %d split(s); splitting file by file",
        len(set(groups.values())),
        n_splits,
    )
    return {s.name: s.name for s in ds}, "file"


def _place(sample: Sample, folder: Path, link: str) -> None:
    files = [(sample.image_path, "images"), (sample.mask_path, "masks")]
    if sample.quad_path is not None:
        files.append((sample.quad_path, "quads"))
    for path, sub in files:
        dest = folder / sub / path.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            if link == "copy":
                shutil.copyfile(path, dest)
            elif link == "hardlink":
                os.link(path, dest)
            else:
                os.symlink(path.resolve(), dest)
        except OSError as exc:
            raise InputError(f"cannot {link} {path} into {folder}: {exc}") from exc


def _summary(
    ds: FolderDataset,
    out: Path,
    shares: dict[str, float],
    where: dict[str, str],
    groups: dict[str, str],
) -> dict[str, Any]:
    counts = Counter(where.values())
    n_groups = {n: len({groups[k] for k, v in where.items() if v == n}) for n in shares}
    return {
        "out": str(out),
        "samples": len(ds),
        "counts": {n: counts[n] for n in shares},
        "groups": n_groups,
        "fractions": {n: counts[n] / len(ds) for n in shares},
        "ratios": shares,
        "skipped": {
            "missing_masks": len(ds.missing_masks),
            "orphan_masks": len(ds.orphan_masks),
            "duplicates": len(ds.duplicates),
        },
    }
