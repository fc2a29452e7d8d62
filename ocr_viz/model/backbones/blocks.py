"""The two residual blocks of ResNet (He et al. 2016) that HRNet and the dilated ResNets use.

Parameter names (conv1, bn1, ..., downsample.0/.1) are the ones every official OCR codebase
uses, so a released state dict maps onto these modules by prefix alone.
"""
from __future__ import annotations

import torch
from torch import nn


def bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels)  # eps 1e-5, momentum 0.1: PyTorch's defaults, as all three sources use


def projection(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential | None:
    """The 1x1 conv + BN shortcut when a block changes width or stride, else None (identity)."""
    if c_in == c_out and stride == 1:
        return None
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), bn(c_out))


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN, the input added back, then ReLU."""

    expansion = 1

    def __init__(self, c_in: int, planes: int, stride: int = 1, dilation: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, planes, 3, stride, dilation, dilation, bias=False)
        self.bn1 = bn(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, dilation, dilation, bias=False)
        self.bn2 = bn(planes)
        self.downsample = projection(c_in, planes, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided, maybe dilated), 1x1 expand x4; the input added back, then ReLU."""

    expansion = 4

    def __init__(self, c_in: int, planes: int, stride: int = 1, dilation: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, planes, 1, bias=False)
        self.bn1 = bn(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, dilation, dilation, bias=False)
        self.bn2 = bn(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = bn(planes * 4)
        self.downsample = projection(c_in, planes * 4, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))
