"""No clipped text, found by the browser rather than by eye: every page of the app, at 1440 x 900 and
1280 x 720, in normal and large type, checked by tests/clipped_text.js (text cut off by its box, text
outside its figure, texts drawn over each other, legends and colour bars over axis text, the lecture's
diagram type smaller than the page's). One fresh server and one browser; each page is drawn once per
type size and checked at both window sizes (plotly and the layout follow a resize without a rerun).

Its first request also checks the first load: Streamlit's raw list of the pages/ folder ("app",
"layout", ...) is never shown, not even while app.py starts.
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from browser_helpers import CHROMIUM, CHROMIUM_ARGS, browser, missing_browser  # noqa: F401 (browser: a fixture)

ROOT = Path(__file__).resolve().parent.parent
CHECK = (Path(__file__).parent / "clipped_text.js").read_text()
VIEWPORTS = ((1440, 900), (1280, 720))
WAIT_MS = 240_000  # the compare page runs six heads besides the default; a background job may share the CPU
RAW_PAGE_NAMES = {"app", "layout", "relation truth"}  # what Streamlit's own list of pages/ would show
# Kinds of problem a page may still show, each with the element and why it is left ({page: (kind, ...)});
# any other page or kind fails the test, and the test prints the entries that no longer occur.
KNOWN: dict[str, tuple[str, ...]] = {}


def known(problem: dict) -> bool:
    return problem["kind"] in KNOWN.get(problem["page"], ())


@pytest.fixture(scope="module")
def fresh_server(browser):
    """A server of its own, so that this module's first request is the server's first."""
    from ocr_viz.serving.benchmarks import app_server

    with app_server(ROOT / "tests" / "artifacts" / "clipping-streamlit.log", env={"OMP_NUM_THREADS": "1"}) as (url, _):
        yield url


def app_pages() -> list[tuple[str, str]]:
    """(url path, navigation title) of every page, from app.py's st.Page calls."""
    return re.findall(r'st\.Page\("pages/(\w+)\.py", title="([^"]+)"', (ROOT / "app.py").read_text())


def wait_until_idle(page) -> None:
    """Until a title is shown, Streamlit's 'running' indicator and the compute queue's progress have been
    gone for 1 s, and every figure is drawn at its column's width."""
    page.wait_for_selector("h1", timeout=WAIT_MS)
    deadline = time.time() + WAIT_MS / 1000
    quiet_since = None
    while time.time() < deadline:
        running = page.locator('[data-testid="stStatusWidget"]').count() > 0 or \
            page.get_by_text(re.compile(r"s left$")).count() > 0
        quiet_since = None if running else (quiet_since or time.time())
        if quiet_since and time.time() - quiet_since > 1.0:
            return wait_until_drawn(page)
        page.wait_for_timeout(200)
    raise TimeoutError("the app kept running")


# Every plotly figure's drawing as wide as the element that holds it: true once plotly has redrawn for a
# new window width (instead of a fixed wait), then two animation frames for the last paint.
DRAWN = """() => [...document.querySelectorAll('[data-testid="stMain"] [data-testid="stPlotlyChart"]')].every(c => {
    const svg = c.querySelector('.js-plotly-plot svg.main-svg');
    return c.clientWidth === 0 || (svg && Math.abs(parseFloat(svg.getAttribute('width')) - c.clientWidth) < 2); })"""


def wait_until_drawn(page) -> None:
    try:
        page.wait_for_function(DRAWN, timeout=10_000, polling=100)
    except Exception:  # a figure narrower than its column by design: the fixed wait below still applies
        page.wait_for_timeout(700)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def body_px(page) -> float:
    """The main area's body text size in px (large type enlarges it)."""
    return page.evaluate("(() => { const p = document.querySelector("
                         "'[data-testid=\"stMain\"] [data-testid=\"stMarkdownContainer\"] p');"
                         " return p ? parseFloat(getComputedStyle(p).fontSize) : 16; })()")


def test_no_page_shows_clipped_text_and_the_first_load_shows_no_raw_page_list(browser, fresh_server):
    page = browser.new_page(viewport={"width": VIEWPORTS[0][0], "height": VIEWPORTS[0][1]})
    page.set_default_timeout(WAIT_MS)  # a click on a loaded machine can wait for the previous rerun
    page.add_init_script("""window.__navSeen = new Set();
        new MutationObserver(() => document.querySelectorAll('[data-testid="stSidebarNav"] a')
            .forEach(a => window.__navSeen.add(a.textContent.trim())))
          .observe(document, {subtree: true, childList: true, characterData: true});""")
    page.goto(fresh_server)
    wait_until_idle(page)
    seen = set(page.evaluate("[...window.__navSeen]"))
    assert seen and not seen & RAW_PAGE_NAMES, f"the first load showed Streamlit's own page list: {sorted(seen)}"

    found, current = [], "home"
    for size in ("normal", "large"):
        if size == "large":
            page.get_by_test_id("stSidebar").get_by_text("large type (projector)").click()
            wait_until_idle(page)
        for path, title in app_pages():
            if path != current:
                before = page.locator('[data-testid="stMain"] h1').first.text_content()
                page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True).click()
                page.wait_for_function("t => { const h = document.querySelector('[data-testid=\"stMain\"] h1');"
                                       " return h && h.textContent !== t; }", arg=before)  # the new page has begun
                wait_until_idle(page)
                current = path
            exceptions = page.locator('[data-testid="stException"]').count()
            assert not exceptions, f"{path} ({size} type) shows {exceptions} exception(s)"
            for width, height in VIEWPORTS:
                page.set_viewport_size({"width": width, "height": height})
                wait_until_drawn(page)  # plotly redraws for the new width
                # the lecture's diagram must be read from afar: at least the body size in large type
                minimum = (body_px(page) if size == "large" else 12) if path == "lecture" else 0
                for problem in page.evaluate(CHECK, {"minDiagramPx": minimum}):
                    found.append(dict(problem, page=path, type=size, window=f"{width}x{height}"))
            page.set_viewport_size({"width": VIEWPORTS[0][0], "height": VIEWPORTS[0][1]})
    page.close()
    report = sorted({json.dumps(p, sort_keys=True) for p in found})
    (ROOT / "tests" / "artifacts").mkdir(parents=True, exist_ok=True)
    (ROOT / "tests" / "artifacts" / "clipped_text.json").write_text("[\n" + ",\n".join(report) + "\n]\n")
    new = [p for p in report if not known(json.loads(p))]
    assert not new, f"{len(new)} clipped or overlapping texts (all in tests/artifacts/clipped_text.json):\n" + \
        "\n".join(new[:40])
    fixed = {(page, kind) for page, kinds in KNOWN.items() for kind in kinds} - {(p["page"], p["kind"]) for p in found}
    if fixed:
        print("no longer found, remove from KNOWN:", sorted(fixed))
