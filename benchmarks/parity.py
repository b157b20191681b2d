"""Print idseg's parity with Meta's SAM2 classes on identical random weights.

Builds random-weight checkpoints (Meta's format) for the given configs, loads them through idseg's
loader, and compares on the same image and prompts:

* ``SAM2Predictor.predict`` with ``sam2.sam2_image_predictor.SAM2ImagePredictor.predict``
  (random points with both labels, boxes, points + box; multimask and single);
* ``EverythingGenerator.generate_records`` with ``SAM2AutomaticMaskGenerator.generate``.

Usage::

    python benchmarks/parity.py --configs idseg_test_tiny sam2.1_hiera_t --prompts 100
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _helpers import make_scene, mask_iou, meta_predictor
from idseg.models.sam2 import init_checkpoint, load_sam2
from idseg.sam.everything import EverythingGenerator
from idseg.sam.predictor import SAM2Predictor


def predictor_parity(model, image: np.ndarray, n: int, seed: int = 0) -> dict[str, float]:
    ours, meta = SAM2Predictor(model), meta_predictor(model)
    ours.set_image(image)
    meta.set_image(image)
    rng = np.random.default_rng(seed)
    h, w = image.shape[:2]
    ious, diffs, masks = [], [], 0
    for i in range(n):
        k = int(rng.integers(1, 5))
        pts = rng.uniform([0, 0], [w, h], (k, 2))
        lab = rng.integers(0, 2, k)
        lab[0] = 1
        box = (
            np.sort(rng.uniform([0, 0], [w, h], (2, 2)), axis=0).reshape(-1) if i % 3 == 0 else None
        )
        multi = i % 2 == 0
        got = ours.predict(pts, lab, box, multimask_output=multi)
        ref, scores, _ = meta.predict(pts, lab, box, multimask_output=multi)
        for c in range(ref.shape[0]):
            ious.append(mask_iou(got.masks[0, c], ref[c]))
            masks += 1
        diffs.append(float(np.abs(got.scores[0] - scores).max()))
    return {"prompt_sets": n, "masks": masks, "min_iou": min(ious), "max_score_diff": max(diffs)}


def generator_parity(model, image: np.ndarray, **settings) -> dict[str, float]:
    from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator

    ours = EverythingGenerator(SAM2Predictor(model), **settings)
    meta = SAM2AutomaticMaskGenerator(model, **settings)
    s = int(model.image_size)
    meta.predictor._bb_feat_sizes = [(s // 4, s // 4), (s // 8, s // 8), (s // 16, s // 16)]
    t0 = time.perf_counter()
    got = ours.generate_records(image)
    t1 = time.perf_counter()
    ref = meta.generate(image)
    t2 = time.perf_counter()
    ious = [mask_iou(a["segmentation"], b["segmentation"]) for a, b in zip(got, ref, strict=False)]
    iou_diff = max(
        (abs(a["predicted_iou"] - b["predicted_iou"]) for a, b in zip(got, ref, strict=False)),
        default=0.0,
    )
    same_boxes = all(
        a["bbox"] == b["bbox"] and a["crop_box"] == b["crop_box"]
        for a, b in zip(got, ref, strict=False)
    )
    return {
        "ours": len(got),
        "meta": len(ref),
        "min_iou": min(ious, default=1.0),
        "max_pred_iou_diff": iou_diff,
        "same_boxes": same_boxes,
        "seconds_ours": t1 - t0,
        "seconds_meta": t2 - t1,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", nargs="+", default=["idseg_test_tiny", "sam2.1_hiera_t"])
    parser.add_argument("--prompts", type=int, default=100)
    args = parser.parse_args()
    image = make_scene(300, 420)
    with tempfile.TemporaryDirectory() as tmp:
        for config in args.configs:
            ckpt = init_checkpoint(config, Path(tmp) / f"{config}.pt", seed=0)
            model = load_sam2(ckpt, config, device="cpu")
            print(f"[{config}] predictor:", predictor_parity(model, image, args.prompts))
            loose = {
                "points_per_side": 8,
                "pred_iou_thresh": 0.0,
                "stability_score_thresh": 0.0,
                "stability_score_offset": 0.01,
                "box_nms_thresh": 1.0,
            }
            print(
                f"[{config}] generator (loose thresholds):", generator_parity(model, image, **loose)
            )
            print(
                f"[{config}] generator (Meta defaults, 8x8):",
                generator_parity(model, image, points_per_side=8),
            )


if __name__ == "__main__":
    main()
