"""The server's memory allocator, chosen by measurement (`python -m ocr_viz.bench allocators`).

A trace allocates and frees tensors of 1-10 MB. glibc's malloc either keeps them in per-thread
heaps that are never returned (RSS grows with every upload) or, with a fixed mmap threshold, maps
every one afresh (a trace 2.5x slower). tcmalloc, preloaded, serves both: it is as fast as
glibc's defaults and gives freed pages back to the OS (PyTorch's CPU performance guide recommends
it). It must be loaded before Python starts, so `python -m ocr_viz.serve` sets LD_PRELOAD and
then runs streamlit.
"""
from __future__ import annotations

import ctypes
import os
import threading
import time
from pathlib import Path

# Debian / Ubuntu package -> the library it installs (x86_64 and arm64 multiarch folders)
LIBRARIES = {
    "tcmalloc": ("libtcmalloc-minimal4", "libtcmalloc_minimal.so.4"),
    "jemalloc": ("libjemalloc2", "libjemalloc.so.2"),
}
LIBRARY_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib")
DEFAULT = "tcmalloc"
# jemalloc's dirty pages go back to the OS after 1 s, by a background thread, instead of its 10 s default
JEMALLOC_CONF = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0"


def library_path(name: str) -> Path | None:
    """Where the shared library of allocator `name` is installed, or None."""
    file = LIBRARIES[name][1]
    return next((Path(d) / file for d in LIBRARY_DIRS if (Path(d) / file).exists()), None)


def allocator_env(name: str, environ: dict[str, str] | None = None) -> tuple[dict[str, str], str | None]:
    """The environment that runs a new process with allocator `name` ("glibc": unchanged), and a
    notice for the user where that library is missing (then glibc's defaults are used)."""
    env = dict(os.environ if environ is None else environ)
    if name == "glibc":
        return env, None
    path = library_path(name)
    if path is None:
        package = LIBRARIES[name][0]
        return env, (f"{name} not found ({LIBRARIES[name][1]}); serving with glibc's malloc, whose memory grows "
                     f"with every upload. Install it: apt-get install {package}")
    env["LD_PRELOAD"] = " ".join(p for p in (str(path), env.get("LD_PRELOAD", "")) if p)
    if name == "jemalloc":
        env.setdefault("MALLOC_CONF", JEMALLOC_CONF)
    return env, None


def active_allocator(maps: str | None = None) -> str:
    """The allocator this process runs with, read from its memory map."""
    if maps is None:
        try:
            maps = Path("/proc/self/maps").read_text()
        except OSError:
            return "unknown"
    for name, (_, file) in LIBRARIES.items():
        if file.split(".so")[0] in maps:
            return name
    return "glibc"


_PROCESS = ctypes.CDLL(None)  # the process's own symbols: tcmalloc's, where it is preloaded


def release_free_memory() -> str:
    """Hand the pages the allocator keeps for reuse back to the OS; returns what was called.
    A trace frees ~120 MB of buffers and a head comparison ~215 MB: tcmalloc keeps them in its
    page heap (RSS 1.8 GB with 0.9 GB in use), glibc in its arenas. The server calls it when its
    compute queue has been idle a second (and every second while busy): the next job re-faults them."""
    for function in ("MallocExtension_ReleaseFreeMemory", "malloc_trim"):  # tcmalloc's, glibc's
        release = getattr(_PROCESS, function, None)
        if release is not None:
            if function == "malloc_trim":
                release(0)  # 0: keep no padding at the top of the heap
            else:
                release()
            return function
    return "none"  # e.g. jemalloc, which returns dirty pages itself after its decay time


def free_pages_bytes() -> int | None:
    """Bytes tcmalloc keeps freed but not handed back (its page heap's free pages); None under another allocator."""
    read = getattr(_PROCESS, "MallocExtension_GetNumericProperty", None)
    value = ctypes.c_size_t()
    if read is None or not read(b"tcmalloc.pageheap_free_bytes", ctypes.byref(value)):
        return None
    return value.value


# Between the queue's tidies (after a job, at most every second), ten students' page runs and one long
# comparison freed up to 330 MB into tcmalloc's page heap, a fifth of the soak's RSS at its peaks; checked
# every half second, pages past 64 MB go back: a trace runs 0-4% slower (0.331-0.355 s against 0.335-0.343 s:
# it faults freed buffers in again), where giving back everything as it is freed runs it 2x slower.
# OCR_VIZ_FREE_PAGES_MB sets the threshold (0: no watch).
WATCH_SECONDS = 0.5
WATCH_ABOVE_BYTES = int(os.environ.get("OCR_VIZ_FREE_PAGES_MB", "64").strip() or 64) * 2**20


def watch_free_pages(every: float = WATCH_SECONDS, above: int = WATCH_ABOVE_BYTES) -> threading.Thread | None:
    """A daemon thread that hands tcmalloc's free pages back whenever they exceed `above` bytes, looking
    every `every` seconds; None (nothing started) under another allocator or with `above` 0."""
    if free_pages_bytes() is None or above <= 0:
        return None

    def watch() -> None:
        while True:
            time.sleep(every)
            if free_pages_bytes() > above:
                release_free_memory()

    thread = threading.Thread(target=watch, name="ocr-viz-free-pages", daemon=True)
    thread.start()
    return thread
