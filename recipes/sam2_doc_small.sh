#!/usr/bin/env bash
# Reproduce idseg's bundled small SAM2 (src/idseg/models/bundled/idseg_doc_small.pt) from scratch,
# on CPU, offline, and score it before and after on held-out templates.
# Usage: bash recipes/sam2_doc_small.sh [WORK_DIR]      (the same scenes as recipes/bundled_models.sh)
set -euo pipefail
WORK=${1:-runs/sam2_small}
IDSEG=${IDSEG:-idseg}
PY=${PYTHON:-python}
HELD_OUT=td1_blue_wave,td3_green_waves,letter_statement   # never seen in training
mkdir -p "$WORK"
$IDSEG synth -n 3000 --seed 1 --docs 1-3 --negatives 0.05 --exclude-templates "$HELD_OUT" --out "$WORK/scenes" --force
$IDSEG synth -n 300 --seed 7 --docs 1-3 --negatives 0.05 --exclude-templates "$HELD_OUT" --out "$WORK/val_scenes" --force
$IDSEG synth -n 150 --seed 1002 --docs 1-3 --negatives 0.1 --templates "$HELD_OUT" --out "$WORK/test_multi" --force
# Objects are the COCO instances of the scenes (documents and their fields, which overlap).
OMP_NUM_THREADS=${THREADS:-2} $IDSEG train sam2 --config recipes/sam2_doc_small.yaml \
  --data "$WORK/scenes" --val "$WORK/val_scenes" --out "$WORK/run" --device cpu > "$WORK/run.log" 2>&1
# The shipped model went on to 8 epochs (the cosine schedule stretched: a warm restart).
OMP_NUM_THREADS=${THREADS:-2} $IDSEG train sam2 --out "$WORK/run" --resume --epochs 8 --device cpu >> "$WORK/run.log" 2>&1
cp "$WORK/run/last.pt" src/idseg/models/bundled/idseg_doc_small.pt
$PY benchmarks/sam2_prompts.py --random idseg_doc_small --data "$WORK/test_multi" --limit 50 --json "$WORK/before.json"
$PY benchmarks/sam2_prompts.py --model idseg_doc_small --data "$WORK/test_multi" --limit 50 --json "$WORK/after.json"
