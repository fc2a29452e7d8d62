"""The compute queue's prefetch: the Compare page's heads run while the server is idle, at the
lowest priority (any user's job goes first), and a user asking for a prefetched key shares it.
Ordering is checked with events, never timings."""
from __future__ import annotations

import threading

import numpy as np

from ocr_viz.app import compute


def queue_with_one_slot() -> compute.ComputeQueue:
    queue = compute.ComputeQueue(slots=1, poll_seconds=0.01)
    queue.cache("job", 10 * compute.MB)
    return queue


def hold_the_slot(queue: compute.ComputeQueue, order: list[str]) -> threading.Event:
    """A user's job that holds the only slot until the returned event is set."""
    started, release = threading.Event(), threading.Event()

    def hold():
        started.set()
        release.wait(30)
        order.append("blocker")

    queue.submit("job", "blocker", hold)
    assert started.wait(30)
    return release


def recorder(order: list[str], name: str, done: threading.Event | None = None):
    def compute_value():
        order.append(name)
        if done is not None:
            done.set()
        return name
    return compute_value


def test_a_prefetched_job_runs_when_idle_and_is_then_read_from_the_cache():
    queue, order, done = queue_with_one_slot(), [], threading.Event()
    assert queue.prefetch("job", "comparison", recorder(order, "prefetch", done))
    assert done.wait(30)
    assert queue.run("job", "comparison", recorder(order, "again")) == "prefetch"
    assert order == ["prefetch"]  # computed once, by the prefetch
    assert not queue.prefetch("job", "comparison", recorder(order, "third"))  # cached: nothing to do


def test_a_users_job_that_comes_later_still_goes_before_the_prefetch():
    queue, order, done = queue_with_one_slot(), [], threading.Event()
    release = hold_the_slot(queue, order)
    assert queue.prefetch("job", "comparison", recorder(order, "prefetch", done))
    queue.submit("job", "user", recorder(order, "user"))
    release.set()
    assert done.wait(30)
    assert order == ["blocker", "user", "prefetch"]


def test_no_prefetch_while_a_users_job_waits():
    queue, order = queue_with_one_slot(), []
    release = hold_the_slot(queue, order)
    user = queue.submit("job", "user", recorder(order, "user"))
    assert not queue.prefetch("job", "comparison", recorder(order, "prefetch"))
    release.set()
    assert user.finished.wait(30)
    assert order == ["blocker", "user"] and queue.status()["prefetching"] == 0


def test_a_user_asking_for_a_queued_prefetch_gets_its_priority_and_one_computation():
    queue, order = queue_with_one_slot(), []
    release = hold_the_slot(queue, order)
    assert queue.prefetch("job", "comparison", recorder(order, "comparison"))
    result = []
    asker = threading.Thread(target=lambda: result.append(queue.run("job", "comparison", recorder(order, "user's copy"))))
    asker.start()
    while queue.status()["prefetching"]:  # promoted into the users' queue by the ask
        threading.Event().wait(0.01)
    release.set()
    asker.join(30)
    assert result == ["comparison"] and order == ["blocker", "comparison"]


def value_of(order: list[str], name: str, done: threading.Event | None = None):
    """A job computing a 4,000-byte array (a cache of 4,500 bytes keeps one)."""
    def compute_value():
        order.append(name)
        if done is not None:
            done.set()
        return np.full(1000, len(order), np.float32)
    return compute_value


def queue_with_room_for_one(spare_seconds: float) -> compute.ComputeQueue:
    queue = compute.ComputeQueue(slots=1, poll_seconds=0.01)
    queue.cache("job", 4500).spare_seconds = spare_seconds
    return queue


def test_a_prefetch_never_pushes_out_what_a_user_asked_for():
    queue, order = queue_with_room_for_one(spare_seconds=0), []
    asked = queue.run("job", "asked", value_of(order, "asked"))
    assert not queue.prefetch("job", "idle", value_of(order, "idle"))  # no room beside it: not even computed
    assert order == ["asked"] and queue.caches()["job"].get("asked") is asked


def prefetched(queue: compute.ComputeQueue, key: str, order: list[str]) -> bool:
    """Prefetch `key`; if queued, wait until its result is in the cache."""
    done = threading.Event()
    if not queue.prefetch("job", key, value_of(order, key, done)):
        return False
    assert done.wait(30)
    while queue.status()["running"]:  # cached just after `done`
        threading.Event().wait(0.01)
    return True


def test_a_spare_gives_way_to_a_newer_prefetch_only_once_it_is_older_than_spare_seconds():
    fresh, order = queue_with_room_for_one(spare_seconds=3600), []
    assert prefetched(fresh, "a", order) and not prefetched(fresh, "b", order)  # a is a spare, but a fresh one
    stale = queue_with_room_for_one(spare_seconds=0)
    assert prefetched(stale, "a", order) and prefetched(stale, "b", order)
    cache = stale.caches()["job"]
    assert order == ["a", "a", "b"] and "b" in cache and "a" not in cache and cache.total == 4000


def test_a_spare_read_by_a_user_is_theirs():
    cache = compute.ByteCache("job", 4500, spare_seconds=0)
    cache.put("prefetched", np.zeros(1000, np.float32), spare=True)
    assert cache.fits()  # a stale spare: room for another prefetch
    cache.get("prefetched")  # a user opened the Compare page
    assert not cache.fits()
    cache.put("next", np.zeros(1000, np.float32), spare=True)
    assert "prefetched" in cache and "next" not in cache and cache.total == 4000


def test_a_spare_that_sessions_still_prefetch_stays_fresh():
    """Two images shown at once: each session's rerun prefetches its image's comparison again, so the one
    kept is refreshed and the other image's waits, instead of replacing it every spare_seconds."""
    now = [0.0]
    queue = compute.ComputeQueue(slots=1, poll_seconds=0.01)
    queue._caches["job"] = cache = compute.ByteCache("job", 4500, spare_seconds=30, clock=lambda: now[0])
    order = []
    assert prefetched(queue, "a", order)
    for second in (20, 40, 60):  # a's students rerun their pages
        now[0] = second
        assert not prefetched(queue, "a", order) and not prefetched(queue, "b", order)
    now[0] = 95  # nobody has shown a for 35 s
    assert prefetched(queue, "b", order)
    assert order == ["a", "b"] and "b" in cache and "a" not in cache


def test_the_compare_page_finds_the_comparison_that_the_idle_server_prepared(monkeypatch):
    """In the app: opening an image prefetches its comparison; the Compare page then computes nothing."""
    from app_helpers import open_page, problems, start

    from ocr_viz.app import model_choice

    monkeypatch.setattr(model_choice, "PREFETCH_COMPARISON", True)
    queue = model_choice.QUEUE
    queue.caches()["comparison"].clear()  # so that only this test's prefetch can fill it
    computed = queue.computed.get("comparison", 0)
    at = open_page(start({"image": "sample:leuvenB.jpg"}), "relation")
    assert problems(at) == []
    for job in [j for j in list(queue._jobs.values()) if j.kind == "comparison"]:
        assert job.finished.wait(300)
    assert queue.computed.get("comparison", 0) == computed + 1  # prepared in the background
    at = open_page(at, "compare")
    assert problems(at) == []
    assert queue.computed.get("comparison", 0) == computed + 1  # and the page computed nothing more
