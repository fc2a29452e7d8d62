"""Command: python -m ocr_viz.serve [--allocator tcmalloc|jemalloc|glibc] [streamlit options]
         python -m ocr_viz.serve --replicas N [--listen HOST:PORT]

Runs `streamlit run app.py` with the allocator the benchmarks chose (tcmalloc, preloaded; see
ocr_viz/serving/allocator.py), falling back with a printed notice where it is not installed.
Every other option goes to streamlit, e.g. `python -m ocr_viz.serve --server.headless true`.
With --replicas, N such processes on free local ports and nginx in front of them on --listen,
sticky by a cookie (ocr_viz/serving/nginx.conf); Ctrl-C stops them all.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from .serving.allocator import DEFAULT, LIBRARIES, allocator_env

APP = Path(__file__).resolve().parent.parent / "app.py"


def streamlit_command(streamlit_args: list[str]) -> list[str]:
    """`streamlit run app.py [streamlit_args]`, after serving.startup.warm_start in the same process."""
    root = str(APP.parent)
    bootstrap = (f"import sys; sys.path.insert(0, {root!r}); from ocr_viz.serving.startup import warm_start; warm_start(); "
                 "from streamlit.web.cli import main; main(prog_name='streamlit')")
    return [sys.executable, "-c", bootstrap, "run", str(APP), *streamlit_args]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ocr_viz.serve", description=__doc__.split("\n")[0])
    p.add_argument("--allocator", choices=(*LIBRARIES, "glibc"), default=DEFAULT)
    p.add_argument("--replicas", type=int, default=0, help="N app processes behind nginx (needs nginx installed)")
    p.add_argument("--listen", default="127.0.0.1:8501", help="with --replicas: nginx's address (0.0.0.0:8501 for all)")
    args, streamlit_args = p.parse_known_args(argv)
    if args.replicas:
        return serve_replicas(args.replicas, args.listen, streamlit_args)
    env, notice = allocator_env(args.allocator)
    if notice:
        print(f"ocr_viz.serve: {notice}", file=sys.stderr, flush=True)
    command = streamlit_command(streamlit_args)
    os.execve(command[0], command, env)  # the preload takes effect only in a new process image
    return 0  # not reached


def serve_replicas(count: int, listen: str, streamlit_args: list[str]) -> int:
    """Each replica is started as `python -m ocr_viz.serve` (tcmalloc) on a free local port."""
    from .serving.replicas import replicas

    if streamlit_args:
        raise SystemExit(f"--replicas starts each replica itself; drop {' '.join(streamlit_args)}")
    with replicas(count, listen) as (url, servers):
        print(f"{count} replicas ({', '.join(u for u, _ in servers)}) behind nginx at {url}; Ctrl-C stops them", flush=True)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
