"""One pixel worked through (issue 20, item 3): every number the worked example shows is the trace's,
or is recomputed with the head's own modules and leads back to the trace's. Library checks on tiny
models with structured maps; the pages and the lecture step with AppTest on the shipped model (the
converted HRNet-OCR release: tests/test_transformer_reading.py, which opens every new view on it)."""
import re

import numpy as np
import pytest
import torch
from app_helpers import figure_titles, latex, open_page, problems, start
from conftest import structured_ocr

from ocr_viz.analysis import interventions
from ocr_viz.model.arrays import head_trace
from ocr_viz.teaching import lecture, worked_pixel

SIZE = (64, 96)  # an 8 x 12 feature grid: rows and columns differ, so a transposed read shows
CELLS = [(0, 0), (2, 5), (7, 11), (5, 1)]


def structured(context_first: bool):
    """g reading [x; y] or, as the releases do, [y; x]."""
    return structured_ocr(SIZE, context_first=context_first)


@pytest.fixture(scope="module", params=[False, True], ids=["x-then-y", "y-then-x"])
def tiny(request):
    return structured(request.param)


def relative(a, b) -> float:
    """max |a - b| over max |b|: the error measured against the quantity's own size."""
    b = np.asarray(b, dtype=np.float64)
    return float(np.abs(np.asarray(a, dtype=np.float64) - b).max() / np.abs(b).max())


@pytest.mark.parametrize("cell", CELLS)
def test_eq5_written_out_is_the_traced_relation(tiny, cell):
    model, arrays = tiny
    w = worked_pixel.work(model.head, arrays, *cell)
    row, col = cell
    assert w.index == row * arrays.grid[1] + col
    np.testing.assert_array_equal(w.w, arrays.w[:, row, col])  # read at (row, col), not transposed
    assert abs(w.w.sum() - 1) < 1e-5
    # phi(x_i).psi(f_k) recomputed with the head's modules, scaled by 1/sqrt(d), is the recorded kappa
    assert w.scale == pytest.approx(model.head.phi[-1][0].out_channels ** -0.5)
    assert relative(w.dots * w.scale, arrays.kappa[:, row, col]) < 1e-5
    # the softmax written out: each term over the sum is the recorded w
    assert w.total == pytest.approx(w.terms.sum()) and w.shift == 0
    assert relative(w.terms / w.total, arrays.w[:, row, col]) < 1e-5
    assert (w.w.max() - w.w.min()) > 1e-3  # a pixel with structure: a swapped term would show


@pytest.mark.parametrize("cell", CELLS)
def test_the_terms_of_eq3_add_up_to_the_sum_inside_rho_and_give_y(tiny, cell):
    model, arrays = tiny
    w = worked_pixel.work(model.head, arrays, *cell)
    row, col = cell
    # the head's own Eq. 3 (every pixel at once, another code path) at this pixel
    inside = interventions.context_of(model.head, head_trace(arrays, model.head))[0, w.index].double().numpy()
    assert relative(w.parts.sum(0), inside) < 1e-5
    assert relative(w.context, inside) < 1e-5
    np.testing.assert_allclose(w.sizes, np.linalg.norm(w.parts, axis=1))
    # each term is w_ik times that region's value, and rho of the sum is the head's y_i (every pixel at
    # once), and the trace's half-precision copy to its rounding (float16: 11 significant bits)
    k = int(np.argmax(w.w))
    np.testing.assert_allclose(w.parts[k], w.w[k] * w.delta_f[k])
    assert relative(w.y_again, head_trace(arrays, model.head).y[0, :, row, col]) < 1e-5
    assert relative(w.y_again, arrays.y[:, row, col]) < 1e-3 and arrays.y.dtype == np.float16


@pytest.mark.parametrize("cell", CELLS)
def test_g_split_by_its_input_rebuilds_z(tiny, cell):
    """ReLU(BN(W_x x_i + W_y y_i + b)) is the head's z_i: the split follows g's concatenation order."""
    model, arrays = tiny
    w = worked_pixel.work(model.head, arrays, *cell)
    conv, bn = model.head.g[0][0], model.head.g[0][1]
    before = w.from_x + w.from_y + (conv.bias.detach().double().numpy() if conv.bias is not None else 0)
    with torch.no_grad():
        z = torch.relu(bn(torch.from_numpy(before).float()[None, :, None, None]))[0, :, 0, 0].numpy()
    assert relative(z, head_trace(arrays, model.head).z[0, :, cell[0], cell[1]]) < 1e-5
    assert relative(w.z, z) < 1e-5 and relative(z, arrays.z[:, cell[0], cell[1]]) < 1e-3
    assert np.linalg.norm(w.from_x) > 0 and np.linalg.norm(w.from_y) > 0


def test_the_classes_before_and_after_are_read_at_the_pixel(tiny):
    model, arrays = tiny
    labels = {(r, c): worked_pixel.work(model.head, arrays, r, c) for r, c in CELLS}
    for (row, col), w in labels.items():
        assert w.soft_class == int(np.argmax(arrays.M[:, row, col]))
        assert w.final_class == int(np.argmax(arrays.logits[:, row, col]))
    assert len({w.final_class for w in labels.values()}) > 1  # the cells differ, so a fixed index would show
    with pytest.raises(ValueError, match="outside"):
        worked_pixel.work(model.head, arrays, arrays.grid[0], 0)


def test_the_strongest_regions_and_the_rest():
    """By hand: five values, two shown, the other three summed; few values are all shown."""
    shown, rest = worked_pixel.top_and_rest(np.array([0.1, 0.5, 0.2, 0.05, 0.15]), top=2)
    assert list(shown) == [1, 2] and sorted(rest) == [0, 3, 4]
    shown, rest = worked_pixel.top_and_rest(np.array([0.3, 0.1, 0.6]), top=2)  # K = top + 1: nothing to sum
    assert list(shown) == [2, 0, 1] and len(rest) == 0


def hand_made(K: int) -> worked_pixel.WorkedPixel:
    """A pixel with K regions whose region values are one-hot: w_ik delta(f_k) is w_ik on axis k."""
    w = np.arange(1, K + 1, dtype=np.float64)[::-1].copy()
    w /= w.sum()
    kappa = np.log(w) + 2.0
    terms = np.exp(kappa)
    return worked_pixel.WorkedPixel(
        row=1, col=2, index=7, dots=kappa * 4, scale=0.25, kappa=kappa, terms=terms, total=float(terms.sum()),
        shift=0.0, w=w, delta_f=np.eye(K), y_again=np.zeros(3), x=np.array([3.0, 4.0, 0.0]),
        y=np.array([0.0, 0.0, 2.0]), z=np.ones(3), from_x=np.zeros(3), from_y=np.zeros(3),
        logits=np.arange(K, dtype=np.float64), soft=5 - np.arange(K, dtype=np.float64))


def test_the_table_of_a_large_K_shows_the_top_and_sums_the_rest():
    K, top = 20, 6
    w = hand_made(K)
    rows = worked_pixel.table(w, [f"class {k}" for k in range(K)], top=top)
    assert [r["region k"] for r in rows] == [f"class {k}" for k in range(top)] + ["the other 14", "sum over k"]
    rest = w.w[top:]
    assert rows[top]["w_ik"] == pytest.approx(rest.sum())
    # one-hot values: the rest's summed vector has length sqrt(sum of squares), not the sum of the lengths
    assert rows[top]["||w_ik delta(f_k)||"] == pytest.approx(np.sqrt((rest ** 2).sum()))
    assert rows[-1]["w_ik"] == pytest.approx(1.0) and rows[-1]["e^kappa_ik"] == pytest.approx(np.e ** 2)
    assert rows[0]["w_ik"] == pytest.approx(w.w[0]) and rows[0]["kappa_ik"] == pytest.approx(w.kappa[0])


def test_the_equations_carry_this_pixels_numbers():
    K = 20
    w = hand_made(K)
    classes = [f"c{k}" for k in range(K)]
    relation = "\n".join(worked_pixel.relation_equations(w, classes))
    assert r"\kappa_{7,\text{c0}}" in relation and worked_pixel.number(w.kappa[0]) in relation
    assert rf"= {worked_pixel.number(w.w[0])}" in relation and "16 more" in relation
    assert relation.rstrip().endswith("= 1.000000")
    context = "\n".join(worked_pixel.context_equations(w, classes))
    assert r"\lVert x_{7} \rVert = 5" in context and r"\lVert y_{7} \rVert = 2" in context  # |(3,4,0)|, |(0,0,2)|
    assert r"\text{c0}\ (5)" in context and r"\text{c19}\ (19)" in context  # before: argmax M; after: argmax logits
    assert r"\text{c19}\ 19,\ \text{c18}\ 18,\ \text{c17}\ 17,\ \dots" in context  # the three largest logits
    assert worked_pixel.name("wall-other_made{x}") == r"\text{wall-othermadex}"
    assert worked_pixel.number(5.321e13) == r"5.321 \times 10^{13}"


def test_a_huge_logit_is_shifted_not_overflowed():
    terms, total, shift = worked_pixel.softmax_terms(np.array([800.0, 799.0, 0.0]))
    assert shift == 800.0 and np.isfinite(total)
    np.testing.assert_allclose(terms / total, np.exp([0, -1, -800]) / np.exp([0, -1, -800]).sum())


# ---- the app ----------------------------------------------------------------------------------

def test_the_relation_page_works_the_chosen_pixel_through_eq5():
    from ocr_viz.app import session

    at = start()
    open_page(at, "relation")
    assert problems(at) == []
    arrays = at.session_state[session.CURRENT].arrays
    row, col = 3, 5
    at.number_input(key="widget." + session.ROW).set_value(row).run()
    at.number_input(key="widget." + session.COL).set_value(col).run()
    assert problems(at) == []
    i = row * arrays.grid[1] + col
    k = int(np.argmax(arrays.w[:, row, col]))
    shown = latex(at)
    assert rf"w_{{{i},{worked_pixel.name(at.session_state[session.CURRENT].classes[k])}}}" in shown
    assert rf"= {worked_pixel.number(arrays.w[k, row, col])}" in shown
    assert any(f"pixel i = {i}" in e.label for e in at.expander)


def test_the_context_page_and_the_lecture_step_work_a_pixel_through():
    from ocr_viz.app import session

    at = start()
    open_page(at, "context")
    assert problems(at) == []
    current = at.session_state[session.CURRENT]
    row, col = at.session_state[session.ROW], at.session_state[session.COL]
    i = row * current.arrays.grid[1] + col
    assert rf"y_{{{i}}} = \rho" in latex(at)
    assert any(f"Eq. 3's terms for pixel i = {i}" in title for title in figure_titles(at))
    step = [s.key for s in lecture.STEPS].index("worked") + 1
    at = start({"step": str(step)})
    open_page(at, "lecture")
    assert problems(at) == [] and at.title[0].value == lecture.STEP_BY_KEY["worked"].title
    notice = next(e.value for e in at.info if "What to notice" in e.value)
    total = float(re.search(r"add up to ([0-9]+\.[0-9]+)", notice).group(1))
    assert abs(total - 1) < 1e-5
    assert r"\sum_{k=1}" in latex(at) and r"\rho\Big(" in latex(at)
