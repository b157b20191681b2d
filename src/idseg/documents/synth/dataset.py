"""Write a synthetic dataset: photos of fake identity documents with exact ground truth.

Layout of ``out`` (names are the sample index, ``000000`` ...)::

    images/000000.jpg     the photo (JPEG quality 95 through OpenCV, or PNG)
    masks/000000.png      class indices: 0 background, 1 document, 2 portrait, 3 mrz, 4 text,
                          5 signature, 6 barcode (visible pixels only; occluders are 0)
    quads/000000.json     one document: {"quad": [[x, y] x 4]} (MIDV-500 form, clockwise from
                          the document's own top-left, may leave the frame);
                          several: {"quads": [...], "documents": [{"kind", "template"}, ...]}
                          bottom to top; a negative: {"quads": []}
    polygons/000000.json  per document: kind, template, quad, visible_fraction, occluded,
                          truncated and its fields (class, name, text, polygon clipped to the frame)
    dataset.json          {"classes", "groups" (image -> the template of its documents, or
                           "negative-<stem>"), "seed", "options", "generator": "idseg <version>"}
    coco.json             one COCO file: document and field instances, compressed RLE of the
                          visible pixels, true pixel areas, category ids = class indices

All documents of one image are drawn from ONE template (different identities and renders of
the same design, possibly several sizes), so an image's group in ``dataset.json`` is exactly that
template. ``idseg data split`` groups by it: frames of one template never straddle splits. Each
negative is a group of its own. ``quads/`` (several documents) and ``polygons/`` still record the
template per document.

Points in the JSON files use continuous image coordinates, like MIDV-500 and COCO: ``(0, 0)`` is
the top-left corner of the top-left pixel, pixel ``(c, r)`` covers ``[c, c + 1) x [r, r + 1)``,
so its centre is ``(c + 0.5, r + 0.5)`` (the MIDV converters use the same convention).

The same ``seed`` (and options) gives byte-identical files whatever ``workers`` is: sample ``i``
draws only from its own seed sequence (see :mod:`idseg.documents.synth.dataset_sample`), JSON
has sorted keys and no timestamps, and images go through one encoder with fixed settings. The
folder is built beside ``out`` and swapped in at the end; an existing ``out`` is only replaced
when it is empty or an earlier idseg dataset (its ``dataset.json`` names idseg as the generator and it
holds only idseg's entries; see :mod:`idseg.data.outdir`), unless ``overwrite``.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2

from idseg._version import __version__
from idseg.documents.classes import CLASS_NAMES
from idseg.documents.synth.dataset_sample import IMAGE_FORMATS, dumps, negative_phase, write_sample
from idseg.documents.synth.scene_options import SceneOptions
from idseg.errors import InputError
from idseg.io.atomic import atomic_write_text

logger = logging.getLogger(__name__)

__all__ = ["IMAGE_FORMATS", "generate_dataset"]

_Job = tuple[Path, int, int, SceneOptions, float, str, int]


def _check(n: int, seed: int, image_format: str, workers: int | None, quality: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 10_000_000:
        raise InputError(f"n must be an integer in 1..10000000, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    if image_format not in IMAGE_FORMATS:
        raise InputError(
            f"image_format must be one of {', '.join(IMAGE_FORMATS)}, got {image_format!r}"
        )
    if not 1 <= quality <= 100:
        raise InputError(f"jpeg_quality must lie in 1..100, got {quality!r}")
    count = (os.cpu_count() or 1) if workers is None else workers
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InputError(f"workers must be a positive integer, got {workers!r}")
    return min(count, n)


def _run(job: _Job) -> dict[str, Any]:
    return write_sample(*job)


def _init_worker() -> None:
    cv2.setNumThreads(1)  # one process per core already


def _records(jobs: list[_Job], workers: int) -> Iterator[dict[str, Any]]:
    if workers == 1:
        yield from map(_run, jobs)
        return
    ctx = multiprocessing.get_context("spawn")  # no fork of a threaded parent (OpenCV, torch)
    with ctx.Pool(workers, initializer=_init_worker) as pool:
        yield from pool.imap(_run, jobs, chunksize=max(1, min(8, len(jobs) // (4 * workers))))


def _coco(records: list[dict[str, Any]]) -> dict[str, Any]:
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_id, rec in enumerate(records, start=1):
        h, w = rec["size"]
        images.append({"id": image_id, "file_name": rec["file_name"], "height": h, "width": w})
        for ann in rec["annotations"]:
            annotations.append({**ann, "id": len(annotations) + 1, "image_id": image_id})
    categories = [
        {"id": i, "name": name, "supercategory": "document"}
        for i, name in enumerate(CLASS_NAMES)
        if i > 0
    ]
    info = {"description": "idseg synthetic identity documents", "version": __version__}
    return {
        "info": info,
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }


def generate_dataset(
    out: str | os.PathLike[str],
    n: int,
    seed: int,
    size: tuple[int, int] = (480, 640),
    kinds: Sequence[str] | None = None,
    docs_per_scene: tuple[int, int] = (1, 1),
    negatives: float = 0.05,
    workers: int | None = None,
    image_format: str = "jpg",
    options: SceneOptions | None = None,
    jpeg_quality: int = 95,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Generate ``n`` synthetic photos with masks, quads, polygons and COCO into ``out``.

    Args:
        out: Output folder (see the module docstring for its layout).
        n: Number of images.
        seed: Non-negative seed; the same seed and options give byte-identical files.
        size: Image ``(height, width)``.
        kinds: Document kinds to draw from (default td1, td2, td3, a4, letter; ``td1v`` by name).
        docs_per_scene: Inclusive ``(min, max)`` documents per non-negative image.
        negatives: Share of images without any document.
        workers: Processes (default: the number of CPUs); the output does not depend on it.
        image_format: ``jpg`` or ``png``.
        options: Effect and placement knobs (:class:`SceneOptions`); ``size``, ``kinds``,
            ``docs_per_scene`` and ``negatives`` above replace its own.
        jpeg_quality: Quality of the written JPEG files.
        overwrite: Replace a non-empty ``out`` that is not an earlier idseg dataset.
        progress: Called with the number of images done after each one.

    Returns:
        A summary: ``out``, ``images``, ``negatives``, ``documents``, ``annotations``,
        ``class_pixels``, ``seconds``, ``images_per_second``, ``workers``.

    Raises:
        InputError: A bad argument, or ``out`` is a non-empty folder that is not a dataset.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     s = generate_dataset(Path(tmp) / "ds", 2, seed=0, size=(64, 96), negatives=1.0, workers=1)
        ...     s["images"], s["negatives"], sorted(p.name for p in (Path(tmp) / "ds").iterdir())
        (2, 2, ['coco.json', 'dataset.json', 'images', 'masks', 'polygons', 'quads'])
    """
    from idseg.data.convert import output_folder

    base = options or SceneOptions()
    opts = replace(
        base,
        size=(int(size[0]), int(size[1])),
        kinds=tuple(kinds) if kinds else base.kinds,
        docs_per_scene=(int(docs_per_scene[0]), int(docs_per_scene[1])),
        negatives=float(negatives),
    ).validated()
    count = _check(n, seed, image_format, workers, jpeg_quality)
    phase = negative_phase(seed)
    start = time.perf_counter()
    records: list[dict[str, Any]] = []
    with output_folder(Path(out), [], overwrite=overwrite) as tmp:
        for sub in ("images", "masks", "quads", "polygons"):
            (tmp / sub).mkdir()
        jobs = [(tmp, seed, i, opts, phase, image_format, jpeg_quality) for i in range(n)]
        for rec in _records(jobs, count):
            records.append(rec)
            if progress is not None:
                progress(len(records))
        meta = {
            "classes": list(CLASS_NAMES),
            "groups": {r["file_name"]: r["group"] for r in records},
            "seed": seed,
            "options": {
                **opts.to_dict(),
                "n": n,
                "image_format": image_format,
                "jpeg_quality": jpeg_quality,
            },
            "generator": f"idseg {__version__}",
        }
        atomic_write_text(tmp / "dataset.json", dumps(meta))
        coco = _coco(records)
        atomic_write_text(tmp / "coco.json", dumps(coco, indent=None))
    seconds = time.perf_counter() - start
    pixels = [sum(r["class_pixels"][k] for r in records) for k in range(len(CLASS_NAMES))]
    summary = {
        "out": str(out),
        "images": n,
        "negatives": sum(r["negative"] for r in records),
        "documents": sum(r["documents"] for r in records),
        "annotations": len(coco["annotations"]),
        "class_pixels": dict(zip(CLASS_NAMES, pixels, strict=True)),
        "seconds": round(seconds, 3),
        "images_per_second": round(n / max(seconds, 1e-9), 2),
        "workers": count,
    }
    logger.info(
        "wrote %d images in %.1f s (%.1f images/s)", n, seconds, summary["images_per_second"]
    )
    return summary
