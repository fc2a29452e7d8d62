"""Dilated ResNet-101 at output stride 8, the backbone of the ResNet-101 OCR releases.

Both sources replace ResNet's 7x7 stem with three 3x3 convs (the "deep stem") and turn the
strides of layer3 and layer4 into dilations 2 and 4, the first block of each keeping half the
dilation (openseg's `_nostride_dilate`, mmsegmentation's ResNetV1c with contract_dilation).
They differ in the stem widths: openseg 64, 64, 128 (so layer1 starts from 128 channels),
mmsegmentation 32, 32, 64, and in the max-pool after the stem: openseg's (resnet_models.py,
"# change.") rounds up (ceil_mode=True), so an even stem output of s cells pools to s/2 + 1, not
s/2, and every later map sits on another grid; mmsegmentation's ResNetV1c rounds down. The stem
is one nn.Sequential (conv, BN, ReLU) x 3, named as mmsegmentation names it (stem.0, stem.1, stem.3, ...).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .blocks import Bottleneck, bn

STEMS = {"openseg": (64, 64, 128), "mmseg": (32, 32, 64)}
CEIL_MODE = {"openseg": True, "mmseg": False}  # the stem max-pool's rounding, per source
RESNET101_BLOCKS = (3, 4, 23, 3)
# (planes, stride, dilation) of layer1..layer4 at output stride 8
LAYERS = ((64, 1, 1), (128, 2, 1), (256, 1, 2), (512, 1, 4))


@dataclass(frozen=True)
class ResNetFeatures:
    """layer1 (B,256,H/4,W/4), layer2 (B,512,H/8,W/8), layer3 (B,1024,H/8,W/8), layer4 (B,2048,H/8,W/8)."""

    layer1: torch.Tensor
    layer2: torch.Tensor
    layer3: torch.Tensor
    layer4: torch.Tensor


def deep_stem(widths: tuple[int, int, int]) -> nn.Sequential:
    layers, c_in = [], 3
    for i, c in enumerate(widths):
        layers += [nn.Conv2d(c_in, c, 3, 2 if i == 0 else 1, 1, bias=False), bn(c), nn.ReLU(inplace=True)]
        c_in = c
    return nn.Sequential(*layers)


def res_layer(c_in: int, planes: int, blocks: int, stride: int, dilation: int) -> nn.Sequential:
    """`blocks` Bottlenecks; the first strides (or, in a dilated layer, uses half the dilation)."""
    first = Bottleneck(c_in, planes, stride, max(1, dilation // 2))
    return nn.Sequential(first, *[Bottleneck(planes * 4, planes, 1, dilation) for _ in range(blocks - 1)])


class DilatedResNet(nn.Module):
    def __init__(self, stem: str = "mmseg", blocks: tuple[int, ...] = RESNET101_BLOCKS, contract_dilation: bool = True):
        super().__init__()
        if stem not in STEMS:
            raise ValueError(f"unknown ResNet stem {stem!r}; known: {', '.join(STEMS)}")
        if not contract_dilation:
            raise ValueError("only contract_dilation=True (first block of a dilated layer at half the dilation) is built")
        self.stem = deep_stem(STEMS[stem])
        self.maxpool = nn.MaxPool2d(3, 2, 1, ceil_mode=CEIL_MODE[stem])
        c_in = STEMS[stem][-1]
        for i, ((planes, stride, dilation), n) in enumerate(zip(LAYERS, blocks), start=1):
            setattr(self, f"layer{i}", res_layer(c_in, planes, n, stride, dilation))
            c_in = planes * 4

    @property
    def channels(self) -> dict[str, int]:
        return {"layer1": 256, "layer2": 512, "layer3": 1024, "layer4": 2048}

    def forward(self, images: torch.Tensor) -> ResNetFeatures:
        x = self.maxpool(self.stem(images))
        out = []
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
            out.append(x)
        return ResNetFeatures(*out)
