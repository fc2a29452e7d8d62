"""A cached head comparison holds one copy of the fused backbone features, not one per head (the
heads on one backbone fuse the same stages), and each head's features still equal its own trace's."""
import dataclasses

import numpy as np
import pytest
import torch
from conftest import SAMPLES, structured_model, tiny_arch
from PIL import Image

from ocr_viz.analysis import compare
from ocr_viz.app.compute import nbytes
from ocr_viz.model import build
from ocr_viz.model.images import preprocess


@pytest.fixture(scope="module")
def models():
    return {name: (structured_model(name), {"arch": tiny_arch(name), "trained": False}) for name in compare.HEADS}


@pytest.fixture(scope="module")
def image():
    return Image.open(SAMPLES / "leuvenA.jpg").convert("RGB").resize((160, 120))


def test_heads_on_one_backbone_share_one_features_array_equal_to_each_own_trace(models, image):
    comparison = compare.run_all(models, image)
    features = [run.arrays.features for run in comparison.runs.values()]
    assert all(f is features[0] for f in features)
    for name, (model, _) in models.items():
        np.testing.assert_allclose(comparison.runs[name].arrays.features, model.trace(preprocess(image)).features[0].numpy(),
                                   rtol=1e-5, atol=1e-5 * float(features[0].std()), err_msg=name)
    # what the cache charges: one copy, not seven
    copies = dataclasses.replace(comparison, runs={n: dataclasses.replace(r, arrays=dataclasses.replace(
        r.arrays, features=r.arrays.features.copy())) for n, r in comparison.runs.items()})
    assert nbytes(copies) - nbytes(comparison) == (len(features) - 1) * features[0].nbytes


def test_a_head_on_another_backbone_keeps_its_own_features(models, image):
    other = build.build(tiny_arch("fcn")).eval()
    other.load_state_dict(models["fcn"][0].state_dict())
    with torch.no_grad():
        next(other.backbone.parameters()).add_(1.0)
    comparison = compare.run_all({"ocr": models["ocr"], "fcn": (other, models["fcn"][1])}, image)
    ocr, fcn = (comparison.runs[n].arrays.features for n in ("ocr", "fcn"))
    assert comparison.backbone_runs == 2 and fcn is not ocr and not np.array_equal(fcn, ocr)


def test_share_backbone_holds_one_module_and_changes_no_output(image):
    donor, model = structured_model("ocr"), structured_model("fcn")
    x = preprocess(image)
    before = model.trace(x).logits
    assert compare.share_backbone(model, donor)
    assert model.backbone is donor.backbone and compare.same_backbone(model, donor)
    torch.testing.assert_close(model.trace(x).logits, before, rtol=1e-5, atol=1e-5)
    assert not compare.share_backbone(model, donor)  # already one module: nothing to do


def test_share_backbone_refuses_different_weights():
    donor, model = structured_model("ocr"), structured_model("fcn")
    with torch.no_grad():
        next(model.backbone.parameters()).add_(1.0)
    assert not compare.share_backbone(model, donor)
    assert model.backbone is not donor.backbone


def test_the_app_holds_one_backbone_for_the_shipped_heads():
    from ocr_viz.app import model_choice
    ocr = model_choice.shipped_model("ocr")[1]
    heads = [model_choice.shipped_model(name)[1] for name in compare.HEADS if name != "ocr"]
    assert all(head.backbone is ocr.backbone for head in heads)


def test_a_trace_the_app_holds_already_is_reused_not_computed_again(models, image, monkeypatch):
    """The default model's trace of the current image (the app's trace cache holds it) goes into the
    comparison as it is: the same arrays, and the other heads share its features; a trace of another
    image is not taken."""
    from ocr_viz.model import arrays as trace_arrays

    model, meta = models["ocr"]
    current = trace_arrays.run(model, image, meta["arch"]["head"])
    traced_heads = []
    real_run_head = compare.run_head
    monkeypatch.setattr(compare, "run_head", lambda name, *a: traced_heads.append(name) or real_run_head(name, *a))
    comparison = compare.run_all(models, image, {"ocr": current})
    assert "ocr" not in traced_heads and len(traced_heads) == len(models) - 1
    ocr = comparison.runs["ocr"].arrays
    assert ocr.w is current.w and ocr.x is current.x and ocr.features is current.features
    assert all(run.arrays.features is current.features for run in comparison.runs.values())
    fresh = compare.run_all(models, image)  # traced from scratch: the same numbers
    np.testing.assert_allclose(fresh.runs["ocr"].arrays.logits, ocr.logits, rtol=1e-5, atol=1e-5)
    other = trace_arrays.run(model, image.transpose(Image.Transpose.FLIP_LEFT_RIGHT), meta["arch"]["head"])
    traced_heads.clear()
    assert compare.run_all(models, image, {"ocr": other}).runs["ocr"].arrays.w is not other.w
    assert "ocr" in traced_heads


def test_the_apps_comparison_takes_the_default_models_trace_only(monkeypatch):
    """model_choice.comparison_job hands run_all the current trace when it is the default model's (the
    comparison's "ocr" head), and nothing for another model's trace; the cache key is the same either way."""
    from ocr_viz.app import model_choice

    seen = []
    monkeypatch.setattr(compare, "run_all", lambda models, image, traced: seen.append(traced) or "done")
    image = np.zeros((480, 640, 3), np.uint8)
    arrays = object()
    default_key = model_choice.shipped_model("ocr")[0]
    key, job = model_choice.comparison_job(image, default_key, arrays)
    other_key, other_job = model_choice.comparison_job(image, "shipped:ocr_paper_widths:1", arrays)
    assert job() == other_job() == "done" and key == other_key == model_choice.comparison_job(image)[0]
    assert seen == [{"ocr": arrays}, {}]


def test_a_new_image_lets_go_of_the_sessions_old_trace_before_its_own_is_computed(monkeypatch):
    """While a session's new trace waits in the queue (seconds, with a class uploading), nothing of the session
    holds its old one: not its state, nor the relation page's fragment (whose page namespace drew it); the same
    image's rerun keeps it."""
    import gc
    import weakref

    import streamlit as st
    from app_helpers import open_page, start

    from ocr_viz.app import model_choice, session

    at = open_page(start({"image": "sample:home.jpg"}), "relation")  # a page with a fragment
    seen = []
    real = model_choice._arrays

    def spy(trace_key, *args):
        gc.collect()  # the page namespace is a reference cycle: the server's queue collects it within a second
        seen.append((session.CURRENT in st.session_state, old() is not None))
        return real(trace_key, *args)

    monkeypatch.setattr(model_choice, "_arrays", spy)
    old = weakref.ref(at.session_state[session.CURRENT])  # each run makes its own Current; the page's is this one
    at.run()
    old = weakref.ref(at.session_state[session.CURRENT])
    at.session_state[session.IMAGE] = session.DEFAULT_IMAGE
    at.run()
    assert not at.exception
    assert seen == [(True, True), (False, False)]
    assert at.session_state[session.CURRENT].image_key == session.DEFAULT_IMAGE
    assert at.get("plotly_chart")  # the relation page drew again, its fragment included
