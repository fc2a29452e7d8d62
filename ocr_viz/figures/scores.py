"""Scores of variants side by side (the paper's Fig. 1: mIoU per variant, one bar each)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .titles import headed


def decimals_apart(values, fewest: int = 1, most: int = 3) -> int:
    """The fewest decimals (from `fewest` to `most`) at which values that differ are written differently:
    58.05 and 58.00 need 2, else both read 58.0 beside a difference of -0.05. Write every number of one
    table, its differences and the text about them with this many, and take differences of the rounded
    numbers, so what is shown adds up."""
    finite = [float(v) for v in np.ravel(values) if np.isfinite(v)]
    distinct = len({round(v, most + 3) for v in finite})
    return next((d for d in range(fewest, most + 1) if len({round(v, d) for v in finite}) == distinct), most)


def score_bars(names: list[str], values: np.ndarray, title: str, caption: str = "", *, value_name: str = "mIoU %",
               baseline: str | None = None, muted: list[bool] | None = None, decimals: int | None = None,
               height: int = 360) -> go.Figure:
    """Vertical bars from 0, one per variant, each value written inside its bar's foot (clear of the
    baseline's line) with `decimals` (default: decimals_apart, the same as a table beside it should
    use); `baseline` (a name) is drawn darker and as a dashed line; `muted` bars (e.g. untrained
    weights) are hatched."""
    values = np.asarray(values, dtype=np.float64)
    decimals = decimals_apart(values) if decimals is None else decimals
    muted = muted or [False] * len(names)
    colours = ["#34495e" if n == baseline else "#5b8cc9" for n in names]
    fig = go.Figure(go.Bar(
        x=names, y=values, text=[f"{v:.{decimals}f}" for v in values], textposition="inside", insidetextanchor="start",
        textangle=0, textfont=dict(color="white"), cliponaxis=False,
        marker=dict(color=colours, pattern=dict(shape=["/" if m else "" for m in muted])),
        hovertemplate=f"%{{x}}<br>{value_name} = %{{y:.{decimals}f}}<extra></extra>",
    ))
    if baseline in names:
        fig.add_hline(y=float(values[names.index(baseline)]), line_dash="dash", line_color="grey")
    top = float(np.nanmax(values)) if len(values) else 1.0
    headed(fig, title, caption, above=10, l=10, r=10, b=10)
    fig.update_layout(height=height, yaxis_title=value_name, yaxis_range=[0, max(top * 1.08, 1e-6)])
    return fig
