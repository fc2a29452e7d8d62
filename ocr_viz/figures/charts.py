"""Per-class charts: bars over the K classes, K x C and K x K matrices, a 2-D projection."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .scales import Scale, apply


def rgb(colour) -> str:
    return "rgb({},{},{})".format(*colour)


def titled(title: str, caption: str) -> dict:
    return dict(text=f"{title}<br><sup>{caption}</sup>" if caption else title, x=0, font=dict(size=15))


TOP = 15  # with more classes than this, bar charts show the strongest and sum the rest
OTHERS_COLOUR = "rgb(170,170,170)"


def shown_classes(values: np.ndarray, top: int | None, highlight: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(shown, rest) class indices: all in class order, or, for more than top + 1 classes, the `top`
    largest values in decreasing order (plus the highlighted class) and the others."""
    count = len(values)
    if top is None or count <= top + 1:
        return np.arange(count), np.arange(0)
    shown = list(np.argsort(-np.asarray(values), kind="stable")[:top])
    if highlight is not None and highlight not in shown:
        shown.append(highlight)
    return np.array(shown), np.setdiff1d(np.arange(count), shown)


def axis_range(values: np.ndarray, zoom: bool) -> tuple[list[float] | None, str]:
    """The value axis: zoomed to the values (padded 15%) when asked and when that leaves 0 out,
    else from 0 (or autoscaled for values of both signs); and the caption's words for it."""
    lo, hi = float(np.min(values)), float(np.max(values))
    if zoom and hi > lo:
        pad = (hi - lo) * 0.15
        start, end = lo - pad, hi + pad
        if start > 0 or end < 0:
            return [start, end], f"axis zoomed: it starts at {start:.3g}, not at 0"
    return None, "axis: linear from 0" if lo >= 0 else "axis: linear"


def class_bars(values: np.ndarray, classes: list[str], palette, title: str, caption: str = "", *,
               value_name: str = "value", reference: float | None = None, reference_name: str = "",
               highlight: int | None = None, percent: bool = False, zoom: bool = False, top: int | None = TOP,
               value_range: tuple[float, float] | None = None, height: int = 380) -> go.Figure:
    """Horizontal bars, one per class in its palette colour, the values written in a column right
    of the plot (clear of the bars and of a reference line such as 1/K); `zoom` fits the axis to
    nearly equal values and the caption says when the axis does not start at 0; `value_range` fixes
    it instead (e.g. the same for a before and an after chart). With more than
    `top` + 1 classes: the `top` largest, and one grey bar for the sum of the others."""
    values = np.asarray(values, dtype=np.float64)
    shown, rest = shown_classes(values, top, highlight)
    number = (lambda v: f"{v:.1%}") if percent else (lambda v: f"{v:.4g}")
    names = [classes[k] for k in shown]
    fig = go.Figure(go.Bar(
        x=values[shown], y=names, orientation="h", cliponaxis=True,
        marker=dict(color=[rgb(palette[k]) for k in shown], line=dict(width=[3 if k == highlight else 0 for k in shown],
                                                                       color="black")),
        hovertemplate=f"%{{y}}<br>{value_name} = %{{x:.4g}}<extra></extra>", showlegend=False,
    ))
    labels = [number(v) for v in values[shown]]
    notes = []
    if len(rest):
        other = f"other {len(rest)} (sum)"
        total = float(values[rest].sum())
        fig.add_trace(go.Bar(x=[total], y=[other], orientation="h", cliponaxis=True, showlegend=False,
                             marker=dict(color=OTHERS_COLOUR, pattern=dict(shape="/")),
                             hovertemplate=f"the other {len(rest)} classes together<br>{value_name} = %{{x:.4g}}"
                                           "<extra></extra>"))
        names, labels = names + [other], labels + [number(total)]
        chosen = " and the chosen one" if len(shown) > top else ""
        notes.append(f"the {top} largest of {len(values)}{chosen}; the other {len(rest)} summed in grey")
    # values in the right margin: never under a bar end or a line (set at once: one add_annotation
    # per bar copies the whole list each time, the largest cost of a click's rerun)
    notes_right = [dict(x=1.0, xref="paper", xanchor="left", xshift=6, y=name, yref="y", text=label, showarrow=False,
                        font=dict(size=11)) for name, label in zip(names, labels)]
    if reference is not None:
        fig.add_vline(x=reference, line_dash="dash", line_color="grey")
        notes_right.append(dict(x=reference, xref="x", y=1.0, yref="paper", yanchor="bottom", showarrow=False,
                                text=f"{reference_name} = {reference:.3g}" if reference_name else f"{reference:.3g}",
                                font=dict(size=11, color="grey")))
    fig.update_layout(annotations=notes_right)
    window, axis = axis_range(values[shown] if reference is None else np.append(values[shown], reference), zoom)
    if value_range is not None:
        window, axis = list(value_range), f"axis: fixed, {value_range[0]:.3g} to {value_range[1]:.3g}"
    fig.update_xaxes(range=window, title=value_name, tickformat=".0%" if percent and window is None else
                     (".2%" if percent else None))
    caption = "; ".join([c for c in (caption, *notes, axis) if c])
    fig.update_layout(title=titled(title, caption), height=height, margin=dict(l=10, r=70, t=90, b=45),
                      bargap=0.25, barmode="overlay")
    fig.update_yaxes(autorange="reversed", automargin=True)
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
