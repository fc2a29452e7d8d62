"""Per-class charts: bars over the K classes, K x C and K x K matrices, a 2-D projection."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .scales import Scale, apply


def rgb(colour) -> str:
    return "rgb({},{},{})".format(*colour)


def titled(title: str, caption: str) -> dict:
    return dict(text=f"{title}<br><sup>{caption}</sup>" if caption else title, x=0, font=dict(size=15))


def class_bars(values: np.ndarray, classes: list[str], palette, title: str, caption: str = "", *,
               value_name: str = "value", reference: float | None = None, reference_name: str = "",
               highlight: int | None = None, percent: bool = False, zoom: bool = False, height: int = 380) -> go.Figure:
    """Horizontal bars, one per class in its palette colour; an optional reference line (e.g. 1/K).
    `zoom` fits the axis to the values instead of starting at 0, for nearly equal values;
    the caption says which axis is in use."""
    text = [f"{v:.1%}" if percent else f"{v:.4g}" for v in values]
    outline = [3 if k == highlight else 0 for k in range(len(classes))]
    fig = go.Figure(go.Bar(
        x=values, y=classes, orientation="h", text=text, textposition="outside", cliponaxis=False,
        marker=dict(color=[rgb(c) for c in palette], line=dict(width=outline, color="black")),
        hovertemplate=f"%{{y}}<br>{value_name} = %{{x:.4g}}<extra></extra>",
    ))
    if reference is not None:
        fig.add_vline(x=reference, line_dash="dash", line_color="grey",
                      annotation_text=reference_name, annotation_position="top")
    lo, hi = float(np.min(values)), float(np.max(values))
    if zoom and hi > lo:
        pad = (hi - lo) * 0.15
        fig.update_xaxes(range=[lo - pad, hi + pad])
        axis = "axis zoomed (not from 0)"
    else:
        axis = "axis: linear from 0" if lo >= 0 else "axis: linear"
    fig.update_layout(title=titled(title, f"{caption}; {axis}" if caption else axis), height=height,
                      margin=dict(l=10, r=40, t=70, b=10), xaxis_title=value_name,
                      xaxis_tickformat=".0%" if percent else None)
    fig.update_yaxes(autorange="reversed")
    return fig


def matrix_figure(matrix: np.ndarray, rows: list[str], title: str, scale: Scale = Scale(), *,
                  column_name: str = "channel", value_name: str = "value", height: int = 380) -> go.Figure:
    """A (K, C) matrix, e.g. the region vectors f_k, one row per class."""
    scaled = apply(matrix, scale)
    fig = go.Figure(go.Heatmap(
        z=scaled.values, zmin=scaled.zmin, zmax=scaled.zmax, y=rows, colorscale="Viridis", customdata=matrix,
        colorbar=dict(title=scaled.colorbar_title, thickness=12),
        hovertemplate=f"%{{y}}, {column_name} %{{x}}<br>{value_name} = %{{customdata:.4g}}<extra></extra>",
    ))
    fig.update_layout(title=titled(title, scaled.caption), height=height, margin=dict(l=10, r=10, t=70, b=10),
                      xaxis_title=column_name)
    fig.update_yaxes(autorange="reversed")
    return fig


def similarity_figure(similarity: np.ndarray, labels: list[str], title: str, *, fixed: bool = False,
                      height: int = 420) -> go.Figure:
    """A symmetric (K, K) matrix of cosines with the values written in the cells. Colours span
    -1 to 1 when `fixed`, else the range of the off-diagonal values (the caption says which)."""
    off_diagonal = similarity[~np.eye(len(similarity), dtype=bool)]
    lo, hi = (-1.0, 1.0) if fixed or off_diagonal.size == 0 else (float(off_diagonal.min()), float(off_diagonal.max()))
    caption = ("colour: fixed, -1 (blue) to 1 (red)" if fixed else
               f"colour: the off-diagonal range, {lo:.3f} (blue) to {hi:.3f} (red)")
    fig = go.Figure(go.Heatmap(
        z=similarity, x=labels, y=labels, zmin=lo, zmax=hi, colorscale="RdBu_r", texttemplate="%{z:.2f}",
        colorbar=dict(thickness=12), hovertemplate="%{y} vs %{x}: %{z:.4f}<extra></extra>",
    ))
    fig.update_layout(title=titled(title, caption), height=height, margin=dict(l=10, r=10, t=70, b=10))
    fig.update_yaxes(autorange="reversed")
    return fig


def projection_figure(points: np.ndarray, labels: list[str], palette, title: str, caption: str = "",
                      highlight: int | None = None, height: int = 420) -> go.Figure:
    """(K, 2) points (e.g. a PCA of the K region vectors), labelled and coloured by class."""
    sizes = [22 if k == highlight else 14 for k in range(len(labels))]
    fig = go.Figure(go.Scatter(
        x=points[:, 0], y=points[:, 1], mode="markers+text", text=labels, textposition="top center",
        marker=dict(size=sizes, color=[rgb(c) for c in palette], line=dict(width=1, color="black")),
        hovertemplate="%{text}<br>(%{x:.3g}, %{y:.3g})<extra></extra>",
    ))
    fig.update_layout(title=titled(title, caption), height=height, margin=dict(l=10, r=10, t=70, b=10),
                      xaxis_title="component 1", yaxis_title="component 2")
    return fig
