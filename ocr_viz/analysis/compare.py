"""The heads on one image: every shipped model (the rows of model/heads/table.py: FCN, ASPP,
Non-local, base-OC, OCNet's Pyramid-OC and ASP-OC, OCR) traced on the same input, and what each head
looks at for one pixel, as numpy arrays for the compare page.

The shipped comparison heads share the OCR model's backbone (their checkpoints hold only the head
and name OCR's backbone; untrained models all carry the same ImageNet weights). The backbone runs
once per distinct backbone (compared weight by weight), and each head runs on those features
through Segmentor.trace as usual.
A head that refuses the image (attention over more than MAX_PIXELS pixels) is recorded with its
reason instead of failing the whole comparison.

Pixels are (row, column) on the h x w feature map; i = row * w + column.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from PIL import Image

from .interventions import image_iou
from ocr_viz.model.arrays import TraceArrays, trace_arrays
from ocr_viz.model.heads import asp_oc, pyramid_oc, table
from ocr_viz.model.heads.aspp import ASPPHeadTrace, branch_contributions, sampling_offsets
from ocr_viz.model.heads.asp_oc import ASPOCHeadTrace
from ocr_viz.model.heads.pyramid_oc import PyramidOCHeadTrace
from ocr_viz.model.heads.attention import check_pixels
from ocr_viz.model.images import preprocess, resize_for_model
from ocr_viz.model.segmentor import Segmentor
from ocr_viz.training import results

HEADS = table.NAMES
TITLES = table.TITLES
# each head whose view is its attention row has attention_row(trace, index) in its module
ATTENTION_ROW = {h.name: importlib.import_module(f"ocr_viz.model.heads.{h.module}").attention_row
                 for h in table.HEADS if h.view == "attention row"}


@dataclass(frozen=True)
class HeadRun:
    """One head on the image: its arrays, or why it refused. head_trace (torch) is kept only for
    the attention heads, whose rows are recomputed per clicked pixel (for Pyramid-OC and ASP-OC only
    their queries, see `attention_state`); contributions (r,h,w) and rates only for ASPP and ASP-OC."""

    name: str
    meta: dict
    arrays: TraceArrays | None = None
    refused: str = ""
    head_trace: Any = None
    contributions: np.ndarray | None = None
    rates: tuple[int, ...] = ()

    @property
    def title(self) -> str:
        return TITLES.get(self.name, self.name)

    @property
    def trained(self) -> bool:
        return bool(self.meta.get("trained"))

    @property
    def labels(self) -> np.ndarray | None:
        """(h,w) labels at the feature-map resolution (argmax of the logits)."""
        return None if self.arrays is None else self.arrays.logits.argmax(0)


@dataclass(frozen=True)
class Comparison:
    image: np.ndarray            # (H,W,3) uint8, the input every head saw
    runs: dict[str, HeadRun]     # in HEADS order
    backbone_runs: int           # 1 when all heads share the backbone

    @property
    def ran(self) -> list[HeadRun]:
        return [r for r in self.runs.values() if r.arrays is not None]

    @property
    def grid(self) -> tuple[int, int]:
        return self.ran[0].arrays.grid if self.ran else (0, 0)


def same_backbone(a: Segmentor, b: Segmentor) -> bool:
    """Whether two segmentors compute the same features: same fused stages, equal weights and buffers."""
    if a.feature_names != b.feature_names or type(a.backbone) is not type(b.backbone):
        return False
    if a.backbone is b.backbone:
        return True
    sa, sb = a.backbone.state_dict(), b.backbone.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def share_backbone(model: Segmentor, donor: Segmentor) -> bool:
    """Point `model` at `donor`'s backbone module when their weights are equal (the shipped heads were
    trained on OCR's frozen backbone): one copy in memory, not one per head. For inference only:
    training either model would change both."""
    if model.backbone is donor.backbone or not same_backbone(model, donor):
        return False
    model.backbone = donor.backbone
    return True


def backbone_groups(models: dict[str, Segmentor]) -> list[list[str]]:
    """Model names grouped by identical backbone, in the given order."""
    groups: list[list[str]] = []
    for name, model in models.items():
        group = next((g for g in groups if same_backbone(models[g[0]], model)), None)
        if group is None:
            groups.append([name])
        else:
            group.append(name)
    return groups


def refusal(name: str, model: Segmentor, stages) -> str:
    """Why an attention head would refuse these features (more than MAX_PIXELS pixels; for Pyramid-OC
    also fewer cells a side than its finest level's partitions), or ""."""
    if name not in table.ATTENTION:
        return ""
    h, w = getattr(stages, model.feature_names[0]).shape[-2:]  # fuse() brings every stage to this size
    try:
        check_pixels(h * w)
        for s in getattr(model.head, "sizes", ()):
            pyramid_oc.partition_bounds(min(h, w), s)
    except ValueError as e:
        return str(e)
    return ""


def attention_state(head: Any) -> Any:
    """What a clicked pixel's attention needs of a head's trace, without its feature maps (a
    Pyramid-OC trace is ~55 MB at 60 x 80, its queries ~10 MB), or None for heads without a view."""
    if isinstance(head, PyramidOCHeadTrace):
        return PyramidOCHeadTrace(None, head.sizes, head.queries, None, None, None, head.size)
    if isinstance(head, ASPOCHeadTrace):
        return ASPOCHeadTrace(None, head.size, head.pooled_size, head.query, None, head.rates, None, None, None)
    return head


def run_head(name: str, model: Segmentor, meta: dict, stages, images: torch.Tensor, seen: np.ndarray) -> HeadRun:
    """Trace one head on precomputed backbone stages; an attention head's refusal is recorded, not raised."""
    refused = refusal(name, model, stages)
    if refused:
        return HeadRun(name, meta, refused=refused)
    trace = model.trace(images, stages)
    head, arrays = trace.head, trace_arrays(trace, seen, meta["arch"]["head"])
    if isinstance(head, ASPPHeadTrace):
        return HeadRun(name, meta, arrays, contributions=readonly(branch_contributions(head)[0]), rates=head.rates)
    if isinstance(head, ASPOCHeadTrace):
        return HeadRun(name, meta, arrays, head_trace=attention_state(head),
                       contributions=readonly(asp_oc.branch_contributions(head)[0]), rates=head.rates)
    keep = name in ATTENTION_ROW or isinstance(head, PyramidOCHeadTrace)
    return HeadRun(name, meta, arrays, head_trace=attention_state(head) if keep else None)


def readonly(tensor: torch.Tensor) -> np.ndarray:
    array = tensor.detach().float().cpu().numpy()
    array.flags.writeable = False
    return array


@torch.no_grad()
def run_all(models: dict[str, tuple[Segmentor, dict]], image: Image.Image,
            traced: dict[str, TraceArrays] | None = None) -> Comparison:
    """Every (model, meta) on the RGB image; the backbone runs once per group of equal backbones.
    `traced`: heads whose trace of this image exists already (the app's current trace of the default
    model), kept as they are, not traced and stored a second time."""
    segmentors = {name: model for name, (model, _) in models.items()}
    images = preprocess(image).to(next(next(iter(segmentors.values())).parameters()).device)
    seen = np.asarray(resize_for_model(image), dtype=np.uint8)
    seen.flags.writeable = False
    groups = backbone_groups(segmentors)
    traced = {name: a for name, a in (traced or {}).items() if name in models and np.array_equal(a.image, seen)}
    runs = {}
    for group in groups:
        stages = segmentors[group[0]].stages(images)
        first = next((traced[name].features for name in group if name in traced), None)
        for name in group:
            if name in traced:
                runs[name] = run = HeadRun(name, models[name][1], traced[name])
            else:
                runs[name] = run = run_head(name, segmentors[name], models[name][1], stages, images, seen)
            if run.arrays is not None:
                runs[name] = share_features(run, first)
                first = run.arrays.features if first is None else first
    return Comparison(seen, {name: runs[name] for name in models}, len(groups))


def share_features(run: HeadRun, features: np.ndarray | None) -> HeadRun:
    """The run holding `features` (another head's) in place of its own equal copy: heads on one
    backbone fuse the same stages, and seven copies were a third of a cached comparison (52 MB)."""
    own = run.arrays.features
    if features is None or own.shape != features.shape or not np.array_equal(own, features):
        return run
    return replace(run, arrays=replace(run.arrays, features=features))


# ---- one pixel: what each head looks at ------------------------------------------------------

def flat_index(pixel: tuple[int, int], grid: tuple[int, int]) -> int:
    return pixel[0] * grid[1] + pixel[1]


def attention_map(run: HeadRun, pixel: tuple[int, int]) -> np.ndarray:
    """(h,w) the attention row of pixel i over every pixel j (Non-local, base-OC); sums to 1."""
    grid = run.arrays.grid
    row = ATTENTION_ROW[run.name](run.head_trace, flat_index(pixel, grid))[0]
    return readonly(row.reshape(grid))


def ocr_relation(arrays: TraceArrays, pixel: tuple[int, int]) -> np.ndarray:
    """(K,) w_i: pixel i's relation to the K object regions (Eq. 5)."""
    return arrays.w[:, pixel[0], pixel[1]]


def ocr_pixel_attention(arrays: TraceArrays, pixel: tuple[int, int]) -> np.ndarray:
    """(h,w) a_ij = sum_k w_ik m~_kj, OCR's attention of pixel i on every pixel j; sums to 1.

    sum_k w_ik f_k = sum_j a_ij x_j (Eq. 4 in Eq. 3 before delta), so a_i is the pixel-level
    attention that the region detour amounts to (exact up to delta's nonlinearity)."""
    return np.tensordot(ocr_relation(arrays, pixel), arrays.m_tilde, axes=1)


def ocr_distance_from_uniform(arrays: TraceArrays, pixel: tuple[int, int]) -> float:
    """Total variation 1/2 sum_j |a_ij - a^u_j| between OCR's pixel attention and the one a uniform
    relation gives every pixel, a^u = (1/K) sum_k m~_k: 0 when w_i is uniform, at most 1."""
    return float(0.5 * np.abs(ocr_pixel_attention(arrays, pixel) - arrays.m_tilde.mean(0)).sum())


def effective_pixels(distribution: np.ndarray) -> float:
    """exp(entropy): the number of pixels a distribution is spread over (n for uniform, 1 for one pixel)."""
    p = distribution.ravel().astype(np.float64)
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


@dataclass(frozen=True)
class Taps:
    """The feature-map cells one ASPP branch reads around a pixel."""

    branch: str
    rate: int
    cells: np.ndarray   # (t,2) (row, col), may lie outside the map
    inside: np.ndarray  # (t,) bool: within the h x w map (outside: zero padding)


def branch_names(rates: tuple[int, ...]) -> list[str]:
    return ["1x1", *(f"3x3, rate {r}" for r in rates), "image pooling"]


def aspp_taps(rates: tuple[int, ...], pixel: tuple[int, int], grid: tuple[int, int]) -> list[Taps]:
    """The 1x1 branch's cell and each atrous branch's 3x3 taps (sampling_offsets) around the pixel."""
    taps = []
    for name, rate, offsets in [("1x1", 0, [(0, 0)]), *((f"3x3, rate {r}", r, sampling_offsets(r)) for r in rates)]:
        cells = np.asarray(offsets) + np.asarray(pixel)
        inside = (cells[:, 0] >= 0) & (cells[:, 0] < grid[0]) & (cells[:, 1] >= 0) & (cells[:, 1] < grid[1])
        taps.append(Taps(name, rate, cells, inside))
    return taps


def aspp_contributions(run: HeadRun, pixel: tuple[int, int]) -> np.ndarray:
    """(r,) ||W_r a_r|| at the pixel: how much each branch adds to the projection there (ASPP, ASP-OC)."""
    return run.contributions[:, pixel[0], pixel[1]]


# ---- OCNet's Pyramid-OC and ASP-OC -------------------------------------------------------------

@dataclass(frozen=True)
class LevelAttention:
    """Pyramid-OC at one level for one pixel: s partitions a side, the pixel's (h,w) attention (zero
    outside its partition, sums to 1), the level's row and column parts and the pixel's own part of
    each, all as [start, end)."""

    s: int
    values: np.ndarray
    rows: list[tuple[int, int]]
    cols: list[tuple[int, int]]
    own: tuple[tuple[int, int], tuple[int, int]]

    @property
    def cells(self) -> int:
        """How many pixels the pixel's partition holds."""
        (r0, r1), (c0, c1) = self.own
        return (r1 - r0) * (c1 - c0)


def pyramid_attention(run: HeadRun, pixel: tuple[int, int]) -> list[LevelAttention]:
    """Pixel i's attention at every Pyramid-OC level (1x1, 2x2, 3x3, 6x6 partitions), coarse to fine."""
    (h, w), t = run.arrays.grid, run.head_trace
    i = flat_index(pixel, (h, w))
    levels = []
    for level, s in enumerate(t.sizes):
        rows, cols = pyramid_oc.partition_bounds(h, s), pyramid_oc.partition_bounds(w, s)
        own = (pyramid_oc.partition_of(pixel[0], rows), pyramid_oc.partition_of(pixel[1], cols))
        levels.append(LevelAttention(s, readonly(pyramid_oc.attention_row(t, level, i)[0].reshape(h, w)), rows, cols, own))
    return levels


def asp_oc_branch_names(rates: tuple[int, ...]) -> list[str]:
    """ASP-OC's branches in the order of its concatenation (OCNet's): object context, 1x1, one per rate."""
    return [*asp_oc.BRANCHES, *(f"3x3, rate {r}" for r in rates)]


def asp_oc_attention(run: HeadRun, pixel: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int]]:
    """ASP-OC's object-context attention of the pooled cell nearest the pixel, an (h',w') map summing
    to 1 over the 2x2 max-pooled map, and that cell's (row, col) there."""
    t = run.head_trace
    (h, w), (ph, pw) = t.size, t.pooled_size
    row = asp_oc.pooled_attention_row(t, flat_index(pixel, (h, w)))[0]
    return readonly(row.reshape(ph, pw)), (asp_oc.nearest(pixel[0], h, ph), asp_oc.nearest(pixel[1], w, pw))


# ---- where the heads disagree, and how well they do ------------------------------------------

def distinct_labels(comparison: Comparison) -> np.ndarray:
    """(h,w) how many different labels the heads give each feature-map pixel (1 = all agree)."""
    stacked = np.sort(np.stack([r.labels for r in comparison.ran]), axis=0)
    return 1 + (np.diff(stacked, axis=0) != 0).sum(0)


def agreement(comparison: Comparison, reference: str = "ocr") -> dict[str, float]:
    """Share of input pixels where each head's prediction equals the reference head's."""
    ref = comparison.runs[reference].arrays.pred
    return {r.name: float((r.arrays.pred == ref).mean()) for r in comparison.ran}


def image_scores(comparison: Comparison, truth: np.ndarray, classes: list[str]) -> list[dict]:
    """One row per head: mIoU on this image and each class's IoU (%; None where absent from both)."""
    rows = []
    for r in comparison.ran:
        iou, miou = image_iou(r.arrays.pred, truth, len(classes))
        rows.append({"head": r.title, "mIoU": pct(miou)} | {c: pct(v) for c, v in zip(classes, iou)})
    return rows


def pct(v: float) -> float | None:
    return None if v is None or np.isnan(v) else round(100 * float(v), 1)


# ---- CamVid test accuracy, as evaluated and stored beside the weights ------------------------

EVALUATE_COMMAND = "python -m ocr_viz.evaluate NAME --out assets/weights/eval/NAME_test.json"


def test_results() -> dict[str, dict]:
    """{name: evaluation} from results.EVAL_DIR (looked up at call time, so tests can point it elsewhere)."""
    return results.load_results("test", results.EVAL_DIR)


def evaluation_notes(found: dict[str, dict]) -> list[str]:
    """How each stored result was produced: checkpoint, images, scale, flip, trained, machine."""
    notes = []
    for name, r in found.items():
        trained = {True: "trained", False: "UNTRAINED"}.get(r.get("trained"), "training unknown")
        notes.append(f"{results.HEAD_TITLES.get(name, name)}: checkpoint `{r.get('checkpoint', '?')}` ({trained}), "
                     f"{r.get('images', '?')} {r.get('split', 'test')} images, scale {r.get('scale', 1.0)}, "
                     f"flip {r.get('flip', False)}" + (f"; {r['note']}" if r.get("note") else ""))
    return notes
