"""What the relation w_ik (Eq. 5) does, measured: over one image or a whole labelled set.

The paper's picture is that a pixel relates mostly to the region of its own object. These
statistics test it, per feature cell i (the relation is computed there) and per class:

- entropy of w_i against log K (a uniform relation over the K regions);
- alignment: how often argmax_k w_ik is the cell's ground-truth class and its predicted class,
  and the rank of the ground-truth class among the K weights (1 = the strongest);
- the relative view w_ik / mean_i' w_i'k (each region's weight divided by its image mean over
  the cells), which removes a per-region bias shared by every pixel of the image;
- w against m~: whether a cell relates most to the region whose spatial softmax (Eq. 4)
  weights it most, or to its soft region argmax_k M_ki, and the spatial correlation of the
  map w_:k with m~_k;
- the paper's ablations scored over the whole set (one confusion matrix per variant).

A cell's ground-truth class is the class of at least half of its labelled-or-not pixels
(area pooling, interventions.gt_regions); other cells count as unlabelled. Ties in w share
the middle rank; argmax takes the first of tied regions. numpy for the statistics; the
ablations rerun the OCR head with ocr_viz.analysis.ablations and interventions.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from ocr_viz.model.arrays import trace_arrays
from ocr_viz.data.datasets import camvid_pairs, folder_pairs
from ocr_viz.model.images import DEFAULT_LONG_SIDE, open_image, preprocess, resize_for_model
from ocr_viz.data.class_maps import ClassMap
from ocr_viz.training.metrics import ConfusionMatrix, scored_summary, summary as confusion_summary
from . import ablations, interventions
from .stats import entropy

MAJORITY = 0.5  # a cell is labelled k when at least this share of its pixels is labelled k
ENTROPY_BINS = 44
VIEWS = ("absolute", "relative")


def cell_labels(labels: np.ndarray, num_classes: int, grid: tuple[int, int]) -> np.ndarray:
    """(h,w) class of each feature cell from (H,W) labels of the same view: the class of at
    least MAJORITY of the cell's pixels, else -1 (labels outside 0..K-1 count for no class)."""
    shares = interventions.gt_regions(torch.as_tensor(np.asarray(labels, dtype=np.int64)), num_classes, grid)[0].numpy()
    winner = shares.argmax(0)
    return np.where(shares.max(0) >= MAJORITY - 1e-6, winner, -1)


def relative(w: np.ndarray) -> np.ndarray:
    """(K,h,w) w_ik / mean_i' w_i'k: each region's weights divided by its mean over the image's cells."""
    return w / np.maximum(w.mean(axis=(1, 2), keepdims=True), 1e-30)


def ranks(values: np.ndarray, k: np.ndarray) -> np.ndarray:
    """(h,w) rank of class k[r,c] among the K values at each cell (1 = largest; ties share the
    middle rank, so a uniform relation ranks every class (K+1)/2). k < 0: NaN."""
    own = np.take_along_axis(values, np.clip(k, 0, None)[None], axis=0)[0]
    above = (values > own[None]).sum(0)
    tied = (values == own[None]).sum(0) - 1
    return np.where(k >= 0, 1.0 + above + 0.5 * tied, np.nan)


def spatial_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(K,) Pearson correlation over the cells of the maps a_k and b_k (K,h,w); NaN where one is constant."""
    a = a.reshape(a.shape[0], -1).astype(np.float64)
    b = b.reshape(b.shape[0], -1).astype(np.float64)
    a, b = a - a.mean(1, keepdims=True), b - b.mean(1, keepdims=True)
    norm = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 1e-12, (a * b).sum(1) / np.where(norm > 1e-12, norm, 1.0), np.nan)


def count_pairs(num_classes: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """(K,K) counts of (row class, column class) pairs; rows < 0 are not counted."""
    matrix = ConfusionMatrix(num_classes)
    matrix.update(np.asarray(cols, dtype=np.int64), np.asarray(rows, dtype=np.int64))
    return matrix.counts.numpy()


@dataclass
class ViewCounts:
    """Alignment of argmax_k of one view of w with the ground truth and the prediction."""

    num_classes: int
    versus_truth: np.ndarray = None  # (K,K) rows: ground-truth class, columns: argmax_k
    versus_pred: np.ndarray = None   # (K,K) rows: predicted class, columns: argmax_k
    rank_counts: np.ndarray = None   # (K,K) rows: ground-truth class, columns: floor(rank) - 1
    rank_sum: np.ndarray = None      # (K,) sum of the (mid-)ranks of the own class, per class

    def __post_init__(self):
        k = self.num_classes
        for name, shape in (("versus_truth", (k, k)), ("versus_pred", (k, k)), ("rank_counts", (k, k)), ("rank_sum", (k,))):
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(shape, dtype=np.float64 if name == "rank_sum" else np.int64))

    def add(self, values: np.ndarray, truth: np.ndarray | None, pred: np.ndarray) -> None:
        strongest = values.argmax(0)
        self.versus_pred += count_pairs(self.num_classes, pred, strongest)
        if truth is None:
            return
        self.versus_truth += count_pairs(self.num_classes, truth, strongest)
        r = ranks(values, truth)
        labelled = truth >= 0
        self.rank_counts += count_pairs(self.num_classes, truth, np.floor(np.nan_to_num(r, nan=1.0)).astype(np.int64) - 1)
        self.rank_sum += np.bincount(truth[labelled], weights=r[labelled], minlength=self.num_classes)

    def merge(self, other: "ViewCounts") -> None:
        """Add the counts of another set of cells (another process's images)."""
        for name in ("versus_truth", "versus_pred", "rank_counts", "rank_sum"):
            getattr(self, name).__iadd__(getattr(other, name))

    def summary(self, classes: list[str]) -> dict:
        rows = self.versus_truth.sum(1)
        labelled = rows.sum()
        diag = lambda m: float(np.trace(m) / max(m.sum(), 1))  # noqa: E731
        per_class = {}
        for k, name in enumerate(classes):
            per_class[name] = {
                "cells": int(rows[k]),
                "top1_truth": None if rows[k] == 0 else float(self.versus_truth[k, k] / rows[k]),
                "mean_rank": None if rows[k] == 0 else float(self.rank_sum[k] / rows[k]),
                "top1_pred": None if self.versus_pred[k].sum() == 0 else float(self.versus_pred[k, k] / self.versus_pred[k].sum()),
            }
        return {
            "top1_truth": None if labelled == 0 else diag(self.versus_truth),
            "top1_pred": diag(self.versus_pred) if self.versus_pred.sum() else None,
            "mean_rank": None if labelled == 0 else float(self.rank_sum.sum() / labelled),
            "rank_histogram": self.rank_counts.sum(0).tolist(),
            "argmax_share": (self.versus_pred.sum(0) / max(self.versus_pred.sum(), 1)).tolist(),
            "per_class": per_class,
            "versus_truth": self.versus_truth.tolist(),
            "versus_pred": self.versus_pred.tolist(),
        }


@dataclass
class RelationCounts:
    """Sums over cells (and images) from which every relation statistic is read; add() one image."""

    num_classes: int
    images: int = 0
    cells: int = 0
    labelled_cells: int = 0
    entropy_sum: float = 0.0
    entropy_histogram: np.ndarray = None   # (ENTROPY_BINS,) over [0, log K]
    entropy_by_class: np.ndarray = None    # (K,) sums over the cells of each ground-truth class
    top1_m_tilde: int = 0                  # cells whose argmax_k w_ik is argmax_k m~_ki
    top1_soft_region: int = 0              # cells whose argmax_k w_ik is argmax_k M_ki
    correlation_sum: np.ndarray = None     # (K,) sum over images of corr(w_:k, m~_k)
    correlation_count: np.ndarray = None   # (K,) images where it is defined
    views: dict = field(default_factory=dict)

    def __post_init__(self):
        k = self.num_classes
        if self.entropy_histogram is None:
            self.entropy_histogram = np.zeros(ENTROPY_BINS, dtype=np.int64)
        for name in ("entropy_by_class", "correlation_sum", "correlation_count"):
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(k, dtype=np.float64))
        for view in VIEWS:
            self.views.setdefault(view, ViewCounts(k))

    @property
    def log_k(self) -> float:
        return math.log(self.num_classes)

    def add(self, w: np.ndarray, m_tilde: np.ndarray, M: np.ndarray, pred: np.ndarray,
            truth: np.ndarray | None = None) -> None:
        """One image: w, m~, M (K,h,w) as in arrays.TraceArrays, pred (h,w) the predicted class of
        each cell, truth (h,w) cell labels (cell_labels; -1 unlabelled) or None."""
        w = np.asarray(w, dtype=np.float64)
        pred = np.asarray(pred, dtype=np.int64)
        h_i = entropy(w, axis=0)
        self.images += 1
        self.cells += h_i.size
        self.entropy_sum += float(h_i.sum())
        self.entropy_histogram += np.histogram(np.clip(h_i, 0, self.log_k), bins=ENTROPY_BINS, range=(0, self.log_k))[0]
        strongest = w.argmax(0)
        self.top1_m_tilde += int((strongest == np.asarray(m_tilde).argmax(0)).sum())
        self.top1_soft_region += int((strongest == np.asarray(M).argmax(0)).sum())
        corr = spatial_correlation(w, np.asarray(m_tilde))
        self.correlation_sum += np.nan_to_num(corr)
        self.correlation_count += ~np.isnan(corr)
        if truth is not None:
            truth = np.asarray(truth, dtype=np.int64)
            labelled = truth >= 0
            self.labelled_cells += int(labelled.sum())
            self.entropy_by_class += np.bincount(truth[labelled], weights=h_i[labelled], minlength=self.num_classes)
        self.views["absolute"].add(w, truth, pred)
        self.views["relative"].add(relative(w), truth, pred)

    def merge(self, other: "RelationCounts") -> None:
        """Add the sums of another set of images (another process's share of the set)."""
        for name in ("images", "cells", "labelled_cells", "entropy_sum", "top1_m_tilde", "top1_soft_region"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("entropy_histogram", "entropy_by_class", "correlation_sum", "correlation_count"):
            getattr(self, name).__iadd__(getattr(other, name))
        for view in VIEWS:
            self.views[view].merge(other.views[view])

    def summary(self, classes: list[str]) -> dict:
        """The statistics as a JSON-ready dict (the layout of `analyze relation`'s "relation" entry)."""
        per_class_cells = self.views["absolute"].versus_truth.sum(1)
        correlation = np.where(self.correlation_count > 0, self.correlation_sum / np.maximum(self.correlation_count, 1), np.nan)
        return {
            "images": self.images, "cells": self.cells, "labelled_cells": self.labelled_cells,
            "chance_top1": 1.0 / self.num_classes, "chance_mean_rank": (self.num_classes + 1) / 2,
            "entropy": {
                "mean": self.entropy_sum / max(self.cells, 1), "log_k": self.log_k,
                "histogram": self.entropy_histogram.tolist(),
                "edges": np.linspace(0, self.log_k, ENTROPY_BINS + 1).tolist(),
                "per_class": {name: None if per_class_cells[k] == 0 else float(self.entropy_by_class[k] / per_class_cells[k])
                              for k, name in enumerate(classes)},
            },
            "m_tilde": {
                "top1_m_tilde": self.top1_m_tilde / max(self.cells, 1),
                "top1_soft_region": self.top1_soft_region / max(self.cells, 1),
                "spatial_correlation": float(np.nanmean(correlation)) if not np.isnan(correlation).all() else None,
                "spatial_correlation_per_class": {name: None if np.isnan(c) else float(c) for name, c in zip(classes, correlation)},
            },
            **{view: counts.summary(classes) for view, counts in self.views.items()},
        }


def cell_predictions(logits: np.ndarray) -> np.ndarray:
    """(h,w) predicted class of each cell: argmax of the final logits at the feature resolution."""
    return np.asarray(logits).argmax(0)


def image_summary(arrays, classes: list[str], truth: np.ndarray | None = None) -> dict:
    """The relation statistics of one traced image (arrays.TraceArrays of an OCR model); `truth`
    (H,W) labels of the same view at any resolution, or None."""
    counts = RelationCounts(len(classes))
    cells = None if truth is None else cell_labels(truth, len(classes), arrays.grid)
    counts.add(arrays.w, arrays.m_tilde, arrays.M, cell_predictions(arrays.logits), cells)
    return counts.summary(classes)


# --- the ablations over a set: one confusion matrix per variant, scored at the labels' size ---

@torch.no_grad()
def ablation_predictions(model, trace, label: np.ndarray, fcn=None, shared_backbone: bool = False,
                         ground_truth: bool = True) -> dict[str, np.ndarray]:
    """{variant key: (H,W) labels at the label's size} for one traced image: the model's OCR,
    its soft regions, the head experiments of ablations.HEAD_VARIANTS (those that take the ground
    truth only when `ground_truth`: the label is in the model's classes), and no context (the
    FCN model `fcn` on the same features when shared_backbone, else on the input), if given."""
    size = tuple(label.shape)
    head = interventions.ocr_trace(trace)
    preds = {"ocr": interventions.prediction(head, size)[0].cpu().numpy(),
             "soft_regions": ablations.upsample(head.M, size).argmax(1)[0].cpu().numpy()}
    keys = [k for k in ablations.HEAD_VARIANTS if ground_truth or k not in ablations.GROUND_TRUTH_VARIANTS]
    preds |= {v.key: v.pred for v in ablations.head_variants(model.head, head, label, True, keys)}
    if fcn is not None:
        preds["no_context"] = ablations.no_context_logits(fcn, trace.features, trace.images, shared_backbone, size)
    return preds


@dataclass
class AblationCounts:
    """One confusion matrix per ablation variant, summed over images."""

    num_classes: int
    matrices: dict = field(default_factory=dict)

    def add(self, preds: dict[str, np.ndarray], label: np.ndarray) -> None:
        for key, pred in preds.items():
            self.matrices.setdefault(key, ConfusionMatrix(self.num_classes)).update(pred, np.asarray(label, dtype=np.int64))

    def merge(self, other: "AblationCounts") -> None:
        for key, matrix in other.matrices.items():
            self.matrices.setdefault(key, ConfusionMatrix(self.num_classes)).counts += matrix.counts

    def summary(self, classes: list[str]) -> list[dict]:
        """One row per variant, in the paper's order: key, name, meaning, mIoU, pixel accuracy, per-class IoU."""
        names = {"no_context": ablations.NO_CONTEXT, "soft_regions": ablations.SOFT_REGIONS, "ocr": ablations.OCR,
                 **{key: spec[:2] for key, spec in ablations.HEAD_VARIANTS.items()}}
        rows = []
        for key in sorted(self.matrices, key=lambda k: ablations.ORDER.index(k) if k in ablations.ORDER else 99):
            result = scored_summary(self.matrices[key].counts, classes)
            rows.append({"key": key, "name": names[key][0], "meaning": names[key][1], "miou": result["miou"],
                         "pixel_accuracy": result["pixel_accuracy"], "per_class_iou": result["per_class_iou"]})
        return rows


# --- over a labelled set: the command `python -m ocr_viz.analyze relation` ---

ANALYSIS_DIR = Path(__file__).resolve().parents[2] / "assets" / "analysis"


def model_digest(model) -> str:
    """The identity of a model's weights as loaded (parameters and buffers, float32): the same for one
    checkpoint however it reached the app (shipped file, upload, converted release), 16 hex digits."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def labelled_pairs(root: str | Path, split: str = "test") -> tuple[list[tuple[Path, Path]], str]:
    """(image, label) paths and the layout's name: CamVid's (split/ + splitannot/) or images/ + masks/."""
    root = Path(root)
    if (root / split).is_dir() and (root / f"{split}annot").is_dir():
        return camvid_pairs(root, split), f"CamVid layout, {split}/ + {split}annot/"
    if (root / "images").is_dir() and (root / "masks").is_dir():
        return folder_pairs(root), "images/ + masks/"
    raise FileNotFoundError(f"{root} has neither {split}/ + {split}annot/ (CamVid layout) nor images/ + masks/ folders")


def read_label(path: Path, size: tuple[int, int]) -> np.ndarray:
    """(H,W) class indices of a single-channel label PNG of an image of `size` (width, height)."""
    label = Image.open(path)
    if label.mode not in ("L", "P", "I", "I;16") or label.size != size:
        raise ValueError(f"{path}: the label must be a single-channel PNG of the image's size {size}, "
                         f"not mode {label.mode} of size {label.size}")
    return np.asarray(label, dtype=np.int64)


@dataclass
class SetCounts:
    """What analyze_set counts over some of a set's images: sums, so the shares of several processes
    add up (merge); last = (index in the set, feature grid) of the latest image counted."""

    relation: RelationCounts
    ablations: AblationCounts
    seconds: float = 0.0
    last: tuple[int, list[int]] | None = None

    def merge(self, other: "SetCounts") -> None:
        self.relation.merge(other.relation)
        self.ablations.merge(other.ablations)
        self.seconds += other.seconds
        if other.last is not None and (self.last is None or other.last[0] > self.last[0]):
            self.last = other.last


def check_ocr(meta: dict) -> None:
    if meta["arch"]["head"] != "ocr":
        raise ValueError(f"the relation analysis needs an OCR head; this model's head is {meta['arch']['head']!r}")


@torch.no_grad()
def count_set(model, meta: dict, pairs: list[tuple[Path, Path]], fcn=None, progress: bool = False,
              long_side: int = DEFAULT_LONG_SIDE, indices: list[int] | None = None,
              class_map: ClassMap | None = None) -> SetCounts:
    """The sums behind analyze_set over (image, label) pairs; `indices`: their places in the whole
    set (default 0, 1, ...), so that several processes' shares merge into the whole set's. Labels of
    another dataset come with their class_map (class_maps.ground_truth_map): the relation then counts
    the classes that are one model class each, the ablations are scored in the map's classes (its
    last column: predictions without counterpart) and the ground-truth variants are left out."""
    check_ocr(meta)
    classes = list(meta["classes"])
    mapped = class_map is not None and not class_map.exact
    model.eval()
    device = next(model.parameters()).device
    shared = fcn is not None and ablations.same_backbone(model, fcn)
    counts = SetCounts(RelationCounts(len(classes)), AblationCounts(len(class_map.scored) + 1 if mapped else len(classes)))
    started = time.perf_counter()
    indices = range(len(pairs)) if indices is None else indices
    for index, (image_path, label_path) in zip(indices, tqdm(pairs, disable=not progress, dynamic_ncols=True)):
        image = open_image(image_path)
        label = read_label(label_path, image.size)
        trace = model.trace(preprocess(image, long_side).to(device))
        arrays = trace_arrays(trace, np.asarray(resize_for_model(image, long_side)), "ocr")
        counts.last = (index, list(arrays.grid))
        counts.relation.add(arrays.w, arrays.m_tilde, arrays.M, cell_predictions(arrays.logits),
                            cell_labels(class_map.model_labels(label) if mapped else label, len(classes), arrays.grid))
        preds = ablation_predictions(model, trace, label, fcn, shared, ground_truth=not mapped)
        if mapped:
            preds, label = {k: class_map.predictions(v) for k, v in preds.items()}, class_map.labels(label)
        counts.ablations.add(preds, label)
    counts.seconds = time.perf_counter() - started
    return counts


def set_results(counts: SetCounts, classes: list[str], long_side: int, no_context: str | None,
                class_map: ClassMap | None = None) -> dict:
    """The JSON entries of `analyze relation` from the summed counts; no_context: what the
    no-context row is, or None; class_map: how labels of another dataset were read (count_set)."""
    mapped = class_map is not None and not class_map.exact
    images = counts.relation.images
    return {
        "classes": classes, "images": images, "input_long_side": long_side,
        "grid": None if counts.last is None else counts.last[1],
        "seconds_per_image": counts.seconds / max(images, 1),
        "relation": counts.relation.summary(classes),
        "ablations": {"scored_at": "the label's resolution (logits upsampled bilinearly), unlabelled pixels ignored",
                      "no_context": no_context,
                      "rows": counts.ablations.summary(list(class_map.scored) if mapped else classes)},
        **({"class_map": {"labels": class_map.labels_title, "model": class_map.model_title, "note": class_map.note(),
                          "relation_classes": class_map.one_to_one(),
                          "left_out": "GT regions and GT-OCR: they need labels in the model's own classes"}}
           if mapped else {}),
    }


def no_context_text(model, fcn) -> str | None:
    if fcn is None:
        return None
    return "the FCN head on the OCR model's backbone features" if ablations.same_backbone(model, fcn) \
        else "the FCN model on the input (its own backbone)"


def analyze_set(model, meta: dict, pairs: list[tuple[Path, Path]], fcn=None, progress: bool = False,
                long_side: int = DEFAULT_LONG_SIDE) -> dict:
    """The relation statistics and the ablations of an OCR `model` over (image, label) pairs, each
    image traced at the app's input size (longer side `long_side`), the ablations scored at the
    label's size with unlabelled pixels (labels outside 0..K-1) ignored."""
    counts = count_set(model, meta, pairs, fcn, progress, long_side)
    return set_results(counts, list(meta["classes"]), long_side, no_context_text(model, fcn))


def default_out(name: str) -> Path:
    return ANALYSIS_DIR / f"relation_{name}.json"


def load_results(path: str | Path) -> dict:
    """A JSON written by `analyze relation`, checked for the entries the page reads."""
    return parse_results(Path(path).read_bytes(), str(path))


def parse_results(data: bytes | str, name: str = "the file") -> dict:
    """A JSON written by `analyze relation` from its bytes (e.g. an upload), checked as load_results checks."""
    try:
        results = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{name} is not valid JSON ({e})") from e
    if not isinstance(results, dict) or not {"relation", "ablations", "classes", "model"} <= results.keys():
        raise ValueError(f"{name} is not an `ocr_viz.analyze relation` result (no relation/ablations/classes/model)")
    return results


def find_results(digest: str, folder: str | Path | None = None) -> dict | None:
    """The cached analysis of the checkpoint with this weights digest in `folder` (default
    ANALYSIS_DIR), or None."""
    for path in sorted(Path(folder or ANALYSIS_DIR).glob("relation_*.json")):
        try:
            results = load_results(path)
        except (ValueError, OSError):
            continue
        if results["model"].get("weights_digest") == digest:
            return results
    return None


def format_report(results: dict) -> str:
    """The headline numbers as text, for the terminal."""
    r, k = results["relation"], len(results["classes"])
    pct = lambda v: "  -  " if v is None else f"{100 * v:5.1f}"  # noqa: E731
    lines = [f"{results['images']} images, {r['cells']} cells ({r['labelled_cells']} labelled), K = {k}",
             f"entropy of w_i: mean {r['entropy']['mean']:.3f} nats (uniform: log K = {r['entropy']['log_k']:.3f})"]
    for view in VIEWS:
        v = r[view]
        lines.append(f"{view:>8}: argmax_k is the true class {pct(v['top1_truth'])} %, the predicted class "
                     f"{pct(v['top1_pred'])} % (chance {100 / k:.1f} %); mean rank of the true class "
                     f"{v['mean_rank'] if v['mean_rank'] is None else round(v['mean_rank'], 2)} of {k}")
    m = r["m_tilde"]
    lines.append(f"w vs m~: argmax_k w_ik = argmax_k m~_ki {pct(m['top1_m_tilde'])} %, = soft region argmax_k M_ki "
                 f"{pct(m['top1_soft_region'])} %; corr(w_:k, m~_k) {m['spatial_correlation']:.3f}")
    lines.append(f"{'ablation':<32}{'mIoU %':>8}{'pixel acc. %':>14}")
    for row in results["ablations"]["rows"]:
        lines.append(f"{row['name']:<32}{pct(row['miou']):>8}{pct(row['pixel_accuracy']):>14}")
    return "\n".join(lines)


def share_beyond_global_mix(context: np.ndarray, context_uniform: np.ndarray) -> float:
    """How far each pixel's context sum_k w_ik delta(f_k) (Eq. 3 inside rho; (n,d)) is from the global
    mix (1/K) sum_k delta(f_k) that a uniform relation gives every pixel, relative to the mix's size:
    mean_i ||c_i - c^u_i|| / mean_i ||c^u_i||. Near 0: y_i is nearly the same for every pixel.
    (Measured before rho: its BatchNorm rescales small differences between pixels into large ones.)"""
    context, context_uniform = np.asarray(context, dtype=np.float64), np.asarray(context_uniform, dtype=np.float64)
    return float(np.linalg.norm(context - context_uniform, axis=-1).mean()
                 / max(np.linalg.norm(context_uniform, axis=-1).mean(), 1e-12))
