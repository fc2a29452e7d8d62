"""Explicit constructors: an architecture description (a small dict, stored in every
checkpoint) -> a Segmentor. The heads are the rows of heads/table.py."""
from __future__ import annotations

import copy
import importlib

from torch import nn

from .backbones.efficientnet_lite import EfficientNetLite0
from .backbones.hrnet import HRNET_FEATURES, HRNet
from .heads import table
from .segmentor import Segmentor, SourceInput

HEADS = table.NAMES

# The shipped architecture: EfficientNet-Lite0 at output stride 16, its stride-8, stride-16
# and final stages fused at stride 8 (472 channels). Heads at the comparison's widths (about half
# the paper's); the default OCR model is at the paper's 512/256, which its file's metadata says.
DEFAULT_ARCH = {
    "backbone": "efficientnet_lite0",
    "output_stride": 16,
    "feature_names": ["stride8", "stride16", "final"],
    "head": "ocr",
    "head_kwargs": dict(table.BY_NAME["ocr"].widths),
    "num_classes": 11,
}
COMPARISON_HEAD_KWARGS = {h.name: h.widths for h in table.HEADS if h.name != "ocr"}


def arch_for(head: str, **overrides) -> dict:
    """The default architecture with another head (and its default widths)."""
    arch = copy.deepcopy(DEFAULT_ARCH)
    arch["head"] = head
    if head != "ocr":
        arch["head_kwargs"] = copy.deepcopy(COMPARISON_HEAD_KWARGS[head])
    arch.update(overrides)
    return arch


def build_head(name: str, in_channels: int, num_classes: int, **kwargs) -> nn.Module:
    """Head `name` (a row of heads/table.py) for features of `in_channels` channels."""
    head = table.row(name)
    cls = getattr(importlib.import_module(f"ocr_viz.model.heads.{head.module}"), head.cls)
    return cls(in_channels, num_classes, **kwargs)


def hrnet_ocr_arch(layout: str, num_classes: int, align_corners: bool = True) -> dict:
    """HRNet-OCR as lib/models/seg_hrnet_ocr.py (HRNet-OCR branch) builds it: the four branches
    upsampled to stride 4 and concatenated, the OCR head at stride 4 with the released widths,
    biases on its 3x3 conv and aux conv, gather scale 1, g on [y; x]."""
    return {
        "backbone": "hrnet", "hrnet_layout": layout, "feature_names": list(HRNET_FEATURES),
        "align_corners": align_corners, "head": "ocr", "num_classes": num_classes,
        "head_kwargs": {"mid_channels": 512, "key_channels": 256, "dropout": 0.05, "temperature": 1.0,
                        "conv_bias": True, "context_first": True},
    }


def build_backbone(arch: dict) -> nn.Module:
    name = arch.get("backbone")
    if name == "efficientnet_lite0":
        return EfficientNetLite0(arch["output_stride"])
    if name == "hrnet":
        return HRNet(arch["hrnet_layout"], align_corners=arch.get("align_corners", True))
    if name == "resnet101":
        from .backbones.resnet import DilatedResNet
        return DilatedResNet(arch["resnet_stem"])
    raise ValueError(f"unknown backbone {name!r}; built in: 'efficientnet_lite0', 'hrnet', 'resnet101'")


def build(arch: dict) -> Segmentor:
    backbone = build_backbone(arch)
    names = tuple(arch["feature_names"])
    unknown = [n for n in names + ((arch["aux_feature"],) if arch.get("aux_feature") else ()) if n not in backbone.channels]
    if unknown:
        raise ValueError(f"unknown backbone features {unknown}; choose from {list(backbone.channels)}")
    in_channels = sum(backbone.channels[n] for n in names)
    kwargs = dict(arch.get("head_kwargs", {}))
    if arch.get("aux_feature"):
        kwargs["aux_in_channels"] = backbone.channels[arch["aux_feature"]]
    head = build_head(arch["head"], in_channels, arch["num_classes"], **kwargs)
    source = arch.get("source_input")  # e.g. {"order": "BGR", "div": 1.0, "mean": [...], "std": [...]} (openseg)
    return Segmentor(backbone, head, names, align_corners=arch.get("align_corners", False), aux_feature=arch.get("aux_feature"),
                     source_input=SourceInput(**source) if source else None)
