"""Several app processes behind nginx with sticky sessions (`python -m ocr_viz.serve --replicas N`).

Each replica is the app as `python -m ocr_viz.serve` runs it, on a free local port; nginx listens
on the given address and routes by the `ocrviz_replica` cookie (the config, readable on its own,
is nginx.conf beside this file).
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from .servers import ARTIFACTS, app_server, wait_until_healthy

TEMPLATE = Path(__file__).with_name("nginx.conf")


def nginx_config(ports: list[int], listen: str, rundir: Path) -> str:
    """nginx.conf with the replicas on 127.0.0.1:`ports` and nginx on `listen` ("host:port")."""
    names = [f"r{i}" for i in range(len(ports))]
    upstreams = "\n".join(f"    upstream {n} {{ server 127.0.0.1:{p}; }}" for n, p in zip(names, ports))
    share = f"{100 / len(names):.4f}".rstrip("0").rstrip(".")
    shares = "\n".join(f"        {share}% {n};" for n in names[:-1]) + f"\n        * {names[-1]};"
    known = "\n".join(f"        {n} {n};" for n in names)
    return (TEMPLATE.read_text().replace("@UPSTREAMS@", upstreams).replace("@SHARES@", shares)
            .replace("@KNOWN@", known).replace("@LISTEN@", listen).replace("@RUNDIR@", str(rundir)))


@contextmanager
def replicas(count: int, listen: str = "127.0.0.1:8501", env: dict | None = None):
    """`count` app processes and nginx in front; yields (nginx's url, the replicas' (url, pid)s)."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        raise RuntimeError("nginx is not installed (apt-get install nginx-light)")
    with ExitStack() as stack:
        servers = [stack.enter_context(app_server(ARTIFACTS / f"replica{i}.log", env)) for i in range(count)]
        rundir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ocrviz-nginx-")))
        rundir.chmod(0o755)  # nginx started as root runs its workers as nobody: they buffer uploads here
        conf = rundir / "nginx.conf"
        conf.write_text(nginx_config([urlsplit(u).port for u, _ in servers], listen, rundir))
        process = subprocess.Popen([nginx, "-c", str(conf), "-p", str(rundir), "-g", "daemon off;"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        stack.callback(process.wait, 15)
        stack.callback(process.terminate)
        host, _, port = listen.rpartition(":")
        url = f"http://{'127.0.0.1' if host in ('', '0.0.0.0') else host}:{port}"
        wait_until_healthy(url, process, f"nginx did not answer at {url}; see {rundir / 'error.log'}", 30)
        yield url, servers
