"""Helpers for driving the Streamlit app with AppTest (shared by test_app and test_bad_input).

Every AppTest in one pytest process shares Streamlit's resource caches, so the model loads
once and each (model, image) trace is computed once for the whole session.
"""
from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
STAGE_PAGES = ("pixels", "regions", "objects", "relation", "context", "segmentation")
PAGES = ("home", *STAGE_PAGES, "about")
TIMEOUT = 120  # seconds per run: generous, as a background job may share the CPU


def start(query_params: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if query_params:
        at.query_params.update(query_params)
    return at.run()


def open_page(at: AppTest, page: str) -> AppTest:
    return at.switch_page(f"app_pages/{page}.py").run()


def figure_titles(at: AppTest) -> list[str]:
    """The titles of the plotly figures on the current page, in order."""
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    return [spec["layout"].get("title", {}).get("text", "") for spec in specs]


def problems(at: AppTest) -> list[str]:
    return [e.value for e in at.exception] + [e.value for e in at.error]
