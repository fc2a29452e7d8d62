"""ASPP head (DeepLabv3, Chen et al. 2017): context from parallel atrous convolutions.

Shapes: b batch, r branches (1x1, one per rate, image pooling), c channels, k classes.
Five branches read the same features at different ranges: a 1x1 conv, three 3x3
convs whose taps lie `rate` pixels apart, and image pooling (one vector for the
whole image). Rates (12, 24, 36) are the paper's setting at output stride 8, which
is what our backbones give; (6, 12, 18) is the one for output stride 16.
After the concat, as in torchvision's DeepLabHead: 1x1 projection, 3x3 conv, classifier.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from einops import einsum, rearrange
from torch import nn

from .conv_blocks import conv_bn_relu


def atrous_conv_bn_relu(c_in: int, c_out: int, rate: int) -> nn.Sequential:
    """3x3 conv with dilation `rate`; padding `rate` keeps the feature-map size."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=rate, dilation=rate, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)
    )


def sampling_offsets(rate: int, kernel: int = 3) -> list[tuple[int, int]]:
    """The (dy, dx) offsets a kernel x kernel conv with dilation `rate` reads around a pixel, row by row."""
    r = kernel // 2
    return [(rate * dy, rate * dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1)]


def branch_terms(W: torch.Tensor, branches: torch.Tensor) -> torch.Tensor:
    """The 1x1 projection split by branch: W [a_1; ...; a_r] = sum_r W_r a_r; returns every W_r a_r, (b,r,c,h,w)."""
    W_r = rearrange(W, "o (r c) 1 1 -> r o c", r=branches.shape[1])
    return einsum(W_r, branches, "r o c, b r c h w -> b r o h w")


@dataclass
class ASPPHeadTrace:
    """Every intermediate of one pass through the ASPP head (h, w: feature-map size).

    features (b,c_in,h,w) the input; branches (b,r,c,h,w) the branch outputs in the order
    1x1, one per rate, image pooling; rates the dilation rates; terms (b,r,c,h,w) each
    branch's term W_r a_r of the projection, before its BN; projected (b,c,h,w) sum of
    the terms after BN-ReLU; z (b,c,h,w) after the 3x3 conv; logits (b,k,h,w).
    """

    features: torch.Tensor
    branches: torch.Tensor
    rates: tuple[int, ...]
    terms: torch.Tensor
    projected: torch.Tensor
    z: torch.Tensor
    logits: torch.Tensor

    @property
    def concat(self) -> torch.Tensor:
        """The concatenated branch outputs, (b, r*c, h, w), as the projection conv sees them."""
        return rearrange(self.branches, "b r c h w -> b (r c) h w")


def branch_contributions(trace: ASPPHeadTrace) -> torch.Tensor:
    """How much each branch adds to the projection at each pixel: ||W_r a_r||, (b,r,h,w)."""
    return torch.linalg.vector_norm(trace.terms, dim=2)


class ASPPHead(nn.Module):
    """Branches (1x1, one atrous 3x3 per rate, image pooling), concat, 1x1 projection, 3x3 conv, classifier."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        mid_channels: int = 256,
        rates: tuple[int, ...] = (12, 24, 36),
        dropout: float = 0.1,
    ):
        super().__init__()
        self.rates = tuple(rates)
        atrous = [atrous_conv_bn_relu(in_channels, mid_channels, r) for r in self.rates]
        self.convs = nn.ModuleList([conv_bn_relu(in_channels, mid_channels), *atrous])
        self.image_pool = conv_bn_relu(in_channels, mid_channels)
        self.project = conv_bn_relu((len(self.rates) + 2) * mid_channels, mid_channels)
        self.conv3x3 = conv_bn_relu(mid_channels, mid_channels, 3)
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = nn.Conv2d(mid_channels, num_classes, 1)

    def pool(self, features: torch.Tensor) -> torch.Tensor:
        """Image pooling: one vector from the global average, the same at every pixel."""
        h, w = features.shape[-2:]
        return self.image_pool(features.mean(dim=(2, 3), keepdim=True)).expand(-1, -1, h, w)

    def trace(self, features: torch.Tensor) -> ASPPHeadTrace:
        branches = torch.stack([conv(features) for conv in self.convs] + [self.pool(features)], dim=1)
        # The projection conv is linear and bias-free, so the sum of the per-branch terms
        # equals conv(concat); computing it this way keeps each branch's share.
        terms = branch_terms(self.project[0].weight, branches)
        projected = self.project[1:](terms.sum(dim=1))
        z = self.conv3x3(projected)
        logits = self.classifier(self.dropout(z))
        return ASPPHeadTrace(features, branches, self.rates, terms, projected, z, logits)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, None]:
        """(logits, None): only OCR has auxiliary logits."""
        t = self.trace(features)
        return t.logits, None
