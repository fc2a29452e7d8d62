"""The building block every head shares: a convolution, BatchNorm and ReLU."""
from __future__ import annotations

from torch import nn


def conv_bn_relu(c_in: int, c_out: int, kernel: int = 1, bias: bool = False) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=bias), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)
    )
