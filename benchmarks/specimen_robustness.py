"""Do the specimen photos give the same documents when turned, shrunk or recompressed?

For each photo in a folder, the pipeline's rectified documents of the photo as it is are the
reference. The photo is then turned by 90, 180 and 270 degrees, halved in size and saved as a
JPEG of quality 30, and each reference document is matched to the most similar document found
in the changed photo (normalised cross-correlation of 160 x 100 greyscale thumbnails, in the
document's own orientation). A document counts as kept when its best match correlates at least
``--min-ncc`` (0.5 by default); it counts as turned when a match correlates better with the
reference turned upside down, and at least ``--min-ncc`` (found, but upside down: a missed
document is not turned). Usage:

    python benchmarks/specimen_robustness.py ../shared/samples [--json out.json]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from idseg.documents.pipeline import DocumentPipeline
from idseg.documents.synth.photometric import jpeg
from idseg.io.images import load_image

Change = Callable[[np.ndarray], np.ndarray]


CHANGES: dict[str, Change] = {
    "turn 90": lambda im: np.rot90(im, 1),
    "turn 180": lambda im: np.rot90(im, 2),
    "turn 270": lambda im: np.rot90(im, 3),
    "half size": lambda im: cv2.resize(im, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA),
    "jpeg 30": lambda im: jpeg(np.random.default_rng(0), im, (30, 30)),
}


def _thumbs(pipe: DocumentPipeline, image: np.ndarray) -> list[np.ndarray]:
    """Greyscale thumbnails of the rectified documents, in their own orientation."""
    out = []
    for doc in pipe.analyze(np.ascontiguousarray(image)).documents:
        h, w = doc.rectified.shape[:2]
        size = (160, 100) if w >= h else (100, 160)
        gray = cv2.cvtColor(doc.rectified, cv2.COLOR_RGB2GRAY)
        out.append(cv2.resize(gray, size, interpolation=cv2.INTER_AREA).astype(np.float32))
    return out


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        return -1.0
    a = (a - a.mean()) / (a.std() + 1e-6)
    b = (b - b.mean()) / (b.std() + 1e-6)
    return float((a * b).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("samples", type=Path, help="Folder of photos (*.png, *.jpg).")
    parser.add_argument("--min-ncc", type=float, default=0.5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    pipe = DocumentPipeline()
    photos = sorted(p for p in args.samples.iterdir() if p.suffix.lower() in {".png", ".jpg"})
    report: dict[str, dict[str, object]] = {}
    totals = {name: [0, 0, 0, 0] for name in CHANGES}  # documents, kept, turned, extra found
    for path in photos:
        image = load_image(str(path))
        refs = _thumbs(pipe, image)
        row: dict[str, object] = {"documents": len(refs)}
        for name, change in CHANGES.items():
            got = _thumbs(pipe, change(image))
            best = [max((_ncc(r, g) for g in got), default=-1.0) for r in refs]
            flipped = [max((_ncc(r[::-1, ::-1], g) for g in got), default=-1.0) for r in refs]
            kept = sum(b >= args.min_ncc for b in best)
            turned = sum(f > b and f >= args.min_ncc for b, f in zip(best, flipped, strict=True))
            row[name] = {"found": len(got), "kept": kept, "turned": turned,
                         "ncc": [round(b, 3) for b in best]}  # fmt: skip
            t = totals[name]
            t[0], t[1], t[2] = t[0] + len(refs), t[1] + kept, t[2] + turned
            t[3] += max(0, len(got) - len(refs))
        report[path.name] = row
        cells = "; ".join(
            f"{n}: {r['kept']}/{row['documents']} kept, {r['found']} found"  # type: ignore[index]
            for n, r in row.items()
            if n != "documents"
        )
        print(f"{path.name}: {cells}")
    print("\nchange      kept   turned  extra documents")
    for name, (n, kept, turned, extra) in totals.items():
        print(f"{name:10s} {kept:3d}/{n:<3d} {turned:5d}   {extra:5d}")
    if args.json:
        args.json.write_text(json.dumps({"photos": report, "totals": totals}, indent=2))


if __name__ == "__main__":
    main()
