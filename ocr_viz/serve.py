"""Command: python -m ocr_viz.serve [--allocator tcmalloc|jemalloc|glibc] [streamlit options]

Runs `streamlit run app.py` with the allocator the benchmarks chose (tcmalloc, preloaded; see
ocr_viz/serving/allocator.py), falling back with a printed notice where it is not installed.
Every other option goes to streamlit, e.g. `python -m ocr_viz.serve --server.headless true`.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .serving.allocator import DEFAULT, LIBRARIES, allocator_env

APP = Path(__file__).resolve().parent.parent / "app.py"


def streamlit_command(streamlit_args: list[str]) -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(APP), *streamlit_args]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ocr_viz.serve", description=__doc__.split("\n")[0])
    p.add_argument("--allocator", choices=(*LIBRARIES, "glibc"), default=DEFAULT)
    args, streamlit_args = p.parse_known_args(argv)
    env, notice = allocator_env(args.allocator)
    if notice:
        print(f"ocr_viz.serve: {notice}", file=sys.stderr, flush=True)
    command = streamlit_command(streamlit_args)
    os.execve(command[0], command, env)  # the preload takes effect only in a new process image
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
