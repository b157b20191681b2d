"""Document quads on real specimen photos against hand-measured corners.

The synthetic held-out sets measure the localiser on idseg's own scenes; this measures it on
the real cards of ``../shared/samples`` against ``benchmarks/data/specimen_documents.json``:
each card's sharp corners, measured independently of idseg (edge profiles across each straight
side, lines fitted and intersected; about 0.5-2 px of error, see the file's ``about``). The
whole pipeline runs; each labelled card is matched to the found document it overlaps most.
Printed per card: IoU in the photo (parts outside the photo count too, so a corner out of frame
must be extrapolated), IoU in the document's own frame (MIDV-500), and the largest corner
error in pixels and as a share of the card's diagonal; then means and extra documents.

Usage::

    python benchmarks/specimen_documents.py ../shared/samples [--localizer CKPT] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from idseg.documents.evaluate import quad_iou, quad_iou_document_frame
from idseg.documents.pipeline import DocumentPipeline
from idseg.io.images import load_image
from idseg.quad import order_quad

LABELS = Path(__file__).parent / "data" / "specimen_documents.json"


def _card(truth: np.ndarray, found: list[np.ndarray]) -> dict[str, float]:
    """Scores of the found quad that overlaps a labelled card most (zeros when none does)."""
    ious = [quad_iou(q, truth) for q in found]
    if not ious or max(ious) == 0.0:
        return {"iou": 0.0, "iou_midv": 0.0, "corner_px": float("inf"), "corner_share": 1.0}
    quad = order_quad(found[int(np.argmax(ious))])
    corner = float(np.linalg.norm(quad - order_quad(truth), axis=1).max())
    diagonal = float(np.linalg.norm(truth[2] - truth[0]))
    return {
        "iou": round(max(ious), 4),
        "iou_midv": round(quad_iou_document_frame(quad, truth), 4),
        "corner_px": round(corner, 1),
        "corner_share": round(corner / diagonal, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("samples", type=Path, help="Folder of the specimen photos.")
    parser.add_argument("--localizer", type=Path, default=None, help="Another localiser.")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    labels = json.loads(LABELS.read_text())["photos"]
    pipe = DocumentPipeline(localizer=args.localizer)
    cards, extra = {}, 0
    for name, quads in labels.items():
        found = [d.quad for d in pipe.analyze(load_image(args.samples / name)).documents]
        for k, truth in enumerate(quads):
            cards[f"{name}#{k}"] = _card(np.asarray(truth, np.float64), found)
        extra += max(0, len(found) - len(quads))
    for card, s in cards.items():
        print(
            f"{card:24s} IoU {s['iou']:.4f}  MIDV {s['iou_midv']:.4f}  corner {s['corner_px']} px"
        )
    summary = {
        "cards": len(cards),
        "found": sum(s["iou"] > 0.5 for s in cards.values()),
        "mean_iou": round(float(np.mean([s["iou"] for s in cards.values()])), 4),
        "min_iou": round(float(min(s["iou"] for s in cards.values())), 4),
        "mean_iou_midv": round(float(np.mean([s["iou_midv"] for s in cards.values()])), 4),
        "max_corner_share": round(float(max(s["corner_share"] for s in cards.values())), 4),
        "extra_documents": extra,
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps({"cards": cards, **summary}, indent=2))


if __name__ == "__main__":
    main()
