"""Helpers for driving the Streamlit app with AppTest (shared by test_app and test_bad_input).

Every AppTest in one pytest process shares Streamlit's resource caches, so the model loads
once and each (model, image) trace is computed once for the whole session.
"""
from __future__ import annotations

import json
from pathlib import Path

from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
STAGE_PAGES = ("pixels", "regions", "objects", "relation", "context", "segmentation")
PAGES = ("home", *STAGE_PAGES, "about")
TIMEOUT = 120  # seconds per run: generous, as a background job may share the CPU


def _entry_script_navigates(init):
    """AppTest resets Streamlit's 'uses a pages/ folder' flag before every run, and with a pages/
    folder beside app.py the flag would run a switched-to page in the legacy mode, without app.py.
    Our app.py always calls st.navigation, which clears that flag on the server after its first
    run; the harness does the same before each run, so every test runs the app as it is served."""
    def patched(self, *args, **kwargs):
        init(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False
    return patched


if not getattr(PagesManager.__init__, "_navigates", False):
    PagesManager.__init__ = _entry_script_navigates(PagesManager.__init__)
    PagesManager.__init__._navigates = True


def start(query_params: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if query_params:
        at.query_params.update(query_params)
    return at.run()


def open_page(at: AppTest, page: str) -> AppTest:
    return at.switch_page(f"pages/{page}.py").run()


def figure_titles(at: AppTest) -> list[str]:
    """The titles of the plotly figures on the current page, in order, as 'title<br>caption' (unwrapped)."""
    from ocr_viz.figures.titles import plain

    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    return [plain(spec["layout"].get("title", {}).get("text", "")) for spec in specs]


def latex(at: AppTest) -> str:
    """Every formula the run shows (st.latex), one per line."""
    return "\n".join(element.value for element in at.latex)


def problems(at: AppTest) -> list[str]:
    return [e.value for e in at.exception] + [e.value for e in at.error]


def chosen_pixel(at: AppTest) -> tuple[int, int]:
    """The (row, col) the session has chosen (by default the centre of this image's feature grid)."""
    from ocr_viz.app import session

    return int(at.session_state[session.ROW]), int(at.session_state[session.COL])


def grid(at: AppTest) -> tuple[int, int]:
    """(h, w) of the current trace's feature maps: the default image and its size may change."""
    from ocr_viz.app import session

    return tuple(at.session_state[session.CURRENT].arrays.grid)
