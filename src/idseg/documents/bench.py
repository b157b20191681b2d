"""Document-localisation benchmark: run localisers over a dataset, time them and score them.

Every image is decoded once (optionally rescaled, with its quads, so that its shorter side has a
given length) and handed to each method in turn; only the method call is timed
(:func:`time.perf_counter`), then :func:`~idseg.documents.rectify.rectify` of every returned quad
is timed apart. Predictions are matched greedily (highest image IoU first) to the ground-truth
quads; an unmatched document scores 0 and an unmatched prediction is a false positive. A method
that raises on an image is recorded as failed there and the run goes on; a method that cannot be
built (missing package or weights) is reported as unavailable. The summaries live in
:mod:`idseg.documents.bench_report`.
"""

from __future__ import annotations

import logging
import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from idseg.data.quads import read_quads
from idseg.documents.bench_methods import Localizer, make_localizer, resolve_method_names
from idseg.documents.bench_report import BenchReport, ImageRecord, environment
from idseg.documents.evaluate import quad_iou, quad_iou_document_frame
from idseg.errors import IdsegError, InputError

logger = logging.getLogger(__name__)

__all__ = ["BenchImage", "list_bench_images", "match_quads", "resize_short_side", "run_benchmark"]


@dataclass(frozen=True)
class BenchImage:
    """One benchmark image.

    Attributes:
        name: The image stem.
        image_path: The image file.
        quad_path: Its ground-truth quad JSON, or ``None`` (no ground truth).
    """

    name: str
    image_path: Path
    quad_path: Path | None = None


def list_bench_images(data: str | os.PathLike[str]) -> tuple[list[BenchImage], bool]:
    """The images of a dataset (``images/`` + ``quads/``, or a split root) or of a plain folder.

    Returns:
        The images sorted by name, and whether they have ground truth: a dataset is scored only
        when every image has a quad file (an empty one for a negative image).

    Raises:
        InputError: Not a folder, or no image in it.

    Example:
        >>> images, scored = list_bench_images("data/midv")  # doctest: +SKIP
    """
    from idseg.data.folders import open_dataset
    from idseg.io.files import iter_image_files

    root = Path(data)
    if not root.is_dir():
        raise InputError(f"expected a dataset or image folder, got {str(root)!r} (not a folder)")
    samples: list[tuple[Path, Path | None]]
    try:
        samples = [(s.image_path, s.quad_path) for s in open_dataset(root)]
    except InputError:
        samples = []
    if not samples:  # no masks (quads only, MIDV style) or a plain folder of photos
        folder = root / "images" if (root / "images").is_dir() else root
        quads = [(p, root / "quads" / f"{p.stem}.json") for p in iter_image_files(folder)]
        samples = [(p, q if q.is_file() else None) for p, q in quads]
    if not samples:
        raise InputError(f"expected images in {str(root)!r}, found none")
    scored = all(q is not None for _, q in samples)
    images = [BenchImage(p.stem, p, q if scored else None) for p, q in samples]
    return sorted(images, key=lambda b: (b.name, b.image_path.as_posix())), scored


def resize_short_side(
    image: np.ndarray, quads: list[np.ndarray], short_side: int
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Rescale a photo so its shorter side is ``short_side`` pixels, and its quads with it.

    Quads are in continuous coordinates, so they scale by the exact width and height ratios.

    Example:
        >>> img = np.zeros((100, 200, 3), np.uint8)
        >>> out, (q,) = resize_short_side(img, [np.array([[0, 0], [200, 0], [200, 100], [0, 100.]])], 50)
        >>> out.shape, q.max(axis=0).tolist()
        ((50, 100, 3), [100.0, 50.0])
    """
    if short_side < 1:
        raise InputError(f"short_side must be a positive pixel count, got {short_side}")
    h, w = image.shape[:2]
    scale = short_side / min(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size == (w, h):
        return image, quads
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    out = cv2.resize(image, size, interpolation=interp)
    factor = np.array([size[0] / w, size[1] / h])
    return out, [q * factor for q in quads]


def match_quads(
    preds: Sequence[np.ndarray], gts: Sequence[np.ndarray], image_hw: tuple[int, int] | None
) -> tuple[list[float], list[float], int]:
    """Match predictions to documents greedily by image IoU.

    Returns:
        Per document (in ``gts`` order) its image IoU and its document-frame (MIDV-500) IoU,
        both 0 when no prediction overlaps it, and the number of unmatched predictions.

    Example:
        >>> sq = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], float)
        >>> match_quads([sq + [5, 0], sq + [50, 0]], [sq], None)
        ([0.3333333333333333], [0.3333333333333333], 1)
    """
    pairs = sorted(
        ((quad_iou(p, g, image_hw), i, j) for i, p in enumerate(preds) for j, g in enumerate(gts)),
        key=lambda t: (-t[0], t[1], t[2]),
    )
    used: set[int] = set()
    matched: dict[int, int] = {}
    for iou, i, j in pairs:
        if iou > 0 and i not in used and j not in matched:
            used.add(i)
            matched[j] = i
    ious = [
        quad_iou(preds[matched[j]], g, image_hw) if j in matched else 0.0 for j, g in enumerate(gts)
    ]
    frame = [
        quad_iou_document_frame(preds[matched[j]], g) if j in matched else 0.0
        for j, g in enumerate(gts)
    ]
    return ious, frame, len(preds) - len(used)


def _timed(method: Localizer, image: np.ndarray, repeat: int) -> tuple[list[np.ndarray], float]:
    times = []
    quads: list[np.ndarray] = []
    for _ in range(repeat):
        start = time.perf_counter()
        quads = method(image)
        times.append(time.perf_counter() - start)
    return [np.asarray(q, dtype=np.float64).reshape(4, 2) for q in quads], statistics.median(times)


def _rectify_ms(image: np.ndarray, quads: list[np.ndarray], repeat: int) -> tuple[float, int]:
    from idseg.documents.rectify import rectify

    total, failed = 0.0, 0
    for quad in quads:
        times = []
        try:
            for _ in range(repeat):
                start = time.perf_counter()
                rectify(image, quad)
                times.append(time.perf_counter() - start)
        except Exception as exc:  # a wild baseline quad must not stop the benchmark
            logger.debug("rectification failed: %s", exc)
            failed += 1
            continue
        total += statistics.median(times)
    return total * 1000.0, failed


def _run_one(
    name: str, method: Localizer, image: np.ndarray, gts: list[np.ndarray] | None, repeat: int
) -> ImageRecord:
    try:
        quads, seconds = _timed(method, image, repeat)
    except Exception as exc:  # any failure of a third-party method is recorded
        logger.debug("method %s failed: %s", name, exc)
        record = ImageRecord(name, error=f"{type(exc).__name__}: {exc}")
        if gts is not None:  # its documents count as missed, IoU 0
            record.ious, record.frame_ious = [0.0] * len(gts), [0.0] * len(gts)
            record.missed = len(gts)
        return record
    rect_ms, rect_failed = _rectify_ms(image, quads, repeat)
    record = ImageRecord(
        name,
        ms=seconds * 1000.0,
        rectify_ms=rect_ms,
        rectify_failures=rect_failed,
        found=len(quads),
    )
    if gts is not None:
        ious, frame, fps = match_quads(quads, gts, image.shape[:2])
        record.ious, record.frame_ious, record.false_positives = ious, frame, fps
        record.missed = sum(v == 0.0 for v in ious)
    return record


def _build(names: Sequence[str]) -> tuple[dict[str, Localizer], dict[str, str]]:
    methods: dict[str, Localizer] = {}
    unavailable: dict[str, str] = {}
    for name in names:
        try:
            methods[name] = make_localizer(name)
        except (IdsegError, ImportError) as exc:
            logger.info("method %s is unavailable: %s", name, type(exc).__name__)
            unavailable[name] = f"{type(exc).__name__}: {exc}"
    return methods, unavailable


def run_benchmark(
    data: str | os.PathLike[str],
    methods: Mapping[str, Localizer] | Sequence[str],
    resize_short_side: int | None = None,
    warmup: int = 1,
    repeat: int = 1,
    limit: int | None = None,
    threshold: float = 0.9,
    progress: Callable[[int, int], None] | None = None,
    extra: Mapping[str, Localizer] | None = None,
) -> BenchReport:
    """Time and score document localisers on every image of a dataset.

    Args:
        data: A dataset with ``quads/`` (scored), or a folder of images (timed, quads counted).
        methods: Method names of :data:`~idseg.documents.bench_methods.METHODS`, or a mapping
            of name to localiser.
        resize_short_side: Rescale each image (and its quads) to this shorter side first.
        warmup: Untimed calls of each method on the first image before timing starts.
        repeat: Timed calls per image; the median counts.
        limit: Only the first ``limit`` images (by name).
        threshold: Document IoU a good image reaches.
        progress: Called as ``progress(images_done, images_total)`` after every image.
        extra: More localisers by name, run after ``methods`` in the same process (e.g. idseg
            with another localiser checkpoint, :func:`~idseg.documents.bench_methods.idseg_localizer`).

    Returns:
        The report (per method summaries and per-image records).

    Raises:
        InputError: A bad argument, an unknown method name, or no image in ``data``.

    Example:
        >>> run_benchmark("data/midv", ["opencv"], resize_short_side=1080).to_dict()  # doctest: +SKIP
    """
    _check_args(resize_short_side, warmup, repeat, limit, threshold)
    unavailable: dict[str, str] = {}
    if isinstance(methods, Mapping):
        built = dict(methods)
    else:
        built, unavailable = _build(resolve_method_names(methods))
    for name, method in (extra or {}).items():
        if name in built:
            raise InputError(f"method name {name!r} is taken twice")
        built[name] = method
    images, scored = list_bench_images(data)
    images = images[:limit] if limit is not None else images
    report = BenchReport(
        str(data), scored, resize_short_side, warmup, repeat, threshold, environment()
    )
    report.unavailable = unavailable
    report.records = {name: [] for name in built}
    for index, item in enumerate(images):
        _bench_image(item, built, report, warm=warmup if index == 0 else 0)
        if progress is not None:
            progress(index + 1, len(images))
    return report


def _quads_or_none(item: BenchImage) -> list[np.ndarray] | None:
    if item.quad_path is None:
        return None
    try:
        return read_quads(item.quad_path)
    except IdsegError:
        return None


def _bench_image(
    item: BenchImage, methods: Mapping[str, Localizer], report: BenchReport, warm: int
) -> None:
    from idseg.io.images import load_image

    try:
        image = load_image(item.image_path)
        gts = read_quads(item.quad_path) if item.quad_path is not None else None
    except IdsegError as exc:
        logger.debug("cannot read %s: %s", item.name, exc)
        known = _quads_or_none(item)
        for name in methods:
            record = ImageRecord(item.name, error=f"{type(exc).__name__}: {exc}")
            if known is not None:  # its documents count as missed, IoU 0, like a failed method
                record.ious, record.frame_ious = [0.0] * len(known), [0.0] * len(known)
                record.missed = len(known)
            report.records[name].append(record)
        return
    if report.resize_short_side is not None:
        image, resized = resize_short_side(image, gts or [], report.resize_short_side)
        gts = resized if gts is not None else None
    for name, method in methods.items():
        for _ in range(warm):
            try:
                method(image)
            except Exception:  # the timed call records the failure
                break
        report.records[name].append(_run_one(item.name, method, image, gts, report.repeat))


def _check_args(
    short_side: int | None, warmup: int, repeat: int, limit: int | None, threshold: float
) -> None:
    if short_side is not None and short_side < 1:
        raise InputError(f"resize_short_side must be a positive pixel count, got {short_side}")
    if warmup < 0:
        raise InputError(f"warmup must be 0 or more, got {warmup}")
    if repeat < 1:
        raise InputError(f"repeat must be 1 or more, got {repeat}")
    if limit is not None and limit < 1:
        raise InputError(f"limit must be 1 or more, got {limit}")
    if not 0.0 <= threshold <= 1.0:
        raise InputError(f"threshold must be in [0, 1], got {threshold}")
