"""Document quads on real specimen photos against hand-measured corners.

The synthetic held-out sets measure the localiser on idseg's own scenes; this measures it on
the real cards of ``../shared/samples`` against ``benchmarks/data/specimen_documents.json``:
each card's sharp corners, measured independently of idseg (edge profiles across each straight
side, lines fitted and intersected; about 0.5-2 px of error, see the file's ``about``). The
whole pipeline runs; each labelled card is matched to the found document it overlaps most.
Printed per card: IoU in the photo (parts outside the photo count too, so a corner out of frame
must be extrapolated), IoU in the document's own frame (MIDV-500), and the largest corner
error in pixels and as a share of the card's diagonal; then means and extra documents.

``--closeups`` also cuts each card out of its photo with a margin of 0, 2 and 5 % of its box
on every side (a scan, a photo filled by the card) and scores the pipeline on each cut.
``--turns 10,25`` also turns each photo by those degrees (counter-clockwise, the canvas grown to
hold it, borders replicated) and scores the cards there, their corners turned the same way.

Usage::

    python benchmarks/specimen_documents.py ../shared/samples [--localizer CKPT] [--closeups]
        [--turns 10,25,40,-15] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from idseg.documents.evaluate import quad_iou, quad_iou_document_frame
from idseg.documents.pipeline import DocumentPipeline
from idseg.io.images import load_image
from idseg.quad import order_quad

LABELS = Path(__file__).parent / "data" / "specimen_documents.json"
CLOSEUP_MARGINS = (0.0, 0.02, 0.05)


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


def _closeups(
    pipe: DocumentPipeline, image: np.ndarray, truth: np.ndarray
) -> dict[str, dict[str, float]]:
    """The card cut out of its photo at each margin of :data:`CLOSEUP_MARGINS`, scored."""
    out = {}
    size = truth.max(axis=0) - truth.min(axis=0)
    for margin in CLOSEUP_MARGINS:
        x0, y0 = np.maximum(np.floor(truth.min(axis=0) - margin * size), 0).astype(int)
        x1, y1 = np.ceil(truth.max(axis=0) + margin * size).astype(int)
        cut = np.ascontiguousarray(image[y0:y1, x0:x1])
        found = [d.quad for d in pipe.analyze(cut).documents]
        scores = _card(truth - np.array([x0, y0], np.float64), found)
        out[f"margin {margin:.0%}"] = {**scores, "documents": len(found)}
    return out


def _turned(image: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """The photo turned by ``degrees`` on a canvas that holds it, and the ``2 x 3`` map."""
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * sin + w * cos), int(h * cos + w * sin)
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    out = cv2.warpAffine(
        image, m, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return out, m


def _finite(value: object) -> object:
    """``value`` with infinite numbers (a missed card's corner error) as ``None``, for JSON."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("samples", type=Path, help="Folder of the specimen photos.")
    parser.add_argument("--localizer", type=Path, default=None, help="Another localiser.")
    parser.add_argument("--closeups", action="store_true", help="Also score tight cuts.")
    parser.add_argument("--turns", default="", help="Also score the photos turned, e.g. 10,25.")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    labels = json.loads(LABELS.read_text())["photos"]
    pipe = DocumentPipeline(localizer=args.localizer)
    cards, extra, closeups = {}, 0, {}
    turns = [float(t) for t in args.turns.split(",") if t.strip()]
    turned: dict[str, list[float]] = {f"turn {t:g}": [] for t in turns}
    for name, quads in labels.items():
        image = load_image(args.samples / name)
        for t in turns:
            photo, m = _turned(image, t)
            found = [d.quad for d in pipe.analyze(photo).documents]
            for truth in quads:
                moved = np.c_[np.asarray(truth, np.float64), np.ones(4)] @ m.T
                turned[f"turn {t:g}"].append(float(_card(moved, found)["iou"]))
        found = [d.quad for d in pipe.analyze(image).documents]
        for k, truth in enumerate(quads):
            cards[f"{name}#{k}"] = _card(np.asarray(truth, np.float64), found)
            if args.closeups:
                closeups[f"{name}#{k}"] = _closeups(pipe, image, np.asarray(truth, np.float64))
        extra += max(0, len(found) - len(quads))
    for card, s in cards.items():
        print(
            f"{card:24s} IoU {s['iou']:.4f}  MIDV {s['iou_midv']:.4f}  corner {s['corner_px']} px"
        )
    summary: dict[str, object] = {
        "cards": len(cards),
        "found": sum(s["iou"] > 0.5 for s in cards.values()),
        "mean_iou": round(float(np.mean([s["iou"] for s in cards.values()])), 4),
        "min_iou": round(float(min(s["iou"] for s in cards.values())), 4),
        "mean_iou_midv": round(float(np.mean([s["iou_midv"] for s in cards.values()])), 4),
        "max_corner_share": round(float(max(s["corner_share"] for s in cards.values())), 4),
        "extra_documents": extra,
    }
    if closeups:
        for margin in (f"margin {m:.0%}" for m in CLOSEUP_MARGINS):
            rows = [c[margin] for c in closeups.values()]
            ious = " ".join(f"{r['iou']:.3f}" for r in rows)
            summary[f"closeup {margin}"] = {
                "mean_iou": round(float(np.mean([r["iou"] for r in rows])), 4),
                "min_iou": round(float(min(r["iou"] for r in rows)), 4),
                "one_document": sum(r["documents"] == 1 for r in rows),
            }
            print(f"close-ups, {margin}: {ious}")
    for key, scores in turned.items():
        print(f"{key}: " + " ".join(f"{i:.3f}" for i in scores))
        summary[key] = {
            "mean_iou": round(float(np.mean(scores)), 4),
            "min_iou": round(min(scores), 4),
        }
    print(json.dumps(summary, indent=2))
    if args.json:
        report = {"cards": cards, "closeups": closeups, **summary}
        args.json.write_text(json.dumps(_finite(report), indent=2))


if __name__ == "__main__":
    main()
