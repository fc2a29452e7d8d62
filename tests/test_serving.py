"""Serving many users: the compute queue and byte-bounded caches (ocr_viz/app/compute.py), and
CI-sized runs of the browser and load benchmarks (ocr_viz/serving/benchmarks.py) that assert no
errors and bounded memory, never timings."""
from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

from ocr_viz.app import compute


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

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    return results


def test_twenty_jobs_never_run_more_than_the_slots_at_once():
    queue, lock, running, peak = new_queue(slots=2), threading.Lock(), [0], [0]

    def job(i):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1
        return i * i

    results = run_in_threads(20, lambda i: queue.run("job", i, lambda: job(i)))
    assert results == [i * i for i in range(20)]
    assert peak[0] == 2 and queue.peak_running == 2
    assert queue.computed["job"] == 20


def test_the_same_key_asked_by_many_at_once_is_computed_once():
    queue, calls, release = new_queue(slots=2), [], threading.Event()

    def trace():
        calls.append(1)
        release.wait(5)
        return np.ones(1000, np.float32)

    threading.Timer(0.2, release.set).start()  # let all ten callers arrive while it runs
    results = run_in_threads(10, lambda i: queue.run("job", "same image", trace))
    assert len(calls) == 1
    assert all(r is results[0] for r in results)
    assert queue.run("job", "same image", lambda: pytest.fail("recomputed a cached key")) is results[0]


def test_waiting_callers_see_their_position_go_down_to_running():
    queue, gate = new_queue(slots=1), threading.Event()
    seen: dict[int, list[compute.Wait]] = {i: [] for i in range(4)}
    blocker = threading.Thread(target=queue.run, args=("job", "blocker", lambda: gate.wait(5)))
    blocker.start()
    while queue.status()["running"] == 0:
        time.sleep(0.005)
    threads = []
    for i in range(4):  # queued one after another, so their order is known
        threads.append(threading.Thread(target=queue.run, args=("job", i, lambda: time.sleep(0.03)),
                                        kwargs={"on_wait": seen[i].append}))
        threads[-1].start()
        while queue.status()["queued"] < i + 1:
            time.sleep(0.005)
    time.sleep(0.05)
    gate.set()
    for t in [blocker, *threads]:
        t.join(10)
    for i in range(4):
        positions = [w.position for w in seen[i]]
        assert positions[0] == i + 1  # the running blocker and the i queued before it
        assert positions == sorted(positions, reverse=True)  # never moves back
        assert all(0.0 <= w.progress <= 1.0 and w.ahead_seconds >= 0 for w in seen[i])


def test_an_error_reaches_every_waiter_and_is_not_cached():
    queue = new_queue(slots=1)

    def broken():
        time.sleep(0.05)
        raise ValueError("bad image")

    outcomes = []

    def ask(i):
        try:
            queue.run("job", "k", broken)
        except ValueError as e:
            outcomes.append(str(e))

    run_in_threads(3, ask)
    assert outcomes == ["bad image"] * 3
    assert queue.run("job", "k", lambda: 7) == 7


def test_a_caller_that_stops_waiting_leaves_the_job_to_finish_for_the_others():
    """Streamlit interrupts a script (an exception from a st call) when its user clicks again."""
    queue, calls = new_queue(slots=1), []

    def interrupted(wait):
        raise KeyboardInterrupt  # stands in for Streamlit's RerunException

    def slow():
        calls.append(1)
        time.sleep(0.1)
        return "done"

    with pytest.raises(KeyboardInterrupt):
        queue.run("job", "k", slow, on_wait=interrupted)
    assert queue.run("job", "k", slow) == "done" and len(calls) == 1


def test_a_job_that_asks_for_another_result_does_not_wait_for_its_own_slot():
    queue = new_queue(slots=1)
    assert queue.run("job", "outer", lambda: queue.run("job", "inner", lambda: 2) + 1) == 3


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
    assert compute.nbytes(a[0]) == 0  # a view: its buffer belongs to `a`
    assert 4000 <= compute.nbytes([a, a, {"k": a}]) < 4000 + 1000  # the same array once
    assert compute.nbytes(torch.zeros(250)) == 1000
    arrays = TraceArrays("fcn", np.zeros((8, 8, 3), np.uint8), np.zeros((4, 2, 2), np.float32),
                         np.zeros((3, 2, 2), np.float32), np.zeros((8, 8), np.int64), np.zeros((2, 2), np.float32))
    assert 192 + 64 + 48 + 512 + 16 <= compute.nbytes(arrays) < 192 + 64 + 48 + 512 + 16 + 2000


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
