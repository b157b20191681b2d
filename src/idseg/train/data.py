"""Training data for the U-Net: train/val samples, class mapping, and a letterboxing Dataset.

:func:`open_training_data` reads a split root (``train``/``val`` folders, as written by
``idseg data split`` or the original wrapper's ``data/{train,val}``), two flat folders, or one
flat folder, which it splits by group on the fly (:func:`idseg.data.split.assign_groups` with
the seed: the same seed, the same split; no group is in both parts).

:func:`class_mapping` turns the dataset's class values into the model's classes. Every sample is
letterboxed to a ``size x size`` square (:func:`idseg.models.unet_io.letterbox`); the mask is
resized with nearest-exact sampling and the padding gets ``ignore_index``, so image and mask stay
aligned and padding never counts. Training samples are then augmented
(:mod:`idseg.train.augment`) with a generator seeded by ``(seed, epoch, index)``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from idseg._text import did_you_mean
from idseg.data.folders import FolderDataset, Sample, open_dataset
from idseg.documents.classes import FIELD_CLASSES
from idseg.errors import InputError
from idseg.models.unet_io import PAD_VALUE, letterbox_image
from idseg.train.augment import AugmentConfig, augment_pair

logger = logging.getLogger(__name__)

__all__ = [
    "EpochSampler",
    "SegmentationDataset",
    "TrainingData",
    "class_mapping",
    "class_pixels",
    "load_pair",
    "open_training_data",
]


@dataclass
class TrainingData:
    """Train and validation samples with the dataset's class names.

    Attributes:
        train: Training samples.
        val: Validation samples.
        classes: Class names by mask value in the files.
        source: How the split was made (``"split root"``, ``"folders"`` or ``"split by group"``).

    Example:
        >>> TrainingData([], [], ("background", "document"), "folders").classes[1]
        'document'
    """

    train: list[Sample]
    val: list[Sample]
    classes: tuple[str, ...]
    source: str


def open_training_data(
    data: str | Path,
    val: str | Path | None = None,
    val_ratio: float = 0.1,
    seed: int = 0,
) -> TrainingData:
    """Open the samples to train and validate on.

    Args:
        data: A split root with ``train`` and ``val``, or a flat dataset folder.
        val: A separate flat validation folder (then ``data`` is the training folder).
        val_ratio: Share of samples for validation when a flat ``data`` is split here.
        seed: Seed of that split.

    Raises:
        InputError: A folder is not a dataset, a split root lacks ``train`` or ``val``, the
            parts disagree on class names, or a part has no samples.

    Example:
        >>> open_training_data("data/synth", val_ratio=0.2).source  # doctest: +SKIP
        'split by group'
    """
    if val is not None:
        train_ds, val_ds = open_dataset(data), open_dataset(val)
        if train_ds.classes != val_ds.classes:
            raise InputError(
                f"train and val datasets name different classes: {train_ds.class_names} vs {val_ds.class_names}"
            )
        out = TrainingData(train_ds.samples, val_ds.samples, train_ds.classes, "folders")
    else:
        ds = open_dataset(data)
        out = _from_one(ds, val_ratio, seed)
    for name, part in (("train", out.train), ("val", out.val)):
        if not part:
            raise InputError(f"{data}: the {name} part has no image with a mask")
    logger.info("training data (%s): %d train, %d val", out.source, len(out.train), len(out.val))
    return out


def _from_one(ds: FolderDataset, val_ratio: float, seed: int) -> TrainingData:
    if ds.layout == "split":
        missing = [p for p in ("train", "val") if p not in ds.parts]
        if missing:
            raise InputError(
                f"{ds.root}: a split root needs train and val folders; missing {', '.join(missing)} (found {', '.join(ds.splits)})"
            )
        return TrainingData(
            ds.parts["train"].samples, ds.parts["val"].samples, ds.classes, "split root"
        )
    if not 0 < val_ratio < 1:
        raise InputError(f"val_ratio must lie between 0 and 1, got {val_ratio}")
    from idseg.data.split import assign_groups

    sizes = Counter(s.group for s in ds.samples)
    if len(sizes) < 2:
        raise InputError(
            f"{ds.root}: cannot split a flat dataset of {len(sizes)} group(s) into train and val; run `idseg data split` or give a val folder"
        )
    placed = assign_groups(sizes, (1 - val_ratio, val_ratio), seed)
    train = [s for s in ds.samples if placed[s.group] == "train"]
    val = [s for s in ds.samples if placed[s.group] == "val"]
    return TrainingData(train, val, ds.classes, "split by group")


def class_mapping(
    dataset_classes: Sequence[str], wanted: Sequence[str] | None = None, ignore_index: int = 255
) -> tuple[tuple[str, ...], np.ndarray]:
    """The model's classes and a lookup table from mask values to model class values.

    Without ``wanted`` the model learns the dataset's classes as they are. With ``wanted`` (a
    subset of the dataset's class names, in the model's order), every listed class keeps its
    name; an unlisted field class (portrait, mrz, text, signature, barcode) becomes
    ``document`` when ``document`` is listed (fields lie on documents), any other unlisted
    class becomes the first listed class. Mask values beyond the dataset's classes are ignored.

    Returns:
        The model's class names and a ``uint8`` table of 65536 entries (8 and 16-bit masks).

    Raises:
        InputError: An unknown or repeated name, or fewer than two classes.

    Example:
        >>> names, lut = class_mapping(["background", "document", "portrait", "mrz"], ["background", "document"])
        >>> names, lut[:5].tolist()
        (('background', 'document'), [0, 1, 1, 1, 255])
    """
    names = tuple(wanted) if wanted is not None else tuple(dataset_classes)
    if len(names) < 2 or len(set(names)) != len(names):
        raise InputError(f"expected two or more distinct class names, got {list(names)}")
    for name in names:
        if name not in dataset_classes:
            raise InputError(
                f"class {name!r} is not in the dataset{did_you_mean(name, dataset_classes)} (its classes: {', '.join(dataset_classes)})"
            )
    lut = np.full(65536, ignore_index, np.uint8)
    for value, name in enumerate(dataset_classes):
        if name in names:
            lut[value] = names.index(name)
        elif name in FIELD_CLASSES and "document" in names:
            lut[value] = names.index("document")
        else:
            lut[value] = 0
    return names, lut


def load_pair(
    sample: Sample, size: int, lut: np.ndarray, ignore_index: int = 255
) -> tuple[np.ndarray, np.ndarray]:
    """A sample's letterboxed image (``S x S x 3`` uint8) and model-class mask (``S x S`` uint8).

    Raises:
        ImageError: The image or mask cannot be read.
        InputError: The mask's size differs from the image's.

    Example:
        >>> image, mask = load_pair(dataset[0], 256, lut)  # doctest: +SKIP
    """
    from idseg.data.check import read_mask
    from idseg.io.images import load_image

    image = load_image(sample.image_path)
    mask = read_mask(sample.mask_path)
    if mask.shape != image.shape[:2]:
        raise InputError(
            f"{sample.mask_path.name}: mask is {mask.shape[1]}x{mask.shape[0]} but its image is {image.shape[1]}x{image.shape[0]}"
        )
    canvas, box = letterbox_image(image, size)
    small = cv2.resize(
        lut[mask], (box.new_width, box.new_height), interpolation=cv2.INTER_NEAREST_EXACT
    )
    target = np.full((size, size), ignore_index, np.uint8)
    target[box.window] = small
    return canvas, target


class SegmentationDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Letterboxed (and, for training, augmented) samples as tensors.

    Items are ``(image, mask)``: ``3 x S x S`` uint8 RGB and ``S x S`` int64 class values
    (``ignore_index`` outside the photo). Call :meth:`set_epoch` before each epoch so the
    augmentation differs between epochs.

    Args:
        samples: The samples.
        size: Side ``S`` of the letterbox.
        lut: Mask value to model class (:func:`class_mapping`).
        augment: Augmentation, or ``None`` for none (validation).
        seed: Seed of the augmentation.
        ignore_index: Mask value of pixels that do not count.

    Example:
        >>> ds = SegmentationDataset(samples, 256, lut, AugmentConfig(), seed=0)  # doctest: +SKIP
        >>> image, mask = ds[0]  # doctest: +SKIP
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        size: int,
        lut: np.ndarray,
        augment: AugmentConfig | None = None,
        seed: int = 0,
        ignore_index: int = 255,
    ) -> None:
        self.samples = list(samples)
        self.size = size
        self.lut = lut
        self.augment = augment
        self.seed = seed
        self.ignore_index = ignore_index
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the augmentation of this epoch."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = load_pair(self.samples[index], self.size, self.lut, self.ignore_index)
        if self.augment is not None:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            image, mask = augment_pair(image, mask, rng, self.augment, PAD_VALUE, self.ignore_index)
        return (
            torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))),
            torch.from_numpy(mask.astype(np.int64)),
        )


class EpochSampler(Sampler[int]):
    """A shuffled order of ``range(n)`` that depends only on ``(seed, epoch)``.

    Example:
        >>> s = EpochSampler(5, seed=1)
        >>> s.set_epoch(3)
        >>> list(s) == list(s), sorted(s)
        (True, [0, 1, 2, 3, 4])
    """

    def __init__(self, n: int, seed: int = 0) -> None:
        self.n = n
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the order of this epoch."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        order = np.random.default_rng([self.seed, self.epoch, 7]).permutation(self.n)
        return iter(int(i) for i in order)


def class_pixels(
    samples: Sequence[Sample], lut: np.ndarray, num_classes: int
) -> tuple[list[int], list[int]]:
    """Pixels per model class, and pixels of the masks where each class occurs.

    The two lists feed :func:`idseg.data.check.class_weights`.

    Example:
        >>> class_pixels([], np.zeros(65536, np.uint8), 2)
        ([0, 0], [0, 0])
    """
    from idseg.data.check import read_mask

    pixels = np.zeros(num_classes, np.int64)
    present = np.zeros(num_classes, np.int64)
    for sample in samples:
        values = lut[read_mask(sample.mask_path)]
        counts = np.bincount(values.ravel(), minlength=256)[:num_classes]
        pixels += counts
        present += np.where(counts > 0, values.size, 0)
    return pixels.tolist(), present.tolist()
