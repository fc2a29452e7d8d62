"""The paper's ablations (its Fig. 1 and Table 1), live on one image with ground truth:
the same image segmented with no context (the FCN head), the soft regions alone, a uniform
relation, the model's OCR, the model's relation on ground-truth regions, and GT-OCR
(ground-truth regions and relation: the paper's upper bound), each scored against the
ground truth. The OCR variants rerun only the head, on the cached trace.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import interventions
from .stats import accuracy
from ocr_viz.model.arrays import TraceArrays
from ocr_viz.data.classes import IGNORE_INDEX
from ocr_viz.model.heads.ocr import OCRHead, OCRHeadTrace
from ocr_viz.model.segmentor import Segmentor, upsample


@dataclass(frozen=True)
class Variant:
    key: str
    name: str
    meaning: str
    pred: np.ndarray   # (H,W) labels
    trained: bool      # whether the weights behind it are trained


@dataclass(frozen=True)
class Score:
    iou: np.ndarray    # (K,) per class; NaN for a class in neither prediction nor ground truth
    mean_iou: float
    pixel_accuracy: float


HEAD_VARIANTS = {  # key -> (name, meaning, experiment on the OCR head)
    "uniform": ("uniform relation", "w_ik = 1/K: every pixel gets the same context, the mean of the region values",
                lambda head, trace, truth: interventions.uniform_relation(head, trace)),
    "gt_regions": ("GT regions, model's relation", "f_k from the ground-truth regions; w by the model's Eq. 5",
                   lambda head, trace, truth: interventions.gt_ocr(head, trace, truth, relation="model")),
    "gt_ocr": ("GT-OCR", "ground-truth regions and relation (w_ik = 1 for the labelled class): the paper's upper bound",
               lambda head, trace, truth: interventions.gt_ocr(head, trace, truth, relation="gt")),
}
NO_CONTEXT = ("no context (FCN)", "the FCN head on the same backbone: 3x3 conv and classifier, no context module")
SOFT_REGIONS = ("soft regions alone", "argmax_k M_k: the auxiliary head's coarse segmentation, before OCR")
OCR = ("OCR (this model)", "the model's own prediction")
ORDER = ("no_context", "soft_regions", "uniform", "ocr", "gt_regions", "gt_ocr")


GROUND_TRUTH_VARIANTS = ("gt_regions", "gt_ocr")  # they need labels in the model's own classes


def head_variants(head: OCRHead, base: OCRHeadTrace, truth: np.ndarray, trained: bool,
                  keys=tuple(HEAD_VARIANTS)) -> list[Variant]:
    """The OCR-head experiments `keys` on the base trace, predictions at the ground truth's size."""
    labels = torch.as_tensor(np.asarray(truth)).to(base.x.device)
    return [Variant(key, name, meaning, interventions.prediction(run(head, base, labels), truth.shape)[0].cpu().numpy(),
                    trained) for key, (name, meaning, run) in HEAD_VARIANTS.items() if key in keys]


def recorded_variants(arrays: TraceArrays, trained: bool) -> list[Variant]:
    """The two predictions the trace already holds: the model's, and its soft regions'."""
    return [Variant("ocr", *OCR, np.asarray(arrays.pred), trained),
            Variant("soft_regions", *SOFT_REGIONS, np.asarray(arrays.aux_pred), trained)]


def same_backbone(a: Segmentor, b: Segmentor) -> bool:
    """Whether two models' backbones hold identical weights (so one's features serve the other)."""
    sa, sb = a.backbone.state_dict(), b.backbone.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k].to(sa[k].device)) for k in sa)


@torch.no_grad()
def no_context_logits(fcn: Segmentor, features: torch.Tensor, images: torch.Tensor, shared_backbone: bool,
                      size: tuple[int, int]) -> np.ndarray:
    """(H,W) labels at `size` of the FCN model: its head on the OCR model's `features` (1,C,h,w)
    when the backbones are the same, else the whole model on the input `images` (1,3,H,W)."""
    device = next(fcn.parameters()).device
    logits = fcn.head(features.to(device))[0] if shared_backbone else fcn(images.to(device))[0]
    return upsample(logits, tuple(size)).argmax(1)[0].cpu().numpy()


def no_context(fcn: Segmentor, arrays: TraceArrays, images: torch.Tensor, shared_backbone: bool) -> np.ndarray:
    """(H,W) labels of the FCN model at the input size, from the cached features (see no_context_logits)."""
    features = torch.from_numpy(np.array(arrays.features))[None]
    return no_context_logits(fcn, features, images, shared_backbone, arrays.image.shape[:2])


def no_context_variant(pred: np.ndarray, trained: bool) -> Variant:
    return Variant("no_context", *NO_CONTEXT, pred, trained)


def ordered(variants: list[Variant]) -> list[Variant]:
    """The variants from least to most context information, as the paper's Fig. 1 orders them."""
    return sorted(variants, key=lambda v: ORDER.index(v.key) if v.key in ORDER else len(ORDER))


def score(pred: np.ndarray, truth: np.ndarray, num_classes: int) -> Score:
    """IoU per class, mean IoU and pixel accuracy on this image (unlabelled pixels ignored)."""
    result = accuracy(np.asarray(pred), np.asarray(truth), num_classes, IGNORE_INDEX)
    return Score(result["iou"], result["mean_iou"], result["pixel_accuracy"])


def summary_rows(variants: list[Variant], scores: dict[str, Score], baseline: str = "ocr") -> list[dict]:
    """One row per variant: its mIoU, the change from the baseline's, pixel accuracy, what it is."""
    base = scores[baseline].mean_iou if baseline in scores else float("nan")
    return [{"variant": v.name, "mIoU %": 100 * scores[v.key].mean_iou,
             "vs OCR (points)": 100 * (scores[v.key].mean_iou - base),
             "pixel accuracy %": 100 * scores[v.key].pixel_accuracy,
             "weights": "trained" if v.trained else "UNTRAINED", "what it is": v.meaning} for v in variants]


def class_rows(variants: list[Variant], scores: dict[str, Score], classes: list[str], truth: np.ndarray) -> list[dict]:
    """One row per class: its share of the labelled pixels and its IoU % under each variant (None: absent)."""
    labelled = truth[(truth >= 0) & (truth < len(classes))]
    shares = np.bincount(labelled.ravel(), minlength=len(classes))[: len(classes)] / max(labelled.size, 1)
    rows = []
    for k, name in enumerate(classes):
        row = {"class": name, "share of labelled pixels %": 100 * shares[k]}
        for v in variants:
            iou = scores[v.key].iou[k]
            row[v.name] = None if np.isnan(iou) else 100 * float(iou)
        rows.append(row)
    return rows
