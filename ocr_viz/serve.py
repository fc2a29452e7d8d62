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


def warm_start() -> None:
    """What the server process does before Streamlit starts: import what every script run uses, then
    move those objects (~270,000: torch, streamlit, plotly, pandas, the library) out of the garbage
    collector's sight with gc.freeze(). They live as long as the process anyway; frozen, a full
    collection takes ~0.1 ms instead of 0.12-0.25 s, so the app's compute queue collects every second
    while busy instead of every 5 s (`model_choice.tidy_while_busy`: it reads the freeze count when it is
    first imported, after this) and a page's namespace, a reference cycle that pins the trace it drew,
    goes soon after it is replaced: in the soak up to ten replaced traces (400 MB) waited for the collection.
    pandas is imported here for another reason: Streamlit imports it lazily in the script threads,
    and two sessions doing so at once on a fresh server got "partially initialized module 'pandas'"
    (found by three students through nginx, tests/test_replicas.py)."""
    import gc

    import pandas  # noqa: F401
    import plotly.graph_objects  # noqa: F401
    import streamlit.web.cli  # noqa: F401
    import torch  # noqa: F401

    import ocr_viz.analysis.compare  # noqa: F401
    import ocr_viz.teaching.lecture  # noqa: F401

    assert "ocr_viz.app.model_choice" not in sys.modules, "the app's queue must see the freeze"
    gc.collect()
    gc.freeze()


def streamlit_command(streamlit_args: list[str]) -> list[str]:
    """`streamlit run app.py [streamlit_args]`, after warm_start in the same process."""
    root = str(APP.parent)
    bootstrap = (f"import sys; sys.path.insert(0, {root!r}); from ocr_viz.serve import warm_start; warm_start(); "
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
