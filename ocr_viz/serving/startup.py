"""What the server process does before Streamlit starts (`python -m ocr_viz.serve` runs it first)."""
from __future__ import annotations

import sys


def warm_start() -> None:
    """What the server process does before Streamlit starts: import what every script run uses, then
    move those objects (~290,000: torch, streamlit, plotly, pandas, the library) out of the garbage
    collector's sight with gc.freeze(). They live as long as the process anyway; frozen, a full
    collection takes ~0.1 ms instead of 0.12-0.25 s, so the app's compute queue collects (and releases the
    allocator's free pages) every second while busy instead of every 5 s (`model_choice.BUSY_TIDY_SECONDS`:
    read from the freeze count when model_choice is first imported, after this) and a page's namespace,
    a reference cycle that pins the trace it drew, goes soon after it is replaced: in the soak up to ten
    replaced traces (400 MB) waited for the collection.
    pandas is imported here for another reason: Streamlit imports it lazily in the script threads,
    and two sessions doing so at once on a fresh server got "partially initialized module 'pandas'"
    (found by three students through nginx, tests/test_replicas.py).
    Last, under tcmalloc, a thread starts that hands its free pages back past 64 MB (allocator.watch_free_pages)."""
    import gc

    import pandas  # noqa: F401
    import plotly.graph_objects  # noqa: F401
    import streamlit.web.cli  # noqa: F401
    import torch  # noqa: F401

    import ocr_viz.analysis.compare  # noqa: F401
    import ocr_viz.teaching.lecture  # noqa: F401

    from ocr_viz.serving.allocator import watch_free_pages

    assert "ocr_viz.app.model_choice" not in sys.modules, "the app's queue must see the freeze"
    gc.collect()
    gc.freeze()
    watch_free_pages()
