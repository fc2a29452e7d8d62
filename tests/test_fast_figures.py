"""The click path's figures built as plotly JSON without graph-object validation (map_spec,
class_bars_spec) send the browser exactly what plotly's validated graph objects send for the same
inputs. The expectation is a second implementation: the graph-object builders as they were before
the fast path (ocr_viz/figures at commit ae88116), kept here word for word in their calls to plotly,
so a changed title, colour scale, marker or axis in the fast path fails these tests."""
from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import plotly.io
import pytest
from PIL import Image

from ocr_viz.figures import Scale, class_bars, map_figure
from ocr_viz.figures.charts import BAR_PX, OTHERS_COLOUR, TOP, axis_range, class_bars_spec, rgb, shown_classes
from ocr_viz.figures.maps import CLICK_LAYER, COLORBAR, MAP_AXES, MARGIN, data_uri, edge_free_ticks, map_spec
from ocr_viz.figures.scales import apply
from ocr_viz.figures.spec import Spec, typed_array
from ocr_viz.figures.titles import title_room, titled

PHOTO = Path(__file__).resolve().parent.parent / "assets" / "samples" / "camvid" / "0001TP_008550.jpg"


# ---- the reference: plotly graph objects, validated on every call -------------------------------

def reference_map(values, title, scale=Scale(), *, image=None, opacity=1.0, colours="Viridis", value_name="value",
                  pixel=None, clickable=False, limits=None, height=420) -> go.Figure:
    scaled = apply(values, scale, limits)
    grid = values.shape
    fig = go.Figure()
    if image is not None:
        dy, dx = grid[0] / image.shape[0], grid[1] / image.shape[1]
        fig.add_trace(go.Image(source=data_uri(image), x0=dx / 2 - 0.5, y0=dy / 2 - 0.5, dx=dx, dy=dy,
                               hoverinfo="skip"))
    coloured_by_value = scaled.values is values or np.array_equal(scaled.values, values)
    fig.add_trace(go.Heatmap(
        z=scaled.values.astype(np.float32), zmin=scaled.zmin, zmax=scaled.zmax, colorscale=colours, opacity=opacity,
        customdata=None if coloured_by_value or clickable else values.astype(np.float32),
        colorbar=dict(COLORBAR, title=scaled.colorbar_title),
        hoverinfo="skip" if clickable else None,
        hovertemplate=None if clickable else
        f"row %{{y}}, col %{{x}}<br>{value_name} = %{{{'z' if coloured_by_value else 'customdata'}:.4g}}<extra></extra>",
    ))
    if clickable:
        rows, cols = (a.astype(np.min_scalar_type(-max(grid))) for a in np.mgrid[0 : grid[0], 0 : grid[1]])
        fig.add_trace(go.Scatter(
            x=cols.ravel(), y=rows.ravel(), mode="markers", name=CLICK_LAYER,
            customdata=values.ravel().astype(np.float32), marker=dict(size=6, color="rgba(0,0,0,0)"),
            showlegend=False,
            hovertemplate=f"pixel i = (row %{{y}}, col %{{x}})<br>{value_name} = %{{customdata:.4g}}"
                          "<extra>click to choose</extra>",
            selected=dict(marker=dict(opacity=0)), unselected=dict(marker=dict(opacity=0))))
    if pixel is not None:
        fig.add_trace(go.Scatter(
            x=[pixel[1]], y=[pixel[0]], mode="markers", name=f"pixel (row {pixel[0]}, col {pixel[1]})",
            showlegend=False, marker=dict(symbol="circle-open", size=16, color="white",
                                          line=dict(width=3, color="white")),
            hoverinfo="skip", unselected=dict(marker=dict(opacity=1))))
    heading = titled(title, scaled.caption, above=12)
    fig.update_layout(title=heading, height=height, margin=dict(MARGIN, t=max(MARGIN["t"], title_room(heading))),
                      hovermode="closest", dragmode="pan", clickmode="event+select")
    fig.update_xaxes(range=[-0.5, grid[1] - 0.5], showgrid=False, zeroline=False, constrain="domain",
                     constraintoward="right", title=dict(text=MAP_AXES[0], standoff=10), automargin=False,
                     tickvals=edge_free_ticks(grid[1]))
    fig.update_yaxes(range=[grid[0] - 0.5, -0.5], showgrid=False, zeroline=False, scaleanchor="x", constrain="domain",
                     title=dict(text=MAP_AXES[1], standoff=4), automargin=False, tickvals=edge_free_ticks(grid[0], 3))
    return fig


def reference_bars(values, classes, palette, title, caption="", *, value_name="value", reference=None,
                   reference_name="", highlight=None, percent=False, zoom=False, top=TOP, value_range=None,
                   height=380) -> go.Figure:
    values = np.asarray(values, dtype=np.float64)
    shown, rest = shown_classes(values, top, highlight)
    number = (lambda v: f"{v:.1%}") if percent else (lambda v: f"{v:.4g}")
    names = [classes[k] for k in shown]
    fig = go.Figure(go.Bar(
        x=values[shown], y=names, orientation="h", cliponaxis=True,
        marker=dict(color=[rgb(palette[k]) for k in shown],
                    line=dict(width=[3 if k == highlight else 0 for k in shown], color="black")),
        hovertemplate=f"%{{y}}<br>{value_name} = %{{x:.4g}}<extra></extra>", showlegend=False))
    labels, notes = [number(v) for v in values[shown]], []
    if len(rest):
        other, total = f"the other {len(rest)} (sum)", float(values[rest].sum())
        fig.add_trace(go.Bar(x=[total], y=[other], orientation="h", cliponaxis=True, showlegend=False,
                             marker=dict(color=OTHERS_COLOUR, pattern=dict(shape="/")),
                             hovertemplate=f"the other {len(rest)} classes together<br>{value_name} = %{{x:.4g}}"
                                           "<extra></extra>"))
        names, labels = names + [other], labels + [number(total)]
        chosen = " and the chosen one" if len(shown) > top else ""
        notes.append(f"the {top} largest of {len(values)}{chosen}; the other {len(rest)} summed in grey")
    notes_right = [dict(x=1.0, xref="paper", xanchor="left", xshift=6, y=name, yref="y", text=label, showarrow=False,
                        font=dict(size=11)) for name, label in zip(names, labels)]
    if reference is not None:
        fig.add_vline(x=reference, line_dash="dash", line_color="grey")
        notes_right.append(dict(x=reference, xref="x", y=1.0, yref="paper", yanchor="bottom", showarrow=False,
                                text=f"{reference_name} = {reference:.3g}" if reference_name else f"{reference:.3g}",
                                font=dict(size=11, color="grey")))
    fig.update_layout(annotations=notes_right)
    window, axis, broken = axis_range(values[shown] if reference is None else np.append(values[shown], reference), zoom)
    if value_range is not None:
        window, axis = list(value_range), f"axis: fixed, {value_range[0]:.3g} to {value_range[1]:.3g}"
        broken = value_range[0] > 0 or value_range[1] < 0
    if broken:
        zigzag = "M 0.035,1 " + " ".join(f"L {0.035 + (0.012 if i % 2 else -0.012):.3f},{1 - (i + 1) / 24:.4f}"
                                          for i in range(24))
        fig.add_shape(type="path", path=zigzag, xref="x domain", yref="y domain", line=dict(color="white", width=3),
                      layer="above")
        fig.add_annotation(x=0.035, y=0, xref="x domain", yref="y domain", text="//", showarrow=False,
                           font=dict(size=14, color="black"), bgcolor="white", borderpad=0, name="axis break")
    fig.update_xaxes(range=window, title=value_name, tickformat=".0%" if percent and not broken else
                     (".2%" if percent else None))
    caption = "; ".join([c for c in ((axis,) if broken else ()) + (caption, *notes) + (() if broken else (axis,)) if c])
    heading = titled(title, caption, above=20)
    fig.update_layout(title=heading, margin=dict(l=10, r=70, b=45, t=title_room(heading)))
    fig.update_layout(height=max(height, fig.layout.margin.t + fig.layout.margin.b + BAR_PX * len(names)),
                      bargap=0.25, barmode="overlay")
    fig.update_yaxes(autorange="reversed", automargin=True, tickmode="array", tickvals=list(names),
                     ticktext=list(names))
    return fig


# ---- comparing plotly JSON ----------------------------------------------------------------------

def decoded(value) -> np.ndarray | None:
    """A plotly typed array ({"dtype", "bdata"[, "shape"]}) as numpy, else None."""
    if not (isinstance(value, dict) and {"dtype", "bdata"} <= value.keys()):
        return None
    array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
    return array.reshape([int(n) for n in value["shape"].split(",")]) if "shape" in value else array


def differences(got, want, where: str = "") -> list[str]:
    """Where two plotly JSON trees differ: keys, lengths, strings and types exactly; floats to 1e-12 of
    their size (the same arithmetic either way, so only rounding could differ); typed arrays by dtype,
    shape and values."""
    got_array, want_array = decoded(got), decoded(want)
    if want_array is not None or got_array is not None:
        if got_array is None or want_array is None:
            return [f"{where}: {type(got).__name__} vs {type(want).__name__}"]
        same = (got_array.dtype == want_array.dtype and got_array.shape == want_array.shape
                and np.allclose(got_array, want_array, rtol=1e-12, atol=0, equal_nan=True))
        return [] if same else [f"{where}: arrays differ"]
    if isinstance(want, dict) and isinstance(got, dict):
        found = [f"{where}.{key}: only one has it" for key in sorted(got.keys() ^ want.keys())]
        return found + [d for key in want.keys() & got.keys() for d in differences(got[key], want[key], f"{where}.{key}")]
    if isinstance(want, (list, tuple)) and isinstance(got, (list, tuple)):
        if len(got) != len(want):
            return [f"{where}: {len(got)} items vs {len(want)}"]
        return [d for index, (g, w) in enumerate(zip(got, want)) for d in differences(g, w, f"{where}[{index}]")]
    if isinstance(want, bool) or isinstance(got, bool) or isinstance(want, str) or isinstance(got, str):
        return [] if type(got) is type(want) and got == want else [f"{where}: {got!r} vs {want!r}"]
    if isinstance(want, (int, float)) and isinstance(got, (int, float)):
        return [] if math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-15) else [f"{where}: {got!r} vs {want!r}"]
    return [] if got == want else [f"{where}: {got!r} vs {want!r}"]


def without_template(spec: dict) -> dict:
    return {**spec, "layout": {k: v for k, v in spec["layout"].items() if k != "template"}}


def assert_same_figure(fast: Spec, reference: go.Figure) -> None:
    """The fast JSON is the reference's (less the template, which the browser's theme replaces), its
    validated figure is the reference's with the template, and neither's JSON is longer."""
    want = reference.to_plotly_json()
    got = fast.to_plotly_json()
    assert "template" not in got["layout"]
    assert differences(got, without_template(want)) == []
    assert differences(fast.figure().to_plotly_json(), want) == []
    assert len(plotly.io.to_json(got, validate=False)) <= len(plotly.io.to_json(without_template(want), validate=False))


# ---- inputs ---------------------------------------------------------------------------------------

def relation_maps(k: int, grid: tuple[int, int], seed: int = 0) -> np.ndarray:
    """(k, h, w) softmax over k regions of smooth random scores: a relation w as a trained model's."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0 : grid[0], 0 : grid[1]]
    centres = rng.uniform(0, 1, size=(k, 2)) * grid
    scores = -((rows - centres[:, :1, None]) ** 2 + (cols - centres[:, 1:, None]) ** 2) / (0.1 * max(grid) ** 2)
    scores += rng.normal(scale=0.3, size=scores.shape)
    e = np.exp(scores - scores.max(0))
    return (e / e.sum(0)).astype(np.float32)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    image = np.asarray(Image.open(PHOTO).convert("RGB"))
    image.flags.writeable = False  # as the app holds it (encoded once)
    return image


MAP_CASES = [  # grid, scale, clickable, pixel, with the photo, limits
    ((60, 80), Scale("percentile", 1.0, 99.0), True, (17, 33), True, None),  # the relation page's click
    ((60, 80), Scale("log"), False, None, False, None),
    ((45, 61), Scale(), True, (0, 60), False, None),
    ((3, 4), Scale("log"), True, None, True, None),
    ((128, 256), Scale("percentile", 5.0, 95.0), False, (127, 0), False, None),
    ((33, 20), Scale("log"), False, None, False, (1e-3, 0.5)),
]


@pytest.mark.parametrize("grid, scale, clickable, pixel, with_photo, limits", MAP_CASES)
def test_map_spec_is_the_validated_map(grid, scale, clickable, pixel, with_photo, limits, photo):
    values = relation_maps(5, grid)[2]
    options = dict(image=photo if with_photo else None, opacity=0.65, value_name="w_ik", pixel=pixel,
                   clickable=clickable, limits=limits)
    title = f"w_ik for region k = Road: click a pixel ({grid[0]} x {grid[1]})"
    assert_same_figure(map_spec(values, title, scale, **options), reference_map(values, title, scale, **options))
    assert differences(map_figure(values, title, scale, **options).to_plotly_json(),
                       reference_map(values, title, scale, **options).to_plotly_json()) == []


def test_map_spec_of_logits_and_other_colours():
    kappa = np.random.default_rng(3).normal(size=(20, 30)) * 4  # negative: log falls back to percentiles
    for scale in (Scale("log"), Scale()):
        fast = map_spec(kappa, "kappa for region k = Sky", scale, colours="RdBu", value_name="kappa")
        assert_same_figure(fast, reference_map(kappa, "kappa for region k = Sky", scale, colours="RdBu",
                                               value_name="kappa"))


def palette_of(k: int) -> list[tuple[int, int, int]]:
    return [(37 * i % 256, 91 * i % 256, 53 * i % 256) for i in range(k)]


BAR_CASES = [  # K, zoom, percent, highlight, reference, value_range
    (11, False, False, 3, True, None),  # the relation page's w_i (CamVid)
    (11, True, False, 3, False, None),
    (19, False, False, 18, True, None),  # Cityscapes
    (19, True, True, 0, False, None),
    (20, False, True, None, True, (0.0, 1.0)),
    (21, False, False, 20, True, None),  # the first K with a grey bar for the rest
    (59, True, False, 58, False, None),
    (150, False, False, 149, True, None),  # ADE20K, the highlighted class not among the 15 largest
    (171, False, False, 0, True, (0.001, 0.2)),  # COCO-Stuff, a fixed range that leaves 0 out
]


@pytest.mark.parametrize("k, zoom, percent, highlight, reference, value_range", BAR_CASES)
def test_class_bars_spec_is_the_validated_chart(k, zoom, percent, highlight, reference, value_range):
    w = relation_maps(k, (6, 8), seed=k)[:, 4, 5].astype(np.float64)
    if highlight is not None and k > 20:
        w[highlight] = w.min() / 2  # the chosen class among the smallest: shown in addition to the 15
    classes = [f"class {i}" for i in range(k)]
    options = dict(value_name="w_ik", highlight=highlight, zoom=zoom, percent=percent, value_range=value_range,
                   reference=1 / k if reference else None, reference_name="1/K" if reference else "")
    title, caption = "w_i for pixel i = 365 (row 4, col 45)", f"sums to 1; entropy {math.log(k):.4f}"
    fast = class_bars_spec(w, classes, palette_of(k), title, caption, **options)
    want = reference_bars(w, classes, palette_of(k), title, caption, **options)
    assert_same_figure(fast, want)
    assert differences(class_bars(w, classes, palette_of(k), title, caption, **options).to_plotly_json(),
                       want.to_plotly_json()) == []


def test_class_bars_spec_of_logits():
    kappa = np.random.default_rng(5).normal(size=19) * 3  # both signs: an axis through 0
    for zoom in (False, True):
        fast = class_bars_spec(kappa, [f"c{i}" for i in range(19)], palette_of(19), "kappa", "logits",
                               value_name="kappa", highlight=4, zoom=zoom)
        assert_same_figure(fast, reference_bars(kappa, [f"c{i}" for i in range(19)], palette_of(19), "kappa",
                                                "logits", value_name="kappa", highlight=4, zoom=zoom))
        negative = -np.abs(kappa)
        assert_same_figure(class_bars_spec(negative, [f"c{i}" for i in range(19)], palette_of(19), "k", zoom=zoom),
                           reference_bars(negative, [f"c{i}" for i in range(19)], palette_of(19), "k", zoom=zoom))


def test_the_comparison_sees_a_changed_title_colour_scale_marker_and_array(photo):
    """The checks above could pass by comparing nothing: each of these one-property changes is found."""
    values = relation_maps(4, (12, 16))[1]
    options = dict(image=photo, pixel=(3, 4), clickable=True)
    want = without_template(reference_map(values, "w map", **options).to_plotly_json())
    changes = {
        "title": lambda s: s["layout"]["title"].update(text=s["layout"]["title"]["text"] + "!"),
        "colour scale": lambda s: s["data"][1].update(colorscale=s["data"][1]["colorscale"][::-1]),
        "marker": lambda s: s["data"][3]["marker"].update(size=15),
        "z": lambda s: s["data"][1].update(z=dict(s["data"][1]["z"], bdata=base64.b64encode(
            (decoded(s["data"][1]["z"]) * np.float32(1 + 1e-6)).tobytes()).decode())),
        "a tick": lambda s: s["layout"]["xaxis"]["tickvals"].pop(),
    }
    for name, change in changes.items():
        got = map_spec(values, "w map", **options).to_plotly_json()
        change(got)
        assert differences(got, want), name


def test_each_call_gets_its_own_json():
    """A receiver changes what it gets (transport.served swaps the click layer's type, adds images to the
    layout): the next call must not see that."""
    spec = map_spec(relation_maps(3, (5, 7))[0], "t", clickable=True, pixel=(1, 1))
    first = spec.to_plotly_json()
    first["data"][1]["type"] = "scattergl"
    first["layout"]["xaxis"]["range"].append(9)
    first["layout"].setdefault("images", []).append({"source": "x"})
    again = spec.to_plotly_json()
    assert again["data"][1]["type"] == "scatter" and len(again["layout"]["xaxis"]["range"]) == 2
    assert "images" not in again["layout"]
    json.dumps(again)  # plain JSON: arrays already typed, nothing left for an encoder


@pytest.mark.parametrize("array", [
    np.linspace(0, 1, 7, dtype=np.float32), np.linspace(-1, 1, 6).reshape(2, 3), np.arange(-3, 100, dtype=np.int8),
    np.arange(300), np.arange(5) - 70000, np.arange(4, dtype=np.uint8).reshape(2, 2), np.zeros(0)])
def test_typed_arrays_are_plotlys(array):
    """The fast path's own base64 encoding of arrays, against the one plotly's to_dict uses (int64 narrowed
    to the smallest integers that hold the values, a shape for 2-D arrays)."""
    from _plotly_utils.utils import to_typed_array_spec

    want = to_typed_array_spec(array)
    got = typed_array(array)
    if isinstance(want, np.ndarray):  # empty: plotly keeps the array, which goes as []
        assert got == want.tolist()
    else:
        assert got == want


def test_the_relation_page_sends_the_traced_map_and_bars_also_in_large_type():
    """The page's click figures (built as JSON) reach the browser as served figures: the w map is the
    trace's w_k (percentile colours are the values), the photo a layout image, the click layer WebGL, the
    pixel ringed, the bars the trace's w_i; in large type the same figures with larger text."""
    from app_helpers import grid, open_page, problems, start

    from ocr_viz.app import session

    at = start()
    open_page(at, "relation")
    at.number_input(key="widget." + session.ROW).set_value(5).run()
    at.number_input(key="widget." + session.COL).set_value(7).run()
    assert problems(at) == []
    arrays, k = at.session_state[session.CURRENT].arrays, int(at.session_state[session.CLASS])
    for large in (False, True):
        if large:
            at.toggle(key="widget." + session.LARGE_TYPE).set_value(True).run()
            assert problems(at) == []
        w_map, w_bars, kappa_bars = (json.loads(chart.proto.spec) for chart in at.get("plotly_chart")[:3])
        heatmap = next(t for t in w_map["data"] if t["type"] == "heatmap")
        assert np.array_equal(decoded(heatmap["z"]), arrays.w[k].astype(np.float32))
        assert {t["type"] for t in w_map["data"]} == {"heatmap", "scattergl", "scatter"}  # photo: a layout image
        assert len(w_map["layout"]["images"]) == 1 and w_map["layout"]["template"] == "none"
        ring = next(t for t in w_map["data"] if t.get("name", "").startswith("pixel ("))
        assert (ring["y"], ring["x"]) == ([5], [7]) and grid(at) == arrays.grid
        assert np.allclose(decoded(w_bars["data"][0]["x"]), arrays.w[:, 5, 7], rtol=1e-6)
        assert np.allclose(decoded(kappa_bars["data"][0]["x"]), arrays.kappa[:, 5, 7], rtol=1e-6)
        sizes = {spec["layout"]["title"]["font"]["size"] for spec in (w_map, w_bars, kappa_bars)}
        assert sizes == ({24} if large else {15})  # large type: 20 px text, titles 4 px larger


def test_the_relation_click_benchmark_sends_the_same_json_either_way():
    """`python -m ocr_viz.bench relation-click` times what the page sends: with and without graph objects
    the same figures (JSON of the same length for the same clicks), timed in CPU seconds."""
    from ocr_viz.cost import bench

    reports = [bench.run_relation_click(bench.with_defaults(bench.parser().parse_args(
        ["relation-click", "--repeats", "2", *flag]))) for flag in ([], ["--graph-objects"])]
    assert reports[0]["json_characters"] == reports[1]["json_characters"]
    assert reports[0]["json_characters"][0] > 4800 * 4  # the map's values travel: 4 bytes a cell, in base64
    assert all(r["cpu_seconds_median"] > 0 for r in reports)
