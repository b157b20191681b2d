"""Draw per-epoch curves of a training run's ``metrics.json`` into a PNG (OpenCV only).

    python benchmarks/train_curves.py runs/sam2/metrics.json --out curves.png \
        --keys train_loss --keys box_iou,point_iou,clicks_iou

Each ``--keys`` gives one panel (comma-separated metrics sharing its y axis).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import cv2
import numpy as np

COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189)]
W, H, M = 560, 340, 56


def _panel(records: list[dict], keys: list[str]) -> np.ndarray:
    img = np.full((H, W, 3), 255, np.uint8)
    epochs = [r["epoch"] for r in records]
    series = {k: [r.get(k) for r in records] for k in keys}
    values = [v for s in series.values() for v in s if v is not None]
    lo, hi = min(values), max(values)
    lo, hi = (lo - 0.05 * (hi - lo + 1e-9), hi + 0.05 * (hi - lo + 1e-9))
    x0, x1, y0, y1 = M, W - 16, H - M, 16

    def px(e: float, v: float) -> tuple[int, int]:
        fx = (e - epochs[0]) / max(1, epochs[-1] - epochs[0])
        return int(x0 + fx * (x1 - x0)), int(y0 - (v - lo) / (hi - lo) * (y0 - y1))

    cv2.rectangle(img, (x0, y1), (x1, y0), (0, 0, 0), 1)
    for t in np.linspace(lo, hi, 5):
        y = px(epochs[0], t)[1]
        cv2.putText(img, f"{t:.3g}", (4, y + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
    for e in epochs:
        cv2.putText(
            img, str(e), (px(e, lo)[0] - 4, y0 + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1
        )
    cv2.putText(img, "epoch", (W // 2 - 20, H - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
    for i, (k, s) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)][::-1]
        pts = [px(e, v) for e, v in zip(epochs, s, strict=True) if v is not None]
        for a, b in itertools.pairwise(pts):
            cv2.line(img, a, b, colour, 2, cv2.LINE_AA)
        for p in pts:
            cv2.circle(img, p, 3, colour, -1, cv2.LINE_AA)
        cv2.putText(
            img,
            k,
            (x0 + 8, y1 + 16 + 16 * i),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.45,
            colour,
            1,
            cv2.LINE_AA,
        )
    return img


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("metrics", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--keys", action="append", required=True, help="metrics of one panel")
    args = ap.parse_args()
    records = json.loads(args.metrics.read_text())
    panels = [_panel(records, [k.strip() for k in keys.split(",")]) for keys in args.keys]
    ok, buf = cv2.imencode(".png", np.concatenate(panels, axis=1)[:, :, ::-1])
    if not ok:
        return 1
    args.out.write_bytes(buf.tobytes())
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
