"""python -m ocr_viz.bench allocators: the shipped model's trace under each memory allocator.

Each setup runs in its own process (an allocator is chosen when a process starts), the setups
taking turns round by round so that other load on the machine spreads over all of them:
  speed   median seconds of Segmentor.trace on a CamVid frame at the app's size (640 x 480)
  memory  RSS while 4 threads (the server's script threads) trace images of 40 different sizes,
          as students uploading do; "flat" compares the last quarter with the second.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .allocator import active_allocator, allocator_env, watch_free_pages

SETUPS = ("glibc", "glibc-mmap-1MB", "tcmalloc", "tcmalloc-served", "jemalloc")
SAMPLE = Path(__file__).resolve().parents[2] / "assets" / "samples" / "camvid" / "0001TP_008550.jpg"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def fixed_mmap_threshold() -> None:
    """The app's setting before tcmalloc (mallopt M_MMAP_THRESHOLD 1 MB, M_ARENA_MAX 2), kept here to compare."""
    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(-3, 1 << 20)
    libc.mallopt(-8, 2)


def child(setup: str, repeats: int, uploads: int) -> dict:
    import numpy as np
    import torch
    from PIL import Image

    from ocr_viz.model.api import load_model
    from ocr_viz.model.images import preprocess

    if setup == "glibc-mmap-1MB":
        fixed_mmap_threshold()
    if setup == "tcmalloc-served":  # as python -m ocr_viz.serve runs: free pages handed back past 64 MB
        watch_free_pages()
    model, _ = load_model("ocr", "cpu")
    image = Image.open(SAMPLE).convert("RGB")
    x = preprocess(image)
    with torch.inference_mode():
        model.trace(x)  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            model.trace(x)
            times.append(time.perf_counter() - start)
    rss = [rss_mb()]
    sizes = [(320 + 16 * (i % 20), 240 + 12 * (i // 2 % 20)) for i in range(uploads)]

    def upload(size):
        with torch.inference_mode():
            t = model.trace(preprocess(image.resize(size)))
            arrays = [v.numpy().copy() for v in (t.logits, t.features) if isinstance(v, torch.Tensor)]
        del t, arrays
        return rss_mb()

    with ThreadPoolExecutor(4) as pool:
        rss += list(pool.map(upload, sizes))
    quarter = max(1, len(rss) // 4)
    return {"setup": setup, "allocator": active_allocator(), "trace_seconds": times,
            "trace_median": statistics.median(times), "rss_mb": [round(r, 1) for r in rss],
            "rss_second_quarter_max": max(rss[quarter:2 * quarter]), "rss_last_quarter_max": max(rss[-quarter:]),
            "rss_max": max(rss), "threads": torch.get_num_threads(), "numpy": np.__version__}


def run(args: argparse.Namespace) -> dict:
    results: dict[str, list[dict]] = {s: [] for s in args.setups}
    load_before = os.getloadavg()
    for _ in range(args.rounds):
        for setup in args.setups:
            name = setup.split("-")[0]  # glibc-mmap-1MB runs on glibc, tcmalloc-served on tcmalloc
            env, notice = allocator_env(name)
            if notice:
                print(f"skipping {setup}: {notice}", file=sys.stderr)
                continue
            out = subprocess.run([sys.executable, "-m", "ocr_viz.serving.allocator_bench", "--child", setup,
                                  "--repeats", str(args.repeats), "--uploads", str(args.uploads)],
                                 env=env, capture_output=True, text=True, check=True)
            results[setup].append(json.loads(out.stdout.strip().splitlines()[-1]))
    summary = {}
    for setup, runs in results.items():
        if runs:
            summary[setup] = {
                "allocator": runs[0]["allocator"],
                "trace_median_s": statistics.median(t for r in runs for t in r["trace_seconds"]),
                "rss_max_mb": max(r["rss_max"] for r in runs),
                "rss_second_quarter_max_mb": statistics.median(r["rss_second_quarter_max"] for r in runs),
                "rss_last_quarter_max_mb": statistics.median(r["rss_last_quarter_max"] for r in runs),
            }
    return {"summary": summary, "runs": results, "rounds": args.rounds, "repeats": args.repeats,
            "uploads": args.uploads, "load_average_before": load_before, "load_average_after": os.getloadavg(),
            "errors": []}


def show(r: dict) -> None:
    print(f"trace of a 640x480 CamVid frame (median of {r['rounds']} x {r['repeats']}), and RSS while 4 threads trace "
          f"{r['uploads']} images of different sizes")
    print(f"{'setup':<16} {'allocator':<10} {'trace':>8} {'RSS 2nd quarter':>16} {'RSS last quarter':>17} {'RSS max':>8}")
    for setup, s in r["summary"].items():
        print(f"{setup:<16} {s['allocator']:<10} {s['trace_median_s']:>7.3f}s {s['rss_second_quarter_max_mb']:>14.0f}MB "
              f"{s['rss_last_quarter_max_mb']:>15.0f}MB {s['rss_max_mb']:>6.0f}MB")
    print(f"load average before {tuple(round(x, 2) for x in r['load_average_before'])}, "
          f"after {tuple(round(x, 2) for x in r['load_average_after'])}")


def add_parser(sub) -> None:
    a = sub.add_parser("allocators", help="the shipped model's trace time and RSS under glibc, tcmalloc, jemalloc")
    a.add_argument("--setups", type=lambda s: s.split(","), default=list(SETUPS))
    a.add_argument("--rounds", type=int, default=3)
    a.add_argument("--repeats", type=int, default=5)
    a.add_argument("--uploads", type=int, default=40)
    a.add_argument("--json", metavar="PATH")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--child", choices=SETUPS, required=True)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--uploads", type=int, default=40)
    a = p.parse_args()
    print(json.dumps(child(a.child, a.repeats, a.uploads)))
