"""Field segmentation on real specimen photos against hand-drawn outlines.

The synthetic held-out set measures the field model on idseg's own designs; this measures it on
real cards (the specimen photos of ``../shared/samples``) for the classes outlined in
``benchmarks/data/specimen_fields.json``: portrait, signature and barcode. The whole pipeline runs
(localise, rectify, fields) and its fields, mapped back to the photo, are compared there with the
outlines, pooled over all photos: IoU, recall (share of the outlined area found) and precision.

Usage::

    python benchmarks/specimen_fields.py ../shared/samples [--fields CKPT] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from idseg.documents.pipeline import DocumentPipeline
from idseg.geometry import Polygon, polygons_to_mask
from idseg.io.images import load_image

LABELS = Path(__file__).parent / "data" / "specimen_fields.json"


def _polygon(shape: list) -> np.ndarray:
    """A box ``[x0, y0, x1, y1]`` or a list of points as an ``N x 2`` polygon."""
    if len(shape) == 4 and not isinstance(shape[0], list):
        x0, y0, x1, y1 = shape
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)
    return np.array(shape, np.float32)


def _fill(hw: tuple[int, int], polygons: list[np.ndarray]) -> np.ndarray:
    return polygons_to_mask([Polygon(np.asarray(p, np.float64)) for p in polygons], hw)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("samples", type=Path, help="Folder of the specimen photos.")
    parser.add_argument("--fields", type=Path, default=None, help="Another field checkpoint.")
    parser.add_argument("--localizer", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    labels = json.loads(LABELS.read_text())["photos"]
    pipe = DocumentPipeline(localizer=args.localizer, fields=args.fields)
    counts: dict[str, np.ndarray] = {}  # class -> [intersection, truth, predicted]
    for name, classes in labels.items():
        image = load_image(args.samples / name)
        hw = image.shape[:2]
        fields = [f for d in pipe.analyze(image).documents for f in d.fields]
        for cls, shapes in classes.items():
            truth = _fill(hw, [_polygon(s) for s in shapes])
            pred = _fill(hw, [f.image_polygon for f in fields if f.cls == cls])
            c = counts.setdefault(cls, np.zeros(3, np.int64))
            c += [int((truth & pred).sum()), int(truth.sum()), int(pred.sum())]
    scores = {
        cls: {
            "iou": round(float(i / max(t + p - i, 1)), 3),
            "recall": round(float(i / max(t, 1)), 3),
            "precision": round(float(i / max(p, 1)), 3),
        }
        for cls, (i, t, p) in counts.items()
    }
    mean = round(float(np.mean([v["iou"] for v in scores.values()])), 3)
    report = {**scores, "mean_iou": mean}
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
