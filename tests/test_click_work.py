"""What a click costs the server (py-spy at 30 students, see README *Serving*): milliseconds of work
(one pixel's numbers) do not wait behind the queue's traces (ComputeQueue.inline computes in the
caller's thread and caches like a queued job), and the photo under a map is encoded once."""
import threading

from ocr_viz.app.compute import ComputeQueue


def test_inline_work_is_done_while_the_only_slot_is_busy_and_is_cached():
    queue = ComputeQueue(slots=1)
    queue.cache("trace", 1 << 20)
    queue.cache("derived", 1 << 20)
    release, started, traced = threading.Event(), threading.Event(), threading.Event()

    def slow_trace():
        started.set()
        release.wait(10)  # queued behind it, the inline work would have to wait this out
        traced.set()
        return "trace"

    holder = threading.Thread(target=queue.run, args=("trace", "image", slow_trace))
    holder.start()
    try:
        assert started.wait(30)
        calls = []
        value = queue.inline("derived", ("image", "pixel 3 4"), lambda: calls.append(1) or "numbers")
        assert value == "numbers" and calls == [1]
        assert not traced.is_set()  # answered while the trace still held the only slot
        assert queue.inline("derived", ("image", "pixel 3 4"), lambda: calls.append(1) or "again") == "numbers"
        assert calls == [1]  # the second ask is the cache's
    finally:
        release.set()
        holder.join(30)


def test_a_read_only_photo_is_encoded_once_and_a_writable_one_every_time():
    import numpy as np

    from ocr_viz.figures import maps

    photo = np.zeros((8, 12, 3), np.uint8)
    first = maps.data_uri(photo)
    photo[:, :6] = 255  # writable: changed in place, so its encoding must follow
    assert maps.data_uri(photo) != first
    photo.flags.writeable = False
    frozen = maps.data_uri(photo)
    assert id(photo) in maps._ENCODED and maps.data_uri(photo) is frozen  # the cached string itself
    view = np.asarray(photo)  # a read-only view of read-only memory is safe to cache too
    assert maps.data_uri(view) == frozen


def test_a_memory_budget_scales_every_cache_in_proportion():
    import pytest

    from ocr_viz.app.compute import scaled_bounds

    defaults = {"image": 64, "trace": 384, "derived": 192}  # 640 MB in all
    assert scaled_bounds(defaults, None) == defaults and scaled_bounds(defaults, "") == defaults
    assert scaled_bounds(defaults, "320") == {"image": 32, "trace": 192, "derived": 96}  # half of each
    assert scaled_bounds(defaults, "3") == {"image": 1, "trace": 1, "derived": 1}
    for bad in ("lots", "-5", "2", "1.5"):
        with pytest.raises(ValueError, match="whole number of MB"):
            scaled_bounds(defaults, bad)
