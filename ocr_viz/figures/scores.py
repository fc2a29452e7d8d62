"""Scores of variants side by side (the paper's Fig. 1: mIoU per variant, one bar each)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .charts import titled


def score_bars(names: list[str], values: np.ndarray, title: str, caption: str = "", *, value_name: str = "mIoU %",
               baseline: str | None = None, muted: list[bool] | None = None, height: int = 360) -> go.Figure:
    """Vertical bars, one per variant, values written on them; `baseline` (a name) is drawn darker
    and as a dashed line; `muted` bars (e.g. untrained weights) are hatched."""
    muted = muted or [False] * len(names)
    colours = ["#34495e" if n == baseline else "#5b8cc9" for n in names]
    fig = go.Figure(go.Bar(
        x=names, y=values, text=[f"{v:.1f}" for v in values], textposition="outside", cliponaxis=False,
        marker=dict(color=colours, pattern=dict(shape=["/" if m else "" for m in muted])),
        hovertemplate=f"%{{x}}<br>{value_name} = %{{y:.2f}}<extra></extra>",
    ))
    if baseline in names:
        fig.add_hline(y=float(values[names.index(baseline)]), line_dash="dash", line_color="grey")
    top = float(np.nanmax(values)) if len(values) else 1.0
    fig.update_layout(title=titled(title, caption), height=height, margin=dict(l=10, r=10, t=70, b=10),
                      yaxis_title=value_name, yaxis_range=[0, max(top * 1.15, 1e-6)])
    return fig
