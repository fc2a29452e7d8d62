"""openseg.pytorch OCR checkpoints, proven by key mapping only (openseg's code needs CUDA
extensions and does not run here): synthetic state dicts named and shaped as
lib/models/nets/ocrnet.py (SpatialOCRNet), lib/models/nets/hrnet.py (HRNet_W48_OCR) and
lib/models/modules/spatial_ocr_block.py build them with torch BatchNorm."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ocr_viz.model import convert
from ocr_viz.model.backbones.hrnet import HRNet
from ocr_viz.model.backbones.resnet import DilatedResNet

K = 19


def conv(out, inp, k=1, bias=True):
    d = {"weight": (out, inp, k, k)}
    return d | ({"bias": (out,)} if bias else {})


def bn(c):
    return {"weight": (c,), "bias": (c,), "running_mean": (c,), "running_var": (c,), "num_batches_tracked": ()}


def spatial_ocr(prefix: str) -> dict:
    """SpatialOCR_Module(512, 256, 512): every 1x1 conv with a bias, BNReLU = Sequential(BN, ReLU)."""
    b = prefix + "object_context_block."
    parts = {b + "f_pixel.0": conv(256, 512), b + "f_pixel.1.0": bn(256), b + "f_pixel.2": conv(256, 256), b + "f_pixel.3.0": bn(256),
             b + "f_object.0": conv(256, 512), b + "f_object.1.0": bn(256), b + "f_object.2": conv(256, 256), b + "f_object.3.0": bn(256),
             b + "f_down.0": conv(256, 512), b + "f_down.1.0": bn(256), b + "f_up.0": conv(512, 256), b + "f_up.1.0": bn(512),
             prefix + "conv_bn_dropout.0": conv(512, 1024), prefix + "conv_bn_dropout.1.0": bn(512)}
    return parts


def materialise(parts: dict, backbone: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    state = {k: torch.randn(v.shape, generator=g) if v.is_floating_point() else torch.zeros((), dtype=torch.int64)
             for k, v in backbone.items()}
    for module, tensors in parts.items():
        for name, shape in tensors.items():
            state[f"{module}.{name}"] = torch.zeros((), dtype=torch.int64) if name == "num_batches_tracked" \
                else torch.randn(shape, generator=g)
    return {"module." + k: v for k, v in state.items()}  # saved from DataParallel


def openseg_hrnet_w48_ocr() -> dict[str, torch.Tensor]:
    with torch.device("meta"):
        backbone = {"backbone." + k: v for k, v in HRNet("w48").state_dict().items()}  # same names as openseg's HRNet
    parts = {"conv3x3.0": conv(512, 720, 3), "conv3x3.1.0": bn(512), **spatial_ocr("ocr_distri_head."),
             "cls_head": conv(K, 512), "aux_head.0": conv(720, 720, 3), "aux_head.1.0": bn(720), "aux_head.2": conv(K, 720)}
    return materialise(parts, {k: torch.empty(v.shape, dtype=v.dtype) for k, v in backbone.items()})


def openseg_resnet101_ocr() -> dict[str, torch.Tensor]:
    with torch.device("meta"):
        ours = DilatedResNet("openseg").state_dict()
    stem = {0: "conv1", 1: "bn1", 3: "conv2", 4: "bn2", 6: "conv3", 7: "bn3"}
    backbone = {}
    for k, v in ours.items():
        if k.startswith("stem."):
            i, rest = k[5:].split(".", 1)
            k = f"resinit.{stem[int(i)]}.{rest}"
        backbone["backbone." + k] = torch.empty(v.shape, dtype=v.dtype)
    parts = {"conv_3x3.0": conv(512, 2048, 3), "conv_3x3.1.0": bn(512), **spatial_ocr("spatial_ocr_head."),
             "head": conv(K, 512), "dsn_head.0": conv(512, 1024, 3), "dsn_head.1.0": bn(512), "dsn_head.3": conv(K, 512)}
    return materialise(parts, backbone)


@pytest.mark.parametrize("make, backbone", [(openseg_hrnet_w48_ocr, "hrnet"), (openseg_resnet101_ocr, "resnet101")])
def test_openseg_checkpoints_map_every_tensor(make, backbone):
    state = make()
    c = convert.convert_state(convert.strip_prefixes(convert.unwrap({"state_dict": state})))
    arch, head = c.meta["arch"], c.meta["arch"]["head_kwargs"]
    assert c.meta["source"]["layout"] == "openseg" and arch["backbone"] == backbone and arch["num_classes"] == K
    assert head["conv_bias"] and head["attention_bias"] and head["aux_kernel"] == 3 and arch["align_corners"] is True
    src = {k[len("module."):]: v for k, v in state.items()}
    if backbone == "hrnet":
        assert arch["hrnet_layout"] == "w48" and head["aux_channels"] == 720
        pairs = {"head.aux_head.1.weight": "aux_head.2.weight", "head.conv3x3.1.running_var": "conv3x3.1.0.running_var",
                 "head.rho.0.bias": "ocr_distri_head.object_context_block.f_up.0.bias"}
    else:
        assert arch["resnet_stem"] == "openseg" and arch["aux_feature"] == "layer3" and head["aux_channels"] == 512
        pairs = {"backbone.stem.6.weight": "backbone.resinit.conv3.weight", "head.classifier.bias": "head.bias",
                 "head.aux_head.0.1.weight": "dsn_head.1.0.weight", "head.g.0.0.bias": "spatial_ocr_head.conv_bn_dropout.0.bias"}
    for ours, theirs in pairs.items():
        assert torch.equal(c.tensors[ours], src[theirs]), ours
    assert c.meta["channel_order"] == "BGR" and arch["source_input"] == convert.OPENSEG_INPUT[backbone]
    model, _ = convert.to_model(c)  # loads strictly and runs
    assert model.source_input is not None and not list(model.source_input.state_dict())  # no tensors of its own
    logits = model.predict(torch.zeros(1, 3, 64, 64))
    assert logits.shape == (1, K, 64, 64)


def test_inplace_abn_checkpoints_are_refused_with_the_reason():
    state = {k.replace("conv3x3.1.0.", "conv3x3.1."): v for k, v in convert.strip_prefixes(openseg_hrnet_w48_ocr()).items()}
    with pytest.raises(convert.ConvertError, match="InPlace-ABN"):
        convert.convert_state(state)


@pytest.mark.parametrize("backbone", ["hrnet", "resnet101"])
def test_openseg_models_see_the_input_their_configs_feed(backbone):
    """openseg's data pipeline, written out on raw pixels: cv2's BGR order, / div_value, then
    (channel - mean[c]) / std[c] in that order. The app's preprocessed RGB input, through the
    converted model's SourceInput, must equal it."""
    from ocr_viz.data.transforms import normalize
    from ocr_viz.model.segmentor import SourceInput

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(5, 7, 3)).astype(np.float64)
    spec = convert.OPENSEG_INPUT[backbone]
    bgr = rgb[..., ::-1] / spec["div"]
    expected = (bgr - np.array(spec["mean"])) / np.array(spec["std"])
    app_input = normalize(torch.tensor(rgb / 255.0, dtype=torch.float32).permute(2, 0, 1))[None]
    ours = SourceInput(**spec)(app_input)[0].permute(1, 2, 0).double().numpy()
    scale = np.abs(expected).max()
    assert np.abs(ours - expected).max() <= 1e-5 * scale
    swapped = (rgb / spec["div"] - np.array(spec["mean"])) / np.array(spec["std"])  # the RGB mistake
    assert np.abs(swapped - expected).max() > 1e-2 * scale
