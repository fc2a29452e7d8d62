"""Small numpy summaries of the trace arrays that the pages show: PCA, entropy, norms,
similarities, which pixels built a region vector, what OCR changed. numpy only."""
from __future__ import annotations

import numpy as np


def pca(vectors: np.ndarray, components: int) -> tuple[np.ndarray, np.ndarray]:
    """(n,c) vectors -> (n,components) projections onto the top principal axes, and the share
    of variance each axis explains. Signs are fixed so the largest loading is positive."""
    vectors = vectors.astype(np.float64)  # before centring: y and z are kept in float16
    centred = vectors - vectors.mean(0)
    # the eigenvectors of the c x c covariance: much cheaper than an SVD of the n x c data
    variance, axes = np.linalg.eigh(centred.T @ centred)
    order = np.argsort(variance)[::-1][:components]
    variance, axes = np.clip(variance, 0, None), axes[:, order]
    axes *= np.sign(axes[np.abs(axes).argmax(0), np.arange(axes.shape[1])])  # deterministic signs
    share = variance[order] / max(variance.sum(), 1e-12)
    projected = centred @ axes
    if projected.shape[1] < components:  # fewer dimensions than components asked for
        projected = np.pad(projected, ((0, 0), (0, components - projected.shape[1])))
        share = np.pad(share, (0, components - len(share)))
    return projected, share


def pca_rgb(maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(c,h,w) features -> (h,w,3) colours in [0,1] from the first 3 principal components
    (each stretched between its 1st and 99th percentile), and their explained variance."""
    c, h, w = maps.shape
    projected, share = pca(maps.reshape(c, -1).T, 3)
    lo, hi = np.percentile(projected, [1, 99], axis=0)
    rgb = np.clip((projected - lo) / np.maximum(hi - lo, 1e-12), 0, 1)
    return rgb.reshape(h, w, 3), share


def norms(maps: np.ndarray) -> np.ndarray:
    """(c,h,w) -> (h,w) Euclidean norm of each pixel's vector (in float32 at least: a float16 sum of
    squares loses digits and overflows past 65,504)."""
    return np.linalg.norm(maps.astype(np.promote_types(maps.dtype, np.float32), copy=False), axis=0)


def channels_by_mean(maps: np.ndarray) -> np.ndarray:
    """(c,h,w) -> channel indices, the highest mean activation first."""
    return np.argsort(maps.mean((1, 2)))[::-1]


def softmax(values: np.ndarray, axis: int) -> np.ndarray:
    shifted = np.exp(values - values.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


def entropy(probabilities: np.ndarray, axis: int = 0) -> np.ndarray:
    """Entropy in nats of distributions along `axis`; a uniform one over K has log K."""
    p = np.clip(probabilities, 1e-30, 1.0)
    return -(p * np.log(p)).sum(axis=axis)


def argmax_map(maps: np.ndarray) -> np.ndarray:
    """(K,h,w) -> (h,w) index of the largest of the K values at each pixel."""
    return maps.argmax(0)


def resize_nearest(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(h,w) labels -> `shape` by nearest neighbour (each output pixel takes the cell it falls in)."""
    rows = (np.arange(shape[0]) * labels.shape[0] // shape[0])
    cols = (np.arange(shape[1]) * labels.shape[1] // shape[1])
    return labels[rows[:, None], cols[None, :]]


def cosine_similarity(vectors: np.ndarray, centred: bool = False) -> np.ndarray:
    """(k,c) -> (k,k) cosine of the angle between every two vectors; `centred` first subtracts
    their mean, since non-negative (post-ReLU) vectors all point into one orthant."""
    if centred:
        vectors = vectors - vectors.mean(0)
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return unit @ unit.T


def contributions(m_tilde_k: np.ndarray, x: np.ndarray, f_k: np.ndarray, how: str) -> np.ndarray:
    """(h,w) share of each pixel i in f_k = sum_i m~_ki x_i (Eq. 4).

    "norm": ||m~_ki x_i|| = m~_ki ||x_i||, how much the pixel adds, in any direction;
    "along f_k": m~_ki x_i . f_k / ||f_k||, the signed part along f_k; sums to ||f_k||.
    """
    if how == "norm":
        return m_tilde_k * norms(x)
    direction = f_k / max(np.linalg.norm(f_k), 1e-12)
    return m_tilde_k * np.tensordot(direction, x, axes=(0, 0))


def top_pixels(values: np.ndarray, count: int) -> np.ndarray:
    """(count, 2) (row, column) of the largest values, largest first."""
    flat = np.argsort(values, axis=None)[::-1][:count]
    return np.stack(np.unravel_index(flat, values.shape), axis=1)


def share_of_top(values: np.ndarray, count: int) -> float:
    """Fraction of the (non-negative) total held by the `count` largest values."""
    ordered = np.sort(values, axis=None)[::-1]
    return float(ordered[:count].sum() / max(ordered.sum(), 1e-30))


def class_shares(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """(K,) fraction of pixels per class."""
    return np.bincount(labels.ravel(), minlength=num_classes)[:num_classes] / labels.size


def changes(before: np.ndarray, after: np.ndarray, truth: np.ndarray | None = None, ignore: int = 255) -> dict:
    """What a second prediction changed: the changed mask and counts; with ground truth, how
    many changed pixels became right and how many became wrong (ignored labels left out)."""
    changed = before != after
    summary = {"mask": changed, "changed": int(changed.sum()), "total": int(changed.size)}
    if truth is not None:
        valid = changed & (truth != ignore)
        summary["fixed"] = int((valid & (after == truth)).sum())
        summary["broken"] = int((valid & (before == truth)).sum())
    return summary


def accuracy(pred: np.ndarray, truth: np.ndarray, num_classes: int, ignore: int) -> dict:
    """Pixel accuracy and mean IoU over the classes present in truth or prediction (one image)."""
    valid = truth != ignore
    p, t = pred[valid].astype(np.int64), truth[valid].astype(np.int64)  # labels may be uint8: t * K + p must not wrap
    confusion = np.bincount(t * num_classes + p, minlength=num_classes**2).reshape(num_classes, num_classes)
    intersection = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - intersection
    present = union > 0
    iou = np.where(present, intersection / np.maximum(union, 1), np.nan)
    return {"pixel_accuracy": float((p == t).mean()) if t.size else float("nan"),
            "mean_iou": float(np.nanmean(iou)) if present.any() else float("nan"), "iou": iou}
