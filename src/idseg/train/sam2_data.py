"""Training data of ``idseg train sam2``: images with object masks, resized as SAM2 sees them.

Sources:

- a folder dataset (the original wrapper's ``data/{train,val}`` with ``images/`` and ``masks/``
  of class indices, any idseg dataset, ``idseg synth`` output, a MIDV import): the objects are
  the connected components of each class (8-connected), or, when the folder has ``coco.json``
  (``idseg synth`` writes one), its instance annotations, which may overlap (a document and the
  fields on it);
- a COCO JSON file: instance annotations (polygons or RLE) of the images beside it (or in
  ``images/`` beside it).

Every image is resized to the model's ``S x S`` input exactly as SAM2's predictor does (no
letterbox: the aspect ratio is not kept), its object masks with it; training images are then
warped (the same homography for image and masks) and recoloured (:mod:`idseg.train.augment`).
Items are dicts: ``image`` (``3 x S x S`` uint8), ``masks`` (``K x S x S`` bool, at most
``objects`` of them, drawn at random per epoch) and ``classes`` (``K`` int64 class indices).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from idseg.errors import InputError
from idseg.train.augment import AugmentConfig, photometric, random_homography

logger = logging.getLogger(__name__)

__all__ = ["ObjectSample", "Sam2Data", "Sam2Dataset", "collate_objects", "open_sam2_data"]


@dataclass(frozen=True)
class ObjectSample:
    """One image and where its objects come from.

    Attributes:
        image_path: The image.
        mask_path: A class-index mask whose components are the objects (or ``None``).
        annotations: COCO annotations of the image (used when ``mask_path`` is ``None``).
        height: Image height of the annotations (COCO), else 0.
        width: Image width of the annotations (COCO), else 0.
    """

    image_path: Path
    mask_path: Path | None = None
    annotations: tuple[dict[str, Any], ...] = ()
    height: int = 0
    width: int = 0


@dataclass
class Sam2Data:
    """Training and validation samples with class names (index 0 is the background)."""

    train: list[ObjectSample]
    val: list[ObjectSample]
    classes: tuple[str, ...]
    source: str


def _coco_file(path: Path) -> Path | None:
    if path.is_file() and path.suffix.lower() == ".json":
        return path
    if path.is_dir() and (path / "coco.json").is_file():
        return path / "coco.json"
    return None


def _read_coco(path: Path) -> tuple[list[ObjectSample], tuple[str, ...]]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        cats = {int(c["id"]): str(c["name"]) for c in doc["categories"]}
        images = doc["images"]
        anns = doc["annotations"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a COCO instances file ({exc})") from exc
    names = ["background"] + [cats[k] for k in sorted(cats)]
    index = {k: names.index(cats[k]) for k in cats}
    by_image: dict[int, list[dict[str, Any]]] = {}
    for ann in anns:
        if ann.get("iscrowd") or int(ann.get("category_id", -1)) not in index:
            continue
        by_image.setdefault(int(ann["image_id"]), []).append(
            {"segmentation": ann["segmentation"], "class": index[int(ann["category_id"])]}
        )
    root = path.parent / "images" if (path.parent / "images").is_dir() else path.parent
    samples = [
        ObjectSample(
            root / str(img["file_name"]),
            annotations=tuple(by_image.get(int(img["id"]), [])),
            height=int(img["height"]),
            width=int(img["width"]),
        )
        for img in images
    ]
    return samples, tuple(names)


def _split(samples: list[ObjectSample], ratio: float, seed: int) -> tuple[list[ObjectSample], ...]:
    order = np.random.default_rng(seed).permutation(len(samples))
    n_val = max(1, round(len(samples) * ratio))
    if len(samples) < 2:
        raise InputError(f"cannot split {len(samples)} image(s) into train and val")
    val = {int(i) for i in order[:n_val]}
    return (
        [s for i, s in enumerate(samples) if i not in val],
        [s for i, s in enumerate(samples) if i in val],
    )


def open_sam2_data(
    data: str | Path,
    val: str | Path | None = None,
    val_ratio: float = 0.1,
    seed: int = 0,
    instances: str = "auto",
) -> Sam2Data:
    """Open training and validation images with their objects.

    Args:
        data: A split root, a flat dataset folder, or a COCO JSON file.
        val: Separate validation data of the same kind.
        val_ratio: Validation share when ``data`` is split here (folders: by group).
        seed: Seed of that split.
        instances: ``auto``, ``coco`` (require COCO annotations) or ``components``.

    Raises:
        InputError: Unusable data, or class names that differ between the parts.

    Example:
        >>> open_sam2_data("data/synth").classes[:2]  # doctest: +SKIP
        ('background', 'document')
    """
    data = Path(data)
    coco = _coco_file(data) if instances != "components" else None
    if instances == "coco" and coco is None:
        raise InputError(f"{data}: no COCO annotations (a .json file or a folder with coco.json)")
    if coco is not None and data.is_file():
        train, names = _read_coco(coco)
        if val is None:
            tr, va = _split(train, val_ratio, seed)
            return Sam2Data(tr, va, names, "COCO, split here")
        val_samples, val_names = _read_coco(_coco_file(Path(val)) or Path(val))
        _same(names, val_names)
        return Sam2Data(train, val_samples, names, "COCO")
    return _from_folders(data, val, val_ratio, seed, instances)


def _same(a: Sequence[str], b: Sequence[str]) -> None:
    if tuple(a) != tuple(b):
        raise InputError(f"train and val name different classes: {list(a)} vs {list(b)}")


def _from_folders(
    data: Path, val: str | Path | None, val_ratio: float, seed: int, instances: str
) -> Sam2Data:
    from idseg.train.data import open_training_data

    parts = open_training_data(data, val, val_ratio, seed)
    roots = {p.image_path.parent.parent for p in [*parts.train, *parts.val]}
    lookup: dict[Path, dict[str, ObjectSample]] = {}
    if instances != "components":
        for root in roots:
            if (root / "coco.json").is_file():
                samples, names = _read_coco(root / "coco.json")
                _same(names, parts.classes[: len(names)])
                lookup[root] = {s.image_path.name: s for s in samples}

    def convert(sample: Any) -> ObjectSample:
        table = lookup.get(sample.image_path.parent.parent)
        if table is not None and sample.image_path.name in table:
            return table[sample.image_path.name]
        return ObjectSample(sample.image_path, sample.mask_path)

    source = parts.source + (", COCO instances" if lookup else ", mask components")
    return Sam2Data(
        [convert(s) for s in parts.train], [convert(s) for s in parts.val], parts.classes, source
    )


def _object_masks(
    sample: ObjectSample, shape: tuple[int, int], keep: np.ndarray
) -> tuple[list[np.ndarray], list[int]]:
    """The full-resolution object masks of a sample and their classes (``keep[c]`` only)."""
    masks: list[np.ndarray] = []
    classes: list[int] = []
    if sample.mask_path is None:
        from pycocotools import mask as mask_utils

        h, w = shape
        for ann in sample.annotations:
            cls = int(ann["class"])
            if cls >= len(keep) or not keep[cls]:
                continue
            seg = ann["segmentation"]
            if isinstance(seg, list):
                rle = mask_utils.merge(mask_utils.frPyObjects(seg, h, w))
            elif isinstance(seg.get("counts"), list):
                rle = mask_utils.frPyObjects(seg, h, w)
            else:
                rle = seg
            masks.append(mask_utils.decode(rle).astype(bool))
            classes.append(cls)
        return masks, classes
    from idseg.data.check import read_mask

    label = read_mask(sample.mask_path)
    if label.shape != shape:
        raise InputError(f"{sample.mask_path.name}: mask size differs from its image's")
    for cls in np.unique(label):
        if cls == 0 or cls >= len(keep) or not keep[cls]:
            continue
        n, comp = cv2.connectedComponents((label == cls).astype(np.uint8), connectivity=8)
        for k in range(1, n):
            masks.append(comp == k)
            classes.append(int(cls))
    return masks, classes


class Sam2Dataset(Dataset[dict[str, torch.Tensor]]):
    """Images resized to ``S x S`` with up to ``objects`` object masks each.

    Args:
        samples: The images.
        size: The model's input side ``S``.
        keep: ``keep[c]`` is true for the classes whose objects count.
        objects: Objects per image, at most (drawn with ``(seed, epoch, index)``).
        min_area: Objects smaller than this many pixels at ``S x S`` are left out.
        augment: Augmentation (``None``: none, for validation).
        seed: Seed of the drawing and the augmentation.

    Example:
        >>> ds = Sam2Dataset(data.train, 1024, keep, objects=8, augment=AugmentConfig())  # doctest: +SKIP
        >>> ds[0]["masks"].shape  # doctest: +SKIP
        torch.Size([8, 1024, 1024])
    """

    def __init__(
        self,
        samples: Sequence[ObjectSample],
        size: int,
        keep: np.ndarray,
        objects: int = 8,
        min_area: int = 16,
        augment: AugmentConfig | None = None,
        seed: int = 0,
    ) -> None:
        self.samples = list(samples)
        self.size = size
        self.keep = keep
        self.objects = objects
        self.min_area = min_area
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose this epoch's objects and augmentation."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        from idseg.io.images import load_image

        sample = self.samples[index]
        image = load_image(sample.image_path)
        masks, classes = _object_masks(sample, image.shape[:2], self.keep)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        s = self.size
        small = cv2.resize(image, (s, s), interpolation=cv2.INTER_LINEAR)
        stack = [
            cv2.resize(m.astype(np.uint8), (s, s), interpolation=cv2.INTER_NEAREST) for m in masks
        ]
        if self.augment is not None and self.augment.enabled:
            h = random_homography(rng, s, self.augment)
            small = cv2.warpPerspective(small, h, (s, s), flags=cv2.INTER_LINEAR)
            small = photometric(small, rng, self.augment)
            stack = [cv2.warpPerspective(m, h, (s, s), flags=cv2.INTER_NEAREST) for m in stack]
        chosen = [i for i, m in enumerate(stack) if int(m.sum()) >= self.min_area]
        if len(chosen) > self.objects:
            chosen = sorted(rng.choice(chosen, self.objects, replace=False).tolist())
        out_masks = np.zeros((len(chosen), s, s), bool)
        for j, i in enumerate(chosen):
            out_masks[j] = stack[i] > 0
        return {
            "image": torch.from_numpy(np.ascontiguousarray(small.transpose(2, 0, 1))),
            "masks": torch.from_numpy(out_masks),
            "classes": torch.tensor([classes[i] for i in chosen], dtype=torch.int64),
        }


def collate_objects(items: list[dict[str, torch.Tensor]]) -> dict[str, Any]:
    """Stack images; concatenate masks and classes with each object's image index.

    Example:
        >>> item = {"image": torch.zeros(3, 4, 4, dtype=torch.uint8),
        ...         "masks": torch.ones(2, 4, 4, dtype=torch.bool), "classes": torch.tensor([1, 2])}
        >>> batch = collate_objects([item, item])
        >>> batch["images"].shape, batch["image_index"].tolist()
        (torch.Size([2, 3, 4, 4]), [0, 0, 1, 1])
    """
    return {
        "images": torch.stack([it["image"] for it in items]),
        "masks": torch.cat([it["masks"] for it in items]),
        "classes": torch.cat([it["classes"] for it in items]),
        "image_index": torch.cat(
            [torch.full((len(it["classes"]),), i, dtype=torch.int64) for i, it in enumerate(items)]
        ),
    }
