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
