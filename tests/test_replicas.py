"""Replicas behind nginx (`python -m ocr_viz.serve --replicas N`): sticky sessions carry pages, clicks
and uploads to the replica that holds the session, and a link restores its view on any replica.
Asserts errors and memory, never timings."""
from __future__ import annotations

import asyncio
import os
import re
import shutil

import pytest

from ocr_viz.serving import benchmarks, replicas, wire_client

NGINX = shutil.which("nginx") or (os.path.exists("/usr/sbin/nginx") and "/usr/sbin/nginx")
needs_nginx = pytest.mark.skipif(not NGINX and not os.environ.get("CI"),
                                 reason="nginx is not installed (apt-get install nginx-light); CI installs it")


def test_the_config_names_every_replica_once_with_equal_shares(tmp_path):
    conf = replicas.nginx_config([8601, 8602, 8603], "0.0.0.0:8501", tmp_path)
    assert re.findall(r"upstream (r\d) \{ server 127\.0\.0\.1:(\d+); \}", conf) == [
        ("r0", "8601"), ("r1", "8602"), ("r2", "8603")]
    assert "33.3333% r0;" in conf and "33.3333% r1;" in conf and "* r2;" in conf
    assert all(f"        {r} {r};" in conf for r in ("r0", "r1", "r2"))  # a cookie naming another replica is ignored
    assert "listen 0.0.0.0:8501;" in conf and not re.search(r"@[A-Z]+@", conf)  # every field filled in


def replica_of(url: str, cookies: dict[str, str]) -> str:
    return wire_client.health_cookies(url, cookies)["ocrviz_replica"]


async def open_link(url: str, replica: str, query: str) -> list[str]:
    session, _ = await wire_client.open_page(url, "relation", query, benchmarks.TIMEOUT_S, {"ocrviz_replica": replica})
    try:
        return list(session.texts)
    finally:
        await session.socket.close()


@needs_nginx
def test_two_replicas_behind_nginx_serve_students_and_restore_a_link_on_either():
    listen = f"127.0.0.1:{benchmarks.free_port()}"
    with replicas.replicas(2, listen, {"OMP_NUM_THREADS": "1"}) as (url, servers):
        # a new client is given a replica and keeps it; a cookie chooses one
        assert replica_of(url, {}) in ("r0", "r1")
        assert replica_of(url, {"ocrviz_replica": "r1"}) == "r1" and replica_of(url, {"ocrviz_replica": "r0"}) == "r0"
        assert replica_of(url, {"ocrviz_replica": "r7"}) in ("r0", "r1")  # no such replica: a real one
        # three students open pages, upload and click through nginx: an upload sent to the wrong
        # replica, or a click to a process without the session, would be an error
        tally = asyncio.run(benchmarks.load_run(url, users=3, minutes=0.5, clicks=2, uploads=3))
        assert tally.errors == [], tally.errors
        assert tally.uploads >= 3 and len(tally.clicks) >= 6, (tally.uploads, tally.clicks)  # every student finished a round
        # the link of a view, opened on each replica, shows that view
        query = "image=sample:leuvenB.jpg&class=Car&pixel=5,7"
        for replica in ("r0", "r1"):
            texts = asyncio.run(open_link(url, replica, query))
            assert any("(row 5, col 7)" in t for t in texts), f"{replica} did not restore the linked pixel"
        for _, pid in servers:
            assert 0 < benchmarks.rss_bytes(pid) < 2 * 2**30
