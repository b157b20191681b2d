"""Check a folder dataset before training, and count its class pixels.

:func:`check_dataset` reads every mask (a single-channel 8 or 16-bit PNG with values within the
class list), reads every image header (its size must equal the mask's), lists unpaired and
duplicate files and unreadable quads, and counts the pixels of each class, which give the class
frequencies and weights. A bad file is reported and the check carries on. A split root is
checked per split; its report sums the splits and flags groups found in several splits.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from idseg.data.folders import FolderDataset, Sample, open_dataset
from idseg.errors import (
    CorruptImageError,
    ImageError,
    ImageTooLargeError,
    InputError,
    UnsupportedFormatError,
)
from idseg.io.images import image_size, max_pixels_from_env

logger = logging.getLogger(__name__)

__all__ = ["CheckReport", "Problem", "check_dataset", "class_weights", "read_mask"]

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def read_mask(path: str | Path) -> np.ndarray:
    """Read a class mask PNG as a 2-D ``uint8`` or ``uint16`` array of class values.

    Grey (8 or 16-bit), bilevel and palette PNGs are single-channel: a palette PNG gives its
    indices. The pixel limit of :func:`idseg.io.images.load_image` applies.

    Raises:
        UnsupportedFormatError: Not a PNG, or more than one channel (grey + alpha, RGB, RGBA).
        ImageTooLargeError: More pixels than the limit.
        CorruptImageError: Truncated or undecodable data.
        ImageError: The file cannot be opened.

    Example:
        >>> read_mask("data/train/masks/card_001.png").dtype  # doctest: +SKIP
        dtype('uint8')
    """
    try:
        with open(path, "rb") as fp:
            if fp.read(8) != _PNG_MAGIC:
                raise UnsupportedFormatError(f"{path}: expected a PNG mask, the data is not PNG")
            fp.seek(0)
            with Image.open(fp, formats=["PNG"]) as img:
                limit = max_pixels_from_env()
                if limit is not None and img.width * img.height > limit:
                    raise ImageTooLargeError(
                        f"{path}: {img.width} x {img.height} pixels, over the limit of {limit}"
                    )
                img.load()
                return _mask_values(img, path)
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        raise ImageError(f"{path}: cannot open the mask: {exc}") from exc
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise CorruptImageError(f"{path}: cannot decode the mask: {exc}") from exc


def _mask_values(img: Image.Image, path: str | Path) -> np.ndarray:
    if img.mode in ("L", "P"):
        return np.asarray(img, dtype=np.uint8)
    if img.mode == "1":
        return np.asarray(img).astype(np.uint8)
    if img.mode.startswith("I;16") or img.mode == "I":
        arr = np.asarray(img)
        if arr.size and (int(arr.min()) < 0 or int(arr.max()) > 65535):
            raise UnsupportedFormatError(f"{path}: expected 8 or 16-bit mask values")
        return arr.astype(np.uint16)
    raise UnsupportedFormatError(
        f"{path}: expected a single-channel class mask (8 or 16-bit grey or palette), "
        f"got PNG mode {img.mode} with {len(img.getbands())} channels"
    )


def class_weights(
    pixels: Sequence[int], present_pixels: Sequence[int]
) -> tuple[list[float | None], list[float | None]]:
    """Inverse-frequency and median-frequency class weights from pixel counts.

    With ``n_c`` the pixels of class ``c``, ``N`` their sum and ``K`` the classes that occur:
    inverse frequency ``N / (K * n_c)`` (weights whose pixel-weighted mean is 1); median
    frequency (Eigen and Fergus) ``median(f) / f_c`` with ``f_c = n_c / P_c`` and ``P_c`` the
    pixels of the masks where ``c`` occurs. Classes that never occur get ``None``.

    Example:
        >>> class_weights([300, 100, 0], [400, 200, 0])
        ([0.6666666666666666, 2.0, None], [0.8333333333333334, 1.25, None])
    """
    total = sum(pixels)
    present = [i for i, n in enumerate(pixels) if n > 0]
    inverse: list[float | None] = [None] * len(pixels)
    median: list[float | None] = [None] * len(pixels)
    if not present:
        return inverse, median
    freq = {i: pixels[i] / present_pixels[i] for i in present}
    mid = float(np.median(list(freq.values())))
    for i in present:
        inverse[i] = total / (len(present) * pixels[i])
        median[i] = mid / freq[i]
    return inverse, median


@dataclass(frozen=True)
class Problem:
    """One finding: what kind, which file, and a message saying what was expected.

    Example:
        >>> Problem("orphan_mask", "d/masks/x.png", "a mask without an image").kind
        'orphan_mask'
    """

    kind: str
    path: str
    message: str


@dataclass
class CheckReport:
    """What :func:`check_dataset` found.

    Attributes:
        path: The dataset folder.
        classes: Class names by mask value.
        images: Image files found; ``masks``: mask files; ``samples``: pairs checked.
        problems: Findings that make the dataset unfit (the CLI exits with 1).
        warnings: Findings worth a look that do not fail the check.
        pixels: Pixels of each class over all readable masks.
        present_pixels: Pixels of the masks in which each class occurs.
        unknown: Values outside the class list: value -> (pixels, mask files).
        splits: The report of each split of a split root.

    Example:
        >>> r = CheckReport("d", ["bg", "doc"], pixels=[30, 10], present_pixels=[40, 40])
        >>> r.ok, r.fractions
        (True, [0.75, 0.25])
    """

    path: str
    classes: list[str]
    images: int = 0
    masks: int = 0
    samples: int = 0
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    pixels: list[int] = field(default_factory=list)
    present_pixels: list[int] = field(default_factory=list)
    unknown: dict[int, tuple[int, list[str]]] = field(default_factory=dict)
    splits: dict[str, CheckReport] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """No problem was found."""
        return not self.problems

    @property
    def fractions(self) -> list[float]:
        """Each class's share of the pixels with a known class."""
        total = sum(self.pixels)
        return [n / total if total else 0.0 for n in self.pixels]

    def add(self, other: CheckReport) -> None:
        """Add the counts and findings of ``other`` (one split) to this report."""
        self.images += other.images
        self.masks += other.masks
        self.samples += other.samples
        self.problems += other.problems
        self.warnings += other.warnings
        self.pixels = [a + b for a, b in zip(self.pixels, other.pixels, strict=True)]
        self.present_pixels = [
            a + b for a, b in zip(self.present_pixels, other.present_pixels, strict=True)
        ]
        for value, (count, files) in other.unknown.items():
            old = self.unknown.get(value, (0, []))
            self.unknown[value] = (old[0] + count, old[1] + files)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (the CLI's ``--json`` output)."""
        inverse, median = class_weights(self.pixels, self.present_pixels)
        stats = [
            {"index": i, "name": name, "pixels": n, "fraction": f}
            | {"inverse_frequency_weight": w, "median_frequency_weight": m}
            for i, (name, n, f, w, m) in enumerate(
                zip(self.classes, self.pixels, self.fractions, inverse, median, strict=True)
            )
        ]
        return {
            "path": self.path,
            "ok": self.ok,
            "images": self.images,
            "masks": self.masks,
            "samples": self.samples,
            "classes": stats,
            "unknown_values": [
                {"value": v, "pixels": n, "files": files}
                for v, (n, files) in sorted(self.unknown.items())
            ],
            "problems": [vars(p) for p in self.problems],
            "warnings": [vars(p) for p in self.warnings],
            "splits": {name: r.to_dict() for name, r in self.splits.items()},
        }


def check_dataset(path: str | Path, classes: Sequence[str] | None = None) -> CheckReport:
    """Check a flat dataset or a split root; see the module docstring for what is checked.

    Args:
        path: The dataset folder (see :func:`idseg.data.folders.open_dataset`).
        classes: Class names by mask value; default from ``dataset.json`` or the idseg classes.

    Returns:
        The report; ``report.ok`` is ``False`` when any problem was found.

    Raises:
        InputError: ``path`` is not a dataset folder, or its ``dataset.json`` is unreadable.

    Example:
        >>> report = check_dataset("data")  # doctest: +SKIP
        >>> report.ok, report.to_dict()["classes"][1]["fraction"]  # doctest: +SKIP
        (True, 0.41)
    """
    dataset = open_dataset(path, classes)
    if not dataset.parts:
        return _check_part(dataset)
    report = CheckReport(str(dataset.root), dataset.class_names)
    report.pixels = [0] * len(dataset.classes)
    report.present_pixels = [0] * len(dataset.classes)
    for name, part in dataset.parts.items():
        report.splits[name] = _check_part(part)
        report.add(report.splits[name])
    _check_leaks(dataset, report)
    return report


def _check_part(ds: FolderDataset) -> CheckReport:
    k = len(ds.classes)
    report = CheckReport(str(ds.root), ds.class_names, pixels=[0] * k, present_pixels=[0] * k)
    report.samples = len(ds)
    report.images = len(ds) + len(ds.missing_masks)
    report.masks = len(ds) + len(ds.orphan_masks)
    unpaired = (
        ("missing_mask", ds.missing_masks, "an image without a mask of the same name"),
        ("orphan_mask", ds.orphan_masks, "a mask without an image of the same name"),
        ("duplicate_name", ds.duplicates, "another file of this folder has the same name"),
    )
    for kind, paths, message in unpaired:
        report.problems += [Problem(kind, str(p), message) for p in paths]
    if not ds.samples:
        report.problems.append(Problem("no_samples", str(ds.root), "no image with a mask"))
    for sample in ds:
        _check_sample(sample, report)
    return report


def _check_sample(sample: Sample, report: CheckReport) -> None:
    problems = report.problems
    try:
        hw = image_size(sample.image_path)
    except ImageError as exc:
        hw = None
        problems.append(
            Problem("unreadable_image", str(sample.image_path), _detail(exc, sample.image_path))
        )
    try:
        mask = read_mask(sample.mask_path)
    except UnsupportedFormatError as exc:
        problems.append(
            Problem("bad_mask_format", str(sample.mask_path), _detail(exc, sample.mask_path))
        )
        return
    except ImageError as exc:
        problems.append(
            Problem("unreadable_mask", str(sample.mask_path), _detail(exc, sample.mask_path))
        )
        return
    if hw is not None and hw != mask.shape:
        message = f"image is {hw[1]} x {hw[0]} but mask is {mask.shape[1]} x {mask.shape[0]}"
        problems.append(Problem("size_mismatch", str(sample.mask_path), message))
    _count(mask, str(sample.mask_path), report)
    if sample.quad_path is not None:
        _check_quad(sample.quad_path, problems)


def _detail(exc: Exception, path: Path) -> str:
    """The message of ``exc`` without a leading ``"<path>: "``: a problem names its path itself.

    Messages of :func:`read_mask` start with the path; image and quad errors do not.
    """
    text, prefix = str(exc), f"{path}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


def _count(mask: np.ndarray, where: str, report: CheckReport) -> None:
    k = len(report.classes)
    counts = np.bincount(mask.ravel(), minlength=k)
    for i in np.flatnonzero(counts[:k]):
        report.pixels[i] += int(counts[i])
        report.present_pixels[i] += int(mask.size)
    bad = [int(v) for v in np.flatnonzero(counts[k:]) + k]
    for value in bad:
        n, files = report.unknown.get(value, (0, []))
        report.unknown[value] = (n + int(counts[value]), [*files, where])
    if bad:
        message = f"mask values {bad} are outside the {k} classes (0..{k - 1})"
        report.problems.append(Problem("unknown_values", where, message))


def _check_quad(path: Path, problems: list[Problem]) -> None:
    from idseg.data.quads import read_quads

    try:
        read_quads(path)
    except InputError as exc:
        problems.append(Problem("bad_quad", str(path), _detail(exc, path)))


def _check_leaks(ds: FolderDataset, report: CheckReport) -> None:
    """Flag groups (and names) found in more than one split."""
    for attr in ("group", "name"):
        where: dict[str, set[str]] = defaultdict(set)
        for s in ds:
            where[getattr(s, attr)].add(str(s.split))
        for key, splits in sorted(where.items()):
            if len(splits) < 2:
                continue
            problem = Problem(
                f"{attr}_in_several_splits",
                key,
                f"{attr} {key!r} is in splits {sorted(splits)}; one split each keeps them apart",
            )
            explicit = attr == "group" and ds.explicit_groups
            (report.problems if explicit else report.warnings).append(problem)
