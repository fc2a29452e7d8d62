"""The interventions the app offers, as small hashable records (usable as cache keys), and
what one of them changes, as arrays for figures.

Each runs one ocr_viz.analysis.interventions function on the OCR head alone, from a head trace
rebuilt from the cached arrays (model.arrays.head_trace): the backbone is never rerun.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import interventions
from ocr_viz.model.arrays import maps, numpy as first
from ocr_viz.model.heads.ocr import OCRHead, OCRHeadTrace


@dataclass(frozen=True)
class Temperature:
    """Eq. 4 with m~_k = softmax_i(s M_ki): s > 1 sharpens each region's weights, s < 1 spreads them."""

    value: float

    def run(self, head: OCRHead, trace: OCRHeadTrace) -> OCRHeadTrace:
        return interventions.with_temperature(head, trace, self.value)

    def describe(self, classes: list[str]) -> str:
        return f"spatial-softmax temperature s = {self.value:g}"


@dataclass(frozen=True)
class Suppress:
    """m~_k := 0, so f_k = 0; w recomputed by Eq. 5, or kept as recorded."""

    k: int
    keep_relation: bool = False

    def run(self, head: OCRHead, trace: OCRHeadTrace) -> OCRHeadTrace:
        return interventions.suppress_region(head, trace, self.k, self.keep_relation)

    def describe(self, classes: list[str]) -> str:
        return f"m~_k := 0 for {classes[self.k]}" + (" (w kept)" if self.keep_relation else "")


@dataclass(frozen=True)
class Override:
    """Pixel (row, col)'s relation w_i replaced by the given weights, renormalised to sum 1."""

    pixel: tuple[int, int]
    weights: tuple[float, ...]

    def run(self, head: OCRHead, trace: OCRHeadTrace) -> OCRHeadTrace:
        return interventions.override_relation(head, trace, self.pixel, list(self.weights))

    def describe(self, classes: list[str]) -> str:
        return f"w_i set by hand at pixel (row {self.pixel[0]}, col {self.pixel[1]})"


Intervention = Temperature | Suppress | Override


@dataclass(frozen=True)
class Outcome:
    """One intervention's result: the new stages and where they changed (h, w: feature size)."""

    what: str
    pred: np.ndarray        # (H,W) labels after
    m_tilde: np.ndarray     # (K,h,w) Eq. 4 weights after
    f: np.ndarray           # (K,c) region representations after
    w: np.ndarray           # (K,h,w) relation after
    f_change: np.ndarray    # (K,) ||f'_k - f_k||
    change: dict[str, np.ndarray]  # "y", "z", "logits": (h,w) L2 norm of the change; "w": total variation
    changed: np.ndarray     # (H,W) True where the label changed

    @property
    def changed_share(self) -> float:
        return float(self.changed.mean())


def outcome(head: OCRHead, base: OCRHeadTrace, intervention: Intervention, size: tuple[int, int],
            classes: list[str]) -> Outcome:
    """Run `intervention` on the base head trace and measure what changed (labels at `size`)."""
    after = intervention.run(head, base)
    grid = tuple(base.x.shape[-2:])
    diff = interventions.difference(base, after, size)
    return Outcome(
        what=intervention.describe(classes), pred=first(interventions.prediction(after, size)),
        m_tilde=maps(after.m_tilde, grid, "k n"), f=first(after.f), w=maps(after.w, grid, "n k"),
        f_change=np.linalg.norm(first(after.f) - first(base.f), axis=1),
        change={name: first(getattr(diff, name)) for name in ("y", "z", "logits", "w")},
        changed=first(diff.changed),
    )


def renormalised(weights) -> np.ndarray:
    """Non-negative weights scaled to sum 1 (all equal if they are all 0)."""
    weights = np.clip(np.asarray(weights, dtype=np.float64), 0, None)
    total = weights.sum()
    return weights / total if total > 0 else np.full(len(weights), 1 / len(weights))


ROUNDING = 1e-5  # smaller changes of y are float rounding (e.g. renormalising weights that already sum to 1)


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def summary(result: Outcome, grid: tuple[int, int]) -> str:
    """One sentence: how many labels changed and where y changed most."""
    y = result.change["y"]
    row, col = np.unravel_index(int(y.argmax()), y.shape)
    moved = int((y > ROUNDING).sum())
    where = f", most at (row {row}, col {col}) by {y.max():.3g}" if moved else ""
    return (f"{result.what}: the label of {plural(int(result.changed.sum()), 'input pixel')} changed "
            f"({result.changed_share:.2%}); y_i changed (by more than {ROUNDING:g}) at {moved:,} of the "
            f"{grid[0] * grid[1]:,} feature-map pixels{where}.")
