"""Screenshots of every page of the app in a real browser, for checking the layout by eye.

Starts `streamlit run app.py` on a free port, opens it in Debian's Chromium through the playwright
package (never `playwright install`), and for each image (the default CamVid frame, an OpenCV
photo) and each type size (normal, large) visits every page through the sidebar's navigation, in
one session, and saves the whole page as a PNG:

    python scripts/screenshots.py                       # -> tests/artifacts/screens/IMAGE-TYPE-PAGE.png
    python scripts/screenshots.py --pages home relation --images camvid --types normal
    python scripts/screenshots.py --readme              # also retake assets/screenshot.png
    python scripts/screenshots.py --widths 1440 1280     # -> IMAGE-TYPE-PAGE-WIDTH.png, the clipping test's windows

The window is 1600 px wide unless --widths says otherwise; each shot is as tall as the page's content
(up to 14000 px).
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: the app's server helper is in the package

from ocr_viz.serving.benchmarks import app_server  # noqa: E402

OUT = ROOT / "tests" / "artifacts" / "screens"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
IMAGES = {"camvid": "", "photo": "sample:leuvenA.jpg"}  # "": the app's default image, a CamVid frame
WIDTH, MAX_HEIGHT = 1600, 14000
WAIT_MS = 240_000  # the compare page runs six heads besides the default; other helpers may share the CPU
README_VIEW = "relation?class=Car&pixel=33,52"


def app_pages() -> list[tuple[str, str]]:
    """(url path, navigation title) of every page, read from app.py's st.Page calls."""
    found = re.findall(r'st\.Page\("pages/(\w+)\.py", title="([^"]+)"', (ROOT / "app.py").read_text())
    return [("" if path == "home" else path, title) for path, title in found if (ROOT / "pages" / f"{path}.py").exists()]


def wait_until_idle(page) -> None:
    """Until a title is shown and Streamlit's 'running' indicator (and the compute queue's progress,
    which shows while the script waits) has been gone for 1.5 s."""
    page.wait_for_selector("h1", timeout=WAIT_MS)
    deadline = time.time() + WAIT_MS / 1000
    quiet_since = None
    while time.time() < deadline:
        running = page.locator('[data-testid="stStatusWidget"]').count() > 0 or \
            page.get_by_text(re.compile(r"s left$")).count() > 0  # the compute queue's progress bar
        quiet_since = None if running else (quiet_since or time.time())
        if quiet_since and time.time() - quiet_since > 1.5:
            return
        page.wait_for_timeout(250)
    raise TimeoutError("the app kept running")


def content_height(page) -> int:
    return int(page.evaluate("(() => { const c = document.querySelector('[data-testid=\"stMainBlockContainer\"]');"
                             " return c.getBoundingClientRect().top + c.scrollHeight; })()"))


def shoot(page, path: Path, width: int = WIDTH) -> None:
    """The whole page: the window made as tall as the main area's content (again until that stops
    growing: charts below the fold draw once they are in view), then one screenshot."""
    height = 0
    for _ in range(4):
        wanted = min(max(content_height(page) + 80, 900), MAX_HEIGHT)
        if wanted <= height:
            break
        height = wanted
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(2000)  # plotly redraws for the new size
    page.screenshot(path=str(path), timeout=WAIT_MS)
    page.set_viewport_size({"width": width, "height": 1000})


def problems(page) -> int:
    return page.locator('[data-testid="stException"]').count()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", nargs="*", help="url paths (home for the home page); default all")
    parser.add_argument("--images", nargs="*", choices=list(IMAGES), default=list(IMAGES))
    parser.add_argument("--types", nargs="*", choices=["normal", "large"], default=["normal", "large"])
    parser.add_argument("--readme", action="store_true", help="also retake assets/screenshot.png")
    parser.add_argument("--widths", nargs="*", type=int, default=[WIDTH],
                        help=f"window widths in px (default {WIDTH}); more than one adds the width to the file names")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    pages = [(p, t) for p, t in app_pages() if not args.pages or (p or "home") in args.pages]
    OUT.mkdir(parents=True, exist_ok=True)
    failures = []
    with app_server(OUT.parent / "screenshots-streamlit.log", env={"OMP_NUM_THREADS": "1"}) as (base, _pid):
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for image, key in ((i, IMAGES[i]) for i in args.images):
                for size in args.types:
                    page = browser.new_page(viewport={"width": args.widths[0], "height": 1000})
                    page.set_default_timeout(WAIT_MS)  # a click on a loaded machine waits for the last rerun
                    page.goto(base + (f"/?image={key}" if key else "/"))
                    wait_until_idle(page)
                    if size == "large":
                        page.get_by_test_id("stSidebar").get_by_text("large type (projector)").click()
                        wait_until_idle(page)
                    for path, title in pages:
                        page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True).click()
                        page.wait_for_timeout(500)
                        wait_until_idle(page)
                        for width in args.widths:
                            name = f"{image}-{size}-{path or 'home'}" + (f"-{width}" if len(args.widths) > 1 else "")
                            shoot(page, OUT / f"{name}.png", width)
                            if problems(page):
                                failures.append(name)
                            print(f"{name}.png{'  EXCEPTION on the page' if problems(page) else ''}", flush=True)
                    page.close()
            if args.readme:
                page = browser.new_page(viewport={"width": 1600, "height": 1000})
                page.goto(f"{base}/{README_VIEW}")
                wait_until_idle(page)
                page.wait_for_selector("text=w_i for pixel i", timeout=WAIT_MS)
                wait_until_idle(page)
                page.wait_for_timeout(5000)
                wait_until_idle(page)  # no stale (greyed) widgets from a rerun in the picture
                page.screenshot(path=str(ROOT / "assets" / "screenshot.png"))
                print("assets/screenshot.png")
            browser.close()
    if failures:
        print("pages with an exception:", ", ".join(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
