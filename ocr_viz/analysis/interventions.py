"""What-if experiments on a recorded OCR head trace, and the paper's GT-OCR ablation.

The head's stages run M -> m~ (Eq. 4 weights) -> f (Eq. 4) -> kappa, w (Eq. 5)
-> y (Eq. 3) -> z (Eq. 6) -> logits. Each experiment replaces one stage of a cached
OCRHeadTrace and recomputes only the stages after it, with the head's own functions
and modules, in eval mode and without gradients: the backbone is never rerun.
The fields upstream of the replaced stage are kept as recorded, so after replacing
m~ the trace's M is still the model's, and after replacing w its kappa is the one
the head computes for the trace's f (it no longer produces that w).

The paper's third bar, "no context", is not faked here (say by zeroing y: g was
trained on [x, y] and never saw that input). It is the FCN head, a separately trained
model: compare with load_model("fcn").
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange

from ocr_viz.data.classes import IGNORE_INDEX
from ocr_viz.model.heads import ocr
from ocr_viz.model.heads.ocr import OCRHead, OCRHeadTrace
from ocr_viz.model.segmentor import upsample
from ocr_viz.training.metrics import ConfusionMatrix, per_class_iou


def ocr_trace(trace) -> OCRHeadTrace:
    """The OCR head's trace, from a Segmentor Trace or an OCRHeadTrace itself."""
    t = getattr(trace, "head", trace)
    if not isinstance(t, OCRHeadTrace):
        raise TypeError(f"expected an OCR head trace, got {type(t).__name__}: interventions need the OCR head")
    return t


@contextmanager
def evaluating(head: OCRHead):
    """Run the head in eval mode (BN running statistics, no dropout) without gradients."""
    was_training = head.training
    head.eval()
    try:
        with torch.no_grad():
            yield head
    finally:
        head.train(was_training)


def context_of(head: OCRHead, t: OCRHeadTrace) -> torch.Tensor:
    """Eq. 3 inside rho: sum_k w_ik delta(f_k) for every pixel, (b, n, d)."""
    with evaluating(head):
        return ocr.context(t.w, head.regions(t.f, head.delta))


def finish(head: OCRHead, t: OCRHeadTrace, y: torch.Tensor) -> OCRHeadTrace:
    """Eq. 6 and the 1x1 classifier from the trace's x and a new y."""
    z = head.z(t.x, y)
    return replace(t, y=y, z=z, logits=head.classifier(z))


def from_f(head: OCRHead, t: OCRHeadTrace, m: torch.Tensor, f_k: torch.Tensor) -> OCRHeadTrace:
    """Eq. 5, 3, 6 and the classifier from new region weights m~ and representations f."""
    with evaluating(head):
        k, w_ik = head.relation(t.x, f_k)
        return finish(head, replace(t, m_tilde=m, f=f_k, kappa=k, w=w_ik), head.y(w_ik, f_k, t.x.shape[-2]))


@torch.no_grad()
def with_m_tilde(head: OCRHead, trace, m: torch.Tensor) -> OCRHeadTrace:
    """Replace m~ (b,k,n; each region's weights sum to 1) and rerun from Eq. 4."""
    t = ocr_trace(trace)
    return from_f(head, t, m, ocr.f(m, t.x))


@torch.no_grad()
def with_regions(head: OCRHead, trace, M: torch.Tensor) -> OCRHeadTrace:
    """Replace the soft object regions M (b,k,h,w) and rerun from the spatial softmax of Eq. 4."""
    return with_m_tilde(head, replace(ocr_trace(trace), M=M), ocr.m_tilde(M, head.temperature))


@torch.no_grad()
def with_temperature(head: OCRHead, trace, temperature: float) -> OCRHeadTrace:
    """Eq. 4 with another spatial-softmax temperature (it replaces head.temperature):
    above 1 each region's weights concentrate on its most confident pixels, below 1 they spread."""
    t = ocr_trace(trace)
    return with_m_tilde(head, t, ocr.m_tilde(t.M, temperature))


@torch.no_grad()
def with_relation(head: OCRHead, trace, w_ik: torch.Tensor) -> OCRHeadTrace:
    """Replace the relation w (b,n,k; each pixel's weights sum to 1) and rerun from Eq. 3."""
    t = replace(ocr_trace(trace), w=w_ik)
    with evaluating(head):
        return finish(head, t, head.y(t.w, t.f, t.x.shape[-2]))


@torch.no_grad()
def suppress_region(head: OCRHead, trace, k: int, keep_relation: bool = False) -> OCRHeadTrace:
    """m~_k := 0, so f_k = 0 (Eq. 4); w is recomputed by Eq. 5, or kept if keep_relation.

    f_k = 0 does not silence region k: psi and delta end in BatchNorm and ReLU, so
    psi(0) and delta(0) are not 0 and pixels still attend to the empty region with
    the value delta(0). With w kept, the context of pixel i changes by exactly
    w_ik (delta(0) - delta(f_k)); with w recomputed, only column k of kappa changes,
    so the other regions' weights are all rescaled by one factor per pixel.
    To take region k out of Eq. 3 altogether, see drop_region.
    """
    t = ocr_trace(trace)
    m = t.m_tilde.clone()
    m[:, k] = 0
    if keep_relation:
        return with_relation(head, replace(t, m_tilde=m, f=ocr.f(m, t.x)), t.w)
    return with_m_tilde(head, t, m)


@torch.no_grad()
def drop_region(head: OCRHead, trace, k: int) -> OCRHeadTrace:
    """w_ik := 0 for every pixel, renormalised over the other regions: region k leaves Eq. 3."""
    t = ocr_trace(trace)
    w_ik = t.w.clone()
    w_ik[..., k] = 0
    return with_relation(head, t, w_ik / w_ik.sum(-1, keepdim=True))


@torch.no_grad()
def uniform_relation(head: OCRHead, trace) -> OCRHeadTrace:
    """w_ik = 1/K: every pixel gets the same context, the plain mean of the region values."""
    t = ocr_trace(trace)
    return with_relation(head, t, torch.full_like(t.w, 1.0 / t.w.shape[-1]))


def pixel_index(pixel: int | tuple[int, int], width: int) -> int:
    """A flat pixel index i = row * width + col, from i itself or (row, col) at the feature size."""
    return pixel if isinstance(pixel, int) else pixel[0] * width + pixel[1]


@torch.no_grad()
def override_relation(head: OCRHead, trace, pixel: int | tuple[int, int], w_row) -> OCRHeadTrace:
    """Pixel i's relation w_i. (Eq. 5) replaced by a given distribution over the K regions
    (non-negative, renormalised to sum 1); every other pixel's y is unchanged."""
    t = ocr_trace(trace)
    row = torch.as_tensor(w_row, dtype=t.w.dtype, device=t.w.device)
    if row.shape != t.w.shape[-1:] or (row < 0).any() or row.sum() <= 0:
        raise ValueError(f"w_row must be {t.w.shape[-1]} non-negative weights with a positive sum")
    w_ik = t.w.clone()
    w_ik[:, pixel_index(pixel, t.x.shape[-1])] = row / row.sum()
    return with_relation(head, t, w_ik)


def gt_regions(labels, num_classes: int, size: tuple[int, int]) -> torch.Tensor:
    """The ground truth as regions at the feature size: the fraction of each cell's pixels
    labelled k (area pooling of the one-hot labels), (b,k,h,w). Ignored pixels (label
    IGNORE_INDEX, or any value >= num_classes) count for no class. `labels` (H,W) or
    (b,H,W) may have any resolution covering the same view as the model's input."""
    labels = torch.as_tensor(labels).long()
    labels = labels[None] if labels.ndim == 2 else labels
    labels = labels.masked_fill((labels < 0) | (labels >= num_classes), num_classes)
    one_hot = F.one_hot(labels, num_classes + 1)[..., :num_classes].float()
    return F.adaptive_avg_pool2d(rearrange(one_hot, "b H W k -> b k H W"), tuple(size))


def gt_m_tilde(regions: torch.Tensor, fallback: torch.Tensor) -> torch.Tensor:
    """Eq. 4 weights from the ground truth: m~_ki = class k's share of cell i, normalised
    over pixels to sum 1; classes absent from the labels keep their `fallback` (b,k,n) row."""
    m = rearrange(regions, "b k h w -> b k (h w)")
    mass = m.sum(-1, keepdim=True)
    return torch.where(mass > 0, m / mass.clamp_min(1e-12), fallback)


def gt_relation(regions: torch.Tensor, fallback: torch.Tensor) -> torch.Tensor:
    """Eq. 5 from the ground truth: w_ik = 1 if pixel i is labelled k, generalised to a cell
    as the share of its labelled pixels in class k; cells with no labelled pixel keep `fallback`."""
    w_ik = rearrange(regions, "b k h w -> b (h w) k")
    mass = w_ik.sum(-1, keepdim=True)
    return torch.where(mass > 0, w_ik / mass.clamp_min(1e-12), fallback)


@torch.no_grad()
def gt_ocr(head: OCRHead, trace, labels, relation: str = "gt") -> OCRHeadTrace:
    """GT-OCR (paper, Fig. 1): the object regions from the ground truth, and the relation too
    (relation="gt", as in the paper) or the model's own Eq. 5 on those regions ("model").
    Absent classes keep the model's m~; unlabelled cells keep the model's w (on GT regions)."""
    if relation not in ("gt", "model"):
        raise ValueError(f"relation must be 'gt' or 'model', not {relation!r}")
    t = ocr_trace(trace)
    regions = gt_regions(torch.as_tensor(labels).to(t.x.device), t.M.shape[1], t.x.shape[-2:])
    out = with_m_tilde(head, t, gt_m_tilde(regions, t.m_tilde))
    return out if relation == "model" else with_relation(head, out, gt_relation(regions, out.w))


@torch.no_grad()
def prediction(trace, size: tuple[int, int]) -> torch.Tensor:
    """Labels (b,H,W) of a head trace at the input size, computed as Segmentor.trace computes pred."""
    return torch.softmax(upsample(ocr_trace(trace).logits, tuple(size)), dim=1).argmax(1)


@dataclass
class TraceDifference:
    """Per-pixel change from one head trace to another, (b,h,w) at the feature size:
    y, z, logits: L2 norm of the change over channels; w: total variation
    1/2 sum_k |w'_ik - w_ik|; changed: the predicted label changed (at `size` if given)."""

    y: torch.Tensor
    z: torch.Tensor
    logits: torch.Tensor
    w: torch.Tensor
    changed: torch.Tensor


def change(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    """Per-pixel L2 norm of the change of a (b,c,h,w) map, (b,h,w)."""
    return torch.linalg.vector_norm(after - before, dim=1)


@torch.no_grad()
def difference(before, after, size: tuple[int, int] | None = None) -> TraceDifference:
    """Where and how much an intervention changed y, z, the logits, w and the labels."""
    a, b = ocr_trace(before), ocr_trace(after)
    size = size or a.x.shape[-2:]
    tv = rearrange(0.5 * (b.w - a.w).abs().sum(-1), "b (h w) -> b h w", h=a.x.shape[-2])
    return TraceDifference(
        y=change(a.y, b.y), z=change(a.z, b.z), logits=change(a.logits, b.logits), w=tv,
        changed=prediction(a, size) != prediction(b, size),
    )


def to_numpy(a) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def image_iou(pred, labels, num_classes: int, ignore_index: int = IGNORE_INDEX) -> tuple[np.ndarray, float]:
    """IoU of each class on one image (NaN for a class in neither pred nor labels) and
    their mean over the classes present in either; pixels labelled ignore_index are skipped."""
    pred, labels = to_numpy(pred).astype(np.int64), to_numpy(labels).astype(np.int64)
    if pred.size != labels.size:
        raise ValueError(f"pred and labels differ in size: {pred.size} vs {labels.size} pixels")
    confusion = ConfusionMatrix(num_classes)
    confusion.update(pred.reshape(labels.shape), np.where(labels == ignore_index, -1, labels))  # -1: not counted
    iou = per_class_iou(confusion.counts).numpy()
    return iou, float(np.nanmean(iou)) if not np.isnan(iou).all() else float("nan")
