"""OCNet's Pyramid-OC and ASP-OC heads (ocr_viz.model.heads.pyramid_oc, asp_oc): their attention
checked against a second, dense implementation, their parameter counts against a hand count from
OCNet's layer definitions, and their traces' contexts and branch terms recomputed."""
import base64
import json

import numpy as np
import pytest
import torch

from ocr_viz.model import build as models
from ocr_viz.model.heads import asp_oc, pyramid_oc


# ---- parameter counts, from OCNet.pytorch's layer shapes (not from the modules) ---------------

def conv(c_in: int, c_out: int, k: int = 1, bias: bool = True) -> int:
    return c_out * c_in * k * k + (c_out if bias else 0)


def bn(c: int) -> int:
    return 2 * c  # weight and bias; running statistics are buffers


def pyramid_oc_count(c_in: int, classes: int, mid: int, key: int, levels: int = 4) -> int:
    """resnet101_pyramid_oc.py's layer5 + Pyramid_OC_Module(mid, mid, sizes=[1, 2, 3, 6]) + cls."""
    layer5 = conv(c_in, mid, 3) + bn(mid)  # Conv2d(2048, 512, 3, padding=1) + BatchNorm2d(512)
    stage = (conv(mid, key) + bn(key)  # f_key (= f_query): Conv2d(512, 256, 1) + InPlaceABNSync(256)
             + conv(mid, mid)  # f_value: Conv2d(512, value_channels=512, 1)
             + conv(mid, mid))  # W: Conv2d(512, out_channels=512, 1)
    up_dr = conv(mid, mid * levels) + bn(mid * levels)  # Conv2d(512, 512 * 4, 1) + InPlaceABNSync(2048)
    fuse = conv(2 * mid * levels, mid) + bn(mid)  # conv_bn_dropout: Conv2d(2 * 512 * 4, 512, 1) + ABN(512)
    return layer5 + levels * stage + up_dr + fuse + conv(mid, classes)


def asp_oc_count(c_in: int, classes: int, mid: int, rates: int = 3) -> int:
    """resnet101_asp_oc.py's context: Conv2d(2048, 512, 3) + ABN(512) + ASP_OC_Module(512, 256); then cls."""
    c = mid // 2
    front = conv(c_in, mid, 3) + bn(mid)
    object_context = (conv(mid, c, 3) + bn(c)  # Conv2d(512, 256, 3, padding=1) + ABN(256)
                      + conv(c, c // 2) + bn(c // 2)  # f_key: Conv2d(256, 128, 1) + ABN(128)
                      + conv(c, c) + conv(c, c)  # f_value, W: Conv2d(256, 256, 1)
                      + conv(c, c) + bn(c))  # BaseOC_Context_Module's conv_bn_dropout: Conv2d(256, 256, 1) + ABN
    one_by_one = conv(mid, c, 1, bias=False) + bn(c)  # conv2
    dilated = rates * (conv(mid, c, 3, bias=False) + bn(c))  # conv3, conv4, conv5
    project = conv((rates + 2) * c, mid, 1, bias=False) + bn(mid)  # Conv2d(256 * 5, 512, 1, bias=False) + ABN(512)
    return front + object_context + one_by_one + dilated + project + conv(mid, classes)


def params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("c_in, classes, widths, expected", [
    (472, 11, {"mid_channels": 256, "key_channels": 128}, 2_540_299),  # the app: OCNet's widths halved
    (2048, 19, {"mid_channels": 512, "key_channels": 256}, 15_230_483),  # OCNet's own, Cityscapes
])
def test_pyramid_oc_parameters_match_ocnets_layers(c_in, classes, widths, expected):
    assert pyramid_oc_count(c_in, classes, widths["mid_channels"], widths["key_channels"]) == expected
    with torch.device("meta"):
        head = pyramid_oc.PyramidOCHead(c_in, classes, **widths)
    assert params(head) == expected


@pytest.mark.parametrize("c_in, classes, mid, expected", [
    (472, 11, 256, 2_527_435),
    (2048, 19, 512, 15_188_371),
])
def test_asp_oc_parameters_match_ocnets_layers(c_in, classes, mid, expected):
    assert asp_oc_count(c_in, classes, mid) == expected
    with torch.device("meta"):
        head = asp_oc.ASPOCHead(c_in, classes, mid_channels=mid)
    assert params(head) == expected


def test_the_shipped_widths_are_ocnets_halved():
    arch = {name: models.arch_for(name)["head_kwargs"] for name in ("pyramid_oc", "asp_oc", "baseoc")}
    assert arch["pyramid_oc"]["mid_channels"] == arch["baseoc"]["mid_channels"] == 512 // 2
    assert arch["pyramid_oc"]["key_channels"] == arch["baseoc"]["key_channels"] == 256 // 2
    assert tuple(arch["pyramid_oc"]["sizes"]) == (1, 2, 3, 6)
    assert arch["asp_oc"]["mid_channels"] == 512 // 2 and tuple(arch["asp_oc"]["rates"]) == (12, 24, 36)


# ---- Pyramid-OC's partitions and attention --------------------------------------------------


def test_partitions_split_as_ocnet_does():
    assert pyramid_oc.partition_bounds(60, 6) == [(0, 10), (10, 20), (20, 30), (30, 40), (40, 50), (50, 60)]
    # 80 // 6 = 13: five parts of 13, the last takes the remaining 15
    assert pyramid_oc.partition_bounds(80, 6) == [(0, 13), (13, 26), (26, 39), (39, 52), (52, 65), (65, 80)]
    assert pyramid_oc.partition_bounds(7, 3) == [(0, 2), (2, 4), (4, 7)]
    assert pyramid_oc.partition_bounds(45, 1) == [(0, 45)]
    assert pyramid_oc.partition_bounds(5, 6) == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]  # one cell each


def partition_labels(h: int, w: int, s: int) -> torch.Tensor:
    """(n,) which partition each row-major pixel is in, from OCNet's rule written out: part = min(cell // (L // s), s - 1)."""
    rows = torch.arange(h).div(h // s, rounding_mode="floor").clamp(max=s - 1)
    cols = torch.arange(w).div(w // s, rounding_mode="floor").clamp(max=s - 1)
    return (rows[:, None] * s + cols[None, :]).flatten()


def dense_partition_attention(q: torch.Tensor, s: int) -> torch.Tensor:
    """(n,n) for one image: softmax over all pixels of q_i . q_j / sqrt(d), with pixels of other partitions masked out."""
    d, h, w = q.shape
    flat = q.reshape(d, h * w).T
    logits = flat @ flat.T / d ** 0.5
    labels = partition_labels(h, w, s)
    return logits.masked_fill(labels[:, None] != labels[None, :], float("-inf")).softmax(-1)


@pytest.mark.parametrize("s", [1, 2, 3, 6])
def test_partition_context_equals_dense_masked_attention(s):
    torch.manual_seed(s)
    h, w, d, c = 13, 17, 6, 5  # not square and not divisible by 2, 3 or 6: uneven last parts
    q, v = torch.randn(1, d, h, w), torch.randn(1, c, h, w)
    expected = (dense_partition_attention(q[0], s) @ v[0].reshape(c, h * w).T).T.reshape(1, c, h, w)
    torch.testing.assert_close(pyramid_oc.partition_context(q, q, v, s), expected, atol=1e-6, rtol=1e-5)


@pytest.fixture(scope="module")
def pyramid_trace():
    torch.manual_seed(0)
    head = pyramid_oc.PyramidOCHead(12, 5, mid_channels=8, key_channels=4).eval()
    with torch.no_grad():
        return head, head.trace(torch.randn(1, 12, 13, 17))


def test_pyramid_attention_rows_are_zero_outside_the_partition_and_sum_to_one(pyramid_trace):
    _, t = pyramid_trace
    h, w = t.size
    for level, s in enumerate(t.sizes):
        q = t.queries[level][0].T.reshape(-1, h, w)
        dense = dense_partition_attention(q, s)
        labels = partition_labels(h, w, s)
        for index in (0, 5 * w + 16, h * w - 1, 7 * w + 8):
            row = pyramid_oc.attention_row(t, level, index)[0]
            outside = labels != labels[index]
            assert row.sum().item() == pytest.approx(1, abs=1e-6)
            assert (row[outside] == 0).all() and (row[~outside] > 0).all()
            assert outside.any() == (s > 1)
            torch.testing.assert_close(row, dense[index], atol=1e-7, rtol=1e-5)


def test_pyramid_trace_contexts_are_dense_masked_attention_and_its_levels_differ():
    torch.manual_seed(1)
    head = pyramid_oc.PyramidOCHead(12, 5, mid_channels=8, key_channels=4).eval()
    with torch.no_grad():
        for level in head.levels:  # W starts at zero: give every level the same nonzero W
            level.W.weight.copy_(torch.linspace(-1, 1, 64).reshape(8, 8, 1, 1))
        t = head.trace(torch.randn(1, 12, 13, 17))
        h, w = t.size
        for i, (level, s) in enumerate(zip(head.levels, head.sizes)):  # W(attention @ f_value(x)), densely
            q = level.f_key(t.x)[0]
            v = level.f_value(t.x)[0].reshape(8, h * w)
            expected = level.W((dense_partition_attention(q, s) @ v.T).T.reshape(1, 8, h, w))
            torch.testing.assert_close(t.contexts[i], expected, atol=1e-5, rtol=1e-4)
    # the same W on other partitions: the whole image (level 1) and 6 x 6 parts give other contexts
    assert (t.contexts[0] - t.contexts[3]).abs().max() > 1e-3


def test_pyramid_oc_on_a_map_smaller_than_its_finest_level_attends_within_single_rows():
    head = pyramid_oc.PyramidOCHead(12, 5, mid_channels=8, key_channels=4).eval()
    t = head.trace(torch.randn(1, 12, 5, 20))  # 5 rows: the finest level splits them one per part
    assert torch.isfinite(t.logits).all() and t.logits.shape[-2:] == (5, 20)


# ---- ASP-OC ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def asp_trace():
    torch.manual_seed(0)
    head = asp_oc.ASPOCHead(12, 5, mid_channels=8, rates=(2, 4, 6)).eval()
    with torch.no_grad():
        torch.nn.init.normal_(head.object_context.W.weight)  # W starts at zero: give the branch a size
        features = torch.randn(1, 12, 13, 17)
        return head, head.trace(features)


def test_asp_oc_branch_terms_add_up_to_the_projection(asp_trace):
    head, t = asp_trace
    assert t.branches.shape == (1, 5, 4, 13, 17) and t.pooled_size == (6, 8)
    with torch.no_grad():
        concat = torch.cat(list(t.branches.unbind(1)), dim=1)  # OCNet's order: context, 1x1, rates
        expected = head.project(concat)
    torch.testing.assert_close(t.projected, expected, atol=1e-5, rtol=1e-4)
    shares = asp_oc.branch_contributions(t)
    assert shares.shape == (1, 5, 13, 17) and (shares >= 0).all()
    assert shares[0, 0].std() > 0  # the object-context branch varies over the image


def test_asp_oc_pooled_attention_row_is_a_distribution_over_the_pooled_map(asp_trace):
    _, t = asp_trace
    ph, pw = t.pooled_size
    for index, cell in ((0, (0, 0)), (12 * 17 + 16, (5, 7)), (7 * 17 + 9, (3, 4))):
        row = asp_oc.pooled_attention_row(t, index)[0]
        assert row.shape == (ph * pw,) and row.sum().item() == pytest.approx(1, abs=1e-6)
        q = t.query[0]
        i = cell[0] * pw + cell[1]  # (row (ph-1)/(h-1), col (pw-1)/(w-1)) rounded, written out
        torch.testing.assert_close(row, (q[i] @ q.T / q.shape[1] ** 0.5).softmax(-1), atol=1e-7, rtol=1e-5)


# ---- the comparison: library and pages --------------------------------------------------------


@pytest.fixture(scope="module")
def ocnet_comparison():
    """Pyramid-OC and ASP-OC at tiny widths (trained-looking BatchNorm) on one street photo (60 x 80 features)."""
    from conftest import SAMPLES, structured_model, tiny_arch
    from PIL import Image

    from ocr_viz.analysis import compare

    image = Image.open(SAMPLES / "leuvenA.jpg").convert("RGB").resize((160, 120))
    models = {name: (structured_model(name), {"arch": tiny_arch(name), "trained": False})
              for name in ("pyramid_oc", "asp_oc")}
    return compare.run_all(models, image)


def test_compare_shows_pyramid_oc_inside_the_partition_at_every_level(ocnet_comparison):
    from ocr_viz.analysis import compare

    run = ocnet_comparison.runs["pyramid_oc"]
    h, w = run.arrays.grid
    assert (h, w) == (60, 80) and run.head_trace.x is None  # only the queries are kept
    pixel = (29, 43)
    levels = compare.pyramid_attention(run, pixel)
    assert [lv.s for lv in levels] == [1, 2, 3, 6]
    for lv in levels:
        rows = range(*next(b for b in lv.rows if b[0] <= 29 < b[1]))
        cols = range(*next(b for b in lv.cols if b[0] <= 43 < b[1]))
        inside = np.zeros((h, w), bool)
        inside[rows.start:rows.stop, cols.start:cols.stop] = True
        assert lv.values.sum() == pytest.approx(1, abs=1e-5) and (lv.values[~inside] == 0).all()
        assert lv.own == ((rows.start, rows.stop), (cols.start, cols.stop)) and lv.cells == len(rows) * len(cols)
    # 60 rows in 6 parts of 10; 80 columns in parts of 13 (the last 15): column 43 is in [39, 52)
    assert levels[-1].cells == 10 * 13 and levels[1].cells == 30 * 40 and levels[0].cells == h * w
    other = compare.pyramid_attention(run, (29, 44))[0].values  # a neighbour's row is another row
    assert np.abs(other - levels[0].values).max() > 1e-4


def test_compare_shows_asp_ocs_branch_shares_and_pooled_attention(ocnet_comparison):
    from ocr_viz.analysis import compare

    run = ocnet_comparison.runs["asp_oc"]
    names = compare.asp_oc_branch_names(run.rates)
    assert names == ["object context", "1x1", "3x3, rate 12", "3x3, rate 24", "3x3, rate 36"]
    # ||W_r a_r|| at pixel (4, 5), written out from a fresh trace's branch outputs and the bias-free
    # projection's weight blocks (row 4, column 5: a transposed or shifted read gets another cell's)
    from conftest import SAMPLES, structured_model
    from PIL import Image

    from ocr_viz.model.images import preprocess

    model = structured_model("asp_oc")
    image = Image.open(SAMPLES / "leuvenA.jpg").convert("RGB").resize((160, 120))
    with torch.no_grad():
        branches = model.trace(preprocess(image)).head.branches[0].numpy()  # (r, c, h, w)
    weight = model.head.project[0].weight[:, :, 0, 0].detach().numpy()  # (o, r*c)
    c = branches.shape[1]

    def by_hand(row, col):
        return np.array([np.linalg.norm(weight[:, b * c:(b + 1) * c] @ branches[b, :, row, col]) for b in range(5)])

    expected = by_hand(4, 5)
    shares = compare.aspp_contributions(run, (4, 5))
    np.testing.assert_allclose(shares, expected, rtol=1e-4, atol=1e-6 * expected.max())
    for other in ((5, 4), (4, 6), (3, 5)):
        assert np.abs(by_hand(*other) - expected).max() > 1e-3 * expected.max(), other
    attention, cell = compare.asp_oc_attention(run, (4, 5))
    assert attention.shape == run.head_trace.pooled_size == (30, 40)
    assert attention.sum() == pytest.approx(1, abs=1e-5)
    assert cell == (int(4 * 29 / 59 + 0.5), int(5 * 39 / 79 + 0.5)) == (2, 2)  # align_corners: r (h'-1)/(h-1), rounded


@pytest.fixture(scope="module")
def compare_page():
    from app_helpers import open_page, start

    return open_page(start(), "compare")


def heatmap(at, title_start: str) -> tuple[np.ndarray, dict]:
    """The first heatmap's values of the figure whose title starts with `title_start`, and its layout."""
    from ocr_viz.figures.titles import plain

    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        if plain(spec["layout"].get("title", {}).get("text", "")).startswith(title_start):
            z = next(t["z"] for t in spec["data"] if t["type"] == "heatmap")
            if isinstance(z, dict):  # plotly's typed array: base64 bytes, dtype, shape
                shape = tuple(int(n) for n in str(z["shape"]).split(","))
                z = np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(shape)
            return np.array(z, float), spec["layout"]
    raise AssertionError(f"no figure titled {title_start!r}")


def test_compare_page_draws_pyramid_levels_and_asp_oc_branches(compare_page):
    from app_helpers import chosen_pixel, figure_titles, problems

    at = compare_page
    at.segmented_control(key="compare.heads").set_value("ocnet").run()  # the per-pixel figures of OCNet's heads
    assert problems(at) == []
    row, col = chosen_pixel(at)
    titles = [t.split("<br>")[0] for t in figure_titles(at)]
    from test_compare import prediction_panels

    assert {"Pyramid-OC", "ASP-OC"} <= {t.split("<br>")[0] for t in prediction_panels(at)}  # their predictions
    for s in (1, 2, 3, 6):
        assert f"Pyramid-OC {s}x{s}, pixel ({row}, {col})" in titles
    assert f"ASP-OC, pixel ({row}, {col}): each branch's share" in titles
    # the finest level's map, as sent to the browser: nothing outside the pixel's partition
    values, layout = heatmap(at, f"Pyramid-OC 6x6, pixel ({row}, {col})")
    frame = next(s for s in layout["shapes"] if s["type"] == "rect")
    r0, r1, c0, c1 = (round(frame[k] + 0.5) for k in ("y0", "y1", "x0", "x1"))
    assert r0 <= row < r1 and c0 <= col < c1 and (r1 - r0) * (c1 - c0) < values.size / 30
    outside = np.ones(values.shape, bool)
    outside[r0:r1, c0:c1] = False
    finite = np.isfinite(values)
    assert finite[~outside].any() and not finite[outside].any()  # log scale: zero weights are not drawn


def test_complexity_page_counts_the_new_heads():
    """The live recount (meta tensors) lists every head of the table, the new ones with the parameters counted above."""
    from app_helpers import open_page, problems, start

    at = open_page(start(), "complexity")
    assert problems(at) == []
    at.button(key="complexity.recount").click().run()
    assert problems(at) == []
    tables = [t.value for t in at.table if t.value.index.name == "head"]
    app, paper = tables[-2], tables[-1]  # the recount: the app's setting, then the paper's
    for frame in (app, paper):
        assert {"pyramid_oc", "asp_oc"} <= set(frame.index)
    assert app.loc["pyramid_oc", "params (M)"] == pytest.approx(2_540_299 / 1e6, abs=0.006)
    assert app.loc["asp_oc", "params (M)"] == pytest.approx(2_527_435 / 1e6, abs=0.006)
    assert paper.loc["pyramid_oc", "params (M)"] == pytest.approx(15_230_483 / 1e6, abs=0.006)
    assert paper.loc["asp_oc", "params (M)"] == pytest.approx(15_188_371 / 1e6, abs=0.006)
