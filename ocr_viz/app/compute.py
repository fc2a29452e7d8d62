"""One queue for the server's heavy work, and caches bounded by bytes.

Many students on one server each start traces, head reruns and comparisons. Run all at once,
twenty traces would split two cores twenty ways (each torch call also spawning its own
threads), so every one would finish late and memory would hold twenty traces' tensors. Here
at most `slots` jobs run at a time (slots x torch threads = the cores); the others wait in
arrival order and can ask for their position and an estimate of their progress. A job for a
key that is already cached is answered from the cache, and one whose key is queued or running
waits for that job instead of computing it again: the same image opened by thirty students is
traced once.

Pure Python and threading (Streamlit runs each session's script in its own thread); the
Streamlit side, which shows the position, is ocr_viz/app/model_choice.py.
"""
from __future__ import annotations

import dataclasses
import os
import sys
import threading
import time
import weakref
from collections import OrderedDict
from typing import Any, Callable

import numpy as np

MB = 2**20


# ---- sizes ----------------------------------------------------------------------------------

def nbytes(value: Any, _seen: set[int] | None = None) -> int:
    """Approximate memory held by a cached value: array buffers counted exactly, containers,
    dataclasses and plain objects walked (each object once), plotly figures by their data."""
    seen = set() if _seen is None else _seen
    if id(value) in seen:
        return 0
    seen.add(id(value))
    if isinstance(value, np.ndarray):
        # a view keeps its whole base alive: charge the base, once (a view of an array counted already is free)
        return nbytes(value.base, seen) if isinstance(value.base, np.ndarray) else value.nbytes
    if type(value).__module__.startswith("torch") and hasattr(value, "untyped_storage"):
        return value.untyped_storage().nbytes()
    if hasattr(value, "getbands") and hasattr(value, "size"):  # a PIL image: its pixel buffer
        return value.size[0] * value.size[1] * len(value.getbands())
    if isinstance(value, (bytes, bytearray, str)):
        return sys.getsizeof(value)
    if isinstance(value, dict):
        return sys.getsizeof(value) + sum(nbytes(k, seen) + nbytes(v, seen) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return sys.getsizeof(value) + sum(nbytes(v, seen) for v in value)
    if hasattr(value, "to_plotly_json"):  # a plotly figure: its data and layout
        return nbytes(value.to_plotly_json(), seen)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sys.getsizeof(value) + sum(nbytes(getattr(value, f.name), seen) for f in dataclasses.fields(value))
    if hasattr(value, "__dict__") and not isinstance(value, type):
        return sys.getsizeof(value) + nbytes(vars(value), seen)
    return sys.getsizeof(value)


# ---- a cache bounded by bytes ---------------------------------------------------------------

def scaled_bounds(bounds_mb: dict[str, int], total_mb: str | None) -> dict[str, int]:
    """Each cache's bound in MB, scaled so that they add up to `total_mb` (a server's memory budget,
    e.g. from an environment variable) in the same proportions; `bounds_mb` unchanged when it is
    None or empty. Each cache keeps at least 1 MB."""
    if not total_mb:
        return dict(bounds_mb)
    if not total_mb.strip().isdigit() or int(total_mb) < len(bounds_mb):
        raise ValueError(f"the caches' total must be a whole number of MB, at least {len(bounds_mb)}: {total_mb!r}")
    scale = int(total_mb) / sum(bounds_mb.values())
    return {kind: max(1, int(mb * scale)) for kind, mb in bounds_mb.items()}


class ByteCache:
    """Least recently used entries dropped once the total exceeds `max_bytes` (or `max_entries`).
    A value larger than the whole budget is returned to its caller but not kept.

    With `while_held`, a dropped entry is still found while something else holds it (a session
    showing that trace, a page drawing that comparison): thirty students on one image share one
    trace whatever the budget, which then pays only for values nobody holds. A value found that
    way counts as used again: it goes back in the budget.

    A spare value (`put(..., spare=True)`: an idle-time prefetch nobody asked for yet) never pushes out
    what a user asked for: it is kept where it fits, in place of spares left `spare_seconds` without a
    `refresh` if need be, and is a user's once read. The queue refreshes a spare whenever a session
    prefetches it again (someone still shows that image), so a class's two images do not replace each
    other's comparison in turn: each time cost thirty students the CPU of a comparison. `fits` says
    whether a value as large as the largest so far would be kept that way."""

    def __init__(self, name: str, max_bytes: int, max_entries: int = 1_000_000, while_held: bool = False,
                 spare_seconds: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self.name, self.max_bytes, self.max_entries = name, max_bytes, max_entries
        self._entries: OrderedDict[Any, tuple[Any, int]] = OrderedDict()
        self._spare: dict[Any, float] = {}  # key -> when a prefetch put it; gone once a user reads it
        self.spare_seconds, self.clock = spare_seconds, clock
        self._held = weakref.WeakValueDictionary() if while_held else None
        self._lock = threading.Lock()
        self.total = 0
        self.largest = 0  # bytes of the largest value put so far
        self.found_held = 0  # lookups answered by a value held elsewhere, not by the budget

    def get(self, key, default=None):
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self._spare.pop(key, None)  # read by a user: no longer a spare
                return self._entries[key][0]
        value = None if self._held is None else self._held.get(key)
        if value is None:
            return default
        self.found_held += 1
        self.put(key, value)
        return value

    def __contains__(self, key) -> bool:
        with self._lock:
            return key in self._entries or (self._held is not None and self._held.get(key) is not None)

    def __len__(self) -> int:
        return len(self._entries)

    def fits(self) -> bool:
        """Whether a spare value as large as the largest so far would be kept."""
        with self._lock:
            return self.total - sum(self._entries[k][1] for k in self._stale_spares()) + self.largest <= self.max_bytes

    def refresh(self, key) -> None:
        """A spare still wanted: its `spare_seconds` start again."""
        with self._lock:
            if key in self._spare:
                self._spare[key] = self.clock()

    def _stale_spares(self) -> list:
        now = self.clock()
        return [k for k, t in self._spare.items() if now - t >= self.spare_seconds]

    def put(self, key, value, size: int | None = None, spare: bool = False) -> None:
        size = nbytes(value) if size is None else size
        with self._lock:
            self.largest = max(self.largest, size)
            if self._held is not None:
                try:
                    self._held[key] = value
                except TypeError:  # not weakly referenceable (e.g. a tuple): kept by the budget only
                    pass
            self._drop(key)
            if spare:
                for stale in self._stale_spares():
                    if self.total + size <= self.max_bytes:
                        break
                    self._drop(stale)
            if size > self.max_bytes or (spare and self.total + size > self.max_bytes):
                return
            self._entries[key] = (value, size)
            self.total += size
            if spare:
                self._spare[key] = self.clock()
            while self.total > self.max_bytes or len(self._entries) > self.max_entries:
                self._drop(next(iter(self._entries)))

    def _drop(self, key) -> None:
        if key in self._entries:
            self.total -= self._entries.pop(key)[1]
            self._spare.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._spare.clear()
            if self._held is not None:
                self._held.clear()
            self.total = 0


# ---- the queue ------------------------------------------------------------------------------

def default_slots() -> int:
    """Jobs run at once: the cores divided by torch's threads per job (at least one);
    OCR_VIZ_COMPUTE_SLOTS overrides."""
    if os.environ.get("OCR_VIZ_COMPUTE_SLOTS", "").isdigit():
        return max(1, int(os.environ["OCR_VIZ_COMPUTE_SLOTS"]))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        import torch

        threads = torch.get_num_threads()
    except ImportError:
        threads = 1
    return max(1, cores // max(1, threads))


@dataclasses.dataclass(eq=False)
class Job:
    """One computation: queued, then running, then done (with a value or an error)."""

    key: Any
    kind: str
    compute: Callable[[], Any] = dataclasses.field(repr=False)
    queued_at: float = dataclasses.field(default_factory=time.monotonic)
    started_at: float | None = None
    finished: threading.Event = dataclasses.field(default_factory=threading.Event, repr=False)
    value: Any = dataclasses.field(default=None, repr=False)
    error: BaseException | None = None
    background: bool = False  # a prefetch no user has asked for yet: its result is a spare (ByteCache)


@dataclasses.dataclass(frozen=True)
class Wait:
    """What a waiting caller is told: jobs ahead of its own (0 once running) and an estimate of
    how far the wait has come, from the recent durations of each kind of job."""

    position: int          # 0: running now; n: n jobs queued or running before it
    ahead_seconds: float   # estimated seconds until it finishes
    progress: float        # 0..1, elapsed / (elapsed + ahead)
    kind: str


class ComputeQueue:
    """At most `slots` jobs at a time on worker threads, first come first served; results kept in
    byte-bounded caches by kind; concurrent requests for one key share one computation.

    Workers, not the callers' threads, compute: a caller that stops waiting (Streamlit
    interrupts a script when its user clicks again) leaves its job in the queue, and the result
    is cached for its rerun and for anyone who asked for the same key."""

    def __init__(self, slots: int | None = None, poll_seconds: float = 0.25,
                 on_idle: Callable[[], Any] | None = None, idle_seconds: float = 1.0,
                 busy_seconds: float | None = None, on_busy: Callable[[], Any] | None = None):
        self.slots = slots or default_slots()
        self.poll_seconds = poll_seconds
        # called once the queue has stood empty for idle_seconds after work (the server hands the
        # allocator's freed pages back then: done between jobs, it would slow the next one ~8%)
        # busy_seconds: a queue that never empties still calls it (or on_busy, where given) after a job,
        # at most that often
        self.on_idle, self.idle_seconds, self.busy_seconds = on_idle, idle_seconds, busy_seconds
        self.on_busy = on_busy or on_idle
        self.idle_calls = 0
        self._worked_since_idle = False
        self._last_idle_call = time.monotonic()
        self._caches: dict[str, ByteCache] = {}
        self._lock = threading.Condition()
        self._waiting: list[Job] = []       # queued, in arrival order
        self._background: list[Job] = []    # prefetched: taken only when no user's job waits
        self._running: list[Job] = []
        self._jobs: dict[tuple[str, Any], Job] = {}  # queued or running, by (kind, key)
        self._durations: dict[str, float] = {}  # recent seconds per kind (exponential average)
        self._workers: list[threading.Thread] = []
        self._local = threading.local()     # set on worker threads
        self.computed: dict[str, int] = {}  # jobs run per kind (for tests and the load test)
        self.peak_running = 0

    def cache(self, kind: str, max_bytes: int, max_entries: int = 1_000_000, while_held: bool = False) -> ByteCache:
        """The cache of one kind of result, created on first use with these bounds (see ByteCache)."""
        with self._lock:
            if kind not in self._caches:
                self._caches[kind] = ByteCache(kind, max_bytes, max_entries, while_held)
            return self._caches[kind]

    def caches(self) -> dict[str, ByteCache]:
        return dict(self._caches)

    def submit(self, kind: str, key, compute: Callable[[], Any]) -> Job:
        """The queued or running job for (kind, key), or a new one at the end of the queue."""
        with self._lock:
            job = self._jobs.get((kind, key))
            if job is not None and job in self._background:  # a user asks for it now: their priority
                self._background.remove(job)
                self._waiting.append(job)
            if job is not None:
                job.background = False
            if job is None:
                job = self._jobs[(kind, key)] = Job(key, kind, compute)
                self._waiting.append(job)
                self._start_workers()
                self._lock.notify_all()
            return job

    def prefetch(self, kind: str, key, compute: Callable[[], Any]) -> bool:
        """Queue (kind, key) at the lowest priority, only while nothing else waits and its cache has room:
        a worker takes it when no user's job is queued (a running job is not interrupted, so a user may
        wait up to its remainder), and its result is a spare (ByteCache): kept only beside what users asked
        for, never in place of it. A key cached already is refreshed, as still wanted. Asked for by `run`
        before it finishes, it is a user's job. Returns whether it was queued."""
        with self._lock:
            cache = self._caches[kind]
            if key in cache:
                cache.refresh(key)
                return False
            if (kind, key) in self._jobs or self._waiting or self._background or not cache.fits():
                return False
            job = self._jobs[(kind, key)] = Job(key, kind, compute, background=True)
            self._background.append(job)
            self._start_workers()
            self._lock.notify_all()
            return True

    def run(self, kind: str, key, compute: Callable[[], Any], on_wait: Callable[[Wait], None] | None = None):
        """The cached result for (kind, key), else the result of its job (queued now if there is
        none), calling `on_wait` every poll while waiting. The cache of `kind` must exist (see
        `cache`). A job's error is raised to everyone waiting for it and not cached."""
        cache = self._caches[kind]
        hit = cache.get(key, _MISSING)
        if hit is not _MISSING:
            return hit
        if getattr(self._local, "worker", False):  # called from inside a job: it already holds a slot
            value = compute()
            cache.put(key, value)
            return value
        with self._lock:  # the cache may have been filled between the two looks
            hit = cache.get(key, _MISSING)
            job = self.submit(kind, key, compute) if hit is _MISSING else None
        if job is None:
            return hit
        while not job.finished.wait(self.poll_seconds):
            if on_wait:
                on_wait(self.wait_of(job))
        if job.error is not None:
            raise job.error
        return job.value

    def inline(self, kind: str, key, compute: Callable[[], Any]):
        """The cached result for (kind, key), else `compute()` run in the caller's thread and cached.
        For work of milliseconds (one pixel's numbers): queued, it would wait seconds behind traces."""
        hit = self._caches[kind].get(key, _MISSING)
        if hit is _MISSING:
            hit = compute()  # in the caller's thread
            self._caches[kind].put(key, hit)
        return hit

    def _start_workers(self) -> None:
        while len(self._workers) < self.slots:
            worker = threading.Thread(target=self._work, name=f"ocr-viz-compute-{len(self._workers)}", daemon=True)
            self._workers.append(worker)
            worker.start()

    def _work(self) -> None:
        self._local.worker = True
        while True:
            with self._lock:
                while not self._waiting and not self._background:
                    self._wait_for_work()
                job = (self._waiting or self._background).pop(0)
                self._running.append(job)
                job.started_at = time.monotonic()
                self.peak_running = max(self.peak_running, len(self._running))
            self._execute(job)
            job = None  # not kept while waiting: its value may leave the cache meanwhile

    def _wait_for_work(self) -> None:
        """Wait (holding the lock) for a job; after work, once the queue has stayed empty for
        idle_seconds with no job running, call on_idle once."""
        if self.on_idle is None or not self._worked_since_idle or self._running:
            self._lock.wait()
            return
        deadline = time.monotonic() + self.idle_seconds
        while not self._waiting and not self._background and not self._running:
            left = deadline - time.monotonic()
            if left <= 0:
                self._idle_call_starts()
                self.on_idle()
                return
            self._lock.wait(left)

    def _idle_call_starts(self) -> None:
        self._worked_since_idle, self._last_idle_call = False, time.monotonic()
        self.idle_calls += 1

    def _execute(self, job: Job) -> None:
        cache = self._caches[job.kind]
        try:
            job.value = job.compute()
            cache.put(job.key, job.value, spare=job.background)
        except Exception as error:  # handed to every waiter
            job.error = error
        finally:
            seconds = time.monotonic() - job.started_at
            with self._lock:
                self._running.remove(job)
                del self._jobs[(job.kind, job.key)]
                previous = self._durations.get(job.kind)
                self._durations[job.kind] = seconds if previous is None else 0.7 * previous + 0.3 * seconds
                self.computed[job.kind] = self.computed.get(job.kind, 0) + 1
                self._worked_since_idle = True
                due = self.on_idle is not None and self.busy_seconds is not None \
                    and time.monotonic() - self._last_idle_call >= self.busy_seconds
                if due:
                    self._idle_call_starts()
                self._lock.notify_all()
            job.finished.set()
            if due:  # outside the lock: the waiting callers go on meanwhile
                self.on_busy()

    def expected_seconds(self, kind: str) -> float:
        return self._durations.get(kind, 1.0)

    def wait_of(self, job: Job) -> Wait:
        """The position of `job` and an estimate of its remaining time (running jobs count their
        expected remainder; queued ones their kind's average, shared among the slots)."""
        now = time.monotonic()
        with self._lock:
            remaining = lambda j: max(0.0, self.expected_seconds(j.kind) - (now - j.started_at))  # noqa: E731
            if job.started_at is not None:
                position, ahead = 0, remaining(job)
            else:
                index = self._waiting.index(job) if job in self._waiting else 0
                before = self._waiting[:index]
                position = len(self._running) + len(before)
                ahead = (sum(map(remaining, self._running)) + sum(self.expected_seconds(j.kind) for j in before)) \
                    / self.slots + self.expected_seconds(job.kind)
        elapsed = now - job.queued_at
        return Wait(position, ahead, elapsed / (elapsed + ahead) if elapsed + ahead > 0 else 1.0, job.kind)

    def status(self) -> dict:
        """Jobs running and queued now, and what each cache holds (for the load test and the logs)."""
        with self._lock:
            return {"slots": self.slots, "running": len(self._running), "queued": len(self._waiting),
                    "prefetching": len(self._background),
                    "computed": dict(self.computed), "peak_running": self.peak_running, "idle_calls": self.idle_calls,
                    "caches": {k: {"entries": len(c), "bytes": c.total, "max_bytes": c.max_bytes, "found_held": c.found_held}
                               for k, c in self._caches.items()}}


_MISSING = object()
