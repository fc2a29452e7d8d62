"""The app as its users meet it: python -m ocr_viz.bench browser | load.

  browser  one student in headless Chromium against `streamlit run app.py` on this machine:
           the first visit (trace computed), then page visits through the sidebar (trace
           cached), then clicks on the relation map: the time from a click to the updated bar
           chart, and the bytes the server sent over the websocket for each (counted in the
           browser, from the click to the run's end).
  load     N students at once (one Chromium, one browser context each), for M minutes: each
           opens the relation page for an image, waits until it has finished, clicks pixels,
           and starts again; with --uploads each round uploads a new image first. Prints
           p50/p95 of the time to a finished page and to a click, the errors, and the server's
           resident memory (RSS) sampled over time.

Both start their own server (`python -m streamlit run app.py --server.headless true`) on a
free port of 127.0.0.1 and stop it at the end. "Finished" means the server's script-finished
message has arrived and every plotly chart on the page has drawn. Needs the playwright package
and Debian's /usr/bin/chromium (never `playwright install`).
"""
from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import statistics
import sys
import threading
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from . import allocator_bench
from .servers import ARTIFACTS, app_server, free_port, wait_until_healthy  # noqa: F401 (callers import them from here too)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
VIEWPORT = {"width": 1500, "height": 1100}
SAMPLE_IMAGES = ("sample:leuvenA.jpg", "sample:leuvenB.jpg")
VISITS = ("home", "pixels", "regions", "objects", "relation", "context", "segmentation", "compare", "relation", "compare")
# the first compare visit runs the four other heads on the image (the comparison is then cached)
TIMEOUT_S = 180.0




def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def rss_bytes(pid: int) -> int:
    """Resident memory of a process, from /proc (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class RssSampler:
    """The server's RSS (summed over its processes: `pid` may be a list of replicas) and the
    machine's load average every `every` seconds, on a thread."""

    def __init__(self, pid: int | list[int], every: float = 5.0):
        self.pids = pid if isinstance(pid, list) else [pid]
        self.every, self.samples = every, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._start = time.monotonic()

    def _run(self) -> None:
        while True:
            self.samples.append({"t": round(time.monotonic() - self._start, 1), "rss_mb": round(sum(map(rss_bytes, self.pids)) / 2**20, 1),
                                 "load1": os.getloadavg()[0]})
            if self._stop.wait(self.every):
                return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def machine() -> dict:
    import torch

    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return {"cpu": model, "cores": len(os.sched_getaffinity(0)), "memory_gb": round(os.sysconf("SC_PAGE_SIZE")
            * os.sysconf("SC_PHYS_PAGES") / 2**30, 1), "python": platform.python_version(), "torch": torch.__version__,
            "streamlit": _version("streamlit"), "plotly": _version("plotly"), "playwright": _version("playwright")}


def _version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "absent"


# ---- one browser tab ---------------------------------------------------------------------

class Wire:
    """Counts what the server sends a tab over the websocket, and notes each finished script run
    (Streamlit's ForwardMsg script_finished), so a wait can end exactly when a run has."""

    def __init__(self, page):
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        self._ForwardMsg = ForwardMsg
        self.bytes_received = 0
        self.finished_runs = 0
        self.exceptions = 0
        self.running = False  # the server's script-is-running flag for this session
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))

    def _frame(self, payload) -> None:
        data = payload if isinstance(payload, (bytes, bytearray)) else str(payload).encode()
        self.bytes_received += len(data)
        msg = self._ForwardMsg()
        try:
            msg.ParseFromString(bytes(data))
        except Exception:  # not a ForwardMsg (or a newer wire format): counted, not parsed
            return
        kind = msg.WhichOneof("type")
        if kind == "script_finished":
            self.finished_runs += 1
        elif kind == "session_status_changed":
            self.running = msg.session_status_changed.script_is_running
        elif kind == "new_session":
            self.running = True
        elif kind == "delta" and msg.delta.new_element.WhichOneof("type") == "exception":
            self.exceptions += 1

    @property
    def idle(self) -> bool:
        return not self.running


CHARTS_DRAWN = """() => [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
    .every(c => c.querySelector('.main-svg'))
    && document.querySelectorAll('[data-testid="stSkeleton"]').length === 0"""


async def until_finished(page, wire: Wire, runs_before: int, timeout: float = TIMEOUT_S) -> None:
    """Until a script run that started after `runs_before` runs has finished and the page has drawn."""
    deadline = time.monotonic() + timeout
    while wire.finished_runs <= runs_before or wire.running:
        if time.monotonic() > deadline:
            raise TimeoutError("the page did not finish")
        await asyncio.sleep(0.02)
    await page.wait_for_function(CHARTS_DRAWN, timeout=max(1.0, deadline - time.monotonic()) * 1000, polling="raf")


async def settle(page, wire: Wire, quiet: float = 0.6, timeout: float = TIMEOUT_S) -> None:
    """Until no run has finished for `quiet` seconds (a page may rerun itself, e.g. a link's state)."""
    deadline = time.monotonic() + timeout
    last, since = wire.finished_runs, time.monotonic()
    while time.monotonic() - since < quiet:
        if time.monotonic() > deadline:
            raise TimeoutError("the page kept rerunning")
        await asyncio.sleep(0.05)
        if wire.finished_runs != last or wire.running:
            last, since = wire.finished_runs, time.monotonic()
    await page.wait_for_function(CHARTS_DRAWN, timeout=timeout * 1000, polling="raf")


async def open_url(page, wire: Wire, url: str) -> float:
    """Seconds from navigating to `url` to its finished page."""
    runs, start = wire.finished_runs, time.monotonic()
    await page.goto(url, timeout=TIMEOUT_S * 1000)
    await until_finished(page, wire, runs)
    await page.wait_for_selector("h1", timeout=30_000)
    seconds = time.monotonic() - start
    await settle(page, wire)
    return seconds


async def visit(page, wire: Wire, path: str) -> float:
    """Seconds from a click on the sidebar link to `path` to the finished page (same session)."""
    link = page.locator(f'[data-testid="stSidebarNavItems"] a[href$="/{path}"]').first
    if path == "home":
        link = page.locator('[data-testid="stSidebarNavItems"] a').first
    runs, start = wire.finished_runs, time.monotonic()
    await link.click()
    await until_finished(page, wire, runs)
    seconds = time.monotonic() - start
    await settle(page, wire)
    return seconds


BAR_TITLE = """([index]) => { const t = document.querySelectorAll('[data-testid="stPlotlyChart"]')[index]
    ?.querySelector('.gtitle'); return t ? t.textContent : ''; }"""


async def click_pixel(page, wire: Wire, fx: float, fy: float, chart: int = 0, bars: int = 1) -> tuple[float, int]:
    """Click at fractions (fx, fy) of the `chart`-th plotly chart's plotting area; (seconds until
    the `bars`-th chart's title changed, bytes received until the run finished)."""
    before_title = await page.evaluate(BAR_TITLE, [bars])
    area = page.locator('[data-testid="stPlotlyChart"]').nth(chart).locator(".nsewdrag").first
    box = await area.bounding_box()
    runs, sent, start = wire.finished_runs, wire.bytes_received, time.monotonic()
    await page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
    await page.wait_for_function(f"([t, i]) => ({BAR_TITLE})([i]) !== t", arg=[before_title, bars],
                                 timeout=TIMEOUT_S * 1000, polling="raf")
    seconds = time.monotonic() - start
    await until_finished(page, wire, runs)
    received = wire.bytes_received - sent
    await settle(page, wire, quiet=0.3)
    return seconds, received


def click_points(count: int, seed: int = 0) -> list[tuple[float, float]]:
    """Distinct positions inside the map, so every click changes the chosen pixel."""
    rng = np.random.default_rng(seed)
    return [(float(x), float(y)) for x, y in rng.uniform(0.08, 0.92, size=(count, 2))]


async def launch(playwright):
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    return await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


# ---- browser: one student -------------------------------------------------------------------

async def browser_run(url: str, clicks: int, visits: tuple[str, ...], screenshot: str | None = None) -> dict:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await launch(playwright)
        page = await browser.new_page(viewport=VIEWPORT)
        wire = Wire(page)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        first = await open_url(page, wire, f"{url}/relation?image={SAMPLE_IMAGES[0]}")
        first_bytes = wire.bytes_received
        pages = []
        for path in visits:
            sent = wire.bytes_received
            seconds = await visit(page, wire, path)
            pages.append({"page": path, "seconds": seconds, "bytes": wire.bytes_received - sent})
        if visits[-1] != "relation":
            await visit(page, wire, "relation")
        click_rows = []
        for fx, fy in click_points(clicks):
            seconds, received = await click_pixel(page, wire, fx, fy)
            click_rows.append({"at": [round(fx, 3), round(fy, 3)], "seconds": seconds, "bytes": received})
        errors += [f"{wire.exceptions} exception(s) shown in the app"] if wire.exceptions else []
        if screenshot:
            await page.screenshot(path=screenshot, full_page=True)
        await browser.close()
    return {"first_visit_seconds": first, "first_visit_bytes": first_bytes, "pages": pages, "clicks": click_rows,
            "errors": errors}


def run_browser(args: argparse.Namespace) -> dict:
    with app_server(ARTIFACTS / "bench_browser_server.log") as (url, pid):
        result = asyncio.run(browser_run(url, args.clicks, tuple(args.visits.split(",")), args.screenshot))
        result["server_rss_mb"] = round(rss_bytes(pid) / 2**20, 1)
    click_seconds = [c["seconds"] for c in result["clicks"]]
    click_bytes = [c["bytes"] for c in result["clicks"]]
    result["summary"] = {
        "click_to_bars_median_s": statistics.median(click_seconds) if click_seconds else None,
        "click_to_bars_max_s": max(click_seconds, default=None),
        "click_bytes_median": statistics.median(click_bytes) if click_bytes else None,
        "page_visit_median_s": statistics.median(p["seconds"] for p in result["pages"]) if result["pages"] else None,
        "page_visit_max_s": max((p["seconds"] for p in result["pages"]), default=None),
    }
    return result


def print_browser(r: dict) -> None:
    s = r["summary"]
    print(f"First visit of the relation page (trace computed): {r['first_visit_seconds']:.2f} s, "
          f"{r['first_visit_bytes'] / 1024:.0f} KB")
    print("\nPage visits through the sidebar (trace cached):")
    for p in r["pages"]:
        print(f"  {p['page']:<14} {p['seconds']:6.2f} s  {p['bytes'] / 1024:8.0f} KB")
    print(f"\nClicks on the relation map ({len(r['clicks'])}): click -> updated bars median "
          f"{s['click_to_bars_median_s']:.2f} s (max {s['click_to_bars_max_s']:.2f} s); "
          f"payload per click median {s['click_bytes_median'] / 1024:.0f} KB")
    print(f"Server RSS at the end: {r['server_rss_mb']} MB; errors: {r['errors'] or 'none'}")


# ---- load: many students --------------------------------------------------------------------

def upload_png(index: int) -> bytes:
    """A distinct 480 x 360 image per index (gradients plus seeded noise), as PNG."""
    from PIL import Image

    rng = np.random.default_rng(index)
    yy, xx = np.mgrid[0:360, 0:480]
    phase = rng.uniform(0, 2 * np.pi, 3)
    base = 127 + 100 * np.sin(np.stack([xx / 60 + phase[0], yy / 45 + phase[1], (xx + yy) / 80 + phase[2]], -1))
    pixels = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass
class Tally:
    pages: list[float] = field(default_factory=list)
    clicks: list[float] = field(default_factory=list)
    click_bytes: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    uploads: int = 0
    rounds: int = 0

    def failed(self, number: int, started: float, e: Exception) -> None:
        """Count a student's failure (a timeout, a broken page or session) and print it."""
        error = f"student {number} at {time.monotonic() - started:.0f} s: {type(e).__name__}: " \
                f"{(str(e).splitlines() or [''])[0][:200]}"
        self.errors.append(error)
        print(error, file=sys.stderr, flush=True)


class UploadCounter:
    def __init__(self, distinct: int):
        self.distinct, self.next = distinct, 0

    def take(self) -> int:
        index, self.next = self.next % self.distinct, self.next + 1
        return index


async def student(browser, url: str, number: int, deadline: float, clicks: int, uploads: UploadCounter | None,
                  tally: Tally) -> None:
    """One student's rounds until the deadline; an error is counted and the student starts over."""
    context = await browser.new_context(viewport=VIEWPORT)
    page = await context.new_page()
    wire = Wire(page)
    page.on("pageerror", lambda e: tally.errors.append(f"student {number}: page error: {e}"))
    points = click_points(clicks * 50, seed=number)
    round_, started = 0, time.monotonic()
    try:
        while time.monotonic() < deadline:
            exceptions = wire.exceptions
            try:
                if uploads is None:
                    image = SAMPLE_IMAGES[(number + round_) % len(SAMPLE_IMAGES)]
                    tally.pages.append(await open_url(page, wire, f"{url}/relation?image={image}"))
                else:
                    await upload_round(page, wire, url, uploads.take(), tally, relation=clicks > 0)
                    tally.uploads += 1
                for fx, fy in points[(round_ * clicks) % len(points):][:clicks] if clicks else []:
                    seconds, received = await click_pixel(page, wire, fx, fy)
                    tally.clicks.append(seconds)
                    tally.click_bytes.append(received)
                if wire.exceptions > exceptions:
                    tally.errors.append(f"student {number}: {wire.exceptions - exceptions} exception(s) shown")
                tally.rounds += 1
            except Exception as e:  # a timeout or a broken page: counted, and the student goes on
                tally.failed(number, started, e)
                if len(tally.errors) <= 3:  # what the student saw, for the log
                    with suppress(Exception):
                        await page.screenshot(path=str(ARTIFACTS / f"bench_load_error{len(tally.errors)}.png"),
                                              timeout=10_000)
            round_ += 1
    finally:
        with suppress(Exception):
            await context.close()


async def upload_round(page, wire: Wire, url: str, index: int, tally: Tally, relation: bool = True) -> None:
    """Home page, upload a new image (its trace computed), then the relation page (both timed)."""
    await open_url(page, wire, f"{url}/")
    await page.get_by_text("Upload", exact=True).click()
    await settle(page, wire, quiet=0.3)
    runs = wire.finished_runs
    start = time.monotonic()
    await page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
        {"name": f"upload{index:03d}.png", "mimeType": "image/png", "buffer": upload_png(index)})
    await page.wait_for_selector(f"text=upload{index:03d}.png", timeout=TIMEOUT_S * 1000)
    await until_finished(page, wire, runs)
    await settle(page, wire, quiet=0.5)
    tally.pages.append(time.monotonic() - start)  # the upload's page: its trace was computed
    if relation:
        tally.pages.append(await visit(page, wire, "relation"))


async def protocol_student(url: str, number: int, deadline: float, clicks: int, uploads: UploadCounter | None,
                           tally: Tally, think: float = 0.0, keep_session: bool = False) -> None:
    """`student` without a browser (see wire_client): the same rounds, timed to the server's
    script-finished message; each click is checked to redraw the chosen pixel's chart. With
    `keep_session` (and uploads) a student uploads every round's image into one session, as a student
    who keeps the tab open does, instead of opening a new session (a new tab) each round."""
    from . import wire_client

    rng = np.random.default_rng(number)
    round_, started = 0, time.monotonic()
    session = None
    while time.monotonic() < deadline:
        try:
            if uploads is None:
                query = f"image={SAMPLE_IMAGES[(number + round_) % len(SAMPLE_IMAGES)]}"
                session, seconds = await wire_client.open_page(url, "relation", query, TIMEOUT_S)
                tally.pages.append(seconds)
            else:
                query = ""
                if session is None:
                    session, _ = await wire_client.open_page(url, "", "", TIMEOUT_S)
                index = uploads.take()
                tally.pages.append(await wire_client.upload(session, url, f"upload{index:03d}.png", upload_png(index),
                                                            TIMEOUT_S))
                tally.uploads += 1
                if clicks:
                    runs, start = session.finished_runs, time.monotonic()
                    await session.rerun("relation", "")
                    await session.until_idle(runs, TIMEOUT_S)
                    tally.pages.append(time.monotonic() - start)
            h, w = session.grid
            for _ in range(clicks):
                row, col = int(rng.integers(h)), int(rng.integers(w))
                seconds, received = await wire_client.click(session, "relation", query, "relation.click.w", row, col,
                                                            TIMEOUT_S)
                tally.clicks.append(seconds)
                tally.click_bytes.append(received)
            if session.exceptions:
                tally.errors.append(f"student {number}: exception(s) shown: {session.exceptions[:2]}")
                session.exceptions.clear()  # a kept session reports each exception once, not every round after
            tally.rounds += 1
        except Exception as e:  # a timeout or a broken session: counted, and the student goes on
            tally.failed(number, started, e)
            keep = False
        else:
            keep = keep_session and uploads is not None and time.monotonic() < deadline
        if session is not None and not keep:
            with suppress(Exception):
                await session.socket.close()
            session = None
        round_ += 1
        if think and time.monotonic() + think < deadline:  # a student reading the page before the next round
            await asyncio.sleep(think)
    if session is not None:
        with suppress(Exception):
            await session.socket.close()


async def load_run(url: str, users: int, minutes: float, clicks: int, uploads: int | None,
                   client: str = "protocol", think: float = 0.0, keep_session: bool = False) -> Tally:
    tally = Tally()
    counter = UploadCounter(uploads) if uploads else None
    deadline = time.monotonic() + minutes * 60
    if client == "protocol":
        outcomes = await asyncio.gather(*(protocol_student(url, n, deadline, clicks, counter, tally, think, keep_session)
                                          for n in range(users)), return_exceptions=True)
    else:
        from playwright.async_api import async_playwright

        async with async_playwright() as playwright:
            browser = await launch(playwright)
            outcomes = await asyncio.gather(*(student(browser, url, n, deadline, clicks, counter, tally)
                                              for n in range(users)), return_exceptions=True)
            await browser.close()
    tally.errors += [f"student {n} stopped: {type(o).__name__}: {o}" for n, o in enumerate(outcomes)
                     if isinstance(o, BaseException)]
    return tally


@contextmanager
def served_app(args: argparse.Namespace):
    """One app server, or `args.replicas` of them behind nginx as `python -m ocr_viz.serve --replicas`
    starts them; yields (url, the app processes' pids)."""
    if not args.replicas:
        with app_server(ARTIFACTS / "bench_load_server.log", allocator=args.allocator) as (url, pid):
            yield url, [pid]
        return
    from .replicas import replicas

    if args.allocator:
        raise SystemExit("--allocator applies to one server; replicas run python -m ocr_viz.serve's default")
    with replicas(args.replicas, f"127.0.0.1:{free_port()}") as (url, servers):
        yield url, [pid for _, pid in servers]


def run_load(args: argparse.Namespace) -> dict:
    load_before = os.getloadavg()
    if (args.think or args.keep_session) and args.client != "protocol":
        raise SystemExit("--think and --keep-session are implemented for the protocol client only")
    with served_app(args) as (url, pids):
        server_cpu, client_cpu = sum(map(cpu_seconds, pids)), time.process_time()
        with RssSampler(pids, every=args.sample_seconds) as sampler:
            tally = asyncio.run(load_run(url, args.users, args.minutes, args.clicks, args.uploads, args.client,
                                         args.think, args.keep_session))
        server_cpu, client_cpu = sum(map(cpu_seconds, pids)) - server_cpu, time.process_time() - client_cpu
    rss = [s["rss_mb"] for s in sampler.samples if s["rss_mb"] > 0]
    half = rss[len(rss) // 2:] or rss
    return {
        "users": args.users, "minutes": args.minutes, "client": args.client, "think_seconds": args.think,
        "keep_session": args.keep_session,
        "replicas": args.replicas,
        "allocator": args.allocator or "tcmalloc (python -m ocr_viz.serve's default)", "clicks_per_round": args.clicks, "uploads": args.uploads,
        "rounds": tally.rounds, "uploads_done": tally.uploads,
        "page_seconds": {"count": len(tally.pages), "p50": percentile(tally.pages, 50), "p95": percentile(tally.pages, 95),
                         "max": max(tally.pages, default=None)},
        "click_seconds": {"count": len(tally.clicks), "p50": percentile(tally.clicks, 50),
                          "p95": percentile(tally.clicks, 95), "max": max(tally.clicks, default=None)},
        "click_bytes_median": statistics.median(tally.click_bytes) if tally.click_bytes else None,
        "errors": tally.errors,
        "rss_mb": {"max": max(rss, default=None), "end": rss[-1] if rss else None,
                   "second_half_min": min(half, default=None), "second_half_max": max(half, default=None)},
        "rss_samples": sampler.samples, "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "cpu_seconds": {"server": round(server_cpu, 1), "load_client": round(client_cpu, 1),
                        "available": round(args.minutes * 60 * (os.cpu_count() or 1), 1)},
    }


def print_load(r: dict) -> None:
    fmt = lambda x: "n/a" if x is None else f"{x:.2f} s"  # noqa: E731
    p, c, m = r["page_seconds"], r["click_seconds"], r["rss_mb"]
    print(f"{r['users']} students ({r.get('client', 'browser')} client) for {r['minutes']} min ({r['rounds']} rounds"
          + (f", {r['uploads_done']} uploads of {r['uploads']} distinct images" if r["uploads"] else "") + ")"
          + f"; allocator {r.get('allocator')}, think {r.get('think_seconds', 0)} s between rounds"
          + (f"; {r['replicas']} replicas behind nginx (RSS summed)" if r.get("replicas") else ""))
    print(f"  time to a finished page: p50 {fmt(p['p50'])}, p95 {fmt(p['p95'])}, max {fmt(p['max'])} ({p['count']} pages)")
    print(f"  click -> {'updated bars' if r.get('client') == 'browser' else 'bars sent   '}:   p50 {fmt(c['p50'])}, p95 {fmt(c['p95'])}, max {fmt(c['max'])} ({c['count']} clicks)")
    print(f"  errors: {len(r['errors'])}" + "".join(f"\n    {e}" for e in r["errors"][:10]))
    print(f"  server RSS: max {m['max']} MB, end {m['end']} MB, second half {m['second_half_min']}-{m['second_half_max']} MB")
    print("  RSS over time (s: MB): " + ", ".join(f"{s['t']:.0f}: {s['rss_mb']:.0f}" for s in r["rss_samples"][::max(1, len(r['rss_samples']) // 20)]))
    if "cpu_seconds" in r:
        c = r["cpu_seconds"]
        print(f"  CPU seconds: server {c['server']}, this load client {c['load_client']} "
              f"(of {c['available']} on {os.cpu_count()} cores)")
    print(f"  load average before {tuple(round(x, 2) for x in r['load_average_before'])}, "
          f"after {tuple(round(x, 2) for x in r['load_average_after'])}")


# ---- command line ---------------------------------------------------------------------------

def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ocr_viz.bench", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("browser", help="one student in Chromium: page visits, click -> bars, bytes per click")
    b.add_argument("--clicks", type=int, default=10)
    b.add_argument("--visits", default=",".join(VISITS), help="pages visited through the sidebar, in order")
    b.add_argument("--json", metavar="PATH")
    b.add_argument("--screenshot", metavar="PNG", help="save the relation page after the clicks")
    ld = sub.add_parser("load", help="N students at once for M minutes: p50/p95 page and click, errors, server RSS")
    ld.add_argument("--users", type=int, default=10)
    ld.add_argument("--minutes", type=float, default=2.0)
    ld.add_argument("--clicks", type=int, default=3, help="clicks per round (with --uploads, 0 skips the relation page)")
    ld.add_argument("--uploads", type=int, help="each round uploads an image, cycling through this many distinct ones")
    ld.add_argument("--sample-seconds", type=float, default=5.0, help="how often the server's RSS is read")
    ld.add_argument("--client", choices=("protocol", "browser"), default="protocol",
                    help="protocol: Streamlit's websocket protocol, no browser (server time + transfer); browser: a "
                         "Chromium context per student, drawing included, on this machine's cores too")
    ld.add_argument("--think", type=float, default=0.0, help="seconds a student pauses between rounds (a fixed rate)")
    ld.add_argument("--keep-session", action="store_true",
                    help="with --uploads: each student keeps one session (tab) and uploads into it every round")
    ld.add_argument("--allocator", choices=("tcmalloc", "jemalloc", "glibc"),
                    help="the server's allocator (default: python -m ocr_viz.serve's)")
    ld.add_argument("--replicas", type=int, default=0,
                    help="N app processes behind nginx (python -m ocr_viz.serve --replicas N); 0: one server, no nginx")
    ld.add_argument("--json", metavar="PATH")
    allocator_bench.add_parser(sub)
    return p


COMMANDS = {"browser": (run_browser, print_browser), "load": (run_load, print_load),
            "allocators": (allocator_bench.run, allocator_bench.show)}


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    run, show = COMMANDS[args.command]
    load_before = os.getloadavg()
    result = run(args)
    show(result)
    if args.json:
        info = {"command": "python -m ocr_viz.bench " + " ".join(argv),
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
                "load_average_before": load_before, "load_average_after": os.getloadavg()}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result | {"run": info}, indent=1, default=str))
        print(f"\nwrote {args.json}")
    return 0 if not result["errors"] else 1
