"""Colour scales for maps whose values span very different ranges.

The relation w is nearly uniform in a trained model and m~ is dominated by a handful of
pixels, so a fixed linear 0..1 scale shows nothing. Each figure says which scale it uses.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KINDS = ("linear", "log", "percentile")


@dataclass(frozen=True)
class Scale:
    kind: str = "linear"  # one of KINDS
    low: float = 1.0      # percentiles that bound the colours, for kind "percentile"
    high: float = 99.0


@dataclass(frozen=True)
class Scaled:
    values: np.ndarray  # what gets coloured (log10 of the data for "log")
    zmin: float
    zmax: float
    caption: str        # names the scale and its range, for the figure's subtitle
    colorbar_title: str


def fmt(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}g}"


def fmt_range(lo: float, hi: float) -> str:
    """'lo to hi' with enough digits to tell them apart (entropies can differ in the 5th digit)."""
    spread = abs(hi - lo) / max(abs(hi), abs(lo), 1e-30)
    digits = 3 if spread >= 1e-2 or spread == 0 else min(8, 2 + int(np.ceil(-np.log10(spread))))
    return f"{fmt(lo, digits)} to {fmt(hi, digits)}"


def shared_limits(*maps: np.ndarray, positive: bool = False) -> tuple[float, float]:
    """(low, high) over several maps, for drawing them on one colour range; `positive`: the low end is
    the smallest positive value (for a log scale, where weights that underflowed to 0 have no place)."""
    lows = [m[m > 0] if positive else m for m in maps]
    low = min((float(np.nanmin(m)) for m in lows if m.size), default=0.0)
    return low, max(float(np.nanmax(m)) for m in maps)


def apply(data: np.ndarray, scale: Scale, limits: tuple[float, float] | None = None) -> Scaled:
    """Colour values and range for `data` under `scale`; log falls back to percentile for
    data that is not strictly positive (e.g. logits), and the caption says so. `limits` (data
    units) fixes the range instead, e.g. one range for maps shown side by side."""
    data = np.asarray(data, dtype=np.float64)
    if limits is not None:
        return fixed(data, scale, limits)
    if scale.kind == "log":
        if np.nanmin(data) > 0:
            logged = np.log10(data)
            lo, hi = float(np.nanmin(logged)), float(np.nanmax(logged))
            return Scaled(logged, lo, hi, f"colour: log10 scale, {fmt_range(10**lo, 10**hi)}", "log10")
        scale = Scale("percentile", 1.0, 99.0)
        prefix = "log needs positive values, so "
    else:
        prefix = ""
    if scale.kind == "percentile":
        lo, hi = (float(v) for v in np.nanpercentile(data, [scale.low, scale.high]))
        hi = hi if hi > lo else lo + 1e-12
        return Scaled(data, lo, hi, f"{prefix}colour: linear, clipped to percentiles {scale.low:g}-{scale.high:g} "
                      f"= {fmt_range(lo, hi)}", "")
    lo, hi = float(np.nanmin(data)), float(np.nanmax(data))
    hi = hi if hi > lo else lo + 1e-12
    return Scaled(data, lo, hi, f"colour: linear, full range {fmt_range(lo, hi)}", "")


def fixed(data: np.ndarray, scale: Scale, limits: tuple[float, float]) -> Scaled:
    """The colours of `data` on a given range (log10 when asked and everything is positive)."""
    lo, hi = (float(v) for v in limits)
    if scale.kind == "log" and lo > 0:
        below = " (smaller values, e.g. 0, drawn as the low end)" if np.nanmin(data) < lo else ""
        return Scaled(np.log10(np.clip(data, lo, None)), np.log10(lo), np.log10(max(hi, lo * (1 + 1e-12))),
                      f"colour: log10 scale, shared range {fmt_range(lo, hi)}{below}", "log10")
    hi = hi if hi > lo else lo + 1e-12
    return Scaled(data, lo, hi, f"colour: linear, shared range {fmt_range(lo, hi)}", "")
