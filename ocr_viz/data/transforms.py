"""Training augmentation and the input normalisation, on tensors: image (3,H,W) in
[0,1], label (H,W) int64."""
from __future__ import annotations

import random

import torch
import torch.nn.functional as F

from .classes import IGNORE_INDEX

MEAN = (0.485, 0.456, 0.406)  # ImageNet statistics, as HRNet-OCR and the backbone's weights use
STD = (0.229, 0.224, 0.225)


def normalize(image: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(MEAN, device=image.device).view(-1, 1, 1)
    std = torch.tensor(STD, device=image.device).view(-1, 1, 1)
    return (image - mean) / std


def random_scale(image, label, low: float, high: float):
    s = random.uniform(low, high)
    size = (max(8, round(image.shape[1] * s)), max(8, round(image.shape[2] * s)))
    image = F.interpolate(image[None], size=size, mode="bilinear", align_corners=False)[0]
    label = F.interpolate(label[None, None].float(), size=size, mode="nearest")[0, 0].long()
    return image, label


def random_crop(image, label, size: int):
    """A size x size crop; smaller images are padded (labels with IGNORE_INDEX)."""
    h, w = label.shape
    ph, pw = max(0, size - h), max(0, size - w)
    if ph or pw:
        image = F.pad(image, (0, pw, 0, ph))
        label = F.pad(label, (0, pw, 0, ph), value=IGNORE_INDEX)
        h, w = label.shape
    top, left = random.randint(0, h - size), random.randint(0, w - size)
    return image[:, top : top + size, left : left + size], label[top : top + size, left : left + size]


def photometric(image, strength: float = 0.25):
    """Brightness, contrast and saturation jitter of up to +-strength."""
    def jitter():
        return 1 + random.uniform(-strength, strength)

    image = image * jitter()
    mean = image.mean()
    image = (image - mean) * jitter() + mean
    grey = image.mean(0, keepdim=True)
    image = (image - grey) * jitter() + grey
    return image.clamp(0, 1)


class TrainTransform:
    def __init__(self, crop: int = 256, scale: tuple[float, float] = (0.5, 2.0), flip: bool = True, jitter: float = 0.25):
        self.crop, self.scale, self.flip, self.jitter = crop, scale, flip, jitter

    def __call__(self, image, label):
        image, label = random_scale(image, label, *self.scale)
        image, label = random_crop(image, label, self.crop)
        if self.flip and random.random() < 0.5:
            image, label = image.flip(-1), label.flip(-1)
        if self.jitter:
            image = photometric(image, self.jitter)
        return normalize(image), label


def eval_transform(image, label):
    return normalize(image), label
