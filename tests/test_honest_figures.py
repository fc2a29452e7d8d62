"""Figures honest at first sight: bar axes from 0 unless zoom is asked for (then the break is drawn
and the range said first), titles wrapped so no line is longer than the figure holds."""
from __future__ import annotations

import numpy as np
import pytest

from ocr_viz.figures import class_bars, large_type, map_figure
from ocr_viz.figures.titles import CAPTION_LINE, GLYPH_EM, chars_per_line, parts, plain, title_room, titled, wrap

# leuvenB, pixel (42, 22) of the shipped model: entropy 2.3775 of log 11 = 2.3979, yet a zoomed axis
# drew Bicyclist's bar about five times Sky's
NEAR_UNIFORM = np.array([0.064, 0.071, 0.083, 0.088, 0.090, 0.091, 0.092, 0.093, 0.095, 0.107, 0.126])
NAMES = [f"class {k}" for k in range(11)]
PALETTE = [(40 * k % 255, 90, 150) for k in range(11)]


def bars(values=NEAR_UNIFORM, **kwargs):
    return class_bars(values, NAMES, PALETTE, "w_i for pixel i = 1762 (row 22, col 42)", "sums to 1",
                      value_name="w_ik", reference=1 / 11, reference_name="1/K", **kwargs)


def drawn_length_ratio(fig, a: int, b: int) -> float:
    """How many times longer bar a is drawn than bar b, from the axis start."""
    start = fig.layout.xaxis.range[0]
    return (NEAR_UNIFORM[a] - start) / (NEAR_UNIFORM[b] - start)


def test_bars_start_at_zero_by_default_so_lengths_compare():
    fig = bars()
    low, high = fig.layout.xaxis.range
    assert low == 0 and high >= NEAR_UNIFORM.max()
    assert drawn_length_ratio(fig, 10, 0) == pytest.approx(0.126 / 0.064)  # as the values: about 2x, not 5x
    assert not [s for s in fig.layout.shapes if s.type == "path"]  # no axis break
    assert any(s.x0 == pytest.approx(1 / 11) for s in fig.layout.shapes if s.type == "line")  # the 1/K line
    assert "from 0" in plain(fig.layout.title.text)


def test_a_zoomed_axis_draws_its_break_and_says_its_range_first():
    fig = bars(zoom=True)
    low, high = fig.layout.xaxis.range
    assert 0 < low < NEAR_UNIFORM.min() and high > NEAR_UNIFORM.max()
    assert drawn_length_ratio(fig, 10, 0) > 4  # what zoom does to these bars, hence the warning
    assert [s for s in fig.layout.shapes if s.type == "path"]  # the zigzag through the bars' left ends
    assert any(a.text == "//" and a.y == 0 for a in fig.layout.annotations)  # the break on the axis line
    _, caption, _ = parts(fig.layout.title.text)
    assert caption.startswith(f"ZOOMED axis, {low:.3g} to {high:.3g}, not from 0")


def test_negative_and_mixed_values_keep_zero_on_the_axis():
    kappa = np.linspace(-2.0, 3.0, 11)
    fig = class_bars(kappa, NAMES, PALETTE, "kappa", zoom=False)
    assert fig.layout.xaxis.range is None  # autoscaled across 0
    negative = class_bars(-NEAR_UNIFORM, NAMES, PALETTE, "minus w")
    assert negative.layout.xaxis.range[1] == 0


@pytest.mark.parametrize("width, size", [(340, 15), (200, 15), (340, 24)])
def test_titles_are_wrapped_to_what_the_figure_width_holds(width, size):
    title = "OCR, pixel (30, 40): softmax_j(theta_i . phi_j), the attention of one pixel on every pixel"
    caption = "colour: log10 scale, full range 1.4e-45 to 0.437; circled: the chosen pixel; click to choose another"
    heading = titled(title, caption, width=width, size=size)
    lines = heading["text"].split("<br>")
    for line in lines:
        found = CAPTION_LINE.match(line)
        text, px = (found.group(2), int(found.group(1))) if found else (line, size)
        assert len(text) * px * GLYPH_EM <= width or len(wrap(text, 1)) == 1, line  # fits, or cannot be broken
    assert plain(heading["text"]) == f"{title}<br>{caption}"  # nothing lost, only line breaks added
    assert title_room(heading) >= len(lines) * size * 0.7  # the top margin holds every line


def test_wrapping_keeps_a_pixel_and_its_coordinates_on_one_line():
    for chars in range(12, 40):
        lines = wrap("w_i for pixel i = 1762 (row 22, col 42) of the map", chars)
        assert any("i = 1762 (row 22, col 42)" in line for line in lines), (chars, lines)
    assert chars_per_line(340, 15) > chars_per_line(340, 24)


def test_large_type_wraps_titles_again_for_its_larger_text():
    fig = bars(zoom=True)
    big = large_type(fig, size=20)
    assert plain(big.layout.title.text) == plain(fig.layout.title.text)
    assert len(big.layout.title.text.split("<br>")) > len(fig.layout.title.text.split("<br>"))
    assert big.layout.margin.t >= title_room(big.layout.title.to_plotly_json())
    one_map = map_figure(np.random.default_rng(0).random((6, 8)), "m~_k for Road (softmax over all pixels of "
                         "each class map)", value_name="m~")
    assert large_type(one_map).layout.margin.t >= title_room(large_type(one_map).layout.title.to_plotly_json())
