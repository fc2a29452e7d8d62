"""mmsegmentation's OCRNet (HR18s and R101-d8, Cityscapes configs) converted and traced: every
stage equals what mmsegmentation's own code computed (tests/fixtures/mmseg_ocrnet/, made by
scripts/make_mmseg_fixture.py in a separate environment with mmsegmentation 1.2.2)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from einops import rearrange

from ocr_viz.model import convert

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "mmseg_ocrnet"


def fixture_module():
    spec = importlib.util.spec_from_file_location("make_mmseg_fixture", ROOT / "scripts" / "make_mmseg_fixture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name, backbone", [("hr18s", "hrnet"), ("r101", "resnet101")])
def test_mmseg_ocrnet_every_stage_matches_mmsegmentation(name, backbone):
    make = fixture_module()
    state = make.seeded_state(make.read_keys(FIXTURE / f"{name}_keys.txt"))
    c = convert.convert_state(state, file_name=f"{name}.pth")
    arch = c.meta["arch"]
    assert c.meta["source"]["layout"] == "mmseg" and arch["backbone"] == backbone and arch["num_classes"] == 19
    assert arch["align_corners"] is False and arch["head_kwargs"]["context_first"] is True
    if backbone == "hrnet":
        assert arch["hrnet_layout"] == "w18_small_v2"
    else:
        assert arch["resnet_stem"] == "mmseg" and arch["aux_feature"] == "layer3"
    model, _ = convert.to_model(c)
    reference = dict(np.load(FIXTURE / f"{name}_io.npz"))
    h = model.trace(torch.from_numpy(np.load(FIXTURE / "image.npy"))).head
    ours = {"M": h.M, "x": h.x, "f": rearrange(h.f, "b k c -> b c k 1"), "y": h.y, "z": h.z, "logits": h.logits}
    for stage, value in ours.items():
        ref = reference[stage]
        assert value.shape == ref.shape, stage
        err = np.abs(value.numpy() - ref).max() / np.abs(ref).max()
        assert err <= 1e-4, f"{name} {stage}: max|ours - mmseg| = {err:.2e} x max|mmseg|"
