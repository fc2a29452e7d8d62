"""Honest at first sight, in the app: bars whose axis starts at 0 unless zoom is asked for, the
lecture that keeps the pixel a link names, and refusing an image too small to segment."""
from __future__ import annotations

import json

from app_helpers import figure_titles, open_page, problems, start

from ocr_viz.app import session
from ocr_viz.teaching import lecture


def specs(at) -> dict[str, dict]:
    """The plotly figures on the page by their unwrapped title."""
    from ocr_viz.figures.titles import plain

    found = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    return {plain(s["layout"].get("title", {}).get("text", "")): s for s in found}


def relation_bars(at) -> dict:
    return next(s for title, s in specs(at).items() if title.startswith("w_i for pixel"))


def test_the_relation_bars_start_at_zero_until_zoom_is_chosen():
    # the lecturer's case: leuvenB, pixel (42, 22), entropy 2.3775 of 2.3979, weights 0.064 to 0.126
    at = open_page(start({"image": "sample:leuvenB.jpg", "pixel": "42,22"}), "relation")
    assert problems(at) == []
    bars = relation_bars(at)
    low, high = bars["layout"]["xaxis"]["range"]
    assert low == 0 and high > 0
    assert not any(s.get("type") == "path" for s in bars["layout"].get("shapes", []))  # no axis break
    at.toggle(key="relation.zoom").set_value(True).run()
    zoomed = relation_bars(at)
    assert zoomed["layout"]["xaxis"]["range"][0] > 0  # fitted to the values: the break is drawn and said
    assert any(s.get("type") == "path" for s in zoomed["layout"]["shapes"])
    assert any(t.startswith("w_i for pixel") and "<br>ZOOMED axis" in t for t in figure_titles(at))


def test_a_link_to_the_relation_step_keeps_its_class_and_pixel():
    at = open_page(start({"step": "6", "class": "Car", "pixel": "20,31"}), "lecture")
    assert problems(at) == [] and at.title[0].value == lecture.STEP_BY_KEY["relation"].title
    titles = figure_titles(at)
    assert any("region k = Car" in t for t in titles) and any("(row 20, col 31)" in t for t in titles)
    notice = next(i.value for i in at.info if "What to notice" in i.value)
    assert "(row 20, col 31)" in notice and "typical" not in notice
    assert at.query_params["pixel"] == "20,31" and at.query_params["class"] == "Car"


def test_without_a_linked_pixel_the_lecture_picks_a_typical_one_inside_the_map_and_links_it():
    at = open_page(start({"step": "6"}), "lecture")
    assert problems(at) == []
    current = at.session_state[session.CURRENT]
    row, col = (int(v) for v in at.query_params["pixel"].split(","))
    h, w = current.arrays.grid
    assert lecture.BORDER <= row < h - lecture.BORDER and lecture.BORDER <= col < w - lecture.BORDER
    assert any(f"(row {row}, col {col})" in t for t in figure_titles(at))
    notice = next(i.value for i in at.info if "What to notice" in i.value)
    assert f"(row {row}, col {col}), a typical" in notice
    # the link now carries that pixel: a new session opened from it shows the same view
    again = open_page(start(dict(at.query_params)), "lecture")
    assert any(f"(row {row}, col {col})" in t for t in figure_titles(again))


def test_the_last_step_shows_the_ablations_and_highlights_only_what_it_draws():
    at = open_page(start({"step": str(list(lecture.STEP_BY_KEY).index("whatif") + 1)}), "lecture")  # the ablations step
    assert problems(at) == []
    titles = figure_titles(at)
    assert any(t.startswith("mean IoU per variant") for t in titles)  # the shipped model's test-set analysis
    assert not any("highlighted" in c.value for c in at.caption)  # no diagram on this step, so nothing claims it
    five = open_page(start({"step": "5"}), "lecture")
    assert any("(highlighted)" in c.value for c in five.caption) and five.get("graphviz_chart")
