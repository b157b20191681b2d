"""Parity and timing of the ONNX export against PyTorch's SAM2Predictor on one checkpoint.

Usage::

    python benchmarks/onnx_parity.py                       # random-weight sam2.1_hiera_t
    python benchmarks/onnx_parity.py --model sam2.1_hiera_tiny.pt --image card.jpg

Exports the checkpoint (``--onnx DIR`` reuses an export), then answers the same prompts with both
backends on the CPU and prints, per prompt kind, the smallest mask IoU and the largest score
difference over all candidates, and the median time of the embedding and of one prompt.
Random weights give masks that mean nothing but exercise exactly the same arithmetic.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from idseg.io.images import load_image
from idseg.models.sam2 import init_checkpoint, load_sam2
from idseg.onnx import OnnxSAM2Predictor, export_sam2_onnx
from idseg.sam.predictor import SAM2Predictor


def scene(h: int = 600, w: int = 900) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(0)
    img = rng.normal(120, 20, (h, w, 3)).clip(0, 255).astype(np.uint8)
    cv2.rectangle(img, (60, 80), (420, 330), (230, 40, 40), -1)
    cv2.circle(img, (650, 400), 120, (40, 200, 60), -1)
    cv2.rectangle(img, (520, 60), (850, 190), (30, 30, 220), -1)
    return img


def prompts(h: int, w: int) -> dict[str, dict]:
    p = lambda fx, fy: [fx * w, fy * h]  # noqa: E731
    box = [0.07 * w, 0.13 * h, 0.47 * w, 0.55 * h]
    return {
        "one point": {"points": [p(0.25, 0.35)]},
        "points, negatives": {
            "points": [p(0.25, 0.35), p(0.7, 0.66), p(0.4, 0.5)],
            "labels": [1, 0, 1],
        },
        "one box": {"boxes": box, "multimask_output": False},
        "box + points": {"boxes": box, "points": [p(0.3, 0.4), p(0.72, 0.2)], "labels": [1, 0]},
        "3 boxes": {
            "boxes": [
                box,
                [0.58 * w, 0.1 * h, 0.94 * w, 0.32 * h],
                [0.6 * w, 0.45 * h, 0.85 * w, 0.9 * h],
            ],
            "multimask_output": False,
        },
    }


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def median_ms(fn, runs: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="SAM2 checkpoint (default: random sam2.1_hiera_t)")
    parser.add_argument("--config", help="SAM2 config (default: from the checkpoint)")
    parser.add_argument("--onnx", type=Path, help="reuse this export folder")
    parser.add_argument("--image", type=Path, help="image (default: a synthetic scene)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="idseg_onnx_"))
    ckpt, config = args.model, args.config
    if ckpt is None:
        ckpt, config = (
            init_checkpoint("sam2.1_hiera_t", tmp / "sam2.1_hiera_t.pt"),
            "sam2.1_hiera_t",
        )
    model = load_sam2(ckpt, config, device="cpu")
    folder = args.onnx
    if folder is None:
        start = time.perf_counter()
        folder = export_sam2_onnx(model, tmp / "onnx", config=config).folder
        print(f"export: {time.perf_counter() - start:.1f} s -> {folder}")
    sizes = {p.name: p.stat().st_size / 1e6 for p in folder.glob("*.onnx")}
    print("graphs: " + ", ".join(f"{k} {v:.1f} MB" for k, v in sorted(sizes.items())))
    image = load_image(args.image) if args.image else scene()
    ref, onx = SAM2Predictor(model), OnnxSAM2Predictor(folder)
    ref.set_image(image)
    onx.set_image(image)
    print(f"image {image.shape[1]}x{image.shape[0]}, model input {ref.image_size}")
    print(f"{'prompt':<20}{'masks':>6}{'min IoU':>10}{'max |dscore|':>14}{'max |dlogit|':>14}")
    for name, kw in prompts(*image.shape[:2]).items():
        a, b = ref.predict(**kw), onx.predict(**kw)
        flat_a, flat_b = (m.masks.reshape(-1, *m.masks.shape[2:]) for m in (a, b))
        ious = [iou(x, y) for x, y in zip(flat_a, flat_b, strict=True)]
        ds = float(np.abs(a.scores - b.scores).max())
        dl = float(np.abs(a.low_res_logits - b.low_res_logits).max())
        print(f"{name:<20}{len(ious):>6}{min(ious):>10.5f}{ds:>14.2e}{dl:>14.2e}")
    one = prompts(*image.shape[:2])["one point"]
    rows = [
        ("embed", lambda: ref.embed(image), lambda: onx.embed(image)),
        ("one prompt", lambda: ref.predict(**one), lambda: onx.predict(**one)),
    ]
    print(f"median of {args.runs} runs, {torch.get_num_threads()} torch threads:")
    for label, torch_fn, onnx_fn in rows:
        t_ms, o_ms = median_ms(torch_fn, args.runs), median_ms(onnx_fn, args.runs)
        print(f"  {label:<11} pytorch {t_ms:8.1f} ms   onnxruntime {o_ms:8.1f} ms")


if __name__ == "__main__":
    main()
