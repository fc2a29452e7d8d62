"""A random-weight HRNet-W48-OCR in the official release format, for benchmarks (not committed: 280 MB).

    python scripts/make_w48_random_fixture.py /tmp/w48/hrnet_ocr_w48_random.pth
    python -m ocr_viz.convert /tmp/w48/hrnet_ocr_w48_random.pth --dataset cityscapes --out /tmp/w48/hrnet_ocr_w48_random.safetensors
    python -m ocr_viz.bench trace --model /tmp/w48/hrnet_ocr_w48_random.safetensors --repeats 3 --device cpu --json assets/bench/trace_hrnet_w48_ocr.json

Keys, shapes and dtypes from ../shared/fixtures/hrnet_ocr/hrnet_ocr_w48_cityscapes_keys.txt (the
released W48 Cityscapes model, 'model.' prefixes included); values from make_mmseg_fixture.seeded_state.
"""
import importlib.util
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
KEYS = ROOT.parent / "shared" / "fixtures" / "hrnet_ocr" / "hrnet_ocr_w48_cityscapes_keys.txt"

if __name__ == "__main__":
    spec = importlib.util.spec_from_file_location("make_mmseg_fixture", ROOT / "scripts" / "make_mmseg_fixture.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/w48/hrnet_ocr_w48_random.pth")
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(make.seeded_state(make.read_keys(KEYS)), out)
    print(f"wrote {out}")
