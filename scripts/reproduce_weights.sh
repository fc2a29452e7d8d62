#!/usr/bin/env bash
# Reproduce every shipped model and every number in assets/weights/MODEL_CARD.md.
# CPU only; about 6 hours on an otherwise idle 2-core machine (the default's four runs ~4.5 h). DATA defaults to ../shared/data/camvid; RUNS holds
# the training runs (resumable: rerun this script after an interruption).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/camvid}
RUNS=${RUNS:-runs}
W=assets/weights

# 1. The default, in four runs end to end on train+val: EfficientNet-Lite0 + OCR at half the paper's
#    widths from ImageNet (256x256 crops); the same backbone with a new head at the paper's widths 512/256
#    (256x256 crops); that model fine-tuned on 480x480 crops, 400 steps, then 1,200 more. The second is
#    shipped too (ocr_paper_widths); the third is the previous default, kept as the fourth's ancestor.
python -m ocr_viz.train --head ocr --data "$DATA" --split train+val --iters 1400 --out "$RUNS/ocr_narrow"
python -m ocr_viz.train --head ocr --mid-channels 512 --key-channels 256 --data "$DATA" --split train+val --iters 1100 \
  --init "$RUNS/ocr_narrow/final.safetensors" --out "$RUNS/ocr_paper_widths"
python -m ocr_viz.train --head ocr --mid-channels 512 --key-channels 256 --data "$DATA" --split train+val --iters 400 \
  --init "$RUNS/ocr_paper_widths/final.safetensors" --init-head --crop 480 --scale 0.75 2.5 --batch 4 \
  --lr-backbone 0.005 --lr-head 0.02 --warmup 50 --checkpoint-every 25 --out "$RUNS/ocr_crop480"
python -m ocr_viz.train --head ocr --mid-channels 512 --key-channels 256 --data "$DATA" --split train+val --iters 1200 \
  --init "$RUNS/ocr_crop480/final.safetensors" --init-head --crop 480 --scale 0.75 2.5 --batch 4 \
  --lr-backbone 0.005 --lr-head 0.02 --warmup 50 --checkpoint-every 25 --out "$RUNS/ocr_1200"
python -m ocr_viz.ship "$RUNS/ocr_paper_widths/final.safetensors" "$W/ocr_paper_widths.safetensors" \
  --ancestors "$RUNS/ocr_narrow/final.safetensors"
python -m ocr_viz.ship "$RUNS/ocr_crop480/final.safetensors" "$RUNS/ocr_crop480/shipped.safetensors" --name ocr \
  --ancestors "$RUNS/ocr_narrow/final.safetensors" "$RUNS/ocr_paper_widths/final.safetensors"
python -m ocr_viz.ship "$RUNS/ocr_1200/final.safetensors" "$W/ocr.safetensors" --name ocr \
  --ancestors "$RUNS/ocr_crop480/shipped.safetensors"

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
python -m ocr_viz.evaluate ocr_paper_widths --data "$DATA" --scale 1.3333 --out "$W/eval/ocr_paper_widths_test.json" --no-progress
python -m ocr_viz.evaluate ocr --data "$DATA" --out "$W/eval/ocr_native-scale.json" --no-progress
python -m ocr_viz.evaluate ocr --data "$DATA" --scale 1.5 --out "$W/eval/ocr_scale-1.5.json" --no-progress

# 4. A second seed of two heads (how much one run's ranking means), and the relation analysis.
for head in fcn ocr; do
  name=$head; [ "$head" = ocr ] && name=ocr_frozen
  python -m ocr_viz.train --head "$head" --data "$DATA" --split train+val --iters 500 --seed 1 \
    --init "$W/ocr.safetensors" --freeze-backbone --out "$RUNS/seed1_$head"
  python -m ocr_viz.evaluate "$RUNS/seed1_$head/final.safetensors" --data "$DATA" --scale 1.3333 --out "$W/eval/${name}_seed1.json" --no-progress
done
python -m ocr_viz.analyze relation ocr --data "$DATA" --out assets/analysis/relation_ocr.json
python -m ocr_viz.results
