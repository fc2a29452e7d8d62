"""ASP-OC head (OCNet, Yuan and Wang 2018; OCNet.pytorch's ASP_OC_Module): ASPP with its
image-pooling branch replaced by an object-context branch.

Shapes: b batch, r branches, c branch channels, d key channels, k classes, m = pooled pixels.
Five branches read the same features: the object context (base-OC's self-attention, computed on
the map max-pooled 2x2 to save memory and upsampled back, OCNet's BaseOC_Context_Module with
sizes [2]), a 1x1 conv, and three 3x3 convs dilated by 12, 24 and 36 (ASPP's rates at output
stride 8, as ours). Their concatenation goes through a bias-free 1x1 projection, so the projection
splits into one term per branch (aspp.branch_terms) and each branch's share at a pixel is the
size of its term, as for ASPP.

As OCNet's code builds it: a 3x3 conv-BN-act in front (its `context` Sequential), every BN
followed by leaky ReLU 0.01 (InPlace-ABN); the object-context convs keep their biases, the
1x1 / dilated convs and the projection have none; the attention's W starts at zero; the attention
map is upsampled with align_corners=True. Widths: OCNet's 512 in front, 256 per branch and a
512 projection, halved to 256 / 128 / 256 as base-OC's were; key channels c / 2.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from .aspp import branch_terms
from .attention import attention_weights, check_pixels
from .base_oc import context
from .conv_blocks import ABN_SLOPE, conv_abn

BRANCHES = ("object context", "1x1")  # then one 3x3 branch per rate, in OCNet's concatenation order


@dataclass
class ASPOCHeadTrace:
    """Every intermediate of one pass through the ASP-OC head (h, w: feature-map size).

    x (b,C,h,w) features after the 3x3 conv in front; size (h, w); pooled_size (h', w') of the
    max-pooled map the object context attends over; query (b,m,d) f_key there, also the keys; branches (b,r,c,h,w) in
    the order object context, 1x1, one per rate; rates; terms (b,r,C,h,w) each branch's term W_r a_r
    of the projection, before its BN; projected (b,C,h,w) after BN and activation; logits (b,k,h,w).
    """

    x: torch.Tensor
    size: tuple[int, int]
    pooled_size: tuple[int, int]
    query: torch.Tensor
    branches: torch.Tensor
    rates: tuple[int, ...]
    terms: torch.Tensor
    projected: torch.Tensor
    logits: torch.Tensor


def branch_contributions(trace: ASPOCHeadTrace) -> torch.Tensor:
    """How much each branch adds to the projection at each pixel: ||W_r a_r||, (b,r,h,w)."""
    return torch.linalg.vector_norm(trace.terms, dim=2)


def nearest(cell: int, length: int, pooled: int) -> int:
    """The pooled cell nearest to where an align_corners=True upsampling from `pooled` to `length` reads `cell`."""
    return 0 if length == 1 else int(cell * (pooled - 1) / (length - 1) + 0.5)


def pooled_attention_row(trace: ASPOCHeadTrace, index: int) -> torch.Tensor:
    """The object-context attention, over all m pooled cells, of the pooled cell nearest to pixel `index`, (b,m).

    The context is upsampled with align_corners=True, so pixel (row, col) reads the pooled map at
    (row (h'-1)/(h-1), col (w'-1)/(w-1)): a bilinear mix of up to four cells, the nearest one's shown."""
    (h, w), (ph, pw) = trace.size, trace.pooled_size
    row, col = divmod(index, w)
    cell = nearest(row, h, ph) * pw + nearest(col, w, pw)
    q_i = rearrange(trace.query[:, cell], "b d -> b 1 d")
    return attention_weights(q_i, trace.query, trace.query.shape[-1] ** -0.5)[:, 0]


class ObjectContextBranch(nn.Module):
    """3x3 conv-BN-act, self-attention on the 2x2 max-pooled map, W, upsampling, 1x1 conv-BN-act."""

    def __init__(self, in_channels: int, channels: int, key_channels: int, pool: int = 2):
        super().__init__()
        self.conv = conv_abn(in_channels, channels, 3)
        self.pool = nn.MaxPool2d(pool)
        self.f_key = conv_abn(channels, key_channels)  # also the query projection
        self.f_value = nn.Conv2d(channels, channels, 1)
        self.W = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.W.weight)  # as in OCNet: the context starts at zero
        nn.init.zeros_(self.W.bias)
        self.out = conv_abn(channels, channels)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
        """(branch output (b,c,h,w), query (b,m,d) on the pooled map, pooled size)."""
        small = self.pool(self.conv(x))
        ph, pw = small.shape[-2:]
        check_pixels(ph * pw)
        query = rearrange(self.f_key(small), "b d h w -> b (h w) d")
        value = rearrange(self.f_value(small), "b c h w -> b (h w) c")
        c = self.W(rearrange(context(query, query, value), "b (h w) c -> b c h w", h=ph))
        c = F.interpolate(c, size=x.shape[-2:], mode="bilinear", align_corners=True)
        return self.out(c), query, (ph, pw)


class ASPOCHead(nn.Module):
    """3x3 conv in front; branches (object context, 1x1, one atrous 3x3 per rate); concat, 1x1 projection, classifier."""

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
        c = mid_channels // 2  # OCNet: ASP_OC_Module(512, 256), branches half the width in front
        self.conv3x3 = conv_abn(in_channels, mid_channels, 3)
        self.object_context = ObjectContextBranch(mid_channels, c, c // 2)
        self.convs = nn.ModuleList([conv_abn(mid_channels, c, bias=False),
                                    *(conv_abn(mid_channels, c, 3, dilation=r, bias=False) for r in self.rates)])
        self.project = nn.Sequential(nn.Conv2d((len(self.rates) + 2) * c, mid_channels, 1, bias=False),
                                     nn.BatchNorm2d(mid_channels), nn.LeakyReLU(ABN_SLOPE, inplace=True))
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = nn.Conv2d(mid_channels, num_classes, 1)

    def trace(self, features: torch.Tensor) -> ASPOCHeadTrace:
        x = self.conv3x3(features)
        oc, query, pooled_size = self.object_context(x)
        branches = torch.stack([oc] + [conv(x) for conv in self.convs], dim=1)
        # The projection conv is linear and bias-free: the sum of the per-branch terms is conv(concat),
        # and computing it this way keeps each branch's share.
        terms = branch_terms(self.project[0].weight, branches)
        projected = self.project[1:](terms.sum(dim=1))
        logits = self.classifier(self.dropout(projected))
        return ASPOCHeadTrace(x, tuple(x.shape[-2:]), pooled_size, query, branches, self.rates, terms, projected, logits)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, None]:
        """(logits, None): only OCR has auxiliary logits."""
        return self.trace(features).logits, None
