"""idseg's SAM2 against Meta's classes, side by side in one process: time ratios, masks, memory.

Each case runs Meta's class (``SAM2ImagePredictor``, ``SAM2AutomaticMaskGenerator``) and idseg's
(``SAM2Predictor``, ``EverythingGenerator``) on the same checkpoint, image and settings, prints the
median time of ``--runs`` runs, the ratio, how well the masks agree, and the peak resident memory
of the process during the case (sampled every 10 ms; it includes the model and earlier cases'
memory still held).

Cases: ``embed`` (image embedding; idseg fp32 and the optional bf16 path), ``click`` (one point to
three masks at image resolution), ``boxes`` (20 boxes at once), ``everything`` (32 x 32 points,
Meta's default thresholds), ``dense`` (idseg's ``dense`` preset, the same settings for Meta),
``fast`` (Meta's generator against idseg's fast mode, the same settings otherwise). With several
``--image`` the last lines total each case: time ratio and the share of Meta's masks that idseg
recovers at IoU 0.9.

Usage::

    python benchmarks/sam2_speed.py                       # sam2.1 hiera-tiny, random weights
    python benchmarks/sam2_speed.py --model idseg_doc_small --image a.jpg --image b.jpg \\
        --cases everything,fast --set pred_iou_thresh=0.0 --set stability_score_thresh=0.7
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _helpers import make_scene, mask_iou
from idseg.io.images import load_image
from idseg.models.sam2 import init_checkpoint, load_sam2
from idseg.sam.everything import EverythingGenerator
from idseg.sam.predictor import SAM2Predictor, bf16_is_fast
from idseg.sam.settings import preset


class PeakRSS:
    """Peak resident set size (MB) of this process while the block runs."""

    def __enter__(self) -> PeakRSS:
        self.peak, self._stop = 0.0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        page = 4096
        while not self._stop.is_set():
            with open("/proc/self/statm") as fh:
                self.peak = max(self.peak, int(fh.read().split()[1]) * page / 2**20)
            time.sleep(0.01)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, Any, float]:
    """Median seconds of ``runs`` calls, the last result, and the peak RSS in MB."""
    times, out = [], None
    with PeakRSS() as mem:
        for _ in range(runs):
            t0 = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t0)
    return float(np.median(times)), out, mem.peak


def meta_classes(model: Any) -> tuple[Any, Any]:
    from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    s = int(model.image_size)
    sizes = [(s // 4, s // 4), (s // 8, s // 8), (s // 16, s // 16)]
    pred = SAM2ImagePredictor(model)
    pred._bb_feat_sizes = sizes

    def generator(**kw: Any) -> Any:
        gen = SAM2AutomaticMaskGenerator(model, **kw)
        gen.predictor._bb_feat_sizes = sizes
        return gen

    return pred, generator


def row(case: str, t_meta: float, t_ours: float, mem: tuple[float, float], quality: str) -> None:
    print(
        f"{case:<24} meta {t_meta * 1000:9.1f} ms  idseg {t_ours * 1000:9.1f} ms  "
        f"x{t_meta / t_ours:5.2f}  peak RSS meta {mem[0]:6.0f} / idseg {mem[1]:6.0f} MB  {quality}",
        flush=True,
    )


def match_records(ours: list[dict], ref: list[dict]) -> str:
    """Each Meta mask matched to idseg's best; count, min IoU and share at IoU >= 0.9 / 0.99."""
    if not ref:
        return f"masks meta 0 / idseg {len(ours)}"
    got = [r["segmentation"] for r in ours]
    best = [max((mask_iou(g, r["segmentation"]) for g in got), default=0.0) for r in ref]
    return (
        f"masks meta {len(ref)} / idseg {len(ours)}, min IoU {min(best):.4f}, "
        f">=0.9 {np.mean(np.array(best) >= 0.9):.1%}, >=0.99 {np.mean(np.array(best) >= 0.99):.1%}"
    )


def run_cases(
    model: Any,
    image: np.ndarray,
    cases: list[str],
    runs: int,
    gen_runs: int,
    overrides: dict[str, Any] | None = None,
) -> None:
    meta_pred, meta_gen = meta_classes(model)
    ours = SAM2Predictor(model)
    h, w = image.shape[:2]
    if "embed" in cases:
        t_meta, _, m_meta = timed(lambda: meta_pred.set_image(image), runs)
        t_ours, emb32, m_ours = timed(lambda: ours.embed(image), runs)
        row("embed fp32", t_meta, t_ours, (m_meta, m_ours), "")
        bf = SAM2Predictor(model, embed_dtype="bfloat16")
        t_bf, emb16, m_bf = timed(lambda: bf.embed(image), runs)
        rng = np.random.default_rng(0)
        ious = []
        for pt in rng.uniform([0, 0], [w, h], (20, 2)):
            a = ours.predict([pt], [1], embedding=emb32).masks[0]
            b = ours.predict([pt], [1], embedding=emb16).masks[0]
            ious += [mask_iou(x, y) for x, y in zip(a, b, strict=True) if x.any() or y.any()]
        row("embed bf16 (vs meta fp32)", t_meta, t_bf, (m_meta, m_bf), "")
        print(
            f"  bf16 vs fp32 idseg: x{t_ours / t_bf:.2f}; 20 clicks x 3 masks IoU to fp32: "
            f"mean {np.mean(ious):.4f}, min {np.min(ious):.4f}"
        )
    meta_pred.set_image(image)
    ours.set_image(image)
    point = np.array([[w * 0.45, h * 0.55]])
    if "click" in cases:
        t_meta, ref, m_meta = timed(lambda: meta_pred.predict(point, np.array([1])), runs)
        t_ours, got, m_ours = timed(lambda: ours.predict(point, [1]), runs)
        ious = [mask_iou(got.masks[0, c], ref[0][c]) for c in range(3)]
        row("one click", t_meta, t_ours, (m_meta, m_ours), f"mask IoU min {min(ious):.5f}")
    if "boxes" in cases:
        rng = np.random.default_rng(1)
        xy = rng.uniform([0, 0], [w, h], (20, 2, 2))
        boxes = np.concatenate([xy.min(1), xy.max(1)], axis=1)
        t_meta, ref, m_meta = timed(
            lambda: meta_pred.predict(box=boxes, multimask_output=False), runs
        )
        t_ours, got, m_ours = timed(lambda: ours.predict(boxes=boxes, multimask_output=False), runs)
        ious = [mask_iou(got.masks[i, 0], ref[0][i, 0]) for i in range(20)]
        row("20 boxes", t_meta, t_ours, (m_meta, m_ours), f"mask IoU min {min(ious):.5f}")
    gen_cases = (
        ("everything", {}, "exact"),
        ("dense", preset("dense").meta_kwargs(), "exact"),
        ("fast", {}, "fast"),
    )
    for case, settings, mode in gen_cases:
        if case not in cases:
            continue
        kw = {k: v for k, v in settings.items() if k != "point_grids"}
        kw.update(overrides or {})
        meta = meta_gen(**kw)
        gen = EverythingGenerator(ours, mode=mode, **kw)
        t_meta, ref, m_meta = timed(lambda meta=meta: meta.generate(image), gen_runs)
        t_ours, got, m_ours = timed(lambda gen=gen: gen.generate_records(image), gen_runs)
        row(f"{case} (embed incl.)", t_meta, t_ours, (m_meta, m_ours), match_records(got, ref))
        RESULTS.append((case, t_meta, t_ours, len(ref), recovered(got, ref)))


#: ``(case, meta seconds, idseg seconds, Meta's masks, Meta's masks recovered at IoU 0.9)``.
RESULTS: list[tuple[str, float, float, int, int]] = []


def recovered(ours: list[dict], ref: list[dict]) -> int:
    """How many of Meta's masks one of idseg's matches at IoU >= 0.9."""
    got = [r["segmentation"] for r in ours]
    return sum(max((mask_iou(g, r["segmentation"]) for g in got), default=0.0) >= 0.9 for r in ref)


def summary() -> None:
    """Totals per case over all images: time ratio and share of Meta's masks recovered."""
    for case in dict.fromkeys(r[0] for r in RESULTS):
        rows = [r for r in RESULTS if r[0] == case]
        t_meta, t_ours = sum(r[1] for r in rows), sum(r[2] for r in rows)
        n_ref, n_hit = sum(r[3] for r in rows), sum(r[4] for r in rows)
        share = f"{n_hit / n_ref:.1%}" if n_ref else "n/a"
        print(
            f"TOTAL {case:<12} {len(rows)} image(s): meta {t_meta:.1f} s, idseg {t_ours:.1f} s, "
            f"x{t_meta / t_ours:.2f}; Meta's masks {n_ref}, recovered at IoU 0.9: {share}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--model",
        default="sam2.1_hiera_t",
        help="checkpoint path or name; a config name builds random weights",
    )
    parser.add_argument("--config", default=None, help="config of --model when not inferred")
    parser.add_argument(
        "--image",
        action="append",
        default=[],
        help="image file, repeatable (default: a 768x1024 scene); totals are printed at the end",
    )
    parser.add_argument(
        "--cases",
        default="embed,click,boxes,everything",
        help="comma list of embed, click, boxes, everything, dense, fast",
    )
    parser.add_argument("--runs", type=int, default=5, help="runs of the fast cases (median)")
    parser.add_argument("--gen-runs", type=int, default=1, help="runs of segment-everything")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a segment-everything setting for both (repeatable), e.g. pred_iou_thresh=0.5",
    )
    args = parser.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        if args.model.startswith("sam2") and not Path(args.model).exists() and args.config is None:
            ckpt = init_checkpoint(args.model, Path(tmp) / "random.pt", seed=0)
            model = load_sam2(ckpt, args.model, device="cpu")
            label = f"{args.model} (random weights)"
        else:
            model = load_sam2(args.model, args.config, device="cpu")
            label = args.model
        images = [load_image(p) for p in args.image] or [make_scene(768, 1024)]
        print(
            f"model {label}, input {model.image_size}, {len(images)} image(s), "
            f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
            f"bf16 native: {bf16_is_fast('cpu')}"
        )
        overrides = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
        if overrides:
            print("segment-everything settings:", overrides)
        cases = [c.strip() for c in args.cases.split(",")]
        for image in images:
            print(f"image {image.shape[1]}x{image.shape[0]}")
            run_cases(model, image, cases, args.runs, args.gen_runs, overrides)
        summary()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
