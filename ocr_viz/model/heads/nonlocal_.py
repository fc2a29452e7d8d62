"""Non-local head (Wang, Girshick, Gupta, He, CVPR 2018), embedded Gaussian, one function per equation.

Shapes: b batch, c channels, d = c/reduction, k classes, n = h*w pixels.
Every pixel attends to every pixel. The (n x n) attention is never stored: it is
computed a block of rows at a time (attention.py), and attention_row recomputes
one pixel's row on demand. Laid out as mmsegmentation's NLHead: 3x3 conv, the
block, another 3x3 conv, then a 3x3 conv on [head input, result]. As in the paper,
theta, phi, g are plain 1x1 convs, the logits are unscaled (use_scale=True gives
mmseg's default, d^-0.5), and W_z's BN starts at zero so the block starts as the identity.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from einops import rearrange
from torch import nn

from .attention import attend, attention_weights, check_pixels
from .conv_blocks import conv_bn_relu


def y(theta: torch.Tensor, phi: torch.Tensor, g: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Eq. 1 with Eq. 3: y_i = sum_j softmax_j(theta_i . phi_j) g_j, the exp normalised by C(x)."""
    return attend(theta, phi, g, scale)


@dataclass
class NonLocalHeadTrace:
    """Every intermediate of one pass through the non-local head, without the n x n attention.

    x (b,c,h,w) features after the first 3x3 conv; theta, phi, g (b,n,d) the embeddings;
    z (b,c,h,w) the block output; logits (b,k,h,w); size (h, w) of the feature map;
    scale the factor on theta_i . phi_j (1 in the paper).
    """

    x: torch.Tensor
    theta: torch.Tensor
    phi: torch.Tensor
    g: torch.Tensor
    z: torch.Tensor
    logits: torch.Tensor
    size: tuple[int, int]
    scale: float


def attention_row(trace: NonLocalHeadTrace, index: int) -> torch.Tensor:
    """Pixel `index`'s attention over all n pixels, softmax_j(theta_index . phi_j), (b,n)."""
    theta_i = rearrange(trace.theta[:, index], "b d -> b 1 d")
    return attention_weights(theta_i, trace.phi, trace.scale)[:, 0]


class NonLocalHead(nn.Module):
    """3x3 conv, non-local block (Eq. 1, 3, 6), 3x3 conv, 3x3 conv on [input, result], 1x1 classifier."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        mid_channels: int = 256,
        reduction: int = 2,
        use_scale: bool = False,
        dropout: float = 0.1,
    ):
        super().__init__()
        d = mid_channels // reduction
        self.scale = d**-0.5 if use_scale else 1.0
        self.conv_in = conv_bn_relu(in_channels, mid_channels, 3)
        self.theta = nn.Conv2d(mid_channels, d, 1)
        self.phi = nn.Conv2d(mid_channels, d, 1)
        self.g = nn.Conv2d(mid_channels, d, 1)
        self.W_z = nn.Sequential(nn.Conv2d(d, mid_channels, 1, bias=False), nn.BatchNorm2d(mid_channels))
        nn.init.zeros_(self.W_z[1].weight)  # the block starts as the identity, as in the paper
        self.conv_out = conv_bn_relu(mid_channels, mid_channels, 3)
        self.conv_cat = conv_bn_relu(in_channels + mid_channels, mid_channels, 3)
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = nn.Conv2d(mid_channels, num_classes, 1)

    def z(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Eq. 6: z_i = W_z y_i + x_i, W_z a 1x1 conv and BN."""
        return self.W_z(rearrange(y, "b (h w) d -> b d h w", h=x.shape[-2])) + x

    def trace(self, features: torch.Tensor) -> NonLocalHeadTrace:
        h, w = features.shape[-2:]
        check_pixels(h * w)  # before any convolution runs
        x = self.conv_in(features)
        theta, phi, g = (rearrange(f(x), "b d h w -> b (h w) d") for f in (self.theta, self.phi, self.g))
        z = self.z(x, y(theta, phi, g, self.scale))
        out = self.conv_cat(torch.cat([features, self.conv_out(z)], dim=1))
        logits = self.classifier(self.dropout(out))
        return NonLocalHeadTrace(x, theta, phi, g, z, logits, size=(h, w), scale=self.scale)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, None]:
        """(logits, None): only OCR has auxiliary logits."""
        t = self.trace(features)
        return t.logits, None
