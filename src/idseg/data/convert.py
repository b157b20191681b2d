"""The dataset writer shared by the importers (MIDV-500/2019, MIDV-2020).

Every importer (:mod:`idseg.data.midv`, :mod:`idseg.data.midv2020`) turns each annotated image
into the same idseg dataset layout through :class:`DatasetWriter`::

    out/images/<name>.<ext>   the image (copied as it is, or re-encoded as PNG / JPEG)
    out/masks/<name>.png      class mask: 0 background, 1 document, field classes by index
    out/quads/<name>.json     {"quad": [[x, y], ...]} (MIDV form), plus "fields" when there are any
    out/dataset.json          {"classes": CLASS_NAMES, "source", "generator", "groups": {image
                              file name: group}, "skipped"}
    out/coco.json             one COCO file: a "document" instance per image plus field instances

Masks follow :mod:`idseg.data.convert_geometry` (pixel centres inside the closed polygon, clipped
to the image). COCO categories are the class indices (``1`` document, ``2`` portrait, ...); each
instance is a compressed RLE of its own pixels (fields clipped to the document), so field
instances may overlap, and ``area`` is the exact pixel count. The whole folder is built beside
``out`` and swapped in at the end (:func:`idseg.data.outdir.output_folder`): a failed run leaves
``out`` as it was, and an existing ``out`` is replaced only when it is an earlier idseg dataset
(``"generator": "idseg <version> midv-convert"``), unless ``overwrite``.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from idseg._version import __version__
from idseg.data.convert_geometry import Region, as_polygon, label_image
from idseg.data.outdir import generator, output_folder
from idseg.documents.classes import CLASS_NAMES
from idseg.errors import InputError
from idseg.formats import mask_to_rle
from idseg.io.atomic import atomic_path, atomic_write_json
from idseg.io.images import image_size, load_image
from idseg.io.writers import save_label_png

logger = logging.getLogger(__name__)

IMAGE_FORMATS: tuple[str, ...] = ("keep", "png", "jpg")
"""``keep`` copies the source file byte for byte; ``png`` and ``jpg`` re-encode it."""


@dataclass
class ConvertReport:
    """What a conversion wrote and what it skipped.

    Attributes:
        out: The dataset folder.
        source: The source dataset (``midv500``, ``midv2019``, ``midv2020``).
        images: Images written.
        skipped: ``(source file, reason)`` for every file or annotation left out.
        class_pixels: Pixels per class over all class masks.

    Example:
        >>> ConvertReport(Path("out"), "midv500").to_dict()["images"]
        0
    """

    out: Path
    source: str
    images: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    class_pixels: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLASS_NAMES, 0))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary.

        Example:
            >>> ConvertReport(Path("out"), "midv500", skipped=[("a.json", "bad")]).to_dict()["skipped"]
            [{'path': 'a.json', 'reason': 'bad'}]
        """
        return {
            "out": str(self.out),
            "source": self.source,
            "images": self.images,
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "class_pixels": dict(self.class_pixels),
        }


def safe_name(text: str) -> str:
    """A file-name stem made of ``[A-Za-z0-9._-]`` only (others become ``_``), never hidden.

    Example:
        >>> safe_name("alb id/../00")
        'alb_id_.._00'
    """
    return re.sub(r"[^A-Za-z0-9._-]", "_", text).lstrip(".") or "_"


def _number(value: float) -> float | int:
    """An integral coordinate as an int (MIDV writes integers), any other as a float."""
    return int(value) if float(value).is_integer() else float(value)


class DatasetWriter:
    """Write images, class masks, quads, ``dataset.json`` and ``coco.json`` into a folder.

    Args:
        folder: The dataset folder (usually the temporary one of :func:`output_folder`).
        source: Name recorded as ``source`` in ``dataset.json``.
        image_format: One of :data:`IMAGE_FORMATS`.

    Example:
        >>> writer = DatasetWriter(Path("tmp"), "midv500")  # doctest: +SKIP
        >>> writer.add(Path("CA01_01.tif"), "01_alb_id_CA01_01", "01_alb_id", quad, [])  # doctest: +SKIP
        >>> writer.finish().images  # doctest: +SKIP
        1
    """

    def __init__(self, folder: Path, source: str, image_format: str = "keep") -> None:
        if image_format not in IMAGE_FORMATS:
            raise InputError(f"image_format must be one of {IMAGE_FORMATS}, got {image_format!r}")
        self.folder, self.image_format = Path(folder), image_format
        self.report = ConvertReport(self.folder, source)
        self.groups: dict[str, str] = {}
        self._coco_images: list[dict[str, Any]] = []
        self._coco_annotations: list[dict[str, Any]] = []
        for sub in ("images", "masks", "quads"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)

    def skip(self, where: str, reason: str) -> None:
        """Record a source file (or annotation) left out, with the reason."""
        self.report.skipped.append((where, reason))
        logger.debug("skipped %s: %s", where, reason)

    def _write_image(self, image: Path, stem: str) -> tuple[str, tuple[int, int]]:
        if self.image_format == "keep":
            hw = image_size(image)
            name = stem + image.suffix.lower()
            with atomic_path(self.folder / "images" / name) as tmp:
                shutil.copyfile(image, tmp)
            return name, hw
        rgb = load_image(image)
        name = f"{stem}.{self.image_format}"
        params = [cv2.IMWRITE_JPEG_QUALITY, 95] if self.image_format == "jpg" else []
        ok, buf = cv2.imencode(f".{self.image_format}", rgb[:, :, ::-1], params)
        if not ok:
            raise OSError(f"OpenCV could not encode {name}")
        with atomic_path(self.folder / "images" / name) as tmp:
            tmp.write_bytes(buf.tobytes())
        return name, (int(rgb.shape[0]), int(rgb.shape[1]))

    def add(
        self,
        image: Path,
        stem: str,
        group: str,
        quad: Sequence[Sequence[float]],
        regions: Sequence[Region] = (),
    ) -> None:
        """Add one image with its document quad (or polygon) and field regions.

        Raises:
            InputError: The stem is taken or the quad is not 3+ finite points.
            ImageError: The image cannot be read.
            OSError: A file cannot be copied or written.
        """
        stem = safe_name(stem)
        if (self.folder / "quads" / f"{stem}.json").exists():
            raise InputError(f"two images map to the same output name {stem!r}")
        document = as_polygon(quad, "the document quad")
        name, hw = self._write_image(image, stem)
        written = [self.folder / "images" / name, self.folder / "masks" / f"{stem}.png"]
        try:
            labels, doc, parts = label_image(hw, document, regions)
            save_label_png(labels, written[1])
            record: dict[str, Any] = {"quad": [[_number(v) for v in p] for p in document]}
            if regions:
                record["fields"] = [
                    {"name": r.name, "class": r.cls, "polygon": np.round(r.polygon, 3).tolist()}
                    for r in regions
                ]
            atomic_write_json(self.folder / "quads" / f"{stem}.json", record)
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        self._add_coco(name, hw, doc, regions, parts)
        counts = np.bincount(labels.ravel(), minlength=len(CLASS_NAMES))
        for i, cls in enumerate(CLASS_NAMES):
            self.report.class_pixels[cls] += int(counts[i])
        self.groups[name] = group
        self.report.images += 1

    def _add_coco(
        self,
        name: str,
        hw: tuple[int, int],
        doc: np.ndarray,
        regions: Sequence[Region],
        parts: Sequence[np.ndarray],
    ) -> None:
        image_id = len(self._coco_images) + 1
        self._coco_images.append(
            {"id": image_id, "file_name": name, "height": hw[0], "width": hw[1]}
        )
        instances = [("document", None, doc)] + [
            (r.cls, r.name, p) for r, p in zip(regions, parts, strict=True)
        ]
        for cls, field_name, mask in instances:
            if not mask.any():
                continue
            ys, xs = np.nonzero(mask)
            x0, y0 = int(xs.min()), int(ys.min())
            ann: dict[str, Any] = {
                "id": len(self._coco_annotations) + 1,
                "image_id": image_id,
                "category_id": CLASS_NAMES.index(cls),
                "segmentation": mask_to_rle(mask),
                "area": int(mask.sum()),
                "bbox": [x0, y0, int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1],
                "iscrowd": 0,
            }
            if field_name is not None:
                ann["field_name"] = field_name
            self._coco_annotations.append(ann)

    def finish(self) -> ConvertReport:
        """Write ``dataset.json`` and ``coco.json``; return the report."""
        dataset = {
            "classes": list(CLASS_NAMES),
            "source": self.report.source,
            "generator": generator("midv-convert"),
            "groups": dict(sorted(self.groups.items())),
            "skipped": self.report.to_dict()["skipped"],
        }
        atomic_write_json(self.folder / "dataset.json", dataset)
        coco = {
            "info": {
                "description": f"idseg import of {self.report.source}",
                "version": __version__,
            },
            "licenses": [],
            "images": self._coco_images,
            "annotations": self._coco_annotations,
            "categories": [
                {"id": i, "name": name, "supercategory": "document"}
                for i, name in enumerate(CLASS_NAMES)
                if i > 0
            ],
        }
        atomic_write_json(self.folder / "coco.json", coco, indent=None)
        logger.info(
            "dataset written: %d images, %d skipped", self.report.images, len(self.report.skipped)
        )
        return self.report


__all__ = [
    "IMAGE_FORMATS",
    "ConvertReport",
    "DatasetWriter",
    "output_folder",
    "safe_name",
]
