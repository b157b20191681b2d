"""Records and summaries of the document-localisation benchmark (:mod:`idseg.documents.bench`)."""

from __future__ import annotations

import importlib.metadata
import logging
import math
import os
import platform
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["BenchReport", "ImageRecord", "environment", "summarize"]

#: Distributions whose versions the report records when they are installed.
VERSIONED = ("idseg", "numpy", "opencv-python-headless", "onnxruntime", "microwink", "torch")


@dataclass
class ImageRecord:
    """One method on one image.

    Attributes:
        name: The image stem.
        ms: Localisation time (median over the repeats), ``None`` when the method failed.
        rectify_ms: Time to rectify every returned quad (summed over the quads).
        rectify_failures: Returned quads that could not be rectified.
        found: Quads returned.
        ious: Image IoU per ground-truth document (0: missed); ``None`` without ground truth.
        frame_ious: Document-frame (MIDV-500) IoU per ground-truth document.
        false_positives: Returned quads matching no document.
        missed: Documents without a matching quad (all of them when the method failed).
        error: Why the method failed on this image, else ``None``.
    """

    name: str
    ms: float | None = None
    rectify_ms: float | None = None
    rectify_failures: int = 0
    found: int = 0
    ious: list[float] | None = None
    frame_ious: list[float] | None = None
    false_positives: int = 0
    missed: int | None = None
    error: str | None = None

    @property
    def score(self) -> float | None:
        """The image's worst document IoU; a negative image scores 1 without false positives.

        Example:
            >>> ImageRecord("a", ious=[0.95, 0.5]).score, ImageRecord("b", ious=[]).score
            (0.5, 1.0)
        """
        if self.error is not None:
            return 0.0
        if self.ious is None:
            return None
        if self.ious:
            return min(self.ious)
        return 0.0 if self.false_positives else 1.0


def _stats(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return statistics.median(values), statistics.fmean(values)


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def summarize(records: list[ImageRecord], threshold: float) -> dict[str, Any]:
    """One method's summary over its image records.

    Example:
        >>> s = summarize([ImageRecord("a", 10.0, 2.0, found=1, ious=[1.0], frame_ious=[1.0]),
        ...                ImageRecord("b", error="boom", ious=[0.0], frame_ious=[0.0], missed=1)],
        ...               0.9)
        >>> s["mean_iou"], s["missed"], s["failed"], s["ms_median"], s["below_threshold"]
        (0.5, 1, 1, 10.0, [['b', 0.0]])
    """
    ok = [r for r in records if r.error is None]
    ious = [v for r in records for v in (r.ious or [])]
    frame = [v for r in records for v in (r.frame_ious or [])]
    scored = any(r.ious is not None for r in records)
    ms = [r.ms for r in ok if r.ms is not None]
    rect = [r.rectify_ms for r in ok if r.rectify_ms is not None]
    total = [r.ms + r.rectify_ms for r in ok if r.ms is not None and r.rectify_ms is not None]
    below = [(r.name, s) for r in records if (s := r.score) is not None and s < threshold]
    out: dict[str, Any] = {
        "images": len(records),
        "failed": len(records) - len(ok),
        "failures": [[r.name, r.error] for r in records if r.error is not None],
        "found": sum(r.found for r in ok),
        "images_with_documents": sum(r.found > 0 for r in ok),
        "rectify_failures": sum(r.rectify_failures for r in ok),
    }
    for key, values in (("ms", ms), ("rectify_ms", rect), ("total_ms", total)):
        out[f"{key}_median"], out[f"{key}_mean"] = _stats(values)
    if scored:
        out.update(
            documents=len(ious),
            mean_iou=_mean(ious),
            mean_midv_iou=_mean(frame),
            share_above_threshold=(sum(v >= threshold for v in ious) / len(ious) if ious else None),
            false_positives=sum(r.false_positives for r in ok),
            missed=sum(r.missed or 0 for r in records),
            below_threshold=[
                [n, round(s, 6)] for n, s in sorted(below, key=lambda t: (t[1], t[0]))
            ],
        )
    return out


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment() -> dict[str, Any]:
    """Where the benchmark ran: CPUs, torch threads (``None`` without torch), versions.

    Example:
        >>> sorted(environment())[:3]
        ['cpu_count', 'cpus_usable', 'platform']
    """
    try:
        import torch

        threads: int | None = torch.get_num_threads()
    except ImportError:
        threads = None
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "torch_threads": threads,
        "versions": {d: v for d in VERSIONED if (v := _version(d)) is not None},
    }


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


@dataclass
class BenchReport:
    """A benchmark run.

    Attributes:
        data: The dataset or folder benchmarked.
        scored: Whether the images had ground-truth quads (IoU reported).
        resize_short_side: The shorter side images were rescaled to, or ``None``.
        warmup: Untimed calls per method before timing.
        repeat: Timed calls per image (median kept).
        threshold: Document IoU a good image reaches.
        environment: See :func:`environment`.
        unavailable: Method name -> why it could not run.
        records: Method name -> one record per image, in image order.

    Example:
        >>> r = BenchReport("d", True, None, 1, 1, 0.9, {})
        >>> r.records = {"m": [ImageRecord("a", error="x"), ImageRecord("b", 1.0, 0.0)]}
        >>> r.failed_everywhere, r.summary("m")["failed"]
        (['a'], 1)
    """

    data: str
    scored: bool
    resize_short_side: int | None
    warmup: int
    repeat: int
    threshold: float
    environment: dict[str, Any]
    unavailable: dict[str, str] = field(default_factory=dict)
    records: dict[str, list[ImageRecord]] = field(default_factory=dict)

    @property
    def methods(self) -> list[str]:
        """The methods that ran, in order."""
        return list(self.records)

    def summary(self, method: str) -> dict[str, Any]:
        """The summary of one method (see :func:`summarize`)."""
        return summarize(self.records[method], self.threshold)

    @property
    def failed_everywhere(self) -> list[str]:
        """Images on which every method that ran failed."""
        runs = list(self.records.values())
        if not runs:
            return []
        return [r.name for i, r in enumerate(runs[0]) if all(run[i].error for run in runs)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready report: settings, environment, per-method summaries and per-image records."""
        return {
            "data": self.data,
            "scored": self.scored,
            "images": len(next(iter(self.records.values()), [])),
            "resize_short_side": self.resize_short_side,
            "warmup": self.warmup,
            "repeat": self.repeat,
            "threshold": self.threshold,
            "environment": self.environment,
            "unavailable": self.unavailable,
            "failed_everywhere": self.failed_everywhere,
            "methods": {name: self.summary(name) for name in self.records},
            "per_image": {
                name: [{k: _clean(v) for k, v in asdict(r).items()} for r in records]
                for name, records in self.records.items()
            },
        }
