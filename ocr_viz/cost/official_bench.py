"""python -m ocr_viz.bench official --model PATH: the official HRNet-OCR code's forward pass against
this project's trace of the same weights, in one process, taking turns.

PATH is a checkpoint in the HRNet-OCR release format (e.g. hrnet_ocr_cs_8162_torch11.pth, or the
random-weight W48 of scripts/make_w48_random_fixture.py). The official code
(HRNet/HRNet-Semantic-Segmentation, branch HRNet-OCR, lib/models/seg_hrnet_ocr.py) is never part of
this project: it is cloned at benchmark time into a cache outside the repository
($XDG_CACHE_HOME/ocr_viz/official, default ~/.cache/ocr_viz/official), or read from --official-src.
Its model is built from the file's own stage layout and loaded strictly; two things in it need
today's libraries: its SyncBatchNorm becomes BatchNorm2d (the same arithmetic in eval mode, without a
process group), and numpy's removed `np.int` is supplied for its one call.

Each size: one untimed run of each, then --runs rounds in which the official forward and our trace
alternate, so both see the same machine load; medians, their ratio, the load average before and
after, and how far the two logits are apart (they should agree to float32 rounding).
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ocr_viz.model import convert
from ocr_viz.model.backbones.hrnet import LAYOUTS

REPOSITORY = "https://github.com/HRNet/HRNet-Semantic-Segmentation.git"
BRANCH = "HRNet-OCR"
MODEL_FILE = Path("lib") / "models" / "seg_hrnet_ocr.py"
DEFAULT_SIZES = ((1024, 512), (2048, 1024))


class OfficialError(RuntimeError):
    """The benchmark cannot run; the message says why and what to do."""


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ocr_viz" / "official" / "HRNet-Semantic-Segmentation"


def official_source(path: str | None) -> Path:
    """--official-src, else the cached clone, else a fresh shallow clone of the HRNet-OCR branch."""
    if path:
        src = Path(path)
        if not (src / MODEL_FILE).is_file():
            raise OfficialError(f"{src} has no {MODEL_FILE}: point --official-src at a checkout of {REPOSITORY} (branch {BRANCH})")
        return src
    src = cache_dir()
    if (src / MODEL_FILE).is_file():
        return src
    src.parent.mkdir(parents=True, exist_ok=True)
    print(f"cloning {REPOSITORY} (branch {BRANCH}) into {src}", flush=True)
    try:
        subprocess.run(["git", "clone", "--quiet", "--depth", "1", "--branch", BRANCH, REPOSITORY, str(src)],
                       check=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as e:
        raise OfficialError(f"could not clone {REPOSITORY} ({e}); clone it yourself and pass --official-src PATH") from e
    return src


def commit_of(src: Path) -> str | None:
    try:
        return subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=30).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


class Config(dict):
    """The attribute-and-key access the official code uses on its yacs config (config.MODEL.EXTRA, extra['STAGE2'])."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError as e:
            raise AttributeError(name) from e


def official_config(arch: dict) -> Config:
    """The official config's fields its model reads, for the architecture the file's tensors describe."""
    layout = LAYOUTS[arch["hrnet_layout"]]
    stages = {"STAGE1": Config(NUM_MODULES=1, NUM_BRANCHES=1, BLOCK="BOTTLENECK", NUM_BLOCKS=[layout.stem_blocks],
                               NUM_CHANNELS=[layout.stem_planes], FUSE_METHOD="SUM")}
    for n, stage in enumerate(layout.stages, start=2):
        stages[f"STAGE{n}"] = Config(NUM_MODULES=stage.modules, NUM_BRANCHES=len(stage.channels), BLOCK="BASIC",
                                     NUM_BLOCKS=list(stage.blocks), NUM_CHANNELS=list(stage.channels), FUSE_METHOD="SUM")
    head = arch["head_kwargs"]
    return Config(MODEL=Config(EXTRA=Config(stages), ALIGN_CORNERS=arch["align_corners"], PRETRAINED="",
                               OCR=Config(MID_CHANNELS=head["mid_channels"], KEY_CHANNELS=head["key_channels"])),
                  DATASET=Config(NUM_CLASSES=arch["num_classes"]))


def official_model(src: Path, state: dict[str, torch.Tensor], arch: dict) -> nn.Module:
    """seg_hrnet_ocr.HighResolutionNet built by the official code and loaded strictly with the file's tensors."""
    sys.path.insert(0, str(src / "lib"))
    try:
        module = importlib.import_module("models.seg_hrnet_ocr")
    finally:
        sys.path.remove(str(src / "lib"))
    module.BatchNorm2d = module.BatchNorm2d_class = nn.BatchNorm2d
    if not hasattr(np, "int"):
        np.int = int  # removed in numpy 1.24; the official code calls it once, on a channel count
    model = module.HighResolutionNet(official_config(arch))
    model.load_state_dict(state, strict=True)
    return model.eval()


def synthetic_input(size: tuple[int, int], seed: int = 0) -> torch.Tensor:
    """A normalised (1, 3, H, W) input for size = (W, H); the forward's cost does not depend on content."""
    from .bench import exact_input, synthetic_image

    return exact_input(synthetic_image(size, seed), size)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_size(official: nn.Module, ours: nn.Module, size: tuple[int, int], runs: int) -> dict:
    images = synthetic_input(size)
    with torch.no_grad():
        theirs = official(images)[1]  # [aux, cls_head] logits at stride 4; also the untimed first run
    mine = ours.trace(images).logits
    agreement = ((mine - theirs).abs().max() / theirs.abs().max()).item()
    official_s, ours_s = [], []
    for _ in range(runs):
        with torch.no_grad():
            official_s.append(timed(lambda: official(images)))
        ours_s.append(timed(lambda: ours.trace(images)))
    return {"input_size": [size[0], size[1]], "official_seconds": statistics.median(official_s),
            "ours_seconds": statistics.median(ours_s), "ratio_ours_over_official": statistics.median(ours_s) / statistics.median(official_s),
            "official_all": official_s, "ours_all": ours_s, "max_logit_difference_relative": agreement}


def run(args: argparse.Namespace) -> dict:
    load_before = os.getloadavg()
    state = convert.read_source(args.model)
    if convert.detect_layout(state) != "hrnet-ocr":
        raise OfficialError(f"{args.model} is not in the HRNet-OCR release format; `official` times the HRNet-OCR code only")
    src = official_source(args.official_src)
    ours, meta = convert.to_model(convert.convert(args.model))
    official = official_model(src, state, meta["arch"])
    rows = []
    for size in args.sizes:
        row = bench_size(official, ours, size, args.runs)
        rows.append(row)
        print(f"{size[0]} x {size[1]}: official {row['official_seconds']:.3f} s, ours {row['ours_seconds']:.3f} s, "
              f"ratio {row['ratio_ours_over_official']:.2f} (logits agree to {row['max_logit_difference_relative']:.1e} "
              f"of max |official|)", flush=True)
    return {"model": str(args.model), "hrnet_layout": meta["arch"]["hrnet_layout"], "official_src": str(src),
            "official_commit": commit_of(src), "runs": args.runs, "rows": rows,
            "run": {"command": "python -m ocr_viz.bench " + " ".join(args.argv), "torch": torch.__version__,
                    "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
                    "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "load_average_before": load_before, "load_average_after": os.getloadavg()}}


def parse_size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    return int(w), int(h or w)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ocr_viz.bench official", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="a checkpoint in the HRNet-OCR release format (.pth)")
    p.add_argument("--official-src", help=f"an existing checkout of {REPOSITORY} (branch {BRANCH}); default: clone into the cache")
    p.add_argument("--sizes", default="1024x512,2048x1024", help="W x H inputs, comma-separated (default 1024x512,2048x1024)")
    p.add_argument("--runs", type=int, default=5, help="timed rounds per size (median; default 5)")
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv[1:] if argv[:1] == ["official"] else argv)
    args.argv = list(argv)
    args.sizes = [parse_size(s) for s in args.sizes.split(",")]
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        report = run(args)
    except (OfficialError, convert.ConvertError, OSError) as e:
        print(f"error: {e}")
        return 2
    r = report["run"]
    print(f"load average before {', '.join(f'{v:.2f}' for v in r['load_average_before'])}; "
          f"after {', '.join(f'{v:.2f}' for v in r['load_average_after'])} ({r['threads']} threads, {r['cpus']} CPUs)")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0
