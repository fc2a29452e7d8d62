"""Starting the app for benchmarks and tests: `app_server` runs it as the README serves it
(`python -m ocr_viz.serve`) on a free local port; `replicas.py` starts several behind nginx."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_healthy(url: str, process: subprocess.Popen, failure: str, seconds: float = 90) -> None:
    """Until `url`'s health check answers ok; RuntimeError(failure) if `process` ends or time runs out."""
    deadline = time.time() + seconds
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return
        except OSError:
            pass
        if process.poll() is not None or time.time() > deadline:
            raise RuntimeError(failure)
        time.sleep(0.3)


@contextmanager
def app_server(log_path: Path, env: dict | None = None, allocator: str | None = None):
    """The app as the README serves it (`python -m ocr_viz.serve`: streamlit with tcmalloc, or
    `allocator`) on a free local port; yields (url, pid); stopped on exit."""
    port = free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "ocr_viz.serve", *(["--allocator", allocator] if allocator else []), "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process, f"streamlit did not start; see {log_path}")
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
