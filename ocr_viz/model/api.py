"""The public entry points: load a model by name or file, prepare an image, read a prediction."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ocr_viz.data.classes import CAMVID_CLASSES, CAMVID_PALETTE
from ocr_viz.data.transforms import MEAN, STD
from . import build, checkpoints
from .backbones.efficientnet_lite import load_imagenet_weights
from .paths import OFFICIAL_SUFFIXES, shipped_path
from .segmentor import Segmentor, upsample

class UntrainedWarning(UserWarning):
    """A model name whose trained weights are not shipped: the head is randomly initialised."""


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def untrained_meta(arch: dict) -> dict:
    return {
        "name": arch["head"], "arch": arch, "trained": False,
        "classes": list(CAMVID_CLASSES), "palette": [list(c) for c in CAMVID_PALETTE],
        "normalization": {"mean": list(MEAN), "std": list(STD), "input": "RGB / 255"},
    }


def load_model(name_or_path: str | Path | bytes, device: str | torch.device | None = None) -> tuple[Segmentor, dict]:
    """(model in eval mode, metadata) for a shipped name ("ocr", "fcn", "aspp", "nonlocal",
    "baseoc", or any other file in assets/weights/), a checkpoint path, or the bytes of an
    uploaded safetensors checkpoint. A released .pth / .pt / .pth.tar path is converted in
    memory (ocr_viz.model.convert; read with weights_only=True)."""
    device = torch.device(device) if device is not None else default_device()
    if isinstance(name_or_path, (str, Path)) and str(name_or_path).lower().endswith(OFFICIAL_SUFFIXES):
        from .convert import convert, to_model
        return to_model(convert(name_or_path), device)
    if isinstance(name_or_path, str) and (name_or_path in build.HEADS or shipped_path(name_or_path).is_file()):
        path = shipped_path(name_or_path)
        if not path.exists():
            arch = build.arch_for(name_or_path)
            model = build.build(arch)
            load_imagenet_weights(model.backbone)
            warnings.warn(
                f"no trained weights for {name_or_path!r} at {path}: ImageNet backbone, untrained head",
                UntrainedWarning, stacklevel=2,
            )
            return model.to(device).eval(), untrained_meta(arch)
        name_or_path = path
    return checkpoints.load(name_or_path, device)


def postprocess(logits: torch.Tensor, size: tuple[int, int], palette=CAMVID_PALETTE) -> tuple[np.ndarray, np.ndarray]:
    """(b,K,h,w) logits -> labels (b,H,W) int64 and their colours (b,H,W,3) uint8."""
    labels = upsample(logits, size).argmax(1).cpu().numpy()
    return labels, np.asarray(palette, dtype=np.uint8)[labels]


def fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A convolution computing conv followed by bn (in eval mode) in one step."""
    scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)  # float64 keeps the fold exact to ~1e-7
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                      conv.dilation, conv.groups, bias=True).to(conv.weight.device)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    with torch.no_grad():
        fused.weight.copy_(conv.weight.double() * scale.reshape(-1, 1, 1, 1))
        fused.bias.copy_((bias.double() - bn.running_mean.double()) * scale + bn.bias.double())
    return fused


@torch.no_grad()
def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every BatchNorm that directly follows a Conv2d (in an nn.Sequential, or as the
    named pairs of EfficientNet blocks) into that convolution; for inference only."""
    model.eval()
    for module in list(model.modules()):
        if isinstance(module, nn.Sequential):
            for i in range(len(module) - 1):
                if isinstance(module[i], nn.Conv2d) and isinstance(module[i + 1], nn.BatchNorm2d):
                    module[i], module[i + 1] = fold_conv_bn(module[i], module[i + 1]), nn.Identity()
        for conv_name, bn_name in (("_conv_stem", "_bn0"), ("_expand_conv", "_bn0"), ("_depthwise_conv", "_bn1"),
                                   ("_project_conv", "_bn2"), ("_conv_head", "_bn1")):
            conv, bn = getattr(module, conv_name, None), getattr(module, bn_name, None)
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                setattr(module, conv_name, fold_conv_bn(conv, bn))
                setattr(module, bn_name, nn.Identity())
    return model
