"""Write the segments of one image to a folder in the requested formats.

Layout of ``folder`` (each file written atomically)::

    segments.json      per-segment metadata (Meta's keys) plus image size
    masks/mask_000.png one 0/255 PNG per segment, largest first        (format ``png``)
    coco.json          COCO with compressed RLE, iscrowd 0              (format ``coco``)
    polygons.json      simplified polygons with holes                   (format ``polygons``)
    labels.txt         YOLO-seg lines, normalised coordinates           (format ``yolo``)
    crops/crop_000.png padded RGB crops, largest first                 (``crops=True``)
    overlay.png        masks over the image, alpha 0.7                  (``overlay=True``)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from idseg.errors import ConfigError
from idseg.sam.results import Masks, Segments

FORMATS = ("png", "coco", "polygons", "yolo")
OUTPUT_MODES = ("binary_mask", "uncompressed_rle", "coco_rle")


@dataclass
class ExportOptions:
    """What to write for each image.

    Attributes:
        formats: Any of ``png``, ``coco``, ``polygons``, ``yolo``.
        overlay: Write ``overlay.png``.
        crops: Write padded crops.
        pad_percent: Crop padding as a fraction of the box size.
        seed: Seed of the overlay colours.
        tolerance: Polygon simplification tolerance in pixels.
        output_mode: Meta's ``output_mode``: with ``coco_rle`` or ``uncompressed_rle`` each record
            of ``segments.json`` also carries its mask as ``segmentation`` in that encoding.
        keep_empty: Keep segments whose mask is empty (Meta's generator can return them when
            thresholds are 0); dropped by default.

    Raises:
        ConfigError: An unknown format or output mode.

    Example:
        >>> ExportOptions(formats=["png", "yolo"], overlay=True).crops
        True
        >>> ExportOptions(formats=["gif"])
        Traceback (most recent call last):
        idseg.errors.ConfigError: unknown format(s) ['gif']; expected any of png, coco, ...
    """

    formats: list[str] = field(default_factory=lambda: ["png", "coco"])
    overlay: bool = False
    crops: bool = True
    pad_percent: float = 0.05
    seed: int = 0
    tolerance: float = 1.0
    output_mode: str = "binary_mask"
    keep_empty: bool = False

    def __post_init__(self) -> None:
        unknown = sorted(set(self.formats) - set(FORMATS))
        if unknown:
            raise ConfigError(f"unknown format(s) {unknown}; expected any of {', '.join(FORMATS)}")
        if self.output_mode not in OUTPUT_MODES:
            raise ConfigError(
                f"output_mode must be one of {', '.join(OUTPUT_MODES)}, got {self.output_mode!r}"
            )


def uncompressed_rle(mask: np.ndarray) -> dict[str, Any]:
    """Meta's uncompressed RLE: column-major run lengths starting with a run of zeros.

    Example:
        >>> uncompressed_rle(np.array([[0, 1], [0, 1]], bool))
        {'size': [2, 2], 'counts': [2, 2]}
    """
    h, w = mask.shape
    flat = np.asarray(mask, dtype=bool).T.ravel()
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    counts = np.diff(np.concatenate([[0], change, [flat.size]])).tolist()
    if flat.size and flat[0]:
        counts = [0, *counts]
    return {"size": [h, w], "counts": counts}


def _records(segments: Segments, mode: str) -> list[dict[str, Any]]:
    records = segments.to_records()
    if mode == "binary_mask":
        return records
    from idseg.formats import mask_to_rle

    encode = mask_to_rle if mode == "coco_rle" else uncompressed_rle
    for record, seg in zip(records, segments, strict=True):
        record["segmentation"] = encode(seg.mask)
    return records


def _save_npy(array: np.ndarray, path: Path) -> None:
    from idseg.io.atomic import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array.astype(np.float32))


def export_segments(
    segments: Segments,
    image: np.ndarray,
    folder: str | Path,
    options: ExportOptions | None = None,
    file_name: str = "image",
    image_id: int = 1,
) -> dict[str, Any]:
    """Write ``segments`` of ``image`` into ``folder``, replacing the folder as a whole.

    The files are written into a temporary folder beside ``folder`` that replaces it only when
    everything succeeded (:func:`idseg.io.atomic.atomic_dir`): no file of an earlier run and no
    partial output survives.

    Args:
        segments: The segments, largest first.
        image: The RGB image they were computed on.
        folder: The image's output folder.
        options: What to write (default :class:`ExportOptions`).
        file_name: Image name recorded in COCO.
        image_id: Image id recorded in COCO.

    Returns:
        ``{"segments": n, "empty_dropped": k, "files": {kind: path or [paths]}, "coco": dict or
        None}``; the COCO dict lets a batch merge all images into one dataset.

    Example:
        >>> options = ExportOptions(formats=["png", "yolo"], overlay=True)
        >>> written = export_segments(segments, image, "out/card", options)  # doctest: +SKIP
        >>> written["files"]["overlay"]  # doctest: +SKIP
        'out/card/overlay.png'
    """
    from idseg.io.atomic import atomic_dir

    opts = options or ExportOptions()
    kept = (
        segments
        if opts.keep_empty
        else Segments([s for s in segments if s.area > 0], segments.image_hw, segments.settings)
    )
    final = Path(folder)
    with atomic_dir(final) as tmp:
        files, coco = _write_all(kept, image, tmp, opts, file_name, image_id)
    files = {k: _rebase(v, tmp, final) for k, v in files.items()}
    return {
        "segments": len(kept),
        "empty_dropped": len(segments) - len(kept),
        "files": files,
        "coco": coco,
    }


def _rebase(value: Any, tmp: Path, final: Path) -> Any:
    if isinstance(value, list):
        return [_rebase(v, tmp, final) for v in value]
    return str(final / Path(value).relative_to(tmp))


def _write_all(
    segments: Segments,
    image: np.ndarray,
    out: Path,
    opts: ExportOptions,
    file_name: str,
    image_id: int,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    from idseg import formats as fmt
    from idseg.io.writers import save_rgb_png

    h, w = segments.image_hw
    meta = {
        "image": {"file_name": file_name, "height": h, "width": w},
        "segments": _records(segments, opts.output_mode),
    }
    files: dict[str, Any] = {"segments": str(fmt.write_json(meta, out / "segments.json"))}
    coco = None
    if "png" in opts.formats:
        files["masks"] = [str(p) for p in segments.save_pngs(out / "masks")]
    if "coco" in opts.formats:
        coco = segments.to_coco(image_id=image_id, file_name=file_name)
        files["coco"] = str(fmt.write_json(coco, out / "coco.json"))
    if "polygons" in opts.formats:
        polys = segments.to_polygons(tolerance=opts.tolerance)
        files["polygons"] = str(fmt.write_json(polys, out / "polygons.json"))
    if "yolo" in opts.formats:
        from idseg.io.atomic import atomic_write_text

        text = segments.to_yolo(tolerance=opts.tolerance)
        files["yolo"] = str(atomic_write_text(out / "labels.txt", text))
    if opts.crops:
        crops = segments.crops(image, opts.pad_percent)
        files["crops"] = [
            str(save_rgb_png(crop, out / "crops" / f"crop_{i:03d}.png"))
            for i, (crop, _) in enumerate(crops)
        ]
    if opts.overlay:
        from idseg.viz import overlay_segments

        shown = overlay_segments(image, segments, seed=opts.seed)
        files["overlay"] = str(save_rgb_png(shown, out / "overlay.png"))
    return files, coco


def export_masks(
    answer: Masks,
    image: np.ndarray,
    folder: str | Path,
    points: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    boxes: np.ndarray | None = None,
    tolerance: float = 1.0,
    overlay: bool = True,
    seed: int = 0,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write a prompted answer: every candidate mask, a JSON with scores and polygons, an overlay.

    Files: ``mask_{prompt}_{candidate}.png``, ``best_{prompt}.png``, ``logits_{prompt}.npy`` (the
    best mask's ``1 x h x w`` low-resolution logits, to pass back as ``mask_input`` for click
    refinement), ``result.json`` and, with ``overlay``, ``overlay.png`` showing the best masks, the
    points (green foreground, red background) and the boxes. ``folder`` is replaced as a whole,
    like :func:`export_segments` does.

    Args:
        answer: The predictor's answer (``B`` prompt sets, ``C`` candidates each).
        image: The RGB image the prompts were answered on.
        folder: The output folder.
        points: ``N x 2`` ``(x, y)`` prompt points in image pixels, drawn on the overlay.
        labels: ``N`` point labels (1 foreground, 0 background), drawn on the overlay.
        boxes: ``B x 4`` XYXY prompt boxes in image pixels, drawn on the overlay.
        tolerance: Polygon simplification tolerance in pixels.
        overlay: Write ``overlay.png``.
        seed: Seed of the overlay colours.
        meta: Extra keys merged into ``result.json`` (the model, the prompts as given ...).

    Returns:
        The content of ``result.json``: ``image`` (height, width), one ``prompts`` entry per
        prompt set with the ``best`` index and every candidate's score, area, box and
        polygons, plus ``meta``.

    Example:
        >>> pts, labels = np.array([[420, 310]]), np.array([1])
        >>> answer = predictor.predict(points=pts, labels=labels)  # doctest: +SKIP
        >>> result = export_masks(answer, image, "out/click", pts, labels)  # doctest: +SKIP
        >>> result["prompts"][0]["best"]  # doctest: +SKIP
        1
    """
    from idseg.io.atomic import atomic_dir

    with atomic_dir(folder) as tmp:
        return _write_answer(
            answer, image, tmp, (points, labels, boxes), tolerance, overlay, seed, meta or {}
        )


def _write_answer(
    answer: Masks,
    image: np.ndarray,
    out: Path,
    prompts: tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None],
    tolerance: float,
    overlay: bool,
    seed: int,
    meta: dict[str, Any],
) -> dict[str, Any]:
    from idseg import formats as fmt
    from idseg.geometry import mask_to_polygons
    from idseg.io.writers import save_rgb_png

    best = answer.best_index()
    records = []
    for b in range(len(answer)):
        fmt.save_mask_png(answer.masks[b, best[b]], out / f"best_{b:03d}.png")
        candidates = []
        for c in range(answer.masks.shape[1]):
            mask = answer.masks[b, c]
            fmt.save_mask_png(mask, out / f"mask_{b:03d}_{c}.png")
            candidates.append(
                {
                    "score": float(answer.scores[b, c]),
                    "area": int(mask.sum()),
                    "bbox_xyxy": [int(v) for v in answer.boxes[b, c]],
                    "polygons": [p.to_dict() for p in mask_to_polygons(mask, tolerance=tolerance)],
                }
            )
        _save_npy(answer.low_res_logits[b, best[b]][None], out / f"logits_{b:03d}.npy")
        records.append({"prompt": b, "best": int(best[b]), "candidates": candidates})
    result = {
        "image": {"height": image.shape[0], "width": image.shape[1]},
        "prompts": records,
        **meta,
    }
    fmt.write_json(result, out / "result.json")
    if overlay:
        from idseg.viz import draw_boxes, draw_points, overlay_masks

        points, labels, boxes = prompts
        shown = overlay_masks(image, answer.best(), seed=seed)
        if boxes is not None:
            shown = draw_boxes(shown, boxes)
        if points is not None:
            shown = draw_points(shown, points, labels if labels is not None else None)
        save_rgb_png(shown, out / "overlay.png")
    return result
