"""Prompt quality of a SAM2 checkpoint on a held-out dataset, at full image resolution.

For every object (COCO instances of the dataset, or components of its class masks) the script
asks idseg's ``SAM2Predictor`` for a mask from (1) the object's tight box, one mask; (2) one
point at the object's centre (the pixel farthest from its border), keeping the candidate with
the highest predicted IoU, as a user would get it; (3) that point plus two corrective clicks at
the centres of the remaining errors, with the previous logits as mask input. It prints the mean
IoU of each, per class and overall, as JSON.

    python benchmarks/sam2_prompts.py --model run/last.pt --config run/model.yaml --data test_multi
    python benchmarks/sam2_prompts.py --random idseg_doc_small --data test_multi   # before training
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from idseg.sam.predictor import SAM2Predictor
from idseg.train.sam2_data import _object_masks, open_sam2_data
from idseg.train.sam2_prompts import corrective_points, mask_boxes


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def _evaluate_object(pred: SAM2Predictor, mask: np.ndarray) -> tuple[float, float, float]:
    t = torch.from_numpy(mask)[None]
    box = mask_boxes(t)[0].numpy()
    by_box = pred.predict(boxes=box[None], multimask_output=False).masks[0][0]
    c, _ = corrective_points(torch.zeros_like(t), t, np.random.default_rng(0), center=True)
    points, labels = c[0].numpy(), np.array([1])
    ans = pred.predict(points[None], labels[None], multimask_output=True, return_logits=True)
    k = int(np.argmax(ans.scores[0]))
    first = ans.masks[0][k] > pred.mask_threshold
    current, logits = first, ans.low_res_logits[0][k : k + 1]
    for _ in range(2):
        c, lab = corrective_points(
            torch.from_numpy(current)[None], t, np.random.default_rng(0), center=True
        )
        points = np.concatenate([points, c[0].numpy()])
        labels = np.concatenate([labels, lab[0].numpy()])
        ans = pred.predict(
            points[None],
            labels[None],
            mask_input=logits[None],
            multimask_output=False,
            return_logits=True,
        )
        current, logits = ans.masks[0][0] > pred.mask_threshold, ans.low_res_logits[0][:1]
    return _iou(by_box, mask), _iou(first, mask), _iou(current, mask)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="SAM2 checkpoint (Meta's format)")
    ap.add_argument("--config", help="SAM2 config name or YAML (inferred from the checkpoint)")
    ap.add_argument("--random", metavar="CONFIG", help="random weights of CONFIG (seed 0)")
    ap.add_argument("--data", required=True, help="dataset folder (COCO instances or masks)")
    ap.add_argument("--limit", type=int, default=0, help="first N images only")
    ap.add_argument("--min-area", type=int, default=64, help="smallest object in pixels")
    ap.add_argument("--json", help="also write the result here")
    args = ap.parse_args()
    if args.random:
        from idseg.models.sam2 import build_model

        torch.manual_seed(0)
        pred = SAM2Predictor(build_model(args.random, "cpu"))
    else:
        pred = SAM2Predictor.from_pretrained(args.model, config=args.config, device="cpu")
    data = open_sam2_data(args.data, val_ratio=0.5)
    samples = sorted([*data.train, *data.val], key=lambda s: s.image_path.name)
    samples = samples[: args.limit] if args.limit else samples
    keep = np.ones(len(data.classes), bool)
    keep[0] = False
    scores: dict[str, list[tuple[float, float, float]]] = {}
    began = time.perf_counter()
    from idseg.io.images import load_image

    for sample in samples:
        image = load_image(sample.image_path)
        pred.set_image(image)
        masks, classes = _object_masks(sample, image.shape[:2], keep)
        for mask, cls in zip(masks, classes, strict=True):
            if mask.sum() >= args.min_area:
                scores.setdefault(data.classes[cls], []).append(_evaluate_object(pred, mask))
    every = np.array([s for v in scores.values() for s in v])
    result = {
        "model": args.model or f"random {args.random}",
        "data": args.data,
        "images": len(samples),
        "objects": len(every),
        "box_iou": float(every[:, 0].mean()),
        "point_iou": float(every[:, 1].mean()),
        "clicks_iou": float(every[:, 2].mean()),
        "per_class": {
            name: {
                "objects": len(v),
                "box": float(np.mean([x[0] for x in v])),
                "point": float(np.mean([x[1] for x in v])),
                "clicks": float(np.mean([x[2] for x in v])),
            }
            for name, v in sorted(scores.items())
        },
        "seconds": round(time.perf_counter() - began, 1),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
