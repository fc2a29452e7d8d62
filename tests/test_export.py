"""The .npz trace download round-trips without pickle, and figures export as valid files."""
import io
import json
import zipfile

import numpy as np
import pytest
import torch
from conftest import assert_structured, sample_batch, skip_unless_required, structured_model, tiny_arch

from ocr_viz.analysis import interventions
from ocr_viz.app import export
from ocr_viz.model.api import untrained_meta

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def model_and_trace():
    model = structured_model()
    trace = model.trace(sample_batch((64, 96)))
    assert_structured(trace)
    return model, trace, untrained_meta(tiny_arch())


def test_npz_round_trip_keeps_every_array_and_the_schema_lists_every_key(model_and_trace):
    model, trace, meta = model_and_trace
    buf = io.BytesIO()
    export.trace_to_npz(trace, meta, buf)
    buf.seek(0)
    raw = np.load(buf, allow_pickle=False)  # what a notebook does
    schema = json.loads(str(raw["schema"]))
    assert set(schema) == set(raw.files) and set(schema) <= set(export.SCHEMA)
    buf.seek(0)
    arrays, meta_back, schema_back = export.load_npz(buf)
    assert schema_back == schema
    expected = {k: getattr(trace.head, k) for k in export.HEAD_KEYS}
    expected |= {k: getattr(trace, k) for k in ("images", "features", "probs", "pred", "aux_pred")}
    assert set(arrays) == set(expected)
    for k, v in expected.items():
        assert arrays[k].dtype == v.numpy().dtype and np.array_equal(arrays[k], v.numpy()), k
    assert meta_back["model"] == "ocr" and meta_back["classes"] == meta["classes"]
    assert meta_back["palette"] == meta["palette"] and meta_back["ignore_index"] == 11
    assert meta_back["image_size"] == [64, 96] and meta_back["feature_size"] == list(trace.head.x.shape[-2:])


def test_an_intervened_head_trace_exports_and_reloads_for_more_interventions(model_and_trace, tmp_path):
    model, trace, meta = model_and_trace
    after = interventions.uniform_relation(model.head, trace)
    path = tmp_path / "uniform.npz"
    export.trace_to_npz(after, {**meta, "intervention": "uniform_relation"}, path, compress=False)
    arrays, meta_back, schema = export.load_npz(path)
    assert set(arrays) == set(export.HEAD_KEYS) and set(schema) == {"schema", "meta", *export.HEAD_KEYS}
    assert meta_back["intervention"] == "uniform_relation" and meta_back["image_size"] is None
    reloaded = export.head_trace(arrays)
    for name in export.HEAD_KEYS:  # the intervened values come back, not the model's own
        assert torch.equal(getattr(reloaded, name), getattr(after, name)), name
    assert (after.logits - trace.head.logits).abs().max() > 0.1  # the uniform relation did change the logits
    # further interventions work on the reloaded trace: from its (uniform) w, and from its M
    kept = interventions.with_relation(model.head, reloaded, reloaded.w)
    torch.testing.assert_close(kept.logits, after.logits, atol=1e-5, rtol=1e-5)
    rerun = interventions.with_temperature(model.head, reloaded, 1.0)  # recomputes w: the model's own logits
    torch.testing.assert_close(rerun.logits, trace.head.logits, atol=1e-5, rtol=1e-5)
    with zipfile.ZipFile(path) as z:  # every member is a plain .npy, nothing pickled
        assert all(n.endswith(".npy") for n in z.namelist())


def heatmap_plotly():
    import plotly.graph_objects as go

    return go.Figure(go.Heatmap(z=np.arange(12.0).reshape(3, 4)), layout={"width": 200, "height": 150})


def test_plotly_html_export_is_a_self_contained_page():
    html = export.figure_bytes(heatmap_plotly(), "html").decode()
    assert "<html>" in html[:100] and "Plotly.newPlot" in html
    assert len(html) > 1_000_000  # plotly.js is embedded, so the file opens offline


@pytest.mark.filterwarnings("ignore:The kopts argument is ignored")
def test_plotly_png_and_svg_export():
    if not export.static_export_available():  # a failure where OCR_VIZ_REQUIRE_BROWSER=1 (CI)
        skip_unless_required("plotly PNG/SVG export needs kaleido and Chromium", "OCR_VIZ_REQUIRE_BROWSER")
    import kaleido

    kaleido.start_sync_server(silence_warnings=True)  # one browser for both images
    try:
        fig = heatmap_plotly()
        png = export.figure_bytes(fig, "png")
        svg = export.figure_bytes(fig, "svg")
    finally:
        kaleido.stop_sync_server(silence_warnings=True)
    assert png.startswith(PNG_SIGNATURE)
    from PIL import Image

    assert Image.open(io.BytesIO(png)).size == (600, 450)  # layout size x scale 3
    assert b"<svg" in svg[:200]


def test_matplotlib_png_at_300_dpi_and_svg():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.imshow(np.arange(12.0).reshape(3, 4))
    png, svg = export.figure_bytes(fig, "PNG"), export.figure_bytes(fig, "svg")
    plt.close(fig)
    assert png.startswith(PNG_SIGNATURE)
    assert round(Image.open(io.BytesIO(png)).info["dpi"][0]) == 300
    assert b"<svg" in svg[:1000]
    with pytest.raises(ValueError):
        export.figure_bytes(fig, "html")
    with pytest.raises(ValueError):
        export.figure_bytes(fig, "gif")


def test_plotly_static_export_without_a_browser_says_what_to_install(monkeypatch):
    monkeypatch.setattr(export, "static_export_available", lambda: False)
    with pytest.raises(export.ExportUnavailable, match="chromium"):
        export.figure_bytes(heatmap_plotly(), "png")
