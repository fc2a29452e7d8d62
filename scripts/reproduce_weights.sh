#!/usr/bin/env bash
# Reproduce every shipped model and every number in assets/weights/MODEL_CARD.md.
# CPU only; about 2 hours on an otherwise idle 2-core machine. DATA defaults to ../shared/data/camvid; RUNS holds
# the training runs (resumable: rerun this script after an interruption).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/camvid}
RUNS=${RUNS:-runs}
W=assets/weights

# 1. The default: EfficientNet-Lite0 + OCR, ImageNet initialisation, end to end on train+val.
python -m ocr_viz.train --head ocr --data "$DATA" --split train+val --iters 1400 --out "$RUNS/ocr"
python -m ocr_viz.ship "$RUNS/ocr/final.safetensors" "$W/ocr.safetensors"

# 2. Every head on that fine-tuned backbone, frozen, with one recipe (OCR again too, so the
#    comparison isolates the head).
for head in fcn aspp nonlocal baseoc pyramid_oc asp_oc ocr; do
  python -m ocr_viz.train --head "$head" --data "$DATA" --split train+val --iters 500 \
    --init "$W/ocr.safetensors" --freeze-backbone --out "$RUNS/frozen_$head"
done
for head in fcn aspp nonlocal baseoc pyramid_oc asp_oc; do
  python -m ocr_viz.ship "$RUNS/frozen_$head/final.safetensors" "$W/$head.safetensors" --backbone-from "$W/ocr.safetensors"
done
python -m ocr_viz.ship "$RUNS/frozen_ocr/final.safetensors" "$W/ocr_frozen.safetensors" --backbone-from "$W/ocr.safetensors" --name ocr_frozen

# 3. Evaluation: CamVid test (233 images, 480x360) and the 20-image regression subset.
for name in ocr fcn aspp nonlocal baseoc pyramid_oc asp_oc ocr_frozen; do
  python -m ocr_viz.evaluate "$name" --data "$DATA" --scale 1.3333 --out "$W/eval/${name}_test.json" --no-progress
  python -m ocr_viz.evaluate "$name" --data "$DATA" --scale 1.3333 --subset first20 --out "$W/eval/${name}_subset20.json" --no-progress
done
python -m ocr_viz.evaluate ocr --data "$DATA" --out "$W/eval/ocr_native-scale.json" --no-progress
python -m ocr_viz.results
