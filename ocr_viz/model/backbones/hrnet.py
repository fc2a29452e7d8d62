"""HRNetV2 (Wang et al., TPAMI 2020): four parallel branches at strides 4, 8, 16, 32, repeatedly
exchanging information, as used by HRNet-OCR.

The stage layouts and widths are data (LAYOUTS), read from the official experiment configs of
HRNet/HRNet-Semantic-Segmentation. Module names follow that code (conv1, layer1, transition1,
stage2.0.branches, stage2.0.fuse_layers, ...), so a released state dict maps onto this module by
stripping its prefix; positions the official code fills with None are nn.Identity here, which
keeps the indices (and so the key names) the same and holds no parameters.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import BasicBlock, Bottleneck, bn


@dataclass(frozen=True)
class StageLayout:
    """One HRNet stage: `modules` repeated high-resolution modules, each with `blocks[b]`
    BasicBlocks of width `channels[b]` on branch b."""

    modules: int
    blocks: tuple[int, ...]
    channels: tuple[int, ...]


@dataclass(frozen=True)
class HRNetLayout:
    """layer1: `stem_blocks` Bottlenecks of `stem_planes` (x4 out); then stages 2, 3, 4."""

    stem_blocks: int
    stem_planes: int
    stages: tuple[StageLayout, StageLayout, StageLayout]

    @property
    def widths(self) -> tuple[int, ...]:
        return self.stages[-1].channels

    @property
    def out_channels(self) -> int:
        """Channels of the four branches concatenated (HRNetV2's representation)."""
        return sum(self.widths)


def standard_layout(c: int) -> HRNetLayout:
    """HRNetV2-W{c}: modules 1, 1, 4, 3 and 4 blocks per branch; widths c, 2c, 4c, 8c."""
    w = (c, 2 * c, 4 * c, 8 * c)
    return HRNetLayout(4, 64, (StageLayout(1, (4, 4), w[:2]), StageLayout(4, (4,) * 3, w[:3]), StageLayout(3, (4,) * 4, w)))


LAYOUTS = {
    "w18_small_v1": HRNetLayout(1, 32, (StageLayout(1, (2, 2), (16, 32)), StageLayout(1, (2, 2, 2), (16, 32, 64)),
                                        StageLayout(1, (2, 2, 2, 2), (16, 32, 64, 128)))),
    "w18_small_v2": HRNetLayout(2, 64, (StageLayout(1, (2, 2), (18, 36)), StageLayout(3, (2, 2, 2), (18, 36, 72)),
                                        StageLayout(2, (2, 2, 2, 2), (18, 36, 72, 144)))),
    "w18": standard_layout(18),
    "w32": standard_layout(32),
    "w48": standard_layout(48),
}


def conv_bn(c_in: int, c_out: int, kernel: int, stride: int, relu: bool) -> nn.Sequential:
    layers = [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False), bn(c_out)]
    return nn.Sequential(*layers, nn.ReLU(inplace=True)) if relu else nn.Sequential(*layers)


def resize(x: torch.Tensor, size, align_corners: bool) -> torch.Tensor:
    return x if x.shape[-2:] == size else F.interpolate(x, size=size, mode="bilinear", align_corners=align_corners)


def transition(c_prev: tuple[int, ...], c_next: tuple[int, ...]) -> nn.ModuleList:
    """Into the next stage: existing branches change width with a 3x3 conv (identity if equal);
    each new branch comes from the lowest-resolution one by 3x3 stride-2 convs."""
    layers = []
    for i, c in enumerate(c_next):
        if i < len(c_prev):
            layers.append(nn.Identity() if c == c_prev[i] else conv_bn(c_prev[i], c, 3, 1, relu=True))
        else:
            steps = i + 1 - len(c_prev)
            layers.append(nn.Sequential(*[conv_bn(c_prev[-1], c if s == steps - 1 else c_prev[-1], 3, 2, relu=True)
                                          for s in range(steps)]))
    return nn.ModuleList(layers)


def exchange(c: tuple[int, ...], i: int, j: int) -> nn.Module:
    """How branch j reaches branch i: 1x1 conv (then upsampling) if j is coarser, a chain of
    i-j stride-2 3x3 convs if it is finer (ReLU between them, not after the last)."""
    if j == i:
        return nn.Identity()
    if j > i:
        return conv_bn(c[j], c[i], 1, 1, relu=False)
    return nn.Sequential(*[conv_bn(c[j], c[i] if s == i - j - 1 else c[j], 3, 2, relu=s != i - j - 1) for s in range(i - j)])


class HighResolutionModule(nn.Module):
    """Each branch through its BasicBlocks, then every branch becomes the sum of all of them
    brought to its resolution and width (multi-resolution fusion), then ReLU."""

    def __init__(self, blocks: tuple[int, ...], channels: tuple[int, ...], align_corners: bool):
        super().__init__()
        self.align_corners = align_corners
        self.branches = nn.ModuleList(
            nn.Sequential(*[BasicBlock(c, c) for _ in range(n)]) for n, c in zip(blocks, channels)
        )
        self.fuse_layers = nn.ModuleList(
            nn.ModuleList(exchange(channels, i, j) for j in range(len(channels))) for i in range(len(channels))
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        out = []
        for i, row in enumerate(self.fuse_layers):
            size = xs[i].shape[-2:]
            total = resize(row[0](xs[0]), size, self.align_corners)
            for layer, x in zip(row[1:], xs[1:]):  # summed in the official order (branch 0 first)
                total = total + resize(layer(x), size, self.align_corners)
            out.append(self.relu(total))
        return out


@dataclass(frozen=True)
class HRNetFeatures:
    """The four branch outputs: stride4 (B,C,H/4,W/4), stride8 (B,2C,H/8,W/8),
    stride16 (B,4C,H/16,W/16), stride32 (B,8C,H/32,W/32)."""

    stride4: torch.Tensor
    stride8: torch.Tensor
    stride16: torch.Tensor
    stride32: torch.Tensor


HRNET_FEATURES = ("stride4", "stride8", "stride16", "stride32")


class HRNet(nn.Module):
    """Stem (two stride-2 3x3 convs), layer1 (Bottlenecks at stride 4), stages 2-4."""

    def __init__(self, layout: str | HRNetLayout = "w48", align_corners: bool = True):
        super().__init__()
        if isinstance(layout, str):
            if layout not in LAYOUTS:
                raise ValueError(f"unknown HRNet layout {layout!r}; known: {', '.join(LAYOUTS)}")
            layout = LAYOUTS[layout]
        self.layout = layout
        self.conv1 = nn.Conv2d(3, 64, 3, 2, 1, bias=False)
        self.bn1 = bn(64)
        self.conv2 = nn.Conv2d(64, 64, 3, 2, 1, bias=False)
        self.bn2 = bn(64)
        self.relu = nn.ReLU(inplace=True)
        c_stem = layout.stem_planes * Bottleneck.expansion
        self.layer1 = nn.Sequential(*[Bottleneck(64 if i == 0 else c_stem, layout.stem_planes) for i in range(layout.stem_blocks)])
        previous = (c_stem,)
        for n, stage in enumerate(layout.stages, start=2):
            setattr(self, f"transition{n - 1}", transition(previous, stage.channels))
            setattr(self, f"stage{n}", nn.Sequential(*[HighResolutionModule(stage.blocks, stage.channels, align_corners)
                                                       for _ in range(stage.modules)]))
            previous = stage.channels

    @property
    def channels(self) -> dict[str, int]:
        return dict(zip(HRNET_FEATURES, self.layout.widths))

    def forward(self, images: torch.Tensor) -> HRNetFeatures:
        x = self.relu(self.bn1(self.conv1(images)))
        x = self.layer1(self.relu(self.bn2(self.conv2(x))))
        xs = [x]
        for n in (2, 3, 4):
            # existing branches pass through their transition; new ones start from the coarsest
            xs = [t(xs[min(i, len(xs) - 1)]) for i, t in enumerate(getattr(self, f"transition{n - 1}"))]
            xs = getattr(self, f"stage{n}")(xs)
        return HRNetFeatures(*xs)
