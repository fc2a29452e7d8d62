"""The Compare page's first view and its click figures.

- The per-pixel figures come one group of heads at a time (attention, ASPP, OCNet): the first view
  builds and sends the attention group only, and choosing another group shows its figures with the
  comparison's values.
- The click figures are built as plotly JSON (Spec): each equals what plotly's validated graph objects
  give for the same inputs. The expectation is the graph-object builders as they were before
  (ocr_viz/figures/compare.py and ocnet.py at commit 2b52721), kept here in their calls to plotly.
"""
from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import plotly.io
import pytest
from test_compare import prediction_panels
from test_fast_figures import assert_same_figure, decoded, differences, photo, relation_maps  # noqa: F401 (fixture)

from ocr_viz.figures import Scale, class_bars, class_bars_spec, map_figure, map_spec, narrow
from ocr_viz.figures.compare import BRANCH_COLOURS, sampling_figure, sampling_spec
from ocr_viz.figures.maps import MARGIN, frame, photo_trace, pixel_marker
from ocr_viz.figures.charts import rgb
from ocr_viz.figures.ocnet import partition_figure, partition_spec
from ocr_viz.figures.spec import narrow_spec
from ocr_viz.figures.titles import NARROW, plain

# ---- the reference: the graph-object builders as they were ---------------------------------------


def reference_sampling(image, grid, pixel, taps, title, height=420) -> go.Figure:
    fig = go.Figure(photo_trace(image, grid))
    fig.add_shape(type="rect", x0=-0.5, y0=-0.5, x1=grid[1] - 0.5, y1=grid[0] - 0.5, line=dict(color="black", width=2))
    for index, (name, cells, inside) in enumerate(taps):
        colour = rgb(BRANCH_COLOURS[index % len(BRANCH_COLOURS)])
        label = f"{name}: {int(inside.sum())}/{len(inside)} inside"
        symbols, outlines = np.where(inside, "square", "x-thin-open"), np.where(inside, "white", colour)
        fig.add_trace(go.Scatter(
            x=cells[:, 1], y=cells[:, 0], mode="markers", name=label,
            marker=dict(symbol=symbols, size=11, color=colour, line=dict(width=2, color=outlines)),
            hovertemplate=f"{name}<br>row %{{y}}, col %{{x}}<extra></extra>",
        ))
    fig.add_trace(pixel_marker(pixel))
    everything = np.concatenate([cells for _, cells, _ in taps] + [np.array([[0, 0], [grid[0] - 1, grid[1] - 1]])])
    (top, left), (bottom, right) = everything.min(0) - 2, everything.max(0) + 2
    outside = sum(int((~inside).sum()) for _, _, inside in taps)
    caption = f"frame: the {grid[0]} x {grid[1]} map; x: {outside} taps outside it (zero padding)"
    fig = frame(fig, title, caption, grid, height)
    fig.update_xaxes(range=[left - 0.5, right + 0.5])
    fig.update_yaxes(range=[bottom + 0.5, top - 0.5])
    fig.update_layout(showlegend=True, clickmode="none",
                      margin=dict(fig.layout.margin.to_plotly_json(), r=10, b=MARGIN["b"] + 8 + 20 * len(taps)),
                      legend=dict(orientation="h", x=0, xanchor="left", y=0, yref="container", yanchor="bottom",
                                  entrywidth=1, entrywidthmode="fraction", font=dict(size=10)))
    fig.update_xaxes(constraintoward="center")
    return fig


def reference_partition(values, title, bounds, pixel, scale=Scale(), *, image=None, opacity=0.7,
                        height=360) -> go.Figure:
    rows, cols = bounds
    (r0, r1), (c0, c1) = (next(b for b in parts if b[0] <= p < b[1]) for parts, p in zip(bounds, pixel))
    h, w = values.shape
    inside = np.zeros((h, w), bool)
    inside[r0:r1, c0:c1] = True
    fig = map_figure(np.where(inside, values, np.nan), title, scale, image=image, opacity=opacity, value_name="a_ij",
                     pixel=pixel, clickable=True, height=height)
    line = dict(color="rgba(255,255,255,0.6)", width=1, dash="dot")
    for start, _ in rows[1:]:
        fig.add_shape(type="line", x0=-0.5, x1=w - 0.5, y0=start - 0.5, y1=start - 0.5, line=line)
    for start, _ in cols[1:]:
        fig.add_shape(type="line", x0=start - 0.5, x1=start - 0.5, y0=-0.5, y1=h - 0.5, line=line)
    fig.add_shape(type="rect", x0=c0 - 0.5, x1=c1 - 0.5, y0=r0 - 0.5, y1=r1 - 0.5, line=dict(color="white", width=2.5))
    return fig


# ---- Spec against graph objects ----------------------------------------------------------------

def as_sent(figure_json: dict) -> dict:
    """Plotly JSON as the browser receives it: graph objects keep a list of strings (marker symbols) as a
    numpy array, which goes as a list."""
    return json.loads(plotly.io.to_json(figure_json, validate=False))


def assert_same_as_sent(fast, reference: go.Figure) -> None:
    """assert_same_figure, for figures with lists of strings."""
    want = as_sent(reference.to_plotly_json())
    got = fast.to_plotly_json()
    assert differences(as_sent(got), {**want, "layout": {k: v for k, v in want["layout"].items() if k != "template"}}) == []
    assert differences(as_sent(fast.figure().to_plotly_json()), want) == []
    assert len(json.dumps(got)) <= len(plotly.io.to_json({**want, "layout": {
        k: v for k, v in want["layout"].items() if k != "template"}}, validate=False))

def taps_of(rates: tuple[int, ...], pixel: tuple[int, int], grid: tuple[int, int]):
    """ASPP's taps written out: the 1x1 reads the pixel, a 3x3 of rate r the 9 cells r apart (inside or not)."""
    row, col = pixel
    taps = [("1x1", np.array([[row, col]]))]
    for rate in rates:
        taps.append((f"3x3, rate {rate}", np.array([[row + dr * rate, col + dc * rate]
                                                     for dr in (-1, 0, 1) for dc in (-1, 0, 1)])))
    return [(name, cells, (cells[:, 0] >= 0) & (cells[:, 0] < grid[0]) & (cells[:, 1] >= 0) & (cells[:, 1] < grid[1]))
            for name, cells in taps]


@pytest.mark.parametrize("grid, pixel, rates", [((60, 80), (30, 40), (12, 24, 36)), ((60, 80), (2, 77), (12, 24, 36)),
                                                ((20, 30), (0, 0), (6,))])
def test_sampling_spec_is_the_validated_figure(grid, pixel, rates, photo):
    taps = taps_of(rates, pixel, grid)
    assert any(not inside.all() for _, _, inside in taps)  # crosses outside the map are drawn too
    title = f"ASPP, pixel ({pixel[0]}, {pixel[1]}): the cells each branch reads"
    want = reference_sampling(photo, grid, pixel, taps, title, height=360)
    assert_same_as_sent(sampling_spec(photo, grid, pixel, taps, title, height=360), want)
    assert differences(as_sent(sampling_figure(photo, grid, pixel, taps, title, height=360).to_plotly_json()),
                       as_sent(want.to_plotly_json())) == []
    narrowed = narrow_spec(sampling_spec(photo, grid, pixel, taps, title, height=360))
    assert_same_as_sent(narrowed, narrow(reference_sampling(photo, grid, pixel, taps, title, height=360)))


def pyramid_bounds(size: int, parts: int) -> list[tuple[int, int]]:
    step = size // parts
    return [(i * step, size if i == parts - 1 else (i + 1) * step) for i in range(parts)]


@pytest.mark.parametrize("parts, pixel, scale, with_photo", [(1, (29, 43), Scale("log"), True),
                                                              (3, (29, 43), Scale("log"), False),
                                                              (6, (59, 0), Scale(), True),
                                                              (2, (0, 79), Scale("percentile", 1.0, 99.0), False)])
def test_partition_spec_is_the_validated_figure(parts, pixel, scale, with_photo, photo):
    values = relation_maps(3, (60, 80))[1]
    bounds = (pyramid_bounds(60, parts), pyramid_bounds(80, parts))
    options = dict(image=photo if with_photo else None, opacity=0.7, height=320)
    title = f"Pyramid-OC {parts}x{parts}, pixel ({pixel[0]}, {pixel[1]})"
    want = reference_partition(values, title, bounds, pixel, scale, **options)
    assert_same_figure(partition_spec(values, title, bounds, pixel, scale, **options), want)
    assert len(want.layout.shapes) == 2 * (parts - 1) + 1  # the partitions' lines and the pixel's frame
    assert differences(partition_figure(values, title, bounds, pixel, scale, **options).to_plotly_json(),
                       want.to_plotly_json()) == []


def test_narrow_spec_is_narrow_of_the_validated_figure(photo):
    """Maps and bars in a row of three: the title wrapped for the narrow column, the top margin and height
    grown with it, the width kept for large type."""
    values = relation_maps(4, (60, 80))[2]
    title = "Non-local, pixel (30, 40): softmax_j(theta_i . phi_j), a long title that wraps in a column"
    options = dict(image=photo, opacity=0.7, value_name="a_ij", pixel=(30, 40), clickable=True, height=360)
    for scale in (Scale("log"), Scale()):
        want = narrow(map_figure(values, title, scale, **options))
        assert want.layout.meta["title_width"] == NARROW and want.layout.height > 360  # the test has something to see
        assert_same_figure(narrow_spec(map_spec(values, title, scale, **options)), want)
    w = values[:, 30, 40] if values.ndim == 3 else relation_maps(11, (6, 8))[:, 3, 4]
    classes, palette = [f"class {k}" for k in range(len(w))], [(20 * k, 10 * k, 200 - 9 * k) for k in range(len(w))]
    bars = dict(value_name="w_ik", reference=1 / len(w), reference_name="1/K", height=360)
    assert_same_figure(narrow_spec(class_bars_spec(w, classes, palette, "OCR, pixel (30, 40): w_i, the relation",
                                                   "Eq. 5; sums to 1", **bars)),
                       narrow(class_bars(w, classes, palette, "OCR, pixel (30, 40): w_i, the relation",
                                         "Eq. 5; sums to 1", **bars)))


def test_predictions_spec_puts_each_heads_labels_over_the_photo_in_a_panel_of_its_own(photo):
    """One figure for the heads' predictions: panel n shows prediction n blended over the photo (the blend
    written out here: (1 - opacity) photo + opacity colour), under its title and caption, panels side by
    side without overlapping, each keeping the photo's aspect with row 0 at the top."""
    import base64
    import io

    from PIL import Image

    from ocr_viz.figures.compare import predictions_spec

    h, w = photo.shape[:2]
    rows, cols = np.mgrid[0:h, 0:w]
    predictions = [(cols * 4 // w), (rows * 3 // h), ((rows // 60 + cols // 80) % 5)]
    palette = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48)]
    spec = predictions_spec(photo, predictions, ["FCN", "ASPP", "OCR"], ["mIoU 50.0%", "", "mIoU 61.0%"], palette,
                            "each head's prediction", opacity=0.6, columns=2)
    assert [t["type"] for t in spec.data] == ["image"] * 3
    assert [(t["xaxis"], t["yaxis"]) for t in spec.data] == [("x", "y"), ("x2", "y2"), ("x3", "y3")]
    for trace, labels in zip(spec.data, predictions):
        drawn = np.asarray(Image.open(io.BytesIO(base64.b64decode(trace["source"].split(",", 1)[1]))), float)
        want = 0.4 * photo + 0.6 * np.asarray(palette, float)[labels]
        assert np.abs(drawn - want).mean() < 3  # JPEG's loss; another prediction's blend is tens of levels off
        assert min(np.abs(drawn - (0.4 * photo + 0.6 * np.asarray(palette, float)[other])).mean()
                   for other in predictions if other is not labels) > 10
    layout = spec.layout
    assert [a["text"] for a in layout["annotations"]] == ["FCN<br><sup>mIoU 50.0%</sup>", "ASPP",
                                                           "OCR<br><sup>mIoU 61.0%</sup>"]
    boxes = [(layout[f"xaxis{n}"]["domain"], layout[f"yaxis{n}"]["domain"]) for n in ("", "2", "3")]
    (x1, y1), (x2, y2), (x3, y3) = boxes
    assert y1 == y2 and x1 == x3 and x1[1] < x2[0] and y3[1] < y1[0]  # two a row, the third under the first
    assert all(0 <= lo < hi <= 1 for box in boxes for lo, hi in box)
    for n, annotation in zip(("", "2", "3"), layout["annotations"]):
        assert layout[f"yaxis{n}"]["scaleanchor"] == f"x{n}" and layout[f"yaxis{n}"]["range"] == [h - 0.5, -0.5]
        assert (annotation["x"], annotation["y"]) == (layout[f"xaxis{n}"]["domain"][0], layout[f"yaxis{n}"]["domain"][1])
    spec.figure()  # plotly accepts every property


# ---- the page -----------------------------------------------------------------------------------

GROUP_KEY = "compare.heads"


@pytest.fixture(scope="module")
def compare_page():
    from app_helpers import open_page, start

    at = start()
    at.default_timeout = 600  # this run may compute the seven-head comparison: over 120 s on a loaded machine
    return open_page(at, "compare")


def titles(at) -> list[str]:
    from app_helpers import figure_titles

    return [t.split("<br>")[0] for t in figure_titles(at)]


def figure(at, title_start: str) -> dict:
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        if plain(spec["layout"].get("title", {}).get("text", "")).startswith(title_start):
            return spec
    raise AssertionError(f"no figure titled {title_start!r}")


def heatmap_z(spec: dict) -> np.ndarray:
    z = next(t["z"] for t in spec["data"] if t["type"] == "heatmap")
    return decoded(z) if isinstance(z, dict) else np.array(z, float)


def cached_comparison(at):
    """The comparison the page drew from: the server's cached result for this image (computed once)."""
    from ocr_viz.app import model_choice, session

    key, compute = model_choice.comparison_job(at.session_state[session.CURRENT].arrays.image)
    return model_choice.QUEUE.run("comparison", key, compute, lambda wait: None)


def test_the_first_view_sends_the_attention_group_only():
    """Predictions, the disagreement map and the attention maps with OCR's w_i; no ASPP or OCNet figure
    is built until asked for. The maps' values are the comparison's."""
    from app_helpers import chosen_pixel, open_page, problems, start

    from ocr_viz.analysis import compare

    at = open_page(start(), "compare")  # a session of its own: the first view
    assert problems(at) == [] and at.session_state[GROUP_KEY] == "attention"
    row, col = chosen_pixel(at)
    shown = titles(at)
    assert [t for t in shown if t.startswith(("ASPP,", "ASP-OC,", "Pyramid-OC "))] == []
    per_pixel = [t for t in shown if f"pixel ({row}, {col})" in t]
    assert [t.split(",")[0] for t in per_pixel] == ["Non-local", "base-OC", "OCR", "OCR"]
    # one figure of every head's prediction (it was seven), the disagreement map, 4 per-pixel figures, the truth
    assert [t.split("<br>")[0] for t in prediction_panels(at)] == [compare.TITLES[h] for h in compare.HEADS]
    assert shown[:2] == ["each head's prediction (argmax), over the image", "distinct labels per pixel: click one"]
    assert len(at.get("plotly_chart")) == 1 + 1 + 4 + 1
    at.radio(key="scale.compare.attention").set_value("linear").run()  # colours are the values
    runs = cached_comparison(at).runs
    np.testing.assert_allclose(heatmap_z(figure(at, f"Non-local, pixel ({row}, {col})")),
                               compare.attention_map(runs["nonlocal"], (row, col)), rtol=1e-6)
    np.testing.assert_allclose(heatmap_z(figure(at, f"OCR, pixel ({row}, {col}): sum_k")),
                               compare.ocr_pixel_attention(runs["ocr"].arrays, (row, col)), rtol=1e-6)
    bars = figure(at, f"OCR, pixel ({row}, {col}): w_i")
    np.testing.assert_allclose(decoded(bars["data"][0]["x"]), compare.ocr_relation(runs["ocr"].arrays, (row, col)),
                               rtol=1e-6)


def test_choosing_ocnet_shows_pyramid_levels_and_asp_oc_with_the_comparisons_values(compare_page):
    """Pyramid-OC's four maps are compare.pyramid_attention's values inside the pixel's partition (undrawn
    outside); ASP-OC's branch shares are compare.aspp_contributions; the attention group is gone; a new
    pixel keeps the group."""
    from app_helpers import problems

    from ocr_viz.analysis import compare
    from ocr_viz.app import session

    at = compare_page
    at.segmented_control(key=GROUP_KEY).set_value("ocnet").run()
    at.radio(key="scale.compare.attention").set_value("linear").run()
    at.number_input(key="widget." + session.ROW).set_value(21).run()
    at.number_input(key="widget." + session.COL).set_value(50).run()
    assert problems(at) == [] and at.session_state[GROUP_KEY] == "ocnet"
    shown = titles(at)
    assert not [t for t in shown if t.startswith(("Non-local,", "base-OC,", "OCR,", "ASPP,"))]
    runs = cached_comparison(at).runs
    levels = compare.pyramid_attention(runs["pyramid_oc"], (21, 50))
    assert [f"Pyramid-OC {lv.s}x{lv.s}, pixel (21, 50)" for lv in levels] == \
        [t for t in shown if t.startswith("Pyramid-OC ")]
    for lv in levels:
        z = heatmap_z(figure(at, f"Pyramid-OC {lv.s}x{lv.s}, pixel (21, 50)")).copy()
        (r0, r1), (c0, c1) = lv.own
        assert r0 <= 21 < r1 and c0 <= 50 < c1
        np.testing.assert_allclose(z[r0:r1, c0:c1], lv.values[r0:r1, c0:c1], rtol=1e-6)
        z[r0:r1, c0:c1] = np.nan
        assert np.isnan(z).all()  # nothing drawn outside the pixel's partition
    shares = figure(at, "ASP-OC, pixel (21, 50): each branch's share")
    np.testing.assert_allclose(decoded(shares["data"][0]["x"]), compare.aspp_contributions(runs["asp_oc"], (21, 50)),
                               rtol=1e-6)
    assert "ASP-OC, pixel (21, 50): the cells its convolutions read" in shown


def test_choosing_aspp_shows_its_taps_and_shares_and_the_choice_outlives_a_page_change(compare_page):
    from app_helpers import chosen_pixel, open_page, problems

    from ocr_viz.analysis import compare

    at = compare_page
    at.segmented_control(key=GROUP_KEY).set_value("aspp").run()
    assert problems(at) == []
    row, col = chosen_pixel(at)
    runs = cached_comparison(at).runs
    shown = titles(at)
    assert [t for t in shown if f"pixel ({row}, {col})" in t] == [
        f"ASPP, pixel ({row}, {col}): the cells each branch reads", f"ASPP, pixel ({row}, {col}): each branch's share"]
    taps = figure(at, f"ASPP, pixel ({row}, {col}): the cells each branch reads")
    want = compare.aspp_taps(runs["aspp"].rates, (row, col), runs["aspp"].arrays.grid)
    drawn = [t for t in taps["data"] if t["type"] == "scatter" and t.get("name", "").endswith("inside")]
    assert len(drawn) == len(want)
    for trace, tap in zip(drawn, want):
        assert np.array_equal(np.stack([decoded(trace["y"]), decoded(trace["x"])], 1), tap.cells)
    shares = figure(at, f"ASPP, pixel ({row}, {col}): each branch's share")
    np.testing.assert_allclose(decoded(shares["data"][0]["x"]), compare.aspp_contributions(runs["aspp"], (row, col)),
                               rtol=1e-6)
    open_page(at, "relation")
    open_page(at, "compare")
    assert problems(at) == [] and at.session_state[GROUP_KEY] == "aspp"
    assert any(t.startswith("ASPP, pixel") for t in titles(at))


def test_in_large_type_the_prediction_panels_titles_grow(compare_page):
    from app_helpers import problems

    from ocr_viz.app import session

    at = compare_page
    at.toggle(key="widget." + session.LARGE_TYPE).set_value(True).run()
    try:
        assert problems(at) == []
        spec = figure(at, "each head's prediction")
        assert {a["font"]["size"] for a in spec["layout"]["annotations"]} == {20}
        assert len(spec["layout"]["images"]) == len(spec["layout"]["annotations"])  # each photo once, as a media URL
    finally:
        at.toggle(key="widget." + session.LARGE_TYPE).set_value(False).run()


def measure(reruns: int = 7) -> None:
    """What the first view costs the server, not a test (no timing in assertions): the charts and plotly JSON
    it sends, and the script's CPU seconds per rerun with the comparison cached (AppTest; the script runs
    in this process, so process_time counts it). `PYTHONPATH=. python tests/test_compare_page.py [RERUNS]`."""
    import statistics
    import time

    from app_helpers import open_page, problems, start

    at = open_page(start(), "compare")
    assert problems(at) == []
    charts = at.get("plotly_chart")
    print(f"first view: {len(charts)} charts, {sum(len(c.proto.spec) for c in charts) / 1e3:.0f} kB of plotly JSON "
          "(photos travel separately, as media files)")
    seconds = []
    for _ in range(reruns):
        start_cpu = time.process_time()
        at.run()
        seconds.append(time.process_time() - start_cpu)
    print(f"script CPU per rerun, comparison cached: median {statistics.median(seconds):.3f} s "
          f"(min {min(seconds):.3f}, max {max(seconds):.3f}, {reruns} reruns)")


if __name__ == "__main__":
    import sys

    measure(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
