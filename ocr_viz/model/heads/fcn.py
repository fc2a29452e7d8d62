"""FCN head: the baseline with no context module.

Each pixel's logits see only a 3x3 window of backbone features, so any context
comes from the backbone's own receptive field.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .conv_blocks import conv_bn_relu


@dataclass
class FCNHeadTrace:
    """One pass through the FCN head: x (b,c,h,w) features after the 3x3 conv; logits (b,k,h,w)."""

    x: torch.Tensor
    logits: torch.Tensor


class FCNHead(nn.Module):
    """3x3 conv-BN-ReLU, dropout, 1x1 classifier."""

    def __init__(self, in_channels: int, num_classes: int, mid_channels: int = 256, dropout: float = 0.1):
        super().__init__()
        self.conv3x3 = conv_bn_relu(in_channels, mid_channels, 3)
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = nn.Conv2d(mid_channels, num_classes, 1)

    def trace(self, features: torch.Tensor) -> FCNHeadTrace:
        x = self.conv3x3(features)
        return FCNHeadTrace(x=x, logits=self.classifier(self.dropout(x)))

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, None]:
        """(logits, None): only OCR has auxiliary logits."""
        t = self.trace(features)
        return t.logits, None
