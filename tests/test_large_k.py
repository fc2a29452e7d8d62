"""Bar charts over K classes at the K of real datasets: every bar drawn and named up to K = 20 (CamVid 11,
Cityscapes 19), beyond (PASCAL-Context 59, ADE20K 150, COCO-Stuff 171) the 15 largest and one grey bar for
the sum of the other K - 15, every one of them named and its value written. Expected bars are found here
with Python's sorted() and sum(), apart from the figures' numpy."""
from __future__ import annotations

import math

import numpy as np
import pytest

from ocr_viz.figures import class_bars, large_type
from ocr_viz.figures.attention import term_bars
from ocr_viz.figures.relation_stats import argmax_share_bars

DATASET_K = (11, 19, 20, 21, 59, 150, 171)


def relation(k: int, seed: int = 0) -> list[float]:
    """A softmax over k random scores (sums to 1), with a spread like a trained relation's."""
    scores = np.random.default_rng(seed).normal(scale=2.0, size=k)
    e = [math.exp(s) for s in scores]
    return [v / sum(e) for v in e]


def names_of(k: int) -> list[str]:
    return [f"class {i}" for i in range(k)]


def palette_of(k: int) -> list[tuple[int, int, int]]:
    return [(37 * i % 256, 91 * i % 256, 53 * i % 256) for i in range(k)]


def expected_bars(values: list[float], classes: list[str], highlight: int | None = None) -> tuple[list[str], list[float]]:
    """What the chart must show: all in class order up to 20; else the 15 largest (and the highlighted
    class), largest first, then the other K - 15 summed."""
    if len(values) <= 20:
        return list(classes), list(values)
    top = sorted(range(len(values)), key=lambda i: -values[i])[:15]
    if highlight is not None and highlight not in top:
        top.append(highlight)
    rest = [i for i in range(len(values)) if i not in top]
    return ([classes[i] for i in top] + [f"the other {len(rest)} (sum)"],
            [values[i] for i in top] + [sum(values[i] for i in rest)])


def bars(fig) -> tuple[list[str], list[float]]:
    return [n for t in fig.data for n in t.y], [float(v) for t in fig.data for v in t.x]


def decoded(array) -> list:
    """A plotly JSON array: a list, or a typed array ({'dtype', 'bdata': base64})."""
    import base64

    if isinstance(array, dict):
        return list(np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]))
    return list(array)


def plot_px_per_bar(fig, count: int) -> float:
    return (fig.layout.height - fig.layout.margin.t - fig.layout.margin.b) / count


@pytest.mark.parametrize("k", DATASET_K)
def test_relation_bars_show_and_name_every_class_up_to_20_then_the_top_15_and_the_rest(k):
    w, classes = relation(k), names_of(k)
    fig = class_bars(np.array(w), classes, palette_of(k), "w_i", value_name="w_ik", reference=1 / k,
                     reference_name="1/K")
    names, values = bars(fig)
    want_names, want_values = expected_bars(w, classes)
    assert names == want_names
    np.testing.assert_allclose(values, want_values, rtol=1e-12)
    assert sum(values) == pytest.approx(1.0, abs=1e-12)  # the grey bar holds all the rest
    assert len(names) == (k if k <= 20 else 16)
    # every bar named on the class axis (plotly's automatic ticks named 8 of 16 bars at K = 19)
    assert list(fig.layout.yaxis.tickvals) == want_names and list(fig.layout.yaxis.ticktext) == want_names
    # and its value written beside it, in the right margin
    written = {a.y: a.text for a in fig.layout.annotations if a.xref == "paper"}
    assert written == {n: f"{v:.4g}" for n, v in zip(want_names, want_values)}
    # room for every name: at least 1.5 lines of its type per bar, in normal and in large type
    big = large_type(fig)
    assert plot_px_per_bar(fig, len(names)) >= 1.5 * 12
    assert plot_px_per_bar(big, len(names)) >= 1.5 * big.layout.yaxis.tickfont.size


@pytest.mark.parametrize("k", (150, 171))
def test_a_highlighted_class_outside_the_top_15_gets_its_own_bar(k):
    w, classes = relation(k, seed=3), names_of(k)
    weakest = min(range(k), key=lambda i: w[i])
    fig = class_bars(np.array(w), classes, palette_of(k), "w_i", highlight=weakest)
    names, values = bars(fig)
    want_names, want_values = expected_bars(w, classes, highlight=weakest)
    assert names == want_names and names[15] == classes[weakest] and names[-1] == f"the other {k - 16} (sum)"
    np.testing.assert_allclose(values, want_values, rtol=1e-12)
    assert list(fig.layout.yaxis.tickvals) == want_names


@pytest.mark.parametrize("k", (19, 150))
def test_the_share_of_cells_per_strongest_region_follows_the_same_rule(k):
    share, classes = relation(k, seed=5), names_of(k)
    fig = argmax_share_bars(classes, palette_of(k), np.array(share), "argmax_k w_ik")
    names, values = bars(fig)
    want_names, want_values = expected_bars(share, classes)
    assert names == want_names and list(fig.layout.yaxis.tickvals) == want_names
    np.testing.assert_allclose(values, want_values, rtol=1e-12)
    assert [t for t in fig.data[0].text] == [f"{v:.0%}" for v in want_values]


def test_the_worked_pixels_term_bars_name_every_term():
    sizes = relation(19, seed=7)
    fig = term_bars(np.array(sizes), names_of(19), palette_of(19), "Eq. 3's terms")
    names, values = bars(fig)
    order = sorted(range(19), key=lambda i: -sizes[i])
    assert names == [f"class {i}" for i in order] and values == [sizes[i] for i in order]
    assert list(fig.layout.yaxis.tickvals) == names
    assert plot_px_per_bar(fig, 19) >= 1.5 * 12


def test_the_app_draws_the_relation_bars_of_a_150_class_model_top_15_and_the_rest(tmp_path):
    """An uploaded model of 150 classes (ADE20K's K; tiny random head) on the relation page: its w_i bars
    are the 15 largest of the chosen pixel's w_i and the other 135 summed, every one named."""
    import json

    from app_helpers import open_page, problems, start
    from conftest import tiny_arch
    from ocr_viz.app import session
    from ocr_viz.model import build, checkpoints

    k = 150
    arch = tiny_arch() | {"num_classes": k}
    meta = {"name": "ade-like", "arch": arch, "trained": False, "classes": names_of(k),
            "palette": [list(c) for c in palette_of(k)]}
    checkpoints.save(build.build(arch).eval(), tmp_path / "ade.safetensors", meta)
    at = start()
    at.radio(key="widget." + session.MODEL).set_value(session.UPLOAD).run()
    at.file_uploader(key=session.UPLOADED_MODEL).upload("ade.safetensors", (tmp_path / "ade.safetensors").read_bytes()).run()
    open_page(at, "relation")
    assert problems(at) == []
    current = at.session_state[session.CURRENT]
    row, col = int(at.session_state[session.ROW]), int(at.session_state[session.COL])
    w = [float(v) for v in current.arrays.w[:, row, col]]
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    bar_charts = [s for s in specs if any(t.get("type") == "bar" for t in s["data"])
                  and s["layout"]["title"]["text"].startswith("w_i for pixel")]
    assert len(bar_charts) == 1, [s["layout"]["title"]["text"][:40] for s in specs]
    spec = bar_charts[0]
    names = [n for t in spec["data"] if t.get("type") == "bar" for n in t["y"]]
    values = [float(v) for t in spec["data"] if t.get("type") == "bar" for v in decoded(t["x"])]
    want_names, want_values = expected_bars(w, names_of(k), highlight=None)
    if names[15:16] != ["the other 135 (sum)"]:  # the chosen class k is drawn too when outside the top 15
        want_names, want_values = expected_bars(w, names_of(k), highlight=names_of(k).index(names[15]))
    assert names == want_names and len(names) in (16, 17)
    np.testing.assert_allclose(values, want_values, rtol=1e-5)  # float32 weights through JSON
    assert spec["layout"]["yaxis"]["tickvals"] == want_names
