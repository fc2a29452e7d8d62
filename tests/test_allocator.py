"""The served app's allocator: `python -m ocr_viz.serve` preloads tcmalloc where it is installed,
falls back to glibc with a notice where it is not, and hands every other option to streamlit."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ocr_viz import serve
from ocr_viz.serving import allocator

TCMALLOC = allocator.library_path("tcmalloc")
needs_tcmalloc = pytest.mark.skipif(
    TCMALLOC is None and not os.environ.get("CI"), reason="libtcmalloc-minimal4 is not installed (apt-get install libtcmalloc-minimal4)")


def test_a_missing_library_falls_back_to_glibc_with_a_notice_naming_the_package(monkeypatch):
    monkeypatch.setattr(allocator, "LIBRARY_DIRS", ("/nonexistent",))
    env, notice = allocator.allocator_env("tcmalloc", {"PATH": "/bin"})
    assert env == {"PATH": "/bin"}  # unchanged: no preload of a file that is not there
    assert "apt-get install libtcmalloc-minimal4" in notice


def test_the_preload_is_prepended_to_an_existing_one(tmp_path, monkeypatch):
    (tmp_path / "libtcmalloc_minimal.so.4").write_bytes(b"")
    monkeypatch.setattr(allocator, "LIBRARY_DIRS", (str(tmp_path),))
    env, notice = allocator.allocator_env("tcmalloc", {"LD_PRELOAD": "/other.so"})
    assert notice is None
    assert env["LD_PRELOAD"] == f"{tmp_path / 'libtcmalloc_minimal.so.4'} /other.so"


def test_jemalloc_gets_its_decay_settings_unless_the_user_set_their_own(tmp_path, monkeypatch):
    (tmp_path / "libjemalloc.so.2").write_bytes(b"")
    monkeypatch.setattr(allocator, "LIBRARY_DIRS", (str(tmp_path),))
    assert allocator.allocator_env("jemalloc", {})[0]["MALLOC_CONF"] == allocator.JEMALLOC_CONF
    assert allocator.allocator_env("jemalloc", {"MALLOC_CONF": "narenas:1"})[0]["MALLOC_CONF"] == "narenas:1"


def test_active_allocator_reads_the_memory_map():
    maps = "7f00-7f01 r-xp 0 08:01 1 /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4.5.10\n"
    assert allocator.active_allocator(maps) == "tcmalloc"
    assert allocator.active_allocator("7f00-7f01 r-xp 0 08:01 1 /usr/lib/libc.so.6\n") == "glibc"


def test_serve_runs_streamlit_on_the_app_with_the_other_options_and_the_preload(monkeypatch, tmp_path):
    (tmp_path / "libtcmalloc_minimal.so.4").write_bytes(b"")
    monkeypatch.setattr(allocator, "LIBRARY_DIRS", (str(tmp_path),))
    calls = []
    monkeypatch.setattr(serve.os, "execve", lambda path, argv, env: calls.append((path, argv, env)))
    serve.main(["--server.headless", "true", "--server.port", "8600"])
    (path, argv, env), = calls
    assert argv[1] == "-c" and "warm_start()" in argv[2] and "streamlit.web.cli" in argv[2]
    assert argv[3] == "run" and Path(argv[4]).name == "app.py" and Path(argv[4]).exists()
    assert argv[5:] == ["--server.headless", "true", "--server.port", "8600"]
    assert env["LD_PRELOAD"].startswith(str(tmp_path))


@needs_tcmalloc
def test_a_process_started_with_the_serve_environment_runs_on_tcmalloc():
    env, notice = allocator.allocator_env("tcmalloc")
    assert notice is None
    out = subprocess.run([sys.executable, "-c", "from ocr_viz.serving.allocator import active_allocator as a; print(a())"],
                         env=env, capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "tcmalloc"


def test_the_server_process_freezes_what_it_imports_before_streamlit_starts():
    """warm_start, run first in the served process: the heavy modules imported and their objects frozen, so
    the app's queue, imported after it, collects every second while busy (every 5 s in a process that
    has not frozen them, where each collection walks them all)."""
    script = ("import gc, sys; from ocr_viz.serving.startup import warm_start; warm_start(); "
              "print(gc.get_freeze_count(), all(m in sys.modules for m in ('pandas', 'torch', 'streamlit', 'plotly')), end=' '); "
              "from ocr_viz.app import model_choice; print(model_choice.QUEUE.busy_seconds)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    frozen, imported, busy_seconds = out.stdout.split()
    assert int(frozen) > 100_000 and imported == "True" and float(busy_seconds) == 1.0
    from ocr_viz.app import model_choice  # this test process froze nothing

    assert model_choice.QUEUE.busy_seconds == model_choice.BUSY_TIDY_SECONDS == 5.0


@needs_tcmalloc
def test_the_server_hands_tcmalloc_free_pages_back_past_the_threshold_without_waiting_for_a_job():
    """Buffers freed between the queue's tidies (page runs, a long comparison) go back to the OS within
    a watch period: 200 MB freed leave at most the 64 MB threshold. The served process starts the watch."""
    script = ("import time; from ocr_viz.serving import allocator as a; "
              "blocks = [bytearray(8 * 2**20) for _ in range(25)]; del blocks; "
              "print(a.free_pages_bytes() > 150 * 2**20, end=' '); "
              "assert a.watch_free_pages(every=0.1) is not None; time.sleep(1.0); print(a.free_pages_bytes() // 2**20)")
    env, _ = allocator.allocator_env("tcmalloc")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True, cwd=root)
    freed, left_mb = out.stdout.split()
    assert freed == "True" and int(left_mb) <= 64
    script = ("import threading; from ocr_viz.serving.startup import warm_start; warm_start(); "
              "print([t.name for t in threading.enumerate()])")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True, cwd=root)
    assert "ocr-viz-free-pages" in out.stdout


def test_no_watch_under_another_allocator_or_when_turned_off():
    assert allocator.watch_free_pages(above=0) is None  # OCR_VIZ_FREE_PAGES_MB=0
    assert allocator.active_allocator() != "tcmalloc" or allocator.free_pages_bytes() is not None
    if allocator.active_allocator() != "tcmalloc":  # this test process, unless started with the preload
        assert allocator.free_pages_bytes() is None and allocator.watch_free_pages() is None
