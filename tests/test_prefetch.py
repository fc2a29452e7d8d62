"""The compute queue's prefetch: the Compare page's heads run while the server is idle, at the
lowest priority (any user's job goes first), and a user asking for a prefetched key shares it.
Ordering is checked with events, never timings."""
from __future__ import annotations

import threading

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
