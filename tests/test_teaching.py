"""Teaching with the app: lecture mode, the paper's ablations, interventions and export.
Library checks on a tiny model; app checks with AppTest on the real model, sharing one session."""
import base64
import io
import json

import numpy as np
import pytest
import streamlit
import torch
from app_helpers import figure_titles, open_page, problems, start
from conftest import assert_structured, sample_batch, sample_image, structured_model

from ocr_viz.analysis import interventions, whatif
from ocr_viz.app import export, session
from ocr_viz.model.arrays import head_trace, trace_arrays
from ocr_viz.teaching import lecture


# ---- library ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny():
    """A tiny OCR model with structured maps, its trace of a 64 x 96 street photo and the cached arrays of it."""
    model = structured_model()
    images = sample_batch((64, 96))
    trace = model.trace(images)
    assert_structured(trace)
    return model, trace, trace_arrays(model.trace(images), sample_image((64, 96)), "ocr")


def test_a_replayed_head_trace_is_the_recorded_one(tiny):
    model, trace, arrays = tiny
    replayed = head_trace(arrays, model.head)
    for name in export.HEAD_KEYS:
        assert torch.equal(getattr(replayed, name), getattr(trace.head, name)), name
    again = interventions.with_temperature(model.head, replayed, 1.0)  # the head rerun from the replayed M
    spread = trace.head.logits.std().item()
    assert spread > 0.5
    torch.testing.assert_close(again.logits, trace.head.logits, atol=1e-5 * spread, rtol=1e-5)


def test_an_intervention_outcome_is_zero_for_no_change_and_local_for_one_pixel(tiny):
    model, trace, arrays = tiny
    base, size, classes = head_trace(arrays, model.head), arrays.image.shape[:2], [str(k) for k in range(11)]
    same = whatif.outcome(model.head, base, whatif.Temperature(1.0), size, classes)
    assert all(not m.any() for m in same.change.values()) and not same.changed.any() and not same.f_change.any()
    one = whatif.outcome(model.head, base, whatif.Override((2, 3), tuple(np.eye(11)[4])), size, classes)
    # y_i depends on w_i alone: only pixel i moves beyond rounding (another BLAS kernel may
    # reorder the untouched pixels' sums and move them by ~1e-12)
    moved = one.change["y"] > 1e-6 * one.change["y"].max()
    assert moved[2, 3] and moved.sum() == 1 and not one.f_change.any()
    assert one.w[4, 2, 3] == 1.0


# ---- the app ----------------------------------------------------------------------------------

@pytest.fixture
def app():
    """A fresh app session per test (cheap: the model and traces are cached per process)."""
    return start()


@pytest.fixture
def downloads(monkeypatch):
    """The data of every st.download_button drawn, by key (deferred data is called when read)."""
    seen = {}
    original = streamlit.download_button

    def record(label, data, *args, **kwargs):
        seen[kwargs.get("key")] = data
        return original(label, data, *args, **kwargs)

    monkeypatch.setattr(streamlit, "download_button", record)
    return seen


def values_of(at, title: str) -> np.ndarray:
    """The raw values of the first map whose title starts with `title`."""
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        if spec["layout"].get("title", {}).get("text", "").startswith(title):
            # the values travel once: as the click layer's tooltip data, the heatmap's tooltip data, or as z
            heatmap = next(t for t in spec["data"] if t["type"] == "heatmap")
            layer = next((t for t in spec["data"] if t.get("name") == "pixels"), {})
            data = layer.get("customdata", heatmap.get("customdata", heatmap["z"]))
            if isinstance(data, dict):  # plotly's binary encoding of numpy arrays
                shape = [int(n) for n in str(data["shape"]).split(",")]
                return np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"]).reshape(shape)
            return np.asarray(data, dtype=float)
    raise AssertionError(f"no map titled {title!r}")


def test_lecture_next_and_previous_move_the_step_and_the_url(app):
    open_page(app, "lecture")
    assert problems(app) == [] and app.title[0].value == lecture.STEPS[0].title
    assert app.query_params["step"] == "1"
    app.button(key="lecture.next").click().run()
    assert app.title[0].value == lecture.STEPS[1].title and app.query_params["step"] == "2"
    notice = next(i.value for i in app.info if "What to notice" in i.value)
    assert any(ch.isdigit() for ch in notice)  # computed from this image
    assert any("def fuse" in c.value for c in app.code)  # the step's code
    app.button(key="lecture.previous").click().run()
    assert app.title[0].value == lecture.STEPS[0].title and app.query_params["step"] == "1"
    app.button(key="lecture.next").click().run()
    open_page(app, "relation")  # the step survives a visit elsewhere, like the class and the pixel
    assert app.query_params["step"] == "2"
    open_page(app, "lecture")
    assert app.title[0].value == lecture.STEPS[1].title


def test_a_link_opens_the_lecture_at_its_step():
    at = start({"step": "6"})
    open_page(at, "lecture")
    assert problems(at) == [] and at.title[0].value == lecture.STEPS[5].title
    assert at.query_params["step"] == "6"
    notice = next(i.value for i in at.info if "What to notice" in i.value)
    assert "nats" in notice and "uniform" in notice
    at.toggle(key="widget." + "state.large_type").set_value(True).run()  # projector mode
    assert problems(at) == [] and at.title[0].value == lecture.STEPS[5].title


def test_interventions_change_the_difference_maps_without_rerunning_the_network(app, monkeypatch):
    open_page(app, "interventions")
    assert problems(app) == []

    def fail(*args, **kwargs):
        raise AssertionError("the network ran again")

    monkeypatch.setattr("ocr_viz.model.arrays.run", fail)
    monkeypatch.setattr(app.session_state[session.CURRENT].model.backbone, "forward", fail)
    app.select_slider(key="interventions.temperature").set_value(1.0).run()
    assert problems(app) == []
    assert not values_of(app, "||y'_i - y_i||").any()  # s = 1 is the model's own: nothing changes
    app.select_slider(key="interventions.temperature").set_value(16.0).run()
    hot = values_of(app, "||y'_i - y_i||")
    assert problems(app) == [] and hot.any()
    app.radio(key="interventions.kind").set_value("suppress").run()
    app.selectbox(key="widget." + session.CLASS).set_value(8).run()  # Car
    suppressed = values_of(app, "||z'_i - z_i||")
    assert problems(app) == [] and suppressed.any() and "for Car" in " ".join(figure_titles(app))


def test_export_gives_a_loadable_npz_with_its_schema_and_a_share_link(downloads):
    app = start({"step": "3"})  # a lecture step in the state: only links to the lecture carry it
    open_page(app, "export")
    assert problems(app) == []
    data = downloads["export.npz"]
    raw = np.load(io.BytesIO(data() if callable(data) else data), allow_pickle=False)
    schema = json.loads(str(raw["schema"]))
    assert set(schema) == set(raw.files) and set(schema) <= set(export.SCHEMA)
    arrays = app.session_state[session.CURRENT].arrays
    assert raw["w"].shape == (1, arrays.grid[0] * arrays.grid[1], len(arrays.w))
    assert np.array_equal(raw["pred"][0], arrays.pred)
    assert json.loads(str(raw["meta"]))["image"] == app.query_params["image"]
    def link():
        return next(c.value for c in app.code if "?" in c.value and "http" in c.value)

    state = {k: v for k, v in app.query_params.items() if k != "step"}
    for name, value in state.items():
        assert f"{name}={value.replace(':', '%3A').replace(',', '%2C')}" in link()
    assert "step=" not in link()  # the lecture's step only in links to the lecture
    app.selectbox(key="export.destination").set_value("lecture").run()
    assert "/lecture?" in link() and "step=3" in link()


def test_every_figure_has_a_download_menu_with_html(app, downloads):
    open_page(app, "segmentation")
    charts = len(app.get("plotly_chart"))
    html = [data for key, data in downloads.items() if key.endswith(".html")]
    assert charts and len(html) == charts
    assert b"Plotly.newPlot" in html[0]()


def test_without_a_browser_for_static_export_figures_still_download_as_html(app, downloads, monkeypatch):
    monkeypatch.setattr(export, "static_export_available", lambda: False)
    open_page(app, "segmentation")
    assert problems(app) == [] and downloads and all(key.endswith(".html") for key in downloads)
    assert any("PNG and SVG need" in c.value and "chromium" in c.value for c in app.caption)


def test_ablations_score_gt_ocr_on_a_dataset_image(camvid_root, monkeypatch):
    monkeypatch.setenv("OCR_VIZ_DATA", str(camvid_root))
    from ocr_viz.app import gallery

    at = start({"image": gallery.dataset_images()[0].key})
    open_page(at, "ablations")
    assert problems(at) == []
    rows = {row["variant"]: row for row in at.table[0].value.reset_index().to_dict("records")}
    assert {"GT-OCR", "OCR (this model)", "no context (FCN)", "uniform relation"} <= set(rows)
    current = at.session_state[session.CURRENT]  # OCR's row, counted here from its prediction and the labels
    pred, truth = current.arrays.pred, current.truth
    ious = [((pred == c) & (truth == c)).sum() / ((pred == c) | (truth == c))[truth != 11].sum()
            for c in range(11) if ((pred == c) | (truth == c))[truth != 11].any()]
    # one rounding: each difference is that of the numbers shown beside it
    ocr = float(rows["OCR (this model)"]["mIoU %"])
    places = len(rows["OCR (this model)"]["mIoU %"].partition(".")[2])
    assert ocr == pytest.approx(100 * np.mean(ious), abs=0.5 * 10 ** -places)
    for row in rows.values():
        assert float(row["vs OCR (points)"]) == pytest.approx(float(row["mIoU %"]) - ocr, abs=0.5 * 10 ** -places)
    assert "GT-OCR" in at.table[1].value.columns  # per-class IoU


def test_ablations_on_a_sample_image_explain_that_ground_truth_is_needed():
    at = start({"image": "sample:leuvenA.jpg"})  # a photo: the default image, a CamVid frame, has ground truth
    open_page(at, "ablations")
    assert problems(at) == [] and any("ground truth" in i.value for i in at.info)


@pytest.mark.parametrize("widths, says", [((512, 256), "the paper's"), ((256, 128), "instead of the paper's 512 and 256")])
def test_about_states_the_widths_against_the_papers(widths, says):
    """The About page's widths line is read from the model's metadata: the default model is at the paper's
    widths, the comparison's OCR head at half of them, and each must be described as it is."""
    from ocr_viz.model import build
    from ocr_viz.teaching.explain import deviations

    arch = build.arch_for("ocr", head_kwargs={"mid_channels": widths[0], "key_channels": widths[1], "dropout": 0.05})
    line = next(n for n in deviations({"arch": arch, "classes": []}) if n.startswith("**Widths**"))
    assert f"mid channels {widths[0]} and key channels {widths[1]}, {says};" in line
