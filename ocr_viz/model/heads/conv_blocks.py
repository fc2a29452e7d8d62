"""The building block every head shares: a convolution, BatchNorm and ReLU."""
from __future__ import annotations

from torch import nn

# OCNet and openseg train with InPlace-ABN, which fuses each BatchNorm with a leaky ReLU of this
# slope; plain BatchNorm2d + LeakyReLU computes the same function without the compiled extension
# (its scale is |weight| + eps: the converter stores that as the BatchNorm weight).
ABN_SLOPE = 0.01


def conv_bn_relu(c_in: int, c_out: int, kernel: int = 1, bias: bool = False, relu_slope: float = 0.0) -> nn.Sequential:
    """conv -> BN -> ReLU; `relu_slope` > 0 makes it a leaky ReLU (an InPlace-ABN release's BNReLU)."""
    act = nn.ReLU(inplace=True) if relu_slope == 0 else nn.LeakyReLU(relu_slope, inplace=True)
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=bias), nn.BatchNorm2d(c_out), act)


def conv_abn(c_in: int, c_out: int, kernel: int = 1, *, dilation: int = 1, bias: bool = True) -> nn.Sequential:
    """conv -> BN -> leaky ReLU(0.01): OCNet's Conv2d + InPlaceABNSync; padding keeps the map size."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, padding=dilation * (kernel // 2), dilation=dilation, bias=bias),
        nn.BatchNorm2d(c_out), nn.LeakyReLU(ABN_SLOPE, inplace=True),
    )
