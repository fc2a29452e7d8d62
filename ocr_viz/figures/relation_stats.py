"""Figures of the relation statistics over a set (ocr_viz.analysis.relation): the entropy
histogram against log K, the alignment per class, the confusion of argmax_k w_ik against the
ground truth, the rank of the own class. Arrays and lists in, plotly figures out."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .charts import OTHERS_COLOUR, every_name, rgb, shown_classes
from .titles import headed

SERIES_COLOURS = ("#34495e", "#e67e22", "#5b8cc9", "#27ae60")
# a legend under the plot, at the figure's foot (the bottom margin holds it below the axis title)
LEGEND_UNDER = dict(orientation="h", x=0, xanchor="left", y=0, yref="container", yanchor="bottom")


def shares(counts) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.float64)
    return counts / max(counts.sum(), 1.0)


def entropy_histogram(edges, histograms: dict[str, list], log_k: float, title: str, caption: str = "", *,
                      means: dict[str, float] | None = None, height: int = 360) -> go.Figure:
    """The share of cells per entropy bin, one outline per named histogram (e.g. the test set and
    this image), with log K (a uniform relation) and each mean marked."""
    edges = np.asarray(edges, dtype=np.float64)
    centres = (edges[:-1] + edges[1:]) / 2
    fig = go.Figure()
    for (name, counts), colour in zip(histograms.items(), SERIES_COLOURS):
        fig.add_trace(go.Scatter(x=centres, y=shares(counts), name=name, mode="lines", line=dict(shape="hvh", color=colour),
                                 fill="tozeroy", opacity=0.6,
                                 hovertemplate=f"{name}<br>entropy %{{x:.2f}} nats: %{{y:.1%}} of cells<extra></extra>"))
    fig.add_vline(x=log_k, line_dash="dash", line_color="firebrick")
    fig.add_annotation(x=log_k, y=1.0, yref="paper", yanchor="bottom", xanchor="right", showarrow=False,
                       text=f"log K = {log_k:.2f} (uniform w)", font=dict(size=11, color="firebrick"))
    for (name, mean), colour in zip((means or {}).items(), SERIES_COLOURS):
        fig.add_vline(x=mean, line_dash="dot", line_color=colour)
    headed(fig, title, caption, above=20, l=10, r=10, b=80)
    fig.update_layout(height=height,
                      xaxis_title="entropy of w_i (nats)", yaxis_title="share of cells", yaxis_tickformat=".0%",
                      legend=LEGEND_UNDER, xaxis_range=[0, log_k * 1.04])
    return fig


def alignment_bars(classes: list[str], series: dict[str, list], title: str, caption: str = "", *,
                   chance: float | None = None, height: int | None = None) -> go.Figure:
    """Grouped horizontal bars per class, one colour per series (e.g. argmax_k w_ik = the true class,
    absolute and relative view); None (class absent) shows no bar; `chance` as a dashed line."""
    fig = go.Figure()
    for (name, values), colour in zip(series.items(), SERIES_COLOURS):
        values = [np.nan if v is None else v for v in values]
        fig.add_trace(go.Bar(x=values, y=classes, orientation="h", name=name, marker_color=colour,
                             text=[("" if np.isnan(v) else f"{v:.0%}") for v in values], textposition="outside",
                             cliponaxis=False, hovertemplate=f"%{{y}}<br>{name}: %{{x:.1%}}<extra></extra>"))
    if chance is not None:
        fig.add_vline(x=chance, line_dash="dash", line_color="grey")
        fig.add_annotation(x=chance, y=1.0, yref="paper", yanchor="bottom", showarrow=False,
                           text=f"chance 1/K = {chance:.0%}", font=dict(size=11, color="grey"))
    headed(fig, title, caption, above=20, l=10, r=40, b=80)
    fig.update_layout(height=height or 120 + 34 * len(classes) * max(1, len(series)) // 2, barmode="group", xaxis_tickformat=".0%",
                      xaxis_range=[0, 1.08], legend=LEGEND_UNDER)
    every_name(fig, classes)
    return fig


def confusion_figure(matrix, classes: list[str], title: str, caption: str = "", *, rows_name: str = "true class",
                     columns_name: str = "argmax_k w_ik", height: int = 460) -> go.Figure:
    """A K x K count matrix shown as each row's shares (rows with no cells stay blank), values in the cells."""
    matrix = np.asarray(matrix, dtype=np.float64)
    totals = matrix.sum(1, keepdims=True)
    share = np.where(totals > 0, matrix / np.maximum(totals, 1), np.nan)
    fig = go.Figure(go.Heatmap(
        z=share, x=classes, y=classes, zmin=0, zmax=1, colorscale="Blues", texttemplate="%{z:.0%}",
        customdata=matrix, colorbar=dict(thickness=12, tickformat=".0%"),
        hovertemplate=f"{rows_name} %{{y}}, {columns_name} %{{x}}<br>%{{z:.1%}} of the row (%{{customdata:,.0f}} cells)"
                      "<extra></extra>",
    ))
    headed(fig, title, caption, above=20, l=10, r=10, b=10)
    fig.update_layout(height=height,
                      xaxis_title=columns_name, yaxis_title=rows_name)
    fig.update_xaxes(tickangle=-45)  # class names side by side run into each other
    fig.update_yaxes(autorange="reversed")
    return fig


def rank_bars(histograms: dict[str, list], title: str, caption: str = "", *, height: int = 320) -> go.Figure:
    """The share of labelled cells whose own class has rank 1, 2, ... K among the K weights,
    one series per view, with the uniform share 1/K (what an unrelated relation gives) dashed."""
    fig = go.Figure()
    k = 1
    for (name, counts), colour in zip(histograms.items(), SERIES_COLOURS):
        k = len(counts)
        fig.add_trace(go.Bar(x=np.arange(1, k + 1), y=shares(counts), name=name, marker_color=colour,
                             hovertemplate=f"{name}<br>rank %{{x}}: %{{y:.1%}} of the cells<extra></extra>"))
    fig.add_hline(y=1 / k, line_dash="dash", line_color="grey")
    headed(fig, title, caption, above=20, l=10, r=10, b=80)
    fig.update_layout(height=height, barmode="group",
                      xaxis_title="rank of the true class (1 = strongest)", yaxis_tickformat=".0%",
                      xaxis_dtick=1, legend=LEGEND_UNDER)
    return fig


def argmax_share_bars(classes: list[str], palette, share, title: str, caption: str = "", *, height: int | None = None) -> go.Figure:
    """The share of all cells whose strongest region (argmax_k w_ik) is each class, in its colour; with
    more than 20 classes the 15 largest and the sum of the others (charts.shown_classes)."""
    share = np.asarray(share, dtype=np.float64)
    shown, rest = shown_classes(share)
    names, values = [classes[k] for k in shown], list(share[shown])
    colours = [rgb(palette[k]) for k in shown]
    if len(rest):
        names, values, colours = names + [f"the other {len(rest)} (sum)"], values + [float(share[rest].sum())], \
            colours + [OTHERS_COLOUR]
    fig = go.Figure(go.Bar(x=values, y=names, orientation="h", marker_color=colours,
                           text=[f"{v:.0%}" for v in values], textposition="outside", cliponaxis=False,
                           hovertemplate="%{y}: %{x:.1%} of the cells<extra></extra>"))
    headed(fig, title, caption, above=20, l=10, r=40, b=30)
    fig.update_layout(height=height or 110 + 26 * len(names), xaxis_tickformat=".0%",
                      xaxis_range=[0, max(max(values) * 1.2, 0.05)])
    every_name(fig, names)
    return fig
