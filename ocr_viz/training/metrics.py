"""Segmentation metrics from a K x K confusion matrix (rows: true class, columns:
predicted class): per-class IoU, mean IoU and pixel accuracy.

Labels outside 0..K-1 (CamVid's Unlabelled = 11) are not counted. A class that
neither occurs nor is predicted has no IoU (NaN) and is left out of the mean.
"""
from __future__ import annotations

import numpy as np
import torch


class ConfusionMatrix:
    """Accumulates (true, predicted) pixel counts over any number of label maps."""

    def __init__(self, num_classes: int):
        self.num_classes = num_classes
        self.counts = torch.zeros(num_classes, num_classes, dtype=torch.int64)

    def update(self, pred: torch.Tensor | np.ndarray, label: torch.Tensor | np.ndarray) -> None:
        """Add the pixels of a prediction and its label (same shape, class indices)."""
        pred, label = torch.as_tensor(pred).cpu().long(), torch.as_tensor(label).cpu().long()
        if pred.shape != label.shape:
            raise ValueError(f"prediction {tuple(pred.shape)} and label {tuple(label.shape)} differ in shape")
        k = self.num_classes
        counted = (label >= 0) & (label < k)
        pred, label = pred[counted], label[counted]
        if pred.numel() and (pred.min() < 0 or pred.max() >= k):
            raise ValueError(f"predicted classes must lie in 0..{k - 1}")
        self.counts += torch.bincount(label * k + pred, minlength=k * k).view(k, k)


def per_class_iou(confusion: torch.Tensor) -> torch.Tensor:
    """IoU_c = TP / (TP + FP + FN), float64; NaN for a class with an empty union."""
    confusion = confusion.double()
    tp = confusion.diag()
    union = confusion.sum(0) + confusion.sum(1) - tp
    return torch.where(union > 0, tp / union.clamp(min=1), torch.full_like(tp, float("nan")))


def mean_iou(confusion: torch.Tensor) -> float:
    """The mean of the per-class IoUs that are defined."""
    return float(per_class_iou(confusion).nanmean())


def pixel_accuracy(confusion: torch.Tensor) -> float:
    """Correct pixels / counted pixels."""
    return float(confusion.diag().sum().double() / confusion.sum().clamp(min=1))


def summary(confusion: torch.Tensor, class_names: list[str] | tuple[str, ...]) -> dict:
    """mIoU, pixel accuracy, {class name: IoU or None}, and the matrix as lists (JSON-ready)."""
    ious = per_class_iou(confusion).tolist()
    return {
        "miou": mean_iou(confusion),
        "pixel_accuracy": pixel_accuracy(confusion),
        "per_class_iou": {name: None if np.isnan(v) else v for name, v in zip(class_names, ious)},
        "confusion": confusion.tolist(),
    }


def scored_summary(confusion: torch.Tensor, class_names: list[str] | tuple[str, ...]) -> dict:
    """summary() over the named classes. A matrix with one more row and column than names (labels of
    another dataset read through a class map: the last column holds predictions of model classes
    without counterpart, never a label) counts that column as a miss in the named classes' IoU, and
    gives it no IoU of its own in the mean."""
    result = summary(confusion, class_names)
    if confusion.shape[0] == len(class_names) + 1:
        ious = [v for v in result["per_class_iou"].values() if v is not None]
        result["miou"] = float(np.mean(ious)) if ious else float("nan")
    return result
