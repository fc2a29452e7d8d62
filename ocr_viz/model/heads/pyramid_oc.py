"""Pyramid-OC head (OCNet, Yuan and Wang 2018; OCNet.pytorch's Pyramid_OC_Module): object context
inside the bins of a spatial pyramid.

Shapes: b batch, c channels, d key channels, k classes, n = h*w pixels, s partitions per side.
As PSPNet pools over 1x1, 2x2, 3x3 and 6x6 bins, Pyramid-OC splits the feature map into s x s
partitions at each level s and lets every pixel attend only to the pixels of its own partition,
with base-OC's self-attention (one shared projection f_key for query and key, logits scaled by
d^-0.5). Level 1 is base-OC over the whole image; level 6 sees about 1/36 of it.
Each level has its own f_key, f_value and W (W starts at zero). The levels' contexts are
concatenated with x lifted to (levels * c) channels by a 1x1 conv (OCNet's up_dr), then fused by a
1x1 conv, dropout and the classifier.

As OCNet's code builds it: the 3x3 conv in front is followed by BN without an activation (its
layer5), the convolutions keep their biases, every other BN is followed by leaky ReLU 0.01
(InPlace-ABN). An axis of length L is split into s parts of L // s, the last one taking the
remainder. Widths: OCNet's 512 mid / 256 key channels halved to 256 / 128, as for base-OC.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from einops import rearrange
from torch import nn

from .attention import attend, attention_weights, check_pixels
from .conv_blocks import conv_abn

PYRAMID = (1, 2, 3, 6)  # partitions per side at each level, PSPNet's bins as OCNet uses them


def partition_bounds(length: int, s: int) -> list[tuple[int, int]]:
    """OCNet's split of one axis into s parts [start, end): length // s each, the last to the end.
    A side shorter than s cells is split into one-cell parts (OCNet's code fails there: a wide
    panorama resized for the app can leave fewer than 6 cells on its short side)."""
    s = min(s, length)
    step = length // s
    return [(i * step, length if i == s - 1 else (i + 1) * step) for i in range(s)]


def partition_of(cell: int, bounds: list[tuple[int, int]]) -> tuple[int, int]:
    """The part [start, end) of an axis that holds `cell`."""
    return next(b for b in bounds if b[0] <= cell < b[1])


def partition_context(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, s: int) -> torch.Tensor:
    """c_i = sum over j in P_s(i) of softmax_j(q_i . k_j / sqrt(d)) v_j: object context within pixel i's partition.

    query, key (b,d,h,w), value (b,c,h,w) -> (b,c,h,w)."""
    h, w = query.shape[-2:]
    scale = query.shape[1] ** -0.5

    def block(rows: tuple[int, int], cols: tuple[int, int]) -> torch.Tensor:
        q, k, v = (rearrange(t[:, :, slice(*rows), slice(*cols)], "b d h w -> b (h w) d") for t in (query, key, value))
        return rearrange(attend(q, k, v, scale), "b (h w) c -> b c h w", h=rows[1] - rows[0])

    columns = partition_bounds(w, s)
    return torch.cat([torch.cat([block(rows, cols) for cols in columns], dim=3) for rows in partition_bounds(h, s)], dim=2)


@dataclass
class PyramidOCHeadTrace:
    """Every intermediate of one pass through the Pyramid-OC head, without any attention matrix.

    x (b,c,h,w) features after the 3x3 conv and BN; sizes the partitions per side of each level;
    queries (one per level, (b,n,d)) f_key(x), also the keys; contexts (one per level, (b,c,h,w))
    after that level's W; lifted (b,levels*c,h,w) x after up_dr; logits (b,k,h,w); size (h, w).
    """

    x: torch.Tensor
    sizes: tuple[int, ...]
    queries: list[torch.Tensor]
    contexts: list[torch.Tensor]
    lifted: torch.Tensor
    logits: torch.Tensor
    size: tuple[int, int]


def attention_row(trace: PyramidOCHeadTrace, level: int, index: int) -> torch.Tensor:
    """Pixel `index`'s attention at pyramid level `level`: softmax over the pixels j of its partition of
    q_i . q_j / sqrt(d), zero outside the partition, (b,n)."""
    (h, w), s = trace.size, trace.sizes[level]
    row, col = divmod(index, w)
    (r0, r1), (c0, c1) = partition_of(row, partition_bounds(h, s)), partition_of(col, partition_bounds(w, s))
    q = rearrange(trace.queries[level], "b (h w) d -> b h w d", h=h)
    inside = rearrange(q[:, r0:r1, c0:c1], "b h w d -> b (h w) d")
    a = attention_weights(q[:, row, col, None], inside, q.shape[-1] ** -0.5)[:, 0]
    full = q.new_zeros(q.shape[0], h, w)
    full[:, r0:r1, c0:c1] = rearrange(a, "b (h w) -> b h w", h=r1 - r0)
    return rearrange(full, "b h w -> b (h w)")


class PartitionAttention(nn.Module):
    """One pyramid level: self-attention inside each of s x s partitions (OCNet's PyramidSelfAttentionBlock2D)."""

    def __init__(self, channels: int, key_channels: int, s: int):
        super().__init__()
        self.s = s
        self.f_key = conv_abn(channels, key_channels)  # also the query projection
        self.f_value = nn.Conv2d(channels, channels, 1)
        self.W = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.W.weight)  # as in OCNet: the context starts at zero
        nn.init.zeros_(self.W.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(query (b,d,h,w), context after W (b,c,h,w))."""
        q = self.f_key(x)
        return q, self.W(partition_context(q, q, self.f_value(x), self.s))


class PyramidOCHead(nn.Module):
    """3x3 conv + BN, one partition attention per level, [up_dr(x), contexts] fused by a 1x1 conv, classifier."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        mid_channels: int = 256,
        key_channels: int = 128,
        sizes: tuple[int, ...] = PYRAMID,
        dropout: float = 0.05,
    ):
        super().__init__()
        self.sizes = tuple(sizes)
        levels = len(self.sizes)
        self.conv3x3 = nn.Sequential(nn.Conv2d(in_channels, mid_channels, 3, padding=1), nn.BatchNorm2d(mid_channels))
        self.levels = nn.ModuleList([PartitionAttention(mid_channels, key_channels, s) for s in self.sizes])
        self.up_dr = conv_abn(mid_channels, levels * mid_channels)
        self.fuse = nn.Sequential(conv_abn(2 * levels * mid_channels, mid_channels), nn.Dropout2d(dropout))
        self.classifier = nn.Conv2d(mid_channels, num_classes, 1)

    def trace(self, features: torch.Tensor) -> PyramidOCHeadTrace:
        h, w = features.shape[-2:]
        check_pixels(h * w)  # level 1 attends over the whole map
        for s in self.sizes:
            partition_bounds(min(h, w), s)  # refuse a map too small to split, before any convolution runs
        x = self.conv3x3(features)
        queries, contexts = zip(*(level(x) for level in self.levels))
        lifted = self.up_dr(x)
        logits = self.classifier(self.fuse(torch.cat([lifted, *contexts], dim=1)))
        return PyramidOCHeadTrace(x, self.sizes, [rearrange(q, "b d h w -> b (h w) d") for q in queries],
                                  list(contexts), lifted, logits, size=(h, w))

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, None]:
        """(logits, None): only OCR has auxiliary logits."""
        return self.trace(features).logits, None
