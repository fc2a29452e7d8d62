"""Attention read term by term: a worked pixel's terms of Eq. 3 as bars, largest first, from 0."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .charts import BAR_PX, OTHERS_COLOUR, every_name, rgb
from .titles import headed


def term_bars(sizes: np.ndarray, labels: list[str], colours: list, title: str, caption: str = "", *,
              rest: tuple[str, float] | None = None, value_name: str = "size", height: int = 360) -> go.Figure:
    """Horizontal bars from 0, largest on top, one per term (`sizes` already sorted or not: they are
    sorted here); `rest`: (label, value) of one grey bar for the terms not shown one by one."""
    sizes = np.asarray(sizes, dtype=np.float64)
    order = np.argsort(-sizes, kind="stable")
    names = [labels[k] for k in order]
    values = list(sizes[order])
    colour = [rgb(colours[k]) for k in order]
    if rest is not None:
        names.append(rest[0])
        values.append(float(rest[1]))
        colour.append(OTHERS_COLOUR)
    fig = go.Figure(go.Bar(
        x=values, y=names, orientation="h", marker=dict(color=colour), text=[f"{v:.4g}" for v in values],
        textposition="outside", cliponaxis=False, showlegend=False,
        hovertemplate=f"%{{y}}<br>{value_name} = %{{x:.4g}}<extra></extra>"))
    top = max(values) if values else 1.0
    fig.update_layout(xaxis=dict(title=value_name, range=[0, top * 1.25 if top > 0 else 1.0]))
    every_name(fig, names)
    headed(fig, title, caption, l=10, r=20, b=40)  # wrapped to the figure's width, the top margin sized to it
    fig.update_layout(height=max(height, fig.layout.margin.t + fig.layout.margin.b + BAR_PX * len(names)))
    return fig

