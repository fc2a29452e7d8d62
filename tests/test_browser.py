"""The app in a real browser: start `streamlit run app.py`, upload an image, open the relation
page, click a pixel and check that the bar chart follows; save a screenshot to tests/artifacts/.

Needs Debian's chromium (/usr/bin/chromium) and the playwright Python package (never
`playwright install`: it downloads a browser). Without them the test is skipped, unless
OCR_VIZ_REQUIRE_BROWSER=1, when it fails. With OCR_VIZ_UPDATE_SCREENSHOT=1 it also rewrites
the README's assets/screenshot.png (the relation page for a sample image).
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from browser_helpers import CHROMIUM, CHROMIUM_ARGS, browser, missing_browser  # noqa: F401 (browser: a fixture)

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
RELATION_NAV = "w_ik  pixel-region relation (Eq. 5)"
WAIT_MS = 120_000  # a background job may share the CPU




@pytest.fixture(scope="module")
def server():
    """`streamlit run app.py` on a free port (the benchmarks' own server helper), stopped after the
    module's tests."""
    if missing_browser() and os.environ.get("OCR_VIZ_REQUIRE_BROWSER") != "1":
        pytest.skip(missing_browser())
    from ocr_viz.serving.benchmarks import app_server

    with app_server(ARTIFACTS / "streamlit.log", env={"OMP_NUM_THREADS": "1"}) as (url, _pid):  # leave CPU to others
        yield url


def wait_until_idle(page) -> None:
    """Until a title is shown and Streamlit's 'running' indicator has been gone for a moment."""
    page.wait_for_selector("h1", timeout=WAIT_MS)
    deadline = time.time() + WAIT_MS / 1000
    quiet_since = None
    while time.time() < deadline:
        running = page.locator('[data-testid="stStatusWidget"]').count() > 0
        quiet_since = None if running else (quiet_since or time.time())
        if quiet_since and time.time() - quiet_since > 1.0:
            return
        page.wait_for_timeout(200)
    raise TimeoutError("the app kept running")


def chart_title(page, index: int) -> str:
    """The title as drawn, its wrapped lines joined by spaces."""
    return " ".join(page.locator('[data-testid="stPlotlyChart"]').nth(index).locator(".gtitle tspan.line")
                    .all_text_contents()) or \
        page.locator('[data-testid="stPlotlyChart"]').nth(index).locator(".gtitle").first.text_content()


def pixel_in_title(title: str) -> tuple[int, int, int]:
    """(i, row, col) from a title like 'w_i for pixel i = 407 (row 5, col 7)'."""
    found = re.search(r"i = (\d+) \(row (\d+), col (\d+)\)", title)
    assert found, title
    return tuple(int(n) for n in found.groups())


def grid_size(page) -> tuple[int, int]:
    """(h, w) of the feature map, from the w_ik map's click layer: one point per cell, at (col, row)."""
    size = page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot').first.evaluate(
        "el => { const t = el._fullData.find(t => t.name === 'pixels');"
        " return t ? [Math.max(...t.y) + 1, Math.max(...t.x) + 1] : null; }")
    assert size, "the first chart has no 'pixels' click layer"
    return int(size[0]), int(size[1])


def click_in_chart(page, index: int, fx: float, fy: float) -> None:
    """Click at fractions (fx, fy) of the plotting area of the index-th plotly chart."""
    area = page.locator('[data-testid="stPlotlyChart"]').nth(index).locator(".nsewdrag").first
    box = area.bounding_box()
    page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])


def test_a_deep_link_as_a_fresh_servers_first_request_runs_the_app(browser, server):
    """With pages in pages/, Streamlit starts in its legacy folder mode until app.py calls
    st.navigation; the first request here is a page, not the entry script."""
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.goto(f"{server}/relation?image=sample:leuvenB.jpg")
    wait_until_idle(page)
    page.wait_for_selector("text=Pixel-region relation", timeout=WAIT_MS)
    wait_until_idle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    nav = page.get_by_test_id("stSidebarNavItems")
    assert nav.get_by_role("link", name=RELATION_NAV).count() == 1  # app.py's navigation, not file names
    page.close()


def test_upload_then_click_a_pixel_on_the_relation_page(browser, server):
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.goto(server)
    wait_until_idle(page)
    assert "OCR, stage by stage" in page.locator("h1").first.text_content()

    page.get_by_text("Upload", exact=True).click()
    upload = page.locator('[data-testid="stFileUploader"] input[type="file"]')
    upload.set_input_files(str(ROOT / "assets" / "samples" / "leuvenB.jpg"))
    page.wait_for_selector("text=leuvenB.jpg: the model's input", timeout=WAIT_MS)
    wait_until_idle(page)

    page.get_by_test_id("stSidebarNavItems").get_by_role("link", name=RELATION_NAV).click()
    page.wait_for_selector("text=Pixel-region relation", timeout=WAIT_MS)
    wait_until_idle(page)
    assert page.get_by_text("leuvenB.jpg, ").count() > 0  # the relation page names the upload: it survived navigation
    h, w = grid_size(page)
    before = chart_title(page, 1)
    _, row, col = pixel_in_title(before)

    click_in_chart(page, 0, 0.15, 0.2)  # 15% from the left, 20% from the top of the w_ik map
    page.wait_for_function("([t]) => !document.querySelectorAll('[data-testid=\"stPlotlyChart\"] .gtitle')[1]"
                           ".textContent.includes(t)", arg=[f"(row {row}, col {col})"], timeout=WAIT_MS)
    wait_until_idle(page)
    i, row, col = pixel_in_title(chart_title(page, 1))
    # the clicked cell: row 0 at the top, the cell under the pointer (within one cell of rounding)
    assert abs(row - (0.2 * h - 0.5)) <= 1 and abs(col - (0.15 * w - 0.5)) <= 1, (row, col, h, w)
    assert i == row * w + col  # the flat index of Eq. 5's i, row-major
    assert parse_qs(urlparse(page.url).query)["pixel"] == [f"{row},{col}"]  # the URL follows the click
    page.screenshot(path=str(ARTIFACTS / "relation_after_click.png"), full_page=True)
    page.close()


def test_a_bad_upload_is_refused_with_a_message_and_the_next_one_works(browser, server, tmp_path):
    """A text file named .png, in a real browser: the page says which file and why, shows the default
    sample meanwhile (no exception box), and a good image uploaded next replaces it."""
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.goto(server)
    wait_until_idle(page)
    page.get_by_text("Upload", exact=True).click()
    upload = page.locator('[data-testid="stFileUploader"] input[type="file"]')
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"lecture notes, not a picture\n" * 40)
    upload.set_input_files(str(bad))
    page.wait_for_selector("text=Could not use 'notes.png'", timeout=WAIT_MS)
    wait_until_idle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert "OCR, stage by stage" in page.locator("h1").first.text_content()  # the page still drew, on the default
    upload.set_input_files(str(ROOT / "assets" / "samples" / "leuvenB.jpg"))
    page.wait_for_selector("text=leuvenB.jpg: the model's input", timeout=WAIT_MS)
    wait_until_idle(page)
    assert page.get_by_text("Could not use").count() == 0 and page.locator('[data-testid="stException"]').count() == 0
    page.close()


@pytest.mark.skipif(os.environ.get("OCR_VIZ_UPDATE_SCREENSHOT") != "1",
                    reason="set OCR_VIZ_UPDATE_SCREENSHOT=1 to rewrite assets/screenshot.png")
def test_readme_screenshot(browser, server):
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.goto(f"{server}/relation?image=sample:leuvenB.jpg&class=Bicyclist&pixel=44,30")
    wait_until_idle(page)
    page.wait_for_selector("text=w_i for pixel i", timeout=WAIT_MS)  # the bar chart has drawn
    page.wait_for_selector('[data-testid="stNumberInput"] input', timeout=WAIT_MS)
    wait_until_idle(page)
    page.wait_for_timeout(3000)
    page.screenshot(path=str(ROOT / "assets" / "screenshot.png"))
    page.close()


def test_a_browser_without_webgl_gets_working_maps_by_itself(browser, server):
    """Click layers are WebGL by default (an SVG one costs ~0.3 s per click); in a browser without
    WebGL that map would be plotly's "WebGL is not supported" box: the app asks the browser and turns
    the sidebar's "maps without WebGL" on by itself, so the map is drawn as SVG and clicks work."""
    without_webgl = browser.browser_type.launch(executable_path=CHROMIUM,
                                                args=CHROMIUM_ARGS + ["--disable-webgl", "--disable-3d-apis"])
    try:
        page = without_webgl.new_page(viewport={"width": 1500, "height": 1100})
        page.goto(f"{server}/relation")
        page.wait_for_selector("text=Pixel-region relation", timeout=WAIT_MS)
        wait_until_idle(page)
        switch = page.get_by_test_id("stSidebar").get_by_role("checkbox", name="maps without WebGL")
        page.wait_for_function("() => [...document.querySelectorAll('[data-testid=\"stSidebar\"] input')]"
                               ".some(i => i.checked && i.closest('label')?.innerText.includes('maps without WebGL'))",
                               timeout=WAIT_MS)
        wait_until_idle(page)
        page.wait_for_function("() => !document.body.innerText.includes('WebGL is not supported') && (document"
                               ".querySelectorAll('[data-testid=\"stPlotlyChart\"] .gtitle')[1]?.textContent || '')"
                               ".includes('w_i for pixel')", timeout=WAIT_MS)
        assert switch.count() <= 1
        h, w = grid_size(page)
        first_map = page.locator('[data-testid="stPlotlyChart"]').first
        assert first_map.locator(".scatterlayer .point").count() == h * w + 1  # the click layer as SVG, and the marker
        _, row, col = pixel_in_title(chart_title(page, 1))
        click_in_chart(page, 0, 0.8, 0.7)
        page.wait_for_function("([t]) => !document.querySelectorAll('[data-testid=\"stPlotlyChart\"] .gtitle')[1]"
                               ".textContent.includes(t)", arg=[f"(row {row}, col {col})"], timeout=WAIT_MS)
        wait_until_idle(page)
        _, row, col = pixel_in_title(chart_title(page, 1))
        assert abs(row - (0.7 * h - 0.5)) <= 1 and abs(col - (0.8 * w - 0.5)) <= 1, (row, col, h, w)
    finally:
        without_webgl.close()
