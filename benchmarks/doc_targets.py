"""Measure the document pipeline against issue 4's targets on a dataset with ground truth.

Prints document IoU (photo and MIDV document frame), the share of documents at IoU >= 0.9, field
IoU per class and their mean (photo frame, one confusion matrix over the set), how often the
rectified document came out the right way up (also when rectified from the true quad, for documents
wholly inside the photo), and milliseconds per image.

Usage::

    python benchmarks/doc_targets.py --data data/test_heldout [--limit 100] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from idseg.data.check import read_mask
from idseg.data.folders import open_dataset
from idseg.data.quads import read_quads
from idseg.documents.classes import CLASS_NAMES, FIELD_CLASSES
from idseg.documents.evaluate import quad_iou, quad_iou_document_frame
from idseg.documents.pipeline import DocumentPipeline
from idseg.io.images import load_image
from idseg.metrics import ConfusionMatrix


def _upright(pred: np.ndarray, gt: np.ndarray) -> bool:
    """Whether the predicted corner order starts at the ground truth's top-left corner."""
    shifts = [np.linalg.norm(np.roll(pred, -k, axis=0) - gt, axis=1).sum() for k in range(4)]
    return int(np.argmin(shifts)) == 0


def _upright_from_truth(pipe: DocumentPipeline, image: np.ndarray, gt: np.ndarray) -> bool | None:
    """Whether the field model turns a document rectified from its true quad the right way up.

    ``None`` for a document not wholly inside the photo.
    """
    h, w = image.shape[:2]
    if (gt < 0).any() or (gt[:, 0] > w - 1).any() or (gt[:, 1] > h - 1).any():
        return None
    rect, _, _ = pipe.field_model.segment(image, gt)
    corner = cv2.perspectiveTransform(gt[:1].reshape(1, 1, 2).astype(np.float64), rect.homography)
    return bool(np.hypot(*corner[0, 0]) < 0.1 * max(rect.image.shape[:2]))


def _field_scores(cm: ConfusionMatrix) -> dict[str, object]:
    """Per-class IoU (``None`` for classes absent from truth and prediction) and the field mean."""
    iou = cm.iou()
    per_class = {
        c: (None if np.isnan(iou[i]) else float(iou[i])) for i, c in enumerate(CLASS_NAMES)
    }
    fields = [v for c in FIELD_CLASSES if (v := per_class[c]) is not None]
    return {"field_iou": per_class, "field_mean_iou": float(np.mean(fields))}


def _rectified(pipe: DocumentPipeline, folder: Path) -> dict[str, object]:
    """Field IoU of the field model alone, on documents rectified from their true quads."""
    from idseg.documents.evaluate import evaluate_masks
    from idseg.models.unet_io import predict_mask

    model, size = pipe.field_model.model, pipe.field_model.size
    rep = evaluate_masks(lambda p: predict_mask(model, load_image(p), size), folder)
    assert rep.confusion is not None
    return {"documents": len(rep.scores), **_field_scores(rep.confusion)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--rectified",
        type=Path,
        default=None,
        help="Also score the field model alone on rectified documents "
        "(`idseg data prepare fields TEST --jitter 0` output).",
    )
    parser.add_argument(
        "--localizer", type=Path, default=None, help="Another localiser checkpoint."
    )
    parser.add_argument("--fields", type=Path, default=None, help="Another field checkpoint.")
    args = parser.parse_args()
    pipe = DocumentPipeline(localizer=args.localizer, fields=args.fields)
    samples = list(open_dataset(args.data))[: args.limit]
    cm = ConfusionMatrix(len(CLASS_NAMES), list(CLASS_NAMES))
    ious, midv, upright, ms, false_pos = [], [], [], [], 0
    upright_truth: list[bool] = []
    pipe.analyze(load_image(samples[0].image_path))  # warm-up
    for sample in samples:
        image = load_image(sample.image_path)
        start = time.perf_counter()
        result = pipe.analyze(image)
        ms.append((time.perf_counter() - start) * 1000)
        cm.update(result.label_map(), read_mask(sample.mask_path))
        gts = read_quads(sample.quad_path) if sample.quad_path else []
        preds = [d.quad for d in result.documents]
        used: set[int] = set()
        for gt in gts:
            if (turned := _upright_from_truth(pipe, image, gt)) is not None:
                upright_truth.append(turned)
            scores = [
                (quad_iou(p, gt, image.shape[:2]), i) for i, p in enumerate(preds) if i not in used
            ]
            best = max(scores, default=(0.0, -1))
            ious.append(best[0])
            if best[1] >= 0 and best[0] > 0:
                used.add(best[1])
                midv.append(quad_iou_document_frame(preds[best[1]], gt))
                upright.append(_upright(preds[best[1]], gt))
            else:
                midv.append(0.0)
        false_pos += len(preds) - len(used)
    report = {
        "images": len(samples),
        "documents": len(ious),
        "document_iou": float(np.mean(ious)),
        "document_iou_midv": float(np.mean(midv)),
        "share_iou_0.9": float(np.mean(np.array(ious) >= 0.9)),
        "false_positives": false_pos,
        **_field_scores(cm),
        "upright": float(np.mean(upright)) if upright else None,
        "upright_true_quads": f"{sum(upright_truth)} of {len(upright_truth)}",
        "ms_per_image_median": statistics.median(ms),
        "torch_threads": torch.get_num_threads(),
    }
    if args.rectified:
        report["rectified"] = _rectified(pipe, args.rectified)
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
