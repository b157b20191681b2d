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
    """

    formats: list[str] = field(default_factory=lambda: ["png", "coco"])
    overlay: bool = False
    crops: bool = True
    pad_percent: float = 0.05
    seed: int = 0
    tolerance: float = 1.0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.formats) - set(FORMATS))
        if unknown:
            raise ConfigError(f"unknown format(s) {unknown}; expected any of {', '.join(FORMATS)}")


def _save_npy(array: np.ndarray, path: Path) -> None:
    from idseg.io.atomic import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array.astype(np.float32))


def _write_png_rgb(image: np.ndarray, path: Path) -> None:
    from PIL import Image

    from idseg.io.atomic import atomic_path

    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")


def export_segments(
    segments: Segments,
    image: np.ndarray,
    folder: str | Path,
    options: ExportOptions | None = None,
    file_name: str = "image",
    image_id: int = 1,
) -> dict[str, Any]:
    """Write ``segments`` of ``image`` into ``folder``; return what was written.

    Returns:
        ``{"segments": n, "files": {kind: path or [paths]}, "coco": coco_dict or None}``; the
        COCO dict lets a batch merge all images into one dataset.
    """
    from idseg import formats as fmt

    opts = options or ExportOptions()
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Any] = {}
    meta = {
        "image": {"height": segments.image_hw[0], "width": segments.image_hw[1]},
        "segments": segments.to_records(),
    }
    files["segments"] = str(fmt.write_json(meta, out / "segments.json"))
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
        files["crops"] = []
        for i, (crop, _) in enumerate(segments.crops(image, opts.pad_percent)):
            path = out / "crops" / f"crop_{i:03d}.png"
            _write_png_rgb(crop, path)
            files["crops"].append(str(path))
    if opts.overlay:
        from idseg.viz import overlay_segments

        path = out / "overlay.png"
        _write_png_rgb(overlay_segments(image, segments, seed=opts.seed), path)
        files["overlay"] = str(path)
    return {"segments": len(segments), "files": files, "coco": coco}


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
) -> dict[str, Any]:
    """Write a prompted answer: every candidate mask, a JSON with scores and polygons, an overlay.

    Files: ``mask_{prompt}_{candidate}.png``, ``best_{prompt}.png``, ``logits_{prompt}.npy`` (the
    best mask's ``1 x h x w`` low-resolution logits, to pass back as ``mask_input`` for click
    refinement), ``result.json`` and, with ``overlay``, ``overlay.png`` showing the best masks, the
    points (green foreground, red background) and the boxes.
    """
    from idseg import formats as fmt
    from idseg.geometry import mask_to_polygons

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
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
    result = {"image": {"height": image.shape[0], "width": image.shape[1]}, "prompts": records}
    fmt.write_json(result, out / "result.json")
    if overlay:
        from idseg.viz import draw_boxes, draw_points, overlay_masks

        shown = overlay_masks(image, answer.best(), seed=seed)
        if boxes is not None:
            shown = draw_boxes(shown, boxes)
        if points is not None:
            shown = draw_points(shown, points, labels if labels is not None else None)
        _write_png_rgb(shown, out / "overlay.png")
    return result
