"""Run the document pipeline on photos and tile what it found: overlays, then rectified documents.

Usage::

    python benchmarks/doc_samples.py ../shared/samples --out docs/images/doc_samples.jpg

Prints, per photo, the documents found with kind, score and corners (for the record).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from idseg.documents.doc_batch import CLASS_COLORS, draw_result
from idseg.documents.pipeline import DocumentPipeline
from idseg.io.files import discover_images
from idseg.io.images import load_image
from idseg.viz import contact_sheet


def _field_view(doc: object) -> np.ndarray:
    rect, labels = doc.rectified, doc.field_map  # type: ignore[attr-defined]
    colors = np.array(CLASS_COLORS, np.float32)
    tinted = rect.astype(np.float32)
    fields = labels >= 2
    tinted[fields] = 0.55 * tinted[fields] + 0.45 * colors[labels[fields]]
    return tinted.astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--cell", type=int, default=320)
    parser.add_argument(
        "--localizer", type=Path, default=None, help="Another localiser checkpoint."
    )
    args = parser.parse_args()
    pipe = DocumentPipeline(localizer=args.localizer)
    tiles, labels = [], []
    for path in discover_images(args.paths).images:
        image = load_image(path)
        result = pipe.analyze(image)
        tiles.append(draw_result(image, result))
        labels.append(f"{path.name}: {len(result.documents)} found")
        for i, doc in enumerate(result.documents, start=1):
            tiles.append(_field_view(doc))
            labels.append(f"{path.stem} #{i} {doc.kind or '?'} {doc.score:.2f}")
        record = [
            {
                "kind": d.kind,
                "score": round(d.score, 3),
                "completed": d.completed,
                "quad": np.round(d.quad, 1).tolist(),
            }
            for d in result.documents
        ]
        print(path.name, json.dumps(record))
    sheet = contact_sheet(tiles, cols=4, cell=args.cell, labels=labels)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), sheet[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
