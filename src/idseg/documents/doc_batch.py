"""Run the document pipeline (or redaction) over files and folders: the library of ``idseg doc``.

Per image, ``out/<name>/`` (built in a temporary folder and swapped in whole) holds::

    result.json            quads, kinds, scores, fields (boxes, outlines in both frames), timings
    overlay.jpg            the photo with each document's quad and its fields drawn
    labels.png             photo-frame class map (0 background, 1 document, 2 portrait, ...)
    doc1/rectified.png     the upright document
    doc1/fields.png        its class map
    doc1/crops/mrz_1.png   each field cut out of the rectified document (``crops``)

``out/summary.json`` lists every file with its status; a bad file is reported and skipped. A photo
without a document gets ``"found": false`` and no ``docN`` folder.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from idseg.batch import output_names
from idseg.documents.classes import CLASS_NAMES
from idseg.documents.pipeline import DocumentPipeline
from idseg.documents.result import DocumentResult
from idseg.errors import InputError
from idseg.io.atomic import atomic_dir, atomic_write_json
from idseg.io.files import images_to_process
from idseg.io.images import load_image
from idseg.io.writers import save_label_png, save_rgb_png

logger = logging.getLogger(__name__)

__all__ = ["DocOutputs", "draw_result", "run_documents", "save_result"]

#: One RGB colour per class of :data:`CLASS_NAMES` (background unused).
CLASS_COLORS: tuple[tuple[int, int, int], ...] = (
    (0, 0, 0),
    (0, 200, 0),
    (230, 60, 60),
    (60, 90, 255),
    (0, 200, 220),
    (220, 0, 220),
    (255, 200, 0),
)


@dataclass(frozen=True)
class DocOutputs:
    """What ``idseg doc`` writes per image besides ``result.json``.

    Attributes:
        overlay: ``overlay.jpg``.
        labels: ``labels.png`` (photo-frame class map).
        rectified: ``docN/rectified.png`` and ``docN/fields.png``.
        crops: ``docN/crops/<class>_<k>.png``.
    """

    overlay: bool = True
    labels: bool = True
    rectified: bool = True
    crops: bool = True


def draw_result(image: np.ndarray, result: DocumentResult) -> np.ndarray:
    """The photo with each document's quad (green, dot on its top-left) and fields outlined.

    Example:
        >>> out = draw_result(np.zeros((8, 8, 3), np.uint8), DocumentResult(8, 8))
        >>> out.shape
        (8, 8, 3)
    """
    import cv2

    out = image.copy()
    thickness = max(2, round(max(image.shape[:2]) / 400))
    for doc in result.documents:
        for f in doc.fields:
            if len(f.image_polygon) >= 3:
                pts = np.round((f.image_polygon - 0.5) * 16).astype(np.int32)
                color = CLASS_COLORS[CLASS_NAMES.index(f.cls)]
                cv2.polylines(out, [pts], True, color, thickness, cv2.LINE_AA, shift=4)
        pts = np.round((doc.quad - 0.5) * 16).astype(np.int32)
        cv2.polylines(out, [pts], True, (0, 255, 0), thickness + 1, cv2.LINE_AA, shift=4)
        corner = tuple(int(v) for v in np.round(doc.quad[0] - 0.5))
        cv2.circle(out, corner, thickness * 3, (255, 0, 0), -1, cv2.LINE_AA)
    return out


def save_result(
    result: DocumentResult,
    image: np.ndarray,
    folder: Path,
    outputs: DocOutputs = DocOutputs(),
    source: str | None = None,
) -> Path:
    """Write one image's outputs into ``folder`` (replaced whole, never half-written)."""
    with atomic_dir(folder) as tmp:
        record = result.to_dict()
        if source is not None:
            record["source"] = source
        atomic_write_json(tmp / "result.json", record)
        if outputs.overlay:
            _save_jpeg(draw_result(image, result), tmp / "overlay.jpg")
        if outputs.labels:
            save_label_png(result.label_map(), tmp / "labels.png")
        for i, doc in enumerate(result.documents, start=1):
            sub = tmp / f"doc{i}"
            if outputs.rectified or outputs.crops:
                sub.mkdir()
            if outputs.rectified:
                save_rgb_png(doc.rectified, sub / "rectified.png")
                save_label_png(doc.field_map, sub / "fields.png")
            if outputs.crops and doc.fields:
                (sub / "crops").mkdir()
                counts: dict[str, int] = {}
                for f in doc.fields:
                    counts[f.cls] = counts.get(f.cls, 0) + 1
                    save_rgb_png(
                        f.crop(doc.rectified), sub / "crops" / f"{f.cls}_{counts[f.cls]}.png"
                    )
    return folder


def _save_jpeg(image: np.ndarray, path: Path) -> None:
    import cv2

    ok, buf = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise OSError("OpenCV could not encode the overlay")
    path.write_bytes(buf.tobytes())


def run_documents(
    paths: list[Path],
    out: Path,
    handle: Callable[[np.ndarray, Path, str], dict[str, Any]],
    progress: Callable[[int], Callable[..., None]] | None = None,
    suffix: str = "",
) -> dict[str, Any]:
    """Apply ``handle(image, output_path, source_name)`` to every image; carry on past bad files.

    Args:
        paths: Files and folders.
        out: Output folder (``summary.json`` goes there).
        handle: Work on one image; returns facts for the summary (``documents`` ...).
        progress: Optional progress-bar factory (called with the total).
        suffix: Appended to each output name (``""`` for a folder per image, an extension for
            one file per image).

    Returns:
        The summary: ``ok``, ``failed``, ``total``, ``documents``, ``no_document``, ``skipped``,
        ``seconds``, ``out`` and one entry per file.

    Raises:
        InputError: ``out`` is a file, or no image was found.
    """
    start = time.perf_counter()
    found = images_to_process(paths, out)
    advance = progress(len(found.images)) if progress else None
    files: list[dict[str, Any]] = []
    for path, name in zip(found.images, output_names(found.images), strict=True):
        item: dict[str, Any] = {"path": str(path), "output": str(out / f"{name}{suffix}")}
        try:
            image = load_image(path)
            item.update(
                status="ok", **handle(image, out / f"{name}{suffix}", found.relative_name(path))
            )
        except Exception as exc:  # one bad file never stops the batch
            logger.warning("an image failed: %s", type(exc).__name__)
            logger.debug("failed image %s", path, exc_info=True)
            item.update(status="error", error=str(exc), error_type=type(exc).__name__)
        files.append(item)
        if advance:
            advance()
    if advance:
        advance(done=True)
    failed = sum(1 for f in files if f["status"] != "ok")
    summary: dict[str, Any] = {
        "ok": len(files) - failed,
        "failed": failed,
        "total": len(files),
        "documents": sum(f.get("documents", 0) for f in files),
        "no_document": sum(1 for f in files if f.get("documents") == 0),
        "incomplete": sum(1 for f in files if f.get("incomplete")),
        "skipped": [str(p) for p in found.skipped],
        "seconds": time.perf_counter() - start,
        "out": str(out),
        "files": files,
    }
    atomic_write_json(out / "summary.json", summary)
    return summary


def doc_handler(
    pipeline: DocumentPipeline, outputs: DocOutputs = DocOutputs()
) -> Callable[[np.ndarray, Path, str], dict[str, Any]]:
    """The per-image work of ``idseg doc``: analyse and save."""

    def handle(image: np.ndarray, folder: Path, source: str) -> dict[str, Any]:
        result = pipeline.analyze(image)
        save_result(result, image, folder, outputs, source)
        return {
            "documents": len(result.documents),
            "kinds": [d.kind for d in result.documents],
            "ms": round(result.timings.get("total", 0.0), 1),
        }

    return handle


def redact_handler(
    pipeline: DocumentPipeline,
    classes: str,
    mode: str,
    dilate: int,
    image_format: str | None = None,
    require: str | None = None,
) -> Callable[[np.ndarray, Path, str], dict[str, Any]]:
    """The per-image work of ``idseg redact``: analyse, redact, save a metadata-free copy.

    Nothing is written for a photo without a document, nor for one where a document lacks a
    class of ``require`` (``written`` is ``False``, ``incomplete`` names the classes). Requested
    classes not found in a document are listed under ``missing`` either way. Fields are those
    ``pipeline`` keeps: ``idseg redact`` builds it with
    ``PipelineSettings(barcode_min_score=0.0)`` so that no unsure barcode escapes; the default
    pipeline drops barcode regions under 0.9.

    Raises:
        InputError: Unknown class, mode or format (checked before any image is read).
    """
    from idseg.documents.redact import MODES, check_classes, redact, save_redacted

    names = check_classes(classes)
    required = check_classes(require) if require else []
    if mode not in MODES:
        raise InputError(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
    fmt = None if image_format is None else image_format.lower().lstrip(".").replace("jpeg", "jpg")
    if fmt not in (None, "jpg", "png", "webp"):
        raise InputError(f"--format must be jpg, png or webp, got {image_format!r}")

    def handle(image: np.ndarray, base: Path, source: str) -> dict[str, Any]:
        result = pipeline.analyze(image)
        ext = fmt or (Path(source).suffix.lower().lstrip(".") or "png")
        if ext not in ("jpg", "jpeg", "png", "webp"):
            ext = "png"  # TIFF, BMP: write a PNG rather than a format we do not strip
        target = base.with_name(f"{base.name}.{ext}")
        facts: dict[str, Any] = {"documents": len(result.documents), "output": str(target)}
        if not result.documents:
            facts["written"] = False
            return facts
        missing = {
            str(i): [n for n in names if not d.fields_of(n)]
            for i, d in enumerate(result.documents, start=1)
        }
        missing = {k: v for k, v in missing.items() if v}
        facts["missing"] = missing  # requested classes not found, per document: check by hand
        unmet = sorted({n for v in missing.values() for n in v if n in required})
        if unmet:
            facts.update(written=False, incomplete=unmet)
            return facts
        labels = result.label_map()
        out = redact(image, labels, names, mode, dilate_px=dilate)  # type: ignore[arg-type]
        save_redacted(out, target)
        facts.update(
            written=True,
            regions={n: sum(len(d.fields_of(n)) for d in result.documents) for n in names},
        )
        return facts

    return handle
