#!/usr/bin/env bash
# Reproduce idseg's bundled document models from scratch, on CPU, offline:
#   src/idseg/models/bundled/doc_localizer.pt  (background / document / edge, 192 px input)
#   src/idseg/models/bundled/doc_fields.pt     (field classes on the rectified document, 256 px)
# and score them on held-out templates. Usage: bash recipes/bundled_models.sh [WORK_DIR]
# About 3 hours on 2 CPU cores (both models train side by side, one core each, then the
# localiser is fine-tuned on twice the scenes for about an hour, and again on restyled scenes for
# about 20 minutes; then the field model is fine-tuned on real-looking documents, about 40 minutes).
set -euo pipefail
WORK=${1:-runs/bundled}
IDSEG=${IDSEG:-idseg}
PY=${PYTHON:-python}
HELD_OUT=td1_blue_wave,td3_green_waves,letter_statement   # never seen in training
HELD_OUT_TD1V=td1v_permit_sky_waves   # the held-out portrait-format card (step 6 on)
HELD_OUT_CODE=td1_dl_code_lilac_guilloche   # the held-out US-style front (step 6 on)
ALL_KINDS=td1,td1v,td2,td3,a4,letter
mkdir -p "$WORK"

# 1. Synthetic scenes: 3000 photos, 1-3 documents, 5 % without any, held-out templates excluded.
$IDSEG synth -n 3000 --seed 1 --docs 1-3 --negatives 0.05 \
  --exclude-templates "$HELD_OUT" --out "$WORK/scenes" --force
# 2. The two training sets. The field model validates on scenes of another seed (a split by
#    template would hold a whole design, e.g. the only PDF417 back, out of training).
$IDSEG data prepare localizer "$WORK/scenes" --out "$WORK/loc" --force
$IDSEG data prepare fields "$WORK/scenes" --out "$WORK/fields" --jitter 0.015 --force
$IDSEG synth -n 300 --seed 7 --docs 1-3 --negatives 0.05 \
  --exclude-templates "$HELD_OUT" --out "$WORK/val_scenes" --force
$IDSEG data prepare fields "$WORK/val_scenes" --out "$WORK/val_fields" --force
# 3. Train both (recipes/*.yaml hold every setting; the resolved config is saved with each run).
OMP_NUM_THREADS=1 $IDSEG train unet --config recipes/doc_localizer.yaml \
  --data "$WORK/loc" --out "$WORK/run_loc" > "$WORK/run_loc.log" 2>&1 &
OMP_NUM_THREADS=1 $IDSEG train unet --config recipes/doc_fields.yaml \
  --data "$WORK/fields" --val "$WORK/val_fields" --out "$WORK/run_fields" > "$WORK/run_fields.log" 2>&1
wait
# 4. Fine-tune the localiser on twice the scenes (seed 2 added) with a fresh, lower schedule.
$IDSEG synth -n 3000 --seed 2 --docs 1-3 --negatives 0.05 \
  --exclude-templates "$HELD_OUT" --out "$WORK/scenes2" --force
$IDSEG data prepare localizer "$WORK/scenes2" --out "$WORK/loc2" --force
$PY recipes/link_datasets.py "$WORK/loc_all" "s1_=$WORK/loc" "s2_=$WORK/loc2" \
  --source "scenes + scenes2"
OMP_NUM_THREADS=2 $IDSEG train unet --config recipes/doc_localizer_ft.yaml --init "$WORK/run_loc/last.pt" \
  --data "$WORK/loc_all" --out "$WORK/run_loc_ft" > "$WORK/run_loc_ft.log" 2>&1
# 5. Fine-tune it again on more designs: 3000 new scenes (seed 3), 70 % of them drawn in variants
#    of their template's colours, pattern and emblem (--restyle), with seed 2's scenes, 6 epochs.
$IDSEG synth -n 3000 --seed 3 --docs 1-3 --negatives 0.05 --restyle 0.7 \
  --exclude-templates "$HELD_OUT" --out "$WORK/scenes3" --force
$IDSEG data prepare localizer "$WORK/scenes3" --out "$WORK/loc3" --force
$PY recipes/link_datasets.py "$WORK/loc_restyle" "s2_=$WORK/loc2" "s3_=$WORK/loc3" \
  --source "scenes2 + scenes3 (restyled)"
OMP_NUM_THREADS=2 $IDSEG train unet --config recipes/doc_localizer_restyle.yaml \
  --init "$WORK/run_loc_ft/last.pt" --data "$WORK/loc_restyle" --out "$WORK/run_loc_restyle" \
  > "$WORK/run_loc_restyle.log" 2>&1
# 6. Fine-tune the field model on real-looking documents: 3000 new scenes (seed 5), 70 % drawn
#    like real cards (--real: photographic portraits, card-wide art, coloured values) and half
#    restyled, a sixth of them portrait-format cards (td1v), some US-style fronts with a Code 128
#    under the portrait (--real adds those templates), with step 1's documents, 6 epochs;
#    validated on seed 7 scenes, half of them real.
$IDSEG synth -n 3000 --seed 5 --docs 1-3 --negatives 0.05 --restyle 0.5 --real 0.7 \
  --kinds "$ALL_KINDS" --exclude-templates "$HELD_OUT,$HELD_OUT_TD1V,$HELD_OUT_CODE" \
  --out "$WORK/scenes5" --force
$IDSEG data prepare fields "$WORK/scenes5" --out "$WORK/fields5" --jitter 0.015 --force
$IDSEG synth -n 300 --seed 7 --docs 1-3 --negatives 0.05 --real 0.5 \
  --kinds "$ALL_KINDS" --exclude-templates "$HELD_OUT,$HELD_OUT_TD1V,$HELD_OUT_CODE" \
  --out "$WORK/val_scenes_real" --force
$IDSEG data prepare fields "$WORK/val_scenes_real" --out "$WORK/val_fields_real" --force
$PY recipes/link_datasets.py "$WORK/fields_real" "s1_=$WORK/fields" "s5_=$WORK/fields5" \
  --source "scenes + scenes5 (real)"
OMP_NUM_THREADS=2 $IDSEG train unet --config recipes/doc_fields_real.yaml \
  --init "$WORK/run_fields/last.pt" --data "$WORK/fields_real" --val "$WORK/val_fields_real" \
  --out "$WORK/run_fields_real" > "$WORK/run_fields_real.log" 2>&1
# 7. Ship the last epochs without optimiser state.
$PY - "$WORK" <<'PYEOF'
import sys
from idseg.models.unet_io import slim_checkpoint
work = sys.argv[1]
slim_checkpoint(f"{work}/run_loc_restyle/last.pt", "src/idseg/models/bundled/doc_localizer.pt")
slim_checkpoint(f"{work}/run_fields_real/last.pt", "src/idseg/models/bundled/doc_fields.pt")
PYEOF
# 8. Held-out test sets (other seeds, other templates) and the scores.
$IDSEG synth -n 300 --seed 1001 --docs 1 --negatives 0 --templates "$HELD_OUT" \
  --out "$WORK/test_single" --force
$IDSEG synth -n 150 --seed 1002 --docs 1-3 --negatives 0.1 --templates "$HELD_OUT" \
  --out "$WORK/test_multi" --force
$IDSEG data prepare fields "$WORK/test_single" --out "$WORK/test_single_fields" --jitter 0 --force
$PY benchmarks/doc_targets.py --data "$WORK/test_single" --rectified "$WORK/test_single_fields" \
  --json "$WORK/targets_single.json"
$PY benchmarks/doc_targets.py --data "$WORK/test_multi" --json "$WORK/targets_multi.json"
# Portrait-format cards of the held-out td1v design: found, and rectified the right way up?
$IDSEG synth -n 100 --seed 1003 --docs 1 --negatives 0 --kinds td1v --templates "$HELD_OUT_TD1V" \
  --out "$WORK/test_td1v" --force
$PY benchmarks/doc_targets.py --data "$WORK/test_td1v" --json "$WORK/targets_td1v.json"
# US-style fronts of the held-out design, half of them real-looking: is the Code 128 under the
# portrait found?
$IDSEG synth -n 100 --seed 1004 --docs 1 --negatives 0 --real 0.5 --templates "$HELD_OUT_CODE" \
  --out "$WORK/test_code" --force
$IDSEG data prepare fields "$WORK/test_code" --out "$WORK/test_code_fields" --jitter 0 --force
$PY benchmarks/doc_targets.py --data "$WORK/test_code" --rectified "$WORK/test_code_fields" \
  --json "$WORK/targets_code.json"
