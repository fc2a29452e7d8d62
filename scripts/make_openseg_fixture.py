"""Make tests/fixtures/openseg_ocr/: what openseg.pytorch's own OCR code computes from random weights,
for the conversion test (tests/test_official_openseg.py).

openseg.pytorch is never part of this project: check it out anywhere outside the repository and
point --openseg at it (the directory that holds lib/ and configs/), e.g. from a git mirror:
    mkdir /tmp/openseg_src && git --git-dir=MIRROR archive HEAD lib configs | tar x -C /tmp/openseg_src
    python scripts/make_openseg_fixture.py --openseg /tmp/openseg_src
It runs on the CPU with the project's torch. openseg builds its models through
lib/models/tools/module_helper.py; `torchbn` is plain torch BatchNorm. Its `inplace_abn` needs the
compiled InPlace-ABN extension (and on torch >= 1.3 module_helper finds none at all), so it is
emulated here exactly as that library computes in eval mode (inplace_abn 1.x src/inplace_abn_cpu.cpp,
and openseg's bundled lib/extensions/inplace_abn*/src/*_cpu.cpp alike): batch norm with the scale
|weight| + eps, then leaky_relu(activation_param = 0.01), elu or nothing by its `activation`.
openseg's HRNet backbone hard-codes bn_type='inplace_abn' (activation identity), so the HRNet
cases carry no num_batches_tracked in their backbone unless the "torchbn backbone" case rebuilds it.

The weights are not stored (ResNet-101 and HRNet-W48 are 200-260 MB): `seeded_state` regenerates
them from the stored key list and the seed, here and in the test (same torch version). BatchNorm
scales get random signs so that a converter that forgets InPlace-ABN's |weight| is caught.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "openseg_ocr"
SEED = 0
NUM_CLASSES = 19

# case -> (openseg model_name, backbone, config, bn_type for the head (and ResNet backbone), HRNet backbone BN, input H x W)
CASES = {
    # openseg's ResNet-101 OCRNet; 64 x 128 gives a 32 x 64 stem output (even: ceil_mode matters), 62 x 126 gives 31 x 63
    "r101_torchbn_even": ("spatial_ocrnet", "deepbase_resnet101_dilated8", "R_101_D_8.json", "torchbn", None, (64, 128)),
    "r101_torchbn_odd": ("spatial_ocrnet", "deepbase_resnet101_dilated8", "R_101_D_8.json", "torchbn", None, (62, 126)),
    # as its config trains it (and so as the released file is): InPlace-ABN everywhere
    "r101_abn_even": ("spatial_ocrnet", "deepbase_resnet101_dilated8", "R_101_D_8.json", "inplace_abn", None, (64, 128)),
    # HRNet-W48-OCR: as the config trains it (InPlace-ABN backbone and head), as the master branch builds it
    # with bn_type torchbn (InPlace-ABN backbone, torch BN head), and all torch BN (backbone rebuilt with torchbn)
    "hrnet_w48_abn": ("hrnet_w48_ocr", "hrnet48", "H_48_D_4.json", "inplace_abn", "inplace_abn", (64, 96)),
    "hrnet_w48_torchbn_head": ("hrnet_w48_ocr", "hrnet48", "H_48_D_4.json", "torchbn", "inplace_abn", (64, 96)),
    "hrnet_w48_torchbn": ("hrnet_w48_ocr", "hrnet48", "H_48_D_4.json", "torchbn", "torchbn", (64, 96)),
}


def keys_file(case: str) -> str:
    """Cases that build the same network share one key list."""
    return {"r101_torchbn_odd": "r101_torchbn_even"}.get(case, case) + "_keys.txt"


def seeded_state(keys: list[tuple[str, tuple[int, ...], str]], seed: int = SEED) -> dict[str, torch.Tensor]:
    """Random weights that keep activations in range: conv ~ N(0, 1/fan_in), 1-D weights (BN
    scales) ~ +-(1 + N(0, 0.1^2)) with random signs, biases and running means ~ N(0, 0.1^2),
    running vars ~ U(0.5, 1.5)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape, dtype in keys:
        if dtype == "int64":
            state[key] = torch.zeros(shape, dtype=torch.int64)
        elif key.endswith("running_var"):
            state[key] = 0.5 + torch.rand(shape, generator=g)
        elif len(shape) == 4:
            fan_in = shape[1] * shape[2] * shape[3]
            state[key] = torch.randn(shape, generator=g) / fan_in ** 0.5
        elif key.endswith("weight"):
            sign = torch.where(torch.rand(shape, generator=g) < 0.5, -1.0, 1.0)
            state[key] = sign * (1.0 + 0.1 * torch.randn(shape, generator=g))
        else:
            state[key] = 0.1 * torch.randn(shape, generator=g)
    return state


def read_keys(path: Path) -> list[tuple[str, tuple[int, ...], str]]:
    """(key, shape, dtype) per line of a key list: the format of the mmseg fixtures, read by their script's reader."""
    spec = importlib.util.spec_from_file_location("make_mmseg_fixture", Path(__file__).with_name("make_mmseg_fixture.py"))
    mmseg_fixture = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mmseg_fixture)
    return mmseg_fixture.read_keys(path)


def image(height: int, width: int) -> np.ndarray:
    """The test input, H x W x 3 uint8 RGB: the shipped CamVid frame, box-downsampled and cropped."""
    from PIL import Image

    src = Image.open(ROOT / "assets" / "samples" / "camvid" / "0001TP_008550.jpg").convert("RGB")
    small = src.resize((width * 2, round(width * 2 * src.height / src.width)), Image.BOX).resize((width, round(width * src.height / src.width)), Image.BOX)
    top = (small.height - height) // 2
    return np.asarray(small)[top : top + height].copy()


class InPlaceABNSync(nn.Module):
    """InPlace-ABN in eval mode as the library computes it: (x - mean) / sqrt(var + eps) * (|weight| + eps)
    + bias, then the activation. Parameters and buffers named as the library names them (no
    num_batches_tracked)."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, activation="leaky_relu", activation_param=0.01):
        super().__init__()
        self.eps, self.activation, self.activation_param = eps, activation, activation_param
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        if self.training:
            raise RuntimeError("the emulation is for eval mode only")
        x = F.batch_norm(x, self.running_mean, self.running_var, self.weight.abs() + self.eps, self.bias, False, 0.0, self.eps)
        if self.activation == "leaky_relu":
            return F.leaky_relu(x, self.activation_param)
        if self.activation == "elu":
            return F.elu(x, self.activation_param)
        if self.activation in ("identity", "none"):
            return x
        raise ValueError(self.activation)


def patch_inplace_abn() -> None:
    """module_helper's `inplace_abn` branches, as it writes them for inplace_abn 1.x (torch 1.2),
    with the emulation in place of the compiled library."""
    import functools

    from lib.models.tools.module_helper import ModuleHelper

    bn_relu, batch_norm = ModuleHelper.BNReLU, ModuleHelper.BatchNorm2d

    def BNReLU(num_features, bn_type=None, **kwargs):
        return InPlaceABNSync(num_features, **kwargs) if bn_type == "inplace_abn" else bn_relu(num_features, bn_type=bn_type, **kwargs)

    def BatchNorm2d(bn_type="torch", ret_cls=False):
        if bn_type == "inplace_abn":
            return InPlaceABNSync if ret_cls else functools.partial(InPlaceABNSync, activation="identity")
        return batch_norm(bn_type=bn_type, ret_cls=ret_cls)

    ModuleHelper.BNReLU, ModuleHelper.BatchNorm2d = staticmethod(BNReLU), staticmethod(BatchNorm2d)


def build(src: Path, case: str) -> tuple[nn.Module, dict]:
    from lib.models.backbones.hrnet.hrnet_backbone import HighResolutionNet
    from lib.models.backbones.hrnet.hrnet_config import MODEL_CONFIGS
    from lib.models.nets.hrnet import HRNet_W48_OCR
    from lib.models.nets.ocrnet import SpatialOCRNet
    from lib.utils.tools.configer import Configer

    model_name, backbone, config, bn_type, hrnet_bn, _ = CASES[case]
    configer = Configer(configs=str(src / "configs" / "cityscapes" / config))
    for key, value in (("backbone", backbone), ("model_name", model_name), ("bn_type", bn_type), ("pretrained", None)):
        # as main.py's --backbone, --model_name, --bn_type, --pretrained do
        (configer.update if configer.exists("network", key) else configer.add)(["network", key], value)
    # lib/models/model_manager.py's SEG_MODEL_DICT entries (imported directly: the module also imports
    # SegFix, which needs cv2)
    model = {"spatial_ocrnet": SpatialOCRNet, "hrnet_w48_ocr": HRNet_W48_OCR}[model_name](configer)
    if hrnet_bn == "torchbn":  # HRNetBackbone always passes inplace_abn; the same class built with torch BN
        model.backbone = HighResolutionNet(MODEL_CONFIGS["hrnet48"], bn_type="torchbn", bn_momentum=0.1)
    return model.eval(), configer.to_dict()


def openseg_input(rgb: np.ndarray, config: dict) -> torch.Tensor:
    """openseg's test-time input from its config: cv2's BGR order (data.input_mode), / div_value,
    minus mean over std (normalize), channels first."""
    assert config["data"]["input_mode"] == "BGR"
    norm = config["normalize"]
    bgr = rgb[..., ::-1].astype(np.float64) / norm["div_value"]
    x = (bgr - np.array(norm["mean"])) / np.array(norm["std"])
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]


def record(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """openseg's forward with hooks on the OCR stages: M (aux logits), f (gathered region
    representations, b x c x K x 1), logits (classifier, feature resolution) and pred (argmax of
    the returned logits at input size). The 512-channel x, y, z are left out to keep the fixture small."""
    names = ({"dsn_head": "M", "spatial_context_head": "f", "head": "logits"} if hasattr(model, "dsn_head") else
             {"aux_head": "M", "ocr_gather_head": "f", "cls_head": "logits"})
    seen = {}
    modules = dict(model.named_modules())
    for module, stage in names.items():
        modules[module].register_forward_hook(lambda m, i, o, stage=stage: seen.__setitem__(stage, o.detach().clone()))
    with torch.no_grad():
        _, out = model(x)
    return {**seen, "pred": out.argmax(1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--openseg", required=True, type=Path, help="openseg.pytorch source (holds lib/ and configs/)")
    p.add_argument("--cases", nargs="*", default=list(CASES))
    args = p.parse_args()
    sys.path.insert(0, str(args.openseg))
    patch_inplace_abn()
    OUT.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    for case in args.cases:
        model, config = build(args.openseg, case)
        keys = [("module." + k, tuple(v.shape), str(v.dtype).replace("torch.", "")) for k, v in model.state_dict().items()]
        (OUT / keys_file(case)).write_text(
            f"# openseg.pytorch {CASES[case][0]} {CASES[case][1]} (bn_type {CASES[case][3]}), saved as its runner saves "
            "(module. prefix): state_dict key, shape, dtype\n" + "".join(f"{k}\t{s}\t{d}\n" for k, s, d in keys))
        state = seeded_state(keys)
        model.load_state_dict({k[len("module."):]: v for k, v in state.items()})
        rgb = image(*CASES[case][5])
        x = openseg_input(rgb, config)
        # float64: the reference itself free of float32 rounding (the test says how far float32 is from it)
        out = record(model.double(), x)
        np.save(OUT / f"{case}_image.npy", rgb)
        # stored as float32 (rounding 6e-8 relative) and the labels as uint8: small files
        np.savez_compressed(OUT / f"{case}_io.npz", **{k: v.numpy().astype(np.uint8 if k == "pred" else np.float32) for k, v in out.items()})
        (OUT / f"{case}_config.json").write_text(json.dumps({"model_name": CASES[case][0], "backbone": CASES[case][1],
                                                             "bn_type": CASES[case][3], "normalize": config["normalize"],
                                                             "input_mode": config["data"]["input_mode"]}, indent=1) + "\n")
        print(case, tuple(x.shape), {k: tuple(v.shape) for k, v in out.items()}, flush=True)


if __name__ == "__main__":
    main()
