"""Backbone + head = segmentor. `forward` is the plain training function; `trace`
returns every intermediate of the same computation as one typed record."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ocr_viz.data.transforms import MEAN, STD

from .backbones.efficientnet_lite import BackboneFeatures


def fuse(features: Any, names: tuple[str, ...], align_corners: bool = False) -> torch.Tensor:
    """Upsample the named stage features to the first one's size and concatenate them
    (as HRNet-OCR concatenates its four branches)."""
    maps = [getattr(features, n) for n in names]
    size = maps[0].shape[-2:]
    return torch.cat([m if m.shape[-2:] == size else F.interpolate(m, size, mode="bilinear", align_corners=align_corners)
                      for m in maps], 1)


@dataclass
class Trace:
    """One image batch through a segmentor. H, W: input size; h, w: feature size.

    images (b,3,H,W) normalised input; backbone: the stage outputs; features (b,c,h,w)
    the head's input; head: the head's own trace (OCRHeadTrace, ...); logits (b,K,h,w);
    probs (b,K,H,W) class softmax at input size; pred (b,H,W) final labels;
    aux_pred (b,H,W) the auxiliary (soft-region) labels, when the head has them.
    """

    images: torch.Tensor
    backbone: BackboneFeatures
    features: torch.Tensor
    head: Any
    logits: torch.Tensor
    probs: torch.Tensor
    pred: torch.Tensor
    aux_pred: torch.Tensor | None = None
    meta: dict = field(default_factory=dict)


def upsample(logits: torch.Tensor, size: tuple[int, int], align_corners: bool = False) -> torch.Tensor:
    return F.interpolate(logits, size=size, mode="bilinear", align_corners=align_corners)


class SourceInput(nn.Module):
    """The app's input (RGB / 255 minus the ImageNet mean, over its std) re-expressed as the input a
    release was trained on: its channel order, its divisor, and its per-channel mean and std taken
    in that order (openseg reads images with cv2 and keeps them BGR). No parameters."""

    def __init__(self, order: str = "RGB", div: float = 255.0, mean=MEAN, std=STD):
        super().__init__()
        self.order, self.div, self.mean, self.std = order, float(div), tuple(mean), tuple(std)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        column = lambda v: torch.tensor(v, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)  # noqa: E731
        pixels = (images * column(STD) + column(MEAN)) * 255.0  # back to 0..255, RGB
        if self.order == "BGR":
            pixels = pixels.flip(1)
        return (pixels / self.div - column(self.mean)) / column(self.std)


class Segmentor(nn.Module):
    """`align_corners`: how features and logits are resized (the HRNet-OCR release: True);
    `aux_feature`: the backbone stage the head reads its soft regions M from, when it is not
    the fused features (the ResNet-101 releases read M off the stride-8 layer3); `source_input`:
    a SourceInput for a release trained on another input convention (openseg), applied before
    the backbone; `images` in the trace stay the app's."""

    def __init__(self, backbone: nn.Module, head: nn.Module, feature_names: tuple[str, ...],
                 align_corners: bool = False, aux_feature: str | None = None, source_input: SourceInput | None = None):
        super().__init__()
        self.backbone, self.head, self.feature_names = backbone, head, tuple(feature_names)
        self.align_corners, self.aux_feature, self.source_input = align_corners, aux_feature, source_input

    def stages(self, images: torch.Tensor) -> Any:
        """The backbone's stage outputs for the app's normalised images."""
        return self.backbone(images if self.source_input is None else self.source_input(images))

    @property
    def in_channels(self) -> int:
        return sum(self.backbone.channels[n] for n in self.feature_names)

    def run_head(self, stages: Any, features: torch.Tensor, trace: bool = False):
        """The head on the fused features (and on its own aux input when it has one)."""
        fn = self.head.trace if trace else self.head
        return fn(features) if self.aux_feature is None else fn(features, getattr(stages, self.aux_feature))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(logits, aux logits or None) at the feature resolution."""
        stages = self.stages(images)
        return self.run_head(stages, fuse(stages, self.feature_names, self.align_corners))

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Logits upsampled to the input size."""
        return upsample(self(images)[0], images.shape[-2:], self.align_corners)

    @torch.no_grad()
    def trace(self, images: torch.Tensor, stages: BackboneFeatures | None = None) -> Trace:
        """Every intermediate of one pass; `stages` (this backbone's output for `images`,
        computed once for several heads that share it) skips the backbone."""
        stages = self.stages(images) if stages is None else stages
        features = fuse(stages, self.feature_names, self.align_corners)
        head = self.run_head(stages, features, trace=True)
        size = images.shape[-2:]
        probs = torch.softmax(upsample(head.logits, size, self.align_corners), dim=1)
        aux = getattr(head, "M", None)
        return Trace(
            images=images, backbone=stages, features=features, head=head, logits=head.logits,
            probs=probs, pred=probs.argmax(1),
            aux_pred=None if aux is None else upsample(aux, size, self.align_corners).argmax(1),
        )
