"""The compute queue's idle hook (the server hands freed pages back to the OS there): called once
after work, when the queue has stood empty for `idle_seconds`; never while a job waits or runs,
never before any work. Ordering is checked with events, not timings."""
from __future__ import annotations

import threading

from ocr_viz.app import compute
from ocr_viz.serving.allocator import release_free_memory


def queue_with_hook(idle_seconds: float = 0.05):
    calls: list[dict] = []
    called = threading.Event()

    def on_idle():
        calls.append(queue.status())
        called.set()

    queue = compute.ComputeQueue(slots=1, poll_seconds=0.01, on_idle=on_idle, idle_seconds=idle_seconds)
    queue.cache("job", 10 * compute.MB)
    return queue, calls, called


def test_the_hook_runs_once_after_work_with_nothing_running_or_queued():
    queue, calls, called = queue_with_hook()
    assert queue.run("job", "a", lambda: "A") == "A"
    assert called.wait(30)
    called.clear()
    assert queue.run("job", "a", lambda: "again") == "A"  # a cache hit: no work, so no second call
    assert not called.wait(0.3)
    assert len(calls) == 1 and calls[0]["running"] == 0 and calls[0]["queued"] == 0
    assert queue.status()["idle_calls"] == 1


def test_the_hook_waits_for_the_queue_to_empty_and_runs_again_after_new_work():
    queue, calls, called = queue_with_hook(idle_seconds=0.2)
    release = threading.Event()
    queue.submit("job", "slow", lambda: release.wait(30))
    second = queue.submit("job", "second", lambda: "B")
    release.set()
    assert second.finished.wait(30) and called.wait(30)
    assert calls[0]["computed"] == {"job": 2}  # not between the two jobs: the second was queued
    called.clear()
    assert queue.run("job", "third", lambda: "C") == "C"
    assert called.wait(30) and len(calls) == 2


def test_no_hook_before_any_work_and_none_without_a_hook():
    queue, calls, called = queue_with_hook()
    assert not called.wait(0.3) and calls == []
    plain = compute.ComputeQueue(slots=1, poll_seconds=0.01)
    plain.cache("job", compute.MB)
    assert plain.run("job", "a", lambda: 1) == 1 and plain.status()["idle_calls"] == 0


def test_releasing_free_memory_names_the_allocators_function():
    # this process runs on glibc (tests are not preloaded) or tcmalloc: either has a release call
    assert release_free_memory() in ("MallocExtension_ReleaseFreeMemory", "malloc_trim")


def test_a_queue_that_never_empties_still_calls_the_hook_after_a_job_once_busy_seconds_passed():
    calls: list[int] = []
    third = threading.Semaphore(0)

    def on_idle():
        calls.append(1)
        third.release()

    queue = compute.ComputeQueue(slots=1, poll_seconds=0.01, on_idle=on_idle,
                                 idle_seconds=1000.0, busy_seconds=0.0)  # never idle long enough
    queue.cache("job", 10 * compute.MB)
    for key in "abc":
        assert queue.run("job", key, lambda key=key: key) == key
        assert third.acquire(timeout=30)  # called after the job's waiters are released: wait for it
    assert len(calls) == 3 and queue.status()["idle_calls"] == 3
    never = compute.ComputeQueue(slots=1, poll_seconds=0.01, on_idle=lambda: calls.append(2),
                                 idle_seconds=1000.0, busy_seconds=1000.0)
    never.cache("job", compute.MB)
    assert never.run("job", "a", lambda: 1) == 1 and 2 not in calls


def test_a_busy_queue_calls_its_busy_hook_and_an_idle_one_its_idle_hook():
    """on_busy (the collection every second while jobs keep coming) replaces on_idle (collection and the
    allocator's release) after a job once busy_seconds have passed; an idle queue calls on_idle."""
    def queue(busy_seconds):
        calls: list[str] = []
        done = threading.Semaphore(0)
        hook = lambda name: lambda: calls.append(name) or done.release()  # noqa: E731
        q = compute.ComputeQueue(slots=1, poll_seconds=0.01, on_idle=hook("idle"), on_busy=hook("busy"),
                                 idle_seconds=0.2, busy_seconds=busy_seconds)
        q.cache("job", 10 * compute.MB)
        assert q.run("job", "a", lambda: "A") == "A" and done.acquire(timeout=30)
        return calls

    assert queue(busy_seconds=0.0) == ["busy"]  # due right after the job (it counts as the tidy: no idle call)
    assert queue(busy_seconds=1000.0) == ["idle"]
