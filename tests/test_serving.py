"""Serving many users: the compute queue and byte-bounded caches (ocr_viz/app/compute.py), and
CI-sized runs of the browser and load benchmarks (ocr_viz/serving/benchmarks.py) that assert no
errors and bounded memory, never timings."""
from __future__ import annotations

import dataclasses
import gc
import io
import json
import threading
import time
import weakref
from pathlib import Path

import numpy as np
import pytest

from ocr_viz.app import compute

ROOT = Path(__file__).resolve().parents[1]


def new_queue(slots: int, max_bytes: int = 10 * compute.MB) -> compute.ComputeQueue:
    queue = compute.ComputeQueue(slots=slots, poll_seconds=0.01)
    queue.cache("job", max_bytes)
    return queue


def run_in_threads(count: int, target) -> list:
    results, errors = [None] * count, []

    def one(i):
        try:
            results[i] = target(i)
        except Exception as e:  # reported below, so a failing thread fails the test
            errors.append(e)

    # daemon threads and one deadline: a queue bug that leaves callers waiting fails the test, not the session
    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "callers still waiting after 60 s"
    assert not errors, errors
    return results


def callers_waiting(count: int):
    """(on_wait factory, event set once `count` distinct callers have been told they wait)."""
    lock, seen, all_waiting = threading.Lock(), set(), threading.Event()

    def on_wait_of(i):
        def on_wait(wait):
            with lock:
                seen.add(i)
                if len(seen) >= count:
                    all_waiting.set()
        return on_wait

    return on_wait_of, all_waiting


def blocked_queue():
    """A one-slot queue whose slot is held by a job until the returned event is set."""
    queue, gate, started = new_queue(slots=1), threading.Event(), threading.Event()

    def blocker():
        started.set()
        gate.wait(30)

    queue.submit("job", "blocker", blocker)
    assert started.wait(30)
    return queue, gate


def test_twenty_jobs_never_run_more_than_the_slots_at_once():
    """Jobs meet in pairs at a barrier: two slots let each pair run together (a queue that ran one
    at a time would break the barrier), and the count of running jobs never exceeds two."""
    queue, lock, running, peak = new_queue(slots=2), threading.Lock(), [0], [0]
    pair = threading.Barrier(2, timeout=30)

    def job(i):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        pair.wait()
        with lock:
            running[0] -= 1
        return i * i

    results = run_in_threads(20, lambda i: queue.run("job", i, lambda: job(i)))
    assert results == [i * i for i in range(20)]
    assert peak[0] == 2 and queue.peak_running == 2
    assert queue.computed["job"] == 20


def test_the_same_key_asked_by_many_at_once_is_computed_once():
    queue, calls, release = new_queue(slots=2), [], threading.Event()
    on_wait_of, all_waiting = callers_waiting(10)

    def trace():
        calls.append(1)
        release.wait(30)
        return np.ones(1000, np.float32)

    def opener():  # the job is released only once all ten callers are waiting for it
        all_waiting.wait(30)
        release.set()

    threading.Thread(target=opener, daemon=True).start()
    results = run_in_threads(10, lambda i: queue.run("job", "same image", trace, on_wait=on_wait_of(i)))
    assert all_waiting.is_set() and len(calls) == 1
    assert all(r is results[0] for r in results)
    assert queue.run("job", "same image", lambda: pytest.fail("recomputed a cached key")) is results[0]


def test_waiting_callers_see_their_position_go_down_to_running():
    queue, gate = blocked_queue()
    seen: dict[int, list[compute.Wait]] = {i: [] for i in range(4)}
    told = [threading.Event() for _ in range(4)]

    def on_wait_of(i):
        def on_wait(wait):
            seen[i].append(wait)
            told[i].set()
        return on_wait

    threads = []
    for i in range(4):  # each queued once the one before it is, so their order is known
        threads.append(threading.Thread(target=queue.run, args=("job", i, lambda: None), kwargs={"on_wait": on_wait_of(i)}, daemon=True))
        threads[-1].start()
        assert told[i].wait(30)
    gate.set()
    for t in threads:
        t.join(30)
    for i in range(4):
        positions = [w.position for w in seen[i]]
        assert positions[0] == i + 1  # the running blocker and the i queued before it
        assert positions == sorted(positions, reverse=True)  # never moves back
        assert all(0.0 <= w.progress <= 1.0 and w.ahead_seconds >= 0 for w in seen[i])


def test_an_error_reaches_every_waiter_and_is_not_cached():
    queue, calls, release = new_queue(slots=1), [], threading.Event()
    on_wait_of, all_waiting = callers_waiting(3)

    def broken():
        calls.append(1)
        release.wait(30)
        raise ValueError("bad image")

    def opener():
        all_waiting.wait(30)
        release.set()

    threading.Thread(target=opener, daemon=True).start()
    outcomes = []

    def ask(i):
        try:
            queue.run("job", "k", broken, on_wait=on_wait_of(i))
        except ValueError as e:
            outcomes.append(str(e))

    run_in_threads(3, ask)
    assert outcomes == ["bad image"] * 3 and len(calls) == 1  # one computation, its error to all three
    assert queue.run("job", "k", lambda: 7) == 7


def test_a_caller_that_stops_waiting_leaves_the_job_to_finish_for_the_others():
    """Streamlit interrupts a script (an exception from a st call) when its user clicks again."""
    queue, calls, interrupted_once = new_queue(slots=1), [], threading.Event()

    def interrupted(wait):
        interrupted_once.set()
        raise KeyboardInterrupt  # stands in for Streamlit's RerunException

    def slow():
        calls.append(1)
        interrupted_once.wait(30)  # still running when its first caller gives up
        return "done"

    with pytest.raises(KeyboardInterrupt):
        queue.run("job", "k", slow, on_wait=interrupted)
    assert queue.run("job", "k", slow) == "done" and len(calls) == 1


def test_a_job_that_asks_for_another_result_does_not_wait_for_its_own_slot():
    queue = new_queue(slots=1)
    assert queue.run("job", "outer", lambda: queue.run("job", "inner", lambda: 2) + 1) == 3


def test_jobs_run_in_arrival_order_whoever_sent_them():
    """Students A, B and C send jobs while the slot is busy, A three in a row: they run in the order
    they arrived, so B's and C's jobs are not pushed behind A's later ones, nor the reverse."""
    queue, gate = blocked_queue()
    order = []
    arrivals = [("A", 1), ("B", 1), ("A", 2), ("C", 1), ("A", 3), ("B", 2)]
    jobs = [queue.submit("job", who_n, lambda who_n=who_n: order.append(who_n)) for who_n in arrivals]
    assert [queue.wait_of(j).position for j in jobs] == [1, 2, 3, 4, 5, 6]  # the blocker, then those before
    gate.set()
    for job in jobs:
        assert job.finished.wait(30)
    assert order == arrivals



def test_a_cache_while_held_finds_what_others_still_hold_and_pays_only_for_the_rest():
    class Value:  # weakly referenceable, as TraceArrays and Comparison are
        def __init__(self):
            self.data = np.zeros(1000, np.float32)

    size = compute.nbytes(Value())
    cache = compute.ByteCache("trace", max_bytes=2 * size + size // 2, while_held=True)
    held = Value()  # a session still shows it
    cache.put("held", held)
    for key in "ab":
        cache.put(key, Value())  # nobody else holds these
    cache.put("c", Value())
    assert len(cache) == 2 and "a" not in cache  # the budget keeps two: "held" and "a" left it
    assert "held" in cache and cache.get("held") is held and cache.found_held == 1
    assert len(cache) == 2 and "b" not in cache and "c" in cache  # found again, it is back in the budget
    plain = compute.ByteCache("t", max_bytes=2 * size + size // 2)
    for key in ("held", "a", "b"):
        plain.put(key, held if key == "held" else Value())
    assert "held" not in plain and plain.get("held") is None  # without while_held: the budget alone
    del held
    gc.collect()
    for key in "de":
        cache.put(key, Value())
    assert "held" not in cache  # no longer held, and dropped from the budget


def test_caches_are_bounded_by_bytes_dropping_the_least_recently_used():
    cache = compute.ByteCache("t", max_bytes=3 * 4000 + 500)
    for key in "abc":
        cache.put(key, np.zeros(1000, np.float32))  # 4000 bytes each
    cache.get("a")  # now b is the oldest
    cache.put("d", np.zeros(1000, np.float32))
    assert "b" not in cache and all(k in cache for k in "acd")
    assert cache.total <= cache.max_bytes and len(cache) == 3
    cache.put("huge", np.zeros(10_000, np.float32))  # larger than the whole budget: not kept
    assert "huge" not in cache and len(cache) == 3


def test_nbytes_counts_array_buffers_once_and_walks_dataclasses():
    import torch

    from ocr_viz.model.arrays import TraceArrays

    a = np.zeros((10, 100), np.float32)
    assert compute.nbytes(a) == 4000
    assert compute.nbytes([a, a[0]]) - compute.nbytes([a, a]) == 0  # a view of an array counted already is free
    assert compute.nbytes(a[0]) - compute.nbytes(a) == 0  # a lone view keeps (and is charged) its whole base
    assert 4000 <= compute.nbytes([a, a, {"k": a}]) < 4000 + 1000  # the same array once
    assert compute.nbytes(torch.zeros(250)) == 1000
    arrays = TraceArrays("fcn", np.zeros((8, 8, 3), np.uint8), np.zeros((4, 2, 2), np.float32),
                         np.zeros((3, 2, 2), np.float32), np.zeros((8, 8), np.int64), np.zeros((2, 2), np.float32))
    assert 192 + 64 + 48 + 512 + 16 <= compute.nbytes(arrays) < 192 + 64 + 48 + 512 + 16 + 2000


def test_a_cached_trace_is_charged_every_array_it_keeps_alive():
    """Real TraceArrays (the tiny model's trace of a photo): the cache charges what its arrays hold,
    summed here over the dataclass's fields (for a view, its base, which the view keeps alive), so a
    bound in bytes keeps as many traces as fit and drops the oldest."""
    import dataclasses

    from conftest import sample_image, structured_model
    from PIL import Image

    from ocr_viz.model.arrays import run

    arrays = run(structured_model("ocr"), Image.fromarray(sample_image((120, 160))), "ocr")
    held = {}
    for f in dataclasses.fields(arrays):
        value = getattr(arrays, f.name)
        if isinstance(value, np.ndarray):
            base = value.base if isinstance(value.base, np.ndarray) else value
            held[id(base)] = base.nbytes
    by_hand = sum(held.values())
    charged = compute.nbytes(arrays)
    assert by_hand <= charged < by_hand + 16384  # the arrays, plus the objects around them
    cache = compute.ByteCache("trace", max_bytes=int(2.5 * by_hand))
    for key in ("first", "second", "third"):
        cache.put(key, arrays)
    assert "first" not in cache and "second" in cache and "third" in cache and cache.total == 2 * charged


@pytest.fixture
def the_apps_caches_emptied(monkeypatch):
    """The served app's own caches (model_choice.QUEUE, bounded by CACHE_BOUNDS_MB), empty for one
    test and given back afterwards with what the app had cached (later AppTests still find it)."""
    from collections import OrderedDict

    from ocr_viz.app import model_choice

    queue = model_choice.QUEUE
    idle = threading.Event()
    for _ in range(600):  # a job an earlier AppTest left running would fill them meanwhile
        status = queue.status()
        if status["running"] == status["queued"] == status["prefetching"] == 0:
            idle.set()
            break
        idle.wait(0.1)
    assert idle.is_set(), f"the app's queue never went idle: {queue.status()}"
    for cache in queue.caches().values():
        monkeypatch.setattr(cache, "_entries", OrderedDict())
        monkeypatch.setattr(cache, "total", 0)
        if cache._held is not None:
            monkeypatch.setattr(cache, "_held", weakref.WeakValueDictionary())
    return queue


def test_the_apps_caches_evict_by_the_bytes_the_readme_gives(the_apps_caches_emptied):
    """Filled past their bounds through the app's own paths (decoded images, queued jobs) with values
    of known size, each cache keeps as many as its bound in bytes allows and drops the oldest."""
    from PIL import Image

    import ocr_viz
    from ocr_viz.app import model_choice
    from ocr_viz.model.arrays import run

    queue = the_apps_caches_emptied
    mib = 2**20
    # the README's bounds ("images 32 MB, traces 64 MB, comparisons 96 MB, head reruns 120 MB,
    # summaries 60 MB, 372 MB in all"): MiB
    readme = {"image": 32, "trace": 64, "comparison": 96, "experiment": 120, "derived": 60}
    assert {kind: c.max_bytes for kind, c in queue.caches().items()} == {k: v * mib for k, v in readme.items()}

    # decoded photos, as _image keeps them: an 800x600 RGB photo holds 800 * 600 * 3 = 1,440,000 bytes;
    # 32 MiB = 33,554,432 bytes holds 23 of them (24 would be 34,560,000)
    png = io.BytesIO()
    Image.new("RGB", (800, 600), (200, 40, 90)).save(png, "PNG")
    for i in range(40):
        model_choice._image(f"photo{i}", png.getvalue())
    images = queue.caches()["image"]
    assert [f"photo{i}" in images for i in range(40)] == [False] * 17 + [True] * 23
    assert images.total == 23 * 1_440_000

    # a real 640x480 trace of the shipped model, by its shapes (H,W = 480,640; h,w = 60,80; backbone
    # C_in = 472, x/y/z c = 512, K = 11): the photo 921,600 bytes, two uint8 label maps 2 x 307,200,
    # features 472 x 4800 x 4 = 9,062,400, x 9,830,400, y and z in float16 2 x 4,915,200, five K-maps (logits,
    # M, m~, kappa, w) 5 x 211,200, confidence 19,200, f 11 x 512 x 4 = 22,528: 31,356,928 bytes (the README's
    # "31 MB"); 64 MiB = 67,108,864 bytes holds 2 (2.14) of them. Traces are also found while held elsewhere
    # (a session showing one): each key here gets a copy that nothing else holds
    model, _ = ocr_viz.load_model("ocr", device="cpu")
    arrays = run(model, ocr_viz.open_image(ROOT / "assets" / "samples" / "camvid" / "0001TP_008550.png"), "ocr")
    assert arrays.image.shape == (480, 640, 3) and arrays.x.shape == (512, 60, 80) and arrays.features.shape[0] == 472
    copy = lambda: dataclasses.replace(arrays, **{f: getattr(arrays, f).copy() for f in ("features", "x", "y", "z")})  # noqa: E731
    for i in range(8):
        queue.run("trace", f"trace{i}", copy)
    traces = queue.caches()["trace"]
    assert [f"trace{i}" in traces for i in range(8)] == [False] * 6 + [True] * 2
    assert 2 * 31_356_928 <= traces.total <= 2 * (31_356_928 + 16384)  # the objects around the arrays

    # the other kinds through the queue, with arrays of 5,000,000 bytes: bound // 5e6 kept, the oldest dropped
    block = np.zeros(5_000_000, np.uint8)
    # bounds 100,663,296, 125,829,120 and 62,914,560 bytes
    for kind, kept in {"comparison": 20, "experiment": 25, "derived": 12}.items():
        for i in range(kept + 3):
            queue.run(kind, (kind, i), block.copy)  # a copy each: nothing else holds it
        cache = queue.caches()[kind]
        assert [(kind, i) in cache for i in range(kept + 3)] == [False] * 3 + [True] * kept, kind
        assert cache.total == kept * 5_000_000


# ---- the app: photos sent once, as media URLs --------------------------------------------------

def test_pages_send_photos_as_media_urls_not_inside_every_figure():
    import json

    from app_helpers import open_page, problems, start

    at = open_page(start({"image": "sample:leuvenA.jpg"}), "relation")
    assert problems(at) == []
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    assert specs and not any("data:image" in chart.proto.spec for chart in at.get("plotly_chart"))
    sources = [image["source"] for spec in specs for image in spec["layout"].get("images", [])]
    assert sources and all("/media/" in s for s in sources)  # AppTest serves them under /mock/media/


def test_a_served_photo_keeps_its_place_on_the_axes():
    """The layout image covers the same data rectangle as the image trace it replaces."""
    from unittest import mock

    import plotly.graph_objects as go

    from ocr_viz.app import transport
    from ocr_viz.figures.maps import data_uri

    photo = np.zeros((40, 60, 3), np.uint8)
    figure = go.Figure(go.Image(source=data_uri(photo), x0=0.25, y0=0.5, dx=0.5, dy=1.0))
    media = mock.Mock()
    media.add.return_value = "/media/abc.jpg"
    runtime = mock.Mock(exists=lambda: True, get_instance=lambda: mock.Mock(media_file_mgr=media))
    with mock.patch("streamlit.runtime", runtime):
        spec = transport.served(figure)
    assert spec["data"] == []
    (image,) = spec["layout"]["images"]
    assert image["source"] == "/media/abc.jpg" and (image["x"], image["y"]) == (0.0, 0.0)
    assert (image["sizex"], image["sizey"]) == (30.0, 40.0)
    assert spec["layout"]["yaxis"]["range"] == [40.0, 0.0]  # row 0 at the top, as for an image trace
    assert media.add.call_args.args[1] == "image/jpeg"


def test_a_served_spec_reaches_the_browser_as_it_is_without_a_second_validation():
    """st.plotly_chart validates a dict again (a Figure built from it) but takes a Figure's to_dict:
    the wrapper hands over the spec itself, and plotly's JSON of it is what Streamlit sends."""
    import plotly.io
    import plotly.tools

    from ocr_viz.app.transport import ValidatedSpec
    from ocr_viz.figures.maps import map_figure

    spec = map_figure(np.arange(12.0).reshape(3, 4), "t", clickable=True).to_plotly_json()
    sent = plotly.tools.return_figure_from_figure_or_data(ValidatedSpec(spec), validate_figure=True)
    assert sent is spec
    assert json.loads(plotly.io.to_json(sent, validate=False))["data"][1]["name"] == "pixels"


# ---- CI-sized benchmarks: a real server and headless Chromium ------------------------------------

RSS_LIMIT_MB = 2048  # the bound for a 10-minute soak; a short run must stay far below it


@pytest.fixture(scope="module")
def chromium():
    from conftest import skip_unless_required
    from test_browser import missing_browser

    reason = missing_browser()
    if reason:
        skip_unless_required(reason, "OCR_VIZ_REQUIRE_BROWSER")


def test_browser_benchmark_in_small_clicks_without_errors(chromium):
    from ocr_viz.serving import benchmarks as serving

    args = serving.parser().parse_args(["browser", "--clicks", "2", "--visits", "home,relation"])
    result = serving.run_browser(args)
    assert result["errors"] == []
    assert len(result["clicks"]) == 2 and all(c["bytes"] > 0 for c in result["clicks"])  # each click reran the page
    assert [p["page"] for p in result["pages"]] == ["home", "relation"]
    assert 0 < result["server_rss_mb"] < RSS_LIMIT_MB


def test_three_students_in_browsers_at_once_without_errors_and_bounded_memory(chromium):
    from ocr_viz.serving import benchmarks as serving

    args = serving.parser().parse_args(["load", "--client", "browser", "--users", "3", "--minutes", "0.3",
                                        "--clicks", "2", "--sample-seconds", "2"])
    result = serving.run_load(args)
    assert result["errors"] == []
    assert result["page_seconds"]["count"] >= 3 and result["click_seconds"]["count"] >= 6  # everyone got through
    assert 0 < result["rss_mb"]["max"] < RSS_LIMIT_MB


def test_three_protocol_students_upload_and_click_without_errors():
    """The websocket client uploads as the frontend does (each upload is traced and named on the page)
    and each click must redraw the chosen pixel's chart, or the run counts an error."""
    from ocr_viz.serving import benchmarks as serving

    args = serving.parser().parse_args(["load", "--users", "3", "--minutes", "0.3", "--clicks", "2",
                                        "--uploads", "4", "--sample-seconds", "2"])
    result = serving.run_load(args)
    assert result["client"] == "protocol" and result["errors"] == []
    assert result["uploads_done"] >= 3 and result["click_seconds"]["count"] >= 6
    assert result["click_bytes_median"] < 200_000  # a fragment's figures, not the page's
    assert 0 < result["rss_mb"]["max"] < RSS_LIMIT_MB


def test_students_who_keep_their_session_upload_into_it_every_round(monkeypatch):
    """--keep-session: a student opens one session (a tab) and uploads each round's image into it, so a
    soak can tell what closed tabs cost the server from what open ones do."""
    from ocr_viz.serving import benchmarks as serving
    from ocr_viz.serving import wire_client

    opened = []
    real_open = wire_client.open_page

    async def counting_open(*args, **kwargs):
        opened.append(args[1])
        return await real_open(*args, **kwargs)

    deleted = []
    real_delete = wire_client.delete_file

    def counting_delete(url, delete_url, cookies):
        deleted.append(delete_url)
        return real_delete(url, delete_url, cookies)

    monkeypatch.setattr(wire_client, "open_page", counting_open)
    monkeypatch.setattr(wire_client, "delete_file", counting_delete)
    args = serving.parser().parse_args(["load", "--users", "2", "--minutes", "0.4", "--clicks", "1",
                                        "--uploads", "4", "--sample-seconds", "2", "--keep-session"])
    result = serving.run_load(args)
    assert result["keep_session"] is True and result["errors"] == []
    assert result["uploads_done"] >= 4 and len(opened) == 2  # more rounds than sessions: each kept its tab
    # each replaced file deleted first, as the browser does (the server keeps a session's files until then):
    # every upload but each student's first, each file once (a failed DELETE would have been an error above)
    assert len(deleted) == len(set(deleted)) and result["uploads_done"] - 2 <= len(deleted) <= result["uploads_done"]
