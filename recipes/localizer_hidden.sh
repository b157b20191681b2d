#!/usr/bin/env bash
# The localiser with a fourth class, `hidden` (document parts under hands, pens and objects), trained
# on top of recipes/bundled_models.sh's work folder (its scenes, scenes2 and run_loc_ft must exist).
# Not the shipped localiser: see README ("Training a U-Net") for what it scores and why.
# About an hour on 2 CPU cores. Usage: bash recipes/localizer_hidden.sh [WORK_DIR]
set -euo pipefail
WORK=${1:-runs/bundled}
IDSEG=${IDSEG:-idseg}
PY=${PYTHON:-python}
$IDSEG data prepare localizer "$WORK/scenes" --out "$WORK/loc_hidden/s1" --hidden --force
$IDSEG data prepare localizer "$WORK/scenes2" --out "$WORK/loc_hidden/s2" --hidden --force
$PY recipes/link_datasets.py "$WORK/loc_hidden/all" "s1_=$WORK/loc_hidden/s1" \
  "s2_=$WORK/loc_hidden/s2" --source "scenes + scenes2, hidden"
# --init widens the 3-class head: hidden starts as a copy of background, 2 logits below it.
OMP_NUM_THREADS=2 $IDSEG train unet --config recipes/doc_localizer_hidden.yaml \
  --init "$WORK/run_loc_ft/last.pt" --data "$WORK/loc_hidden/all" --out "$WORK/run_loc_hidden" \
  > "$WORK/run_loc_hidden.log" 2>&1
OMP_NUM_THREADS=2 $IDSEG train unet --config recipes/doc_localizer_hidden_ft.yaml \
  --init "$WORK/run_loc_hidden/last.pt" --data "$WORK/loc_hidden/all" --out "$WORK/run_loc_hidden_ft" \
  > "$WORK/run_loc_hidden_ft.log" 2>&1
# Score it: idseg doc --localizer, or the benchmarks with --localizer.
$PY benchmarks/doc_targets.py --data "$WORK/test_single" --localizer "$WORK/run_loc_hidden_ft/last.pt"
