"""openseg.pytorch's OCR models converted and traced equal what openseg's own code computed
(tests/fixtures/openseg_ocr/, made by scripts/make_openseg_fixture.py from openseg-group/openseg.pytorch
on the CPU: torch BatchNorm as its `torchbn`, InPlace-ABN emulated as that library computes it).

Each case's weights are regenerated from its key list and a seed, saved as openseg's runner saves
them ({'config_dict', 'state_dict'}, `module.` keys), converted from the file's bytes and run on the
case's raw RGB image through the app's normalisation and the model's SourceInput; openseg's side
saw the same pixels through its config's pipeline (BGR, / div_value, mean and std)."""
from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from einops import rearrange

from ocr_viz.data.transforms import normalize
from ocr_viz.model import convert
from ocr_viz.model.segmentor import upsample

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "openseg_ocr"
K = 19


def fixture_module():
    spec = importlib.util.spec_from_file_location("make_openseg_fixture", ROOT / "scripts" / "make_openseg_fixture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def saved_as_openseg_saves(case: str) -> tuple[bytes, dict[str, torch.Tensor]]:
    """The bytes of {'config_dict', 'state_dict'} with the case's seeded weights, and that state dict."""
    make = fixture_module()
    state = make.seeded_state(make.read_keys(FIXTURE / make.keys_file(case)))
    buffer = io.BytesIO()
    torch.save({"config_dict": json.loads((FIXTURE / f"{case}_config.json").read_text()), "state_dict": state}, buffer)
    return buffer.getvalue(), state


def app_input(rgb: np.ndarray) -> torch.Tensor:
    """What the app feeds a model: RGB / 255, ImageNet mean and std (ocr_viz.data.transforms)."""
    return normalize(torch.from_numpy(rgb).permute(2, 0, 1).double() / 255.0)[None]


CASES = {  # case: (backbone, InPlace-ABN norms expected, head ReLU slope, feature map size)
    "r101_torchbn_even": ("resnet101", 0, 0.0, (9, 17)),    # stem 32 x 64: ceil_mode pools to 17 x 33, floor to 16 x 32
    "r101_torchbn_odd": ("resnet101", 0, 0.0, (8, 16)),     # stem 31 x 63: both roundings give 16 x 32
    "r101_abn_even": ("resnet101", 115, 0.01, (9, 17)),     # every norm InPlace-ABN (105 backbone + 10 head)
    "hrnet_w48_abn": ("hrnet", 314, 0.01, (16, 24)),        # the release: InPlace-ABN backbone (305) and head (9)
    "hrnet_w48_torchbn_head": ("hrnet", 305, 0.0, (16, 24)),  # openseg master with bn_type torchbn: the backbone stays InPlace-ABN
    "hrnet_w48_torchbn": ("hrnet", 0, 0.0, (16, 24)),       # the backbone rebuilt with torch BatchNorm
}


@pytest.mark.parametrize("case", list(CASES))
def test_openseg_ocr_equals_openseg_code(case):
    backbone, abn_norms, slope, grid = CASES[case]
    raw, state = saved_as_openseg_saves(case)
    assert all(k.startswith("module.") for k in state)
    assert any(k.endswith("num_batches_tracked") for k in state) == (case != "hrnet_w48_abn" and case != "r101_abn_even")
    c = convert.convert(raw, file_name=f"{case}.pth")
    arch, head = c.meta["arch"], c.meta["arch"]["head_kwargs"]
    assert c.meta["source"]["layout"] == "openseg" and arch["backbone"] == backbone and arch["num_classes"] == K
    assert c.meta["source"]["norm"]["inplace_abn"] == abn_norms
    assert head.get("relu_slope", 0.0) == slope
    assert arch.get("hrnet_layout", "w48") == "w48" and arch.get("resnet_stem", "openseg") == "openseg"
    from ocr_viz.teaching.explain import release_notes  # the About page says so

    notes = " ".join(release_notes(c.meta))
    assert ("leaky (slope 0.01" in notes) == bool(slope) and (f"{abn_norms} of its batch norms are InPlace-ABN" in notes) == bool(abn_norms)

    model, _ = convert.to_model(c)  # float32, as the app runs it; openseg's side ran in float64
    reference = dict(np.load(FIXTURE / f"{case}_io.npz"))
    images = app_input(np.load(FIXTURE / f"{case}_image.npy")).float()
    h = model.trace(images).head
    ours = {"M": h.M, "f": rearrange(h.f, "b k c -> b c k 1"), "logits": h.logits}
    assert tuple(h.M.shape[-2:]) == grid
    for stage, value in ours.items():
        ref = reference[stage]
        assert value.shape == ref.shape, (stage, tuple(value.shape), ref.shape)
        # float32 rounding alone stays under 4e-5 of max |openseg| here (f of r101_torchbn_even)
        err = np.abs(value.double().numpy() - ref).max() / np.abs(ref).max()
        assert err <= 1e-4, f"{case} {stage}: max|ours - openseg| = {err:.2e} x max|openseg|"
    # openseg returns logits upsampled to the input with align_corners=True: the same labels, but for
    # near-ties that float32 may flip
    pred = upsample(h.logits, images.shape[-2:], align_corners=True).argmax(1).numpy()
    assert (pred == reference["pred"]).mean() >= 0.999


def test_the_stem_pool_rounds_up_as_openseg_does():
    """openseg's max-pool after the deep stem has ceil_mode=True: a 32 x 64 stem output pools to
    17 x 33 (mmsegmentation's floor: 16 x 32), by the pooling formula out = ceil((s + 2 - 3) / 2) + 1."""
    from ocr_viz.model.backbones.resnet import DilatedResNet

    for stem, expected in (("openseg", (17, 33)), ("mmseg", (16, 32))):
        with torch.device("meta"):
            net = DilatedResNet(stem)
        assert tuple(net.maxpool(torch.empty(1, 8, 32, 64, device="meta")).shape[-2:]) == expected, stem


def test_an_inplace_abn_head_mixed_with_torch_bn_is_refused_naming_the_keys():
    """openseg builds every BNReLU with one bn_type; a file with both kinds is no model of its code."""
    make = fixture_module()
    state = convert.strip_prefixes(make.seeded_state(make.read_keys(FIXTURE / make.keys_file("hrnet_w48_abn"))))
    mixed = {(k.replace("conv3x3.1.", "conv3x3.1.0.")): v for k, v in state.items()}
    with pytest.raises(convert.ConvertError, match=r"unsupported InPlace-ABN layout.*aux_head\.1\.weight.*conv3x3\.1\.0\.weight"):
        convert.convert_state(mixed)
    # a one-module BNReLU that carries torch BatchNorm's counter is not InPlace-ABN either
    counted = {**state, "conv3x3.1.num_batches_tracked": torch.zeros((), dtype=torch.int64)}
    with pytest.raises(convert.ConvertError, match=r"conv3x3\.1\.num_batches_tracked"):
        convert.convert_state(counted)
    # nor a backbone where some norms are InPlace-ABN and others torch BatchNorm
    half = {**state, "backbone.bn1.num_batches_tracked": torch.zeros((), dtype=torch.int64)}
    with pytest.raises(convert.ConvertError, match=r"in the backbone.*backbone\.bn1\.num_batches_tracked"):
        convert.convert_state(half)


@pytest.mark.parametrize("backbone", ["hrnet", "resnet101"])
def test_openseg_models_see_the_input_their_configs_feed(backbone):
    """openseg's data pipeline, written out on raw pixels: cv2's BGR order, / div_value, then
    (channel - mean[c]) / std[c] in that order. The app's preprocessed RGB input, through the
    converted model's SourceInput, must equal it."""
    from ocr_viz.model.segmentor import SourceInput

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(5, 7, 3)).astype(np.float64)
    spec = convert.OPENSEG_INPUT[backbone]
    bgr = rgb[..., ::-1] / spec["div"]
    expected = (bgr - np.array(spec["mean"])) / np.array(spec["std"])
    app = normalize(torch.tensor(rgb / 255.0, dtype=torch.float32).permute(2, 0, 1))[None]
    ours = SourceInput(**spec)(app)[0].permute(1, 2, 0).double().numpy()
    scale = np.abs(expected).max()
    assert np.abs(ours - expected).max() <= 1e-5 * scale
    swapped = (rgb / spec["div"] - np.array(spec["mean"])) / np.array(spec["std"])  # the RGB mistake
    assert np.abs(swapped - expected).max() > 1e-2 * scale


# ---------------------------------------------------------------- python -m ocr_viz.bench official

def test_bench_official_says_what_it_needs(tmp_path, capsys):
    """The official-code benchmark refuses, with the reason and exit 2, a file of another layout and
    a --official-src that is no HRNet-OCR checkout (it never falls back to timing ours alone)."""
    from ocr_viz import bench

    raw, _ = saved_as_openseg_saves("r101_torchbn_odd")
    openseg_file = tmp_path / "openseg.pth"
    openseg_file.write_bytes(raw)
    assert bench.main(["official", "--model", str(openseg_file), "--official-src", str(tmp_path)]) == 2
    assert "not in the HRNet-OCR release format" in capsys.readouterr().out
    release = ROOT.parent / "shared" / "fixtures" / "hrnet_ocr" / "hrnet_ocr_w18s_seed0.pth"
    if not release.is_file():
        pytest.skip("../shared/fixtures/hrnet_ocr/ is not here")
    assert bench.main(["official", "--model", str(release), "--official-src", str(tmp_path)]) == 2
    assert "has no lib/models/seg_hrnet_ocr.py" in capsys.readouterr().out
