"""Explicit constructors: an architecture description (a small dict, stored in every
checkpoint) -> a Segmentor. No registry: each head is one branch below."""
from __future__ import annotations

import copy

from torch import nn

from .backbones.efficientnet_lite import EfficientNetLite0, FEATURE_CHANNELS
from .segmentor import Segmentor

HEADS = ("ocr", "fcn", "aspp", "nonlocal", "baseoc")

# The shipped architecture: EfficientNet-Lite0 at output stride 16, its stride-8, stride-16
# and final stages fused at stride 8 (472 channels), heads at half the paper's widths.
DEFAULT_ARCH = {
    "backbone": "efficientnet_lite0",
    "output_stride": 16,
    "feature_names": ["stride8", "stride16", "final"],
    "head": "ocr",
    "head_kwargs": {"mid_channels": 256, "key_channels": 128, "dropout": 0.05},
    "num_classes": 11,
}
COMPARISON_HEAD_KWARGS = {
    "fcn": {"mid_channels": 256},
    "aspp": {"mid_channels": 256, "rates": [12, 24, 36]},
    "nonlocal": {"mid_channels": 256},
    "baseoc": {"mid_channels": 256, "key_channels": 128},
}


def arch_for(head: str, **overrides) -> dict:
    """The default architecture with another head (and its default widths)."""
    arch = copy.deepcopy(DEFAULT_ARCH)
    arch["head"] = head
    if head != "ocr":
        arch["head_kwargs"] = copy.deepcopy(COMPARISON_HEAD_KWARGS[head])
    arch.update(overrides)
    return arch


def build_head(name: str, in_channels: int, num_classes: int, **kwargs) -> nn.Module:
    if name == "ocr":
        from ocr_viz.model.heads.ocr import OCRHead
        return OCRHead(in_channels, num_classes, **kwargs)
    if name == "fcn":
        from ocr_viz.model.heads.fcn import FCNHead
        return FCNHead(in_channels, num_classes, **kwargs)
    if name == "aspp":
        from ocr_viz.model.heads.aspp import ASPPHead
        return ASPPHead(in_channels, num_classes, **{k: tuple(v) if k == "rates" else v for k, v in kwargs.items()})
    if name == "nonlocal":
        from ocr_viz.model.heads.nonlocal_ import NonLocalHead
        return NonLocalHead(in_channels, num_classes, **kwargs)
    if name == "baseoc":
        from ocr_viz.model.heads.base_oc import BaseOCHead
        return BaseOCHead(in_channels, num_classes, **kwargs)
    raise ValueError(f"unknown head {name!r}; known heads: {', '.join(HEADS)}")


def build(arch: dict) -> Segmentor:
    if arch.get("backbone") != "efficientnet_lite0":
        raise ValueError(f"unknown backbone {arch.get('backbone')!r}; only 'efficientnet_lite0' is built in")
    names = tuple(arch["feature_names"])
    unknown = [n for n in names if n not in FEATURE_CHANNELS]
    if unknown:
        raise ValueError(f"unknown backbone features {unknown}; choose from {list(FEATURE_CHANNELS)}")
    in_channels = sum(FEATURE_CHANNELS[n] for n in names)
    head = build_head(arch["head"], in_channels, arch["num_classes"], **arch.get("head_kwargs", {}))
    return Segmentor(EfficientNetLite0(arch["output_stride"]), head, names)
