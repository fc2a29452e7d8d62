"""The app's library layer without Streamlit: trace -> arrays, the numpy summaries, the figures."""
import ast
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_structured, sample_batch, sample_image, structured_model

from ocr_viz.analysis import stats
from ocr_viz.model.arrays import labels as labels_of, trace_arrays
from ocr_viz.figures import Scale, class_bars, map_figure, pipeline_dot
from ocr_viz.figures.scales import apply
from ocr_viz.figures.titles import plain
from ocr_viz.teaching import explain

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def arrays():
    model = structured_model()
    trace = model.trace(sample_batch((64, 80)))
    assert_structured(trace)
    return trace_arrays(trace, sample_image((64, 80)), "ocr"), trace


def test_per_pixel_and_per_region_values_land_on_the_right_cells(arrays):
    a, trace = arrays
    h, w = a.grid
    assert (h, w) == (8, 10)  # not square, so a transposed index lands elsewhere
    for r, c in ((5, 7), (0, 9), (7, 0), (3, 3)):
        i = r * w + c  # row-major flattening of the feature map, as the head does
        np.testing.assert_allclose(a.w[:, r, c], trace.head.w[0, i].numpy(), rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(a.kappa[:, r, c], trace.head.kappa[0, i].numpy(), rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(a.m_tilde[:, r, c], trace.head.m_tilde[0, :, i].numpy(), rtol=1e-6, atol=1e-12)
    # the check above can fail: another pixel's (or the transposed index's) values are far away
    assert np.abs(a.w[:, 5, 7] - trace.head.w[0, 7 * w + 5].numpy()).max() > 1e-2
    assert np.abs(a.kappa[:, 5, 7] - a.kappa[:, 5, 8]).max() > 1e-2
    np.testing.assert_allclose(a.w.sum(0), 1, atol=1e-5)
    np.testing.assert_allclose(a.m_tilde.sum((1, 2)), 1, atol=1e-5)
    assert a.shapes["w"] == (1, h * w, 11) and not a.w.flags.writeable


def test_label_maps_are_kept_in_the_smallest_type_and_equal_the_models(arrays):
    a, trace = arrays
    for kept, labels in ((a.pred, trace.pred), (a.aux_pred, trace.aux_pred)):
        assert kept.dtype == np.uint8 and not kept.flags.writeable
        np.testing.assert_array_equal(kept, labels[0].numpy())
    assert labels_of(trace.pred, 256).dtype == np.uint8  # K classes are 0..K-1
    many = trace.pred + 300  # a 400-class model's labels do not fit a byte
    assert labels_of(many, 400).dtype == np.int32 and labels_of(many, 400).max() == many.max()
    # scoring a uint8 map against uint8 truth must not wrap around at 256 (t * K + p)
    truth = np.full(a.pred.shape, 20, np.uint8)
    assert stats.accuracy(np.full(a.pred.shape, 20, np.uint8), truth, 21, 255)["pixel_accuracy"] == 1.0


def test_contributions_along_f_k_add_up_to_its_length(arrays):
    a, _ = arrays
    k = 2
    along = stats.contributions(a.m_tilde[k], a.x, a.f[k], "along f_k")
    assert along.sum() == pytest.approx(np.linalg.norm(a.f[k]), rel=1e-4)
    norm = stats.contributions(a.m_tilde[k], a.x, a.f[k], "norm")
    assert (norm >= along - 1e-6).all()


def test_y_and_z_are_kept_at_half_precision_and_summarised_in_full(arrays):
    a, trace = arrays
    assert a.y.dtype == a.z.dtype == np.float16 and a.x.dtype == a.features.dtype == np.float32
    assert not a.y.flags.writeable
    exact = trace.head.y[0].numpy()
    assert np.abs(a.y - exact).max() <= 1e-3 * np.abs(exact).max()  # float16 keeps 11 significant bits
    # ||y_i|| of a float16 map: summed in float32, not float16, whose largest number is 65,504
    big = np.full((512, 2, 3), 20.0, np.float16)  # a sum of squares of 204,800
    np.testing.assert_allclose(stats.norms(big), np.sqrt(512) * 20, rtol=1e-6)
    np.testing.assert_allclose(stats.norms(a.y), np.linalg.norm(exact, axis=0), rtol=2e-3)
    _, share = stats.pca_rgb(a.y)
    _, exact_share = stats.pca_rgb(exact)
    np.testing.assert_allclose(share, exact_share, atol=1e-3)


def test_summaries():
    assert stats.entropy(np.full((11, 2, 2), 1 / 11)).mean() == pytest.approx(np.log(11))
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(50, 6)) * np.array([10, 3, 1, 1, 1, 1])
    projected, share = stats.pca(vectors, 2)
    assert share[0] > share[1] and projected.shape == (50, 2)
    rgb, _ = stats.pca_rgb(rng.normal(size=(8, 4, 5)))
    assert rgb.shape == (4, 5, 3) and rgb.min() >= 0 and rgb.max() <= 1
    assert stats.resize_nearest(np.array([[0, 1], [2, 3]]), (4, 4))[3, 0] == 2
    change = stats.changes(np.array([0, 1, 2]), np.array([0, 2, 2]), truth=np.array([0, 2, 1]))
    assert (change["changed"], change["fixed"], change["broken"]) == (1, 1, 0)


def test_scales_say_what_they_do():
    data = np.array([1e-6, 1e-3, 0.5])
    assert apply(data, Scale("log")).caption.startswith("colour: log10")
    assert "log needs positive values" in apply(data - 0.1, Scale("log")).caption
    clipped = apply(np.arange(101.0), Scale("percentile", 5, 95))
    assert (clipped.zmin, clipped.zmax) == (5, 95)
    near = apply(np.array([2.39771, 2.39788]), Scale())  # entropies that differ in the 5th digit
    assert "2.39771" in near.caption


def test_map_figure_has_a_click_layer_with_cell_coordinates():
    fig = map_figure(np.arange(12.0).reshape(3, 4), "t", clickable=True, pixel=(1, 2))
    layer = next(t for t in fig.data if t.name == "pixels")
    assert len(layer.x) == 12 and (layer.y[6], layer.x[6], layer.customdata[6]) == (1, 2, 6.0)  # row 1, col 2
    assert "colour: linear" in plain(fig.layout.title.text)


def test_bars_state_their_axis():
    fig = class_bars(np.array([0.09, 0.0905, 0.091]), ["a", "b", "c"], [(0, 0, 0)] * 3, "t", zoom=True)
    assert "ZOOMED" in plain(fig.layout.title.text) and fig.layout.xaxis.range[0] > 0.08


def test_pipeline_lists_every_stage_with_its_shape(arrays):
    a, _ = arrays
    dot = pipeline_dot(explain.pipeline_nodes(a.shapes), explain.PIPELINE_EDGES, {"relation": "relation?x=1"})
    assert dot.count("->") == len(explain.PIPELINE_EDGES) and 'URL="relation?x=1"' in dot
    assert explain.shape_text(a.shapes["w"]) in dot


def test_every_stage_names_code_that_exists():
    for stage in explain.STAGES:
        for name in stage.sources:
            assert "def " in explain.source(explain.resolve(name))


def test_figures_import_neither_torch_nor_streamlit():
    for path in (ROOT / "ocr_viz" / "figures").glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
        allowed = set(sys.stdlib_module_names) | {"numpy", "plotly", "matplotlib"}  # arrays in, figures out
        assert imported <= allowed, (path, imported - allowed)
