"""Per-class charts: bars over the K classes, K x C and K x K matrices, a 2-D projection."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .scales import Scale, apply
from .spec import Spec
from .titles import headed, title_room, titled


def rgb(colour) -> str:
    return "rgb({},{},{})".format(*colour)


LABEL_ALL = 20  # up to this many classes (CamVid 11, Cityscapes 19) a bar chart draws and names every one
TOP = 15  # with more (ADE20K 150, COCO-Stuff 171), the 15 strongest and one bar for the sum of the rest
OTHERS_COLOUR = "rgb(170,170,170)"
BAR_PX = 22  # px of plot height per bar: its name (11 px type, or larger) never runs into the next


def shown_classes(values: np.ndarray, top: int | None = TOP, highlight: int | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(shown, rest) class indices: all in class order for up to LABEL_ALL classes (or `top` None),
    else the `top` largest values in decreasing order (plus the highlighted class) and the others."""
    count = len(values)
    if top is None or count <= LABEL_ALL:
        return np.arange(count), np.arange(0)
    shown = list(np.argsort(-np.asarray(values), kind="stable")[:top])
    if highlight is not None and highlight not in shown:
        shown.append(highlight)
    return np.array(shown), np.setdiff1d(np.arange(count), shown)


def axis_range(values: np.ndarray, zoom: bool) -> tuple[list[float] | None, str, bool]:
    """The value axis: from 0 (to 0 for negative values, autoscaled across 0 for both signs), so bar
    lengths compare; with `zoom`, fitted to the values (padded 15%) when that leaves 0 out. Returns
    the range, the caption's words for it, and whether the axis is broken (does not reach 0)."""
    lo, hi = float(np.min(values)), float(np.max(values))
    if zoom and hi > lo:
        pad = (hi - lo) * 0.15
        start, end = lo - pad, hi + pad
        if start > 0 or end < 0:
            return [start, end], (f"ZOOMED axis, {start:.3g} to {end:.3g}, not from 0: bar lengths exaggerate "
                                  "the differences"), True
    if lo >= 0:
        return [0.0, hi * 1.08 if hi > 0 else 1.0], "axis from 0", False
    if hi <= 0:
        return [lo * 1.08, 0.0], "axis to 0", False
    return None, "axis: linear, through 0", False


def axis_break() -> tuple[dict, dict]:
    """The marks of a value axis that does not start at 0 (a layout shape and annotation): a white
    zigzag through the bars' left ends and a double slash on the axis line, as on a broken axis drawn by hand."""
    zigzag = "M 0.035,1 " + " ".join(f"L {0.035 + (0.012 if i % 2 else -0.012):.3f},{1 - (i + 1) / 24:.4f}"
                                      for i in range(24))
    return (dict(type="path", path=zigzag, xref="x domain", yref="y domain", line=dict(color="white", width=3),
                 layer="above"),
            dict(x=0.035, y=0, xref="x domain", yref="y domain", text="//", showarrow=False,
                 font=dict(size=14, color="black"), bgcolor="white", borderpad=0, name="axis break"))


def class_bars_spec(values: np.ndarray, classes: list[str], palette, title: str, caption: str = "", *,
                    value_name: str = "value", reference: float | None = None, reference_name: str = "",
                    highlight: int | None = None, percent: bool = False, zoom: bool = False, top: int | None = TOP,
                    value_range: tuple[float, float] | None = None, height: int = 380) -> Spec:
    """Horizontal bars, one per class in its palette colour, the values written in a column right
    of the plot (clear of the bars and of a reference line such as 1/K). The value axis starts at 0,
    so bar lengths compare; `zoom` fits it to nearly equal values instead, draws the axis break and
    says so in the first line of the caption; `value_range` fixes it (e.g. the same for a before and
    an after chart). With more than `top` + 1 classes: the `top` largest, and one grey bar for the
    sum of the others. As plotly JSON, unvalidated: a click redraws two of these (`class_bars` is
    the graph-object figure)."""
    values = np.asarray(values, dtype=np.float64)
    shown, rest = shown_classes(values, top, highlight)
    number = (lambda v: f"{v:.1%}") if percent else (lambda v: f"{v:.4g}")
    names = [classes[k] for k in shown]
    data = [dict(
        type="bar", x=values[shown], y=names, orientation="h", cliponaxis=True,
        marker=dict(color=[rgb(palette[k]) for k in shown], line=dict(width=[3 if k == highlight else 0 for k in shown],
                                                                       color="black")),
        hovertemplate=f"%{{y}}<br>{value_name} = %{{x:.4g}}<extra></extra>", showlegend=False,
    )]
    labels = [number(v) for v in values[shown]]
    notes = []
    if len(rest):
        other = f"the other {len(rest)} (sum)"
        total = float(values[rest].sum())
        data.append(dict(type="bar", x=[total], y=[other], orientation="h", cliponaxis=True, showlegend=False,
                         marker=dict(color=OTHERS_COLOUR, pattern=dict(shape="/")),
                         hovertemplate=f"the other {len(rest)} classes together<br>{value_name} = %{{x:.4g}}"
                                       "<extra></extra>"))
        names, labels = names + [other], labels + [number(total)]
        chosen = " and the chosen one" if len(shown) > top else ""
        notes.append(f"the {top} largest of {len(values)}{chosen}; the other {len(rest)} summed in grey")
    # values in the right margin: never under a bar end or a line
    annotations = [dict(x=1.0, xref="paper", xanchor="left", xshift=6, y=name, yref="y", text=label, showarrow=False,
                        font=dict(size=11)) for name, label in zip(names, labels)]
    shapes = []
    if reference is not None:
        shapes.append(dict(type="line", x0=reference, x1=reference, xref="x", y0=0, y1=1, yref="y domain",
                           line=dict(color="grey", dash="dash")))
        annotations.append(dict(x=reference, xref="x", y=1.0, yref="paper", yanchor="bottom", showarrow=False,
                                text=f"{reference_name} = {reference:.3g}" if reference_name else f"{reference:.3g}",
                                font=dict(size=11, color="grey")))
    window, axis, broken = axis_range(values[shown] if reference is None else np.append(values[shown], reference), zoom)
    if value_range is not None:
        window, axis, broken = list(value_range), f"axis: fixed, {value_range[0]:.3g} to {value_range[1]:.3g}", \
            value_range[0] > 0 or value_range[1] < 0
    if broken:
        zigzag, slash = axis_break()
        shapes.append(zigzag)
        annotations.append(slash)
    xaxis = dict(title=dict(text=value_name))
    if window is not None:
        xaxis["range"] = window
    tickformat = ".0%" if percent and not broken else (".2%" if percent else None)
    if tickformat:
        xaxis["tickformat"] = tickformat
    # a broken axis is said first, where it is read before the bars
    caption = "; ".join([c for c in ((axis,) if broken else ()) + (caption, *notes) + (() if broken else (axis,)) if c])
    heading = titled(title, caption, above=20)  # above: the reference line's label
    margin = dict(l=10, r=70, b=45, t=title_room(heading))
    layout = dict(title=heading, margin=margin, height=max(height, margin["t"] + margin["b"] + BAR_PX * len(names)),
                  bargap=0.25, barmode="overlay", xaxis=xaxis, yaxis=class_axis(names), annotations=annotations)
    if shapes:
        layout["shapes"] = shapes
    return Spec(data, layout)


def class_bars(*args, **kwargs) -> go.Figure:
    """`class_bars_spec` (same arguments) as a validated graph-object figure, for pages that restyle it."""
    return class_bars_spec(*args, **kwargs).figure()


def class_axis(names: list[str]) -> dict:
    """The class axis naming every bar (top to bottom in the given order): plotly's own ticks leave out
    every other name once the bars are close (8 of 16 with 19 classes)."""
    return dict(autorange="reversed", automargin=True, tickmode="array", tickvals=list(names), ticktext=list(names))


def every_name(fig: go.Figure, names: list[str]) -> None:
    """Name every bar of `fig` on its class axis (`class_axis`)."""
    fig.update_yaxes(class_axis(names))


def matrix_figure(matrix: np.ndarray, rows: list[str], title: str, scale: Scale = Scale(), *,
                  column_name: str = "channel", value_name: str = "value", height: int = 380) -> go.Figure:
    """A (K, C) matrix, e.g. the region vectors f_k, one row per class."""
    scaled = apply(matrix, scale)
    fig = go.Figure(go.Heatmap(
        z=scaled.values, zmin=scaled.zmin, zmax=scaled.zmax, y=rows, colorscale="Viridis", customdata=matrix,
        colorbar=dict(title=scaled.colorbar_title, thickness=12),
        hovertemplate=f"%{{y}}, {column_name} %{{x}}<br>{value_name} = %{{customdata:.4g}}<extra></extra>",
    ))
    headed(fig, title, scaled.caption, l=10, r=10, b=10)
    fig.update_layout(height=height, xaxis_title=column_name)
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
    fig.update_xaxes(tickangle=-45)  # class names side by side run into each other
    headed(fig, title, caption, l=10, r=10, b=10)
    fig.update_layout(height=height)
    fig.update_yaxes(autorange="reversed")
    return fig


def projection_figure(points: np.ndarray, labels: list[str], palette, title: str, caption: str = "",
                      highlight: int | None = None, height: int = 420) -> go.Figure:
    """(K, 2) points (e.g. a PCA of the K region vectors), labelled and coloured by class."""
    # one trace per class, named in the legend: labels beside nearby points would be drawn over each other
    fig = go.Figure([go.Scatter(
        x=points[k:k + 1, 0], y=points[k:k + 1, 1], mode="markers", name=label,
        marker=dict(size=22 if k == highlight else 14, color=rgb(palette[k]), line=dict(width=1, color="black")),
        hovertemplate=f"{label}<br>(%{{x:.3g}}, %{{y:.3g}})<extra></extra>",
    ) for k, label in enumerate(labels)])
    headed(fig, title, caption, l=10, r=10, b=10)
    fig.update_layout(height=height, xaxis_title="component 1", yaxis_title="component 2")
    return fig
