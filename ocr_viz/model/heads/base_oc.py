"""Base-OC head (OCNet, Yuan and Wang 2018; openseg's BaseOC_Module): pixel self-attention, then concat.

Shapes: b batch, c channels, d key channels, k classes, n = h*w pixels.
The object context of pixel i is an attention-weighted mix of all pixels' values.
Unlike the non-local block, query and key are one shared projection f_key (so the
logits q_i . q_j are symmetric), they are scaled by d^-0.5, W starts at zero, and the
context is concatenated with x rather than added. The (n x n) attention is never
stored (see attention.py); attention_row recomputes one pixel's row on demand.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from einops import rearrange
from torch import nn

from .attention import attend, attention_weights, check_pixels
from .conv_blocks import conv_bn_relu


def context(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """c_i = sum_j softmax_j(q_i . k_j / sqrt(d)) v_j, the object context of every pixel, (b,n,d)."""
    return attend(query, key, value, query.shape[-1] ** -0.5)


@dataclass
class BaseOCHeadTrace:
    """Every intermediate of one pass through the base-OC head, without the n x n attention.

    x (b,c,h,w) features after the 3x3 conv; query, key (b,n,d) the same tensor (shared
    f_key); value (b,n,d); context (b,c,h,w) after W; logits (b,k,h,w); size (h, w).
    """

    x: torch.Tensor
    query: torch.Tensor
    key: torch.Tensor
    value: torch.Tensor
    context: torch.Tensor
    logits: torch.Tensor
    size: tuple[int, int]


def attention_row(trace: BaseOCHeadTrace, index: int) -> torch.Tensor:
    """Pixel `index`'s attention over all n pixels, softmax_j(q_index . k_j / sqrt(d)), (b,n)."""
    q_i = rearrange(trace.query[:, index], "b d -> b 1 d")
    return attention_weights(q_i, trace.key, trace.query.shape[-1] ** -0.5)[:, 0]


class BaseOCHead(nn.Module):
    """3x3 conv, self-attention context, 1x1 conv on [context, x], dropout, 1x1 classifier."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        mid_channels: int = 256,
        key_channels: int = 128,
        dropout: float = 0.05,
    ):
        super().__init__()
        self.conv3x3 = conv_bn_relu(in_channels, mid_channels, 3)
        self.f_key = conv_bn_relu(mid_channels, key_channels)  # also the query projection
        self.f_value = nn.Conv2d(mid_channels, key_channels, 1)
        self.W = nn.Conv2d(key_channels, mid_channels, 1)
        nn.init.zeros_(self.W.weight)  # as in OCNet: the context starts at zero
        nn.init.zeros_(self.W.bias)
        self.fuse = nn.Sequential(conv_bn_relu(2 * mid_channels, mid_channels), nn.Dropout2d(dropout))
        self.classifier = nn.Conv2d(mid_channels, num_classes, 1)

    def trace(self, features: torch.Tensor) -> BaseOCHeadTrace:
        h, w = features.shape[-2:]
        check_pixels(h * w)  # before any convolution runs
        x = self.conv3x3(features)
        query = key = rearrange(self.f_key(x), "b d h w -> b (h w) d")
        value = rearrange(self.f_value(x), "b d h w -> b (h w) d")
        c = self.W(rearrange(context(query, key, value), "b (h w) d -> b d h w", h=h))
        out = self.fuse(torch.cat([c, x], dim=1))
        return BaseOCHeadTrace(x, query, key, value, context=c, logits=self.classifier(out), size=(h, w))

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, None]:
        """(logits, None): only OCR has auxiliary logits."""
        t = self.trace(features)
        return t.logits, None
