"""Figures of the head comparison: where an ASPP pixel samples, and how costs grow with the
number of pixels (log-log, with fitted slopes). numpy in, plotly out."""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from .charts import rgb
from .labels import blend
from .titles import NARROW, TITLE_SIZE, headed, title_room, titled
from .maps import MARGIN, data_uri, frame_layout, marker, photo
from .spec import Spec

# ASPP's branches in order: 1x1, one per rate, image pooling (RGB, as the class palettes)
BRANCH_COLOURS = ((40, 40, 40), (255, 217, 47), (252, 141, 98), (231, 41, 138), (102, 194, 165), (141, 160, 203))


def sampling_spec(image: np.ndarray, grid: tuple[int, int], pixel: tuple[int, int],
                  taps: list[tuple[str, np.ndarray, np.ndarray]], title: str, height: int = 420) -> Spec:
    """The photo on the h x w feature map, zoomed out to show every tap: for each branch
    (name, (t,2) cells, (t,) inside), filled markers inside the map, crosses outside it.
    As plotly JSON, unvalidated: a click redraws it (`sampling_figure` is the graph-object figure)."""
    data = [photo(image, grid)]
    for index, (name, cells, inside) in enumerate(taps):
        colour = rgb(BRANCH_COLOURS[index % len(BRANCH_COLOURS)])
        data.append(dict(
            type="scatter", x=cells[:, 1], y=cells[:, 0], mode="markers",
            name=f"{name}: {int(inside.sum())}/{len(inside)} inside",
            marker=dict(symbol=["square" if i else "x-thin-open" for i in inside], size=11, color=colour,
                        line=dict(width=2, color=["white" if i else colour for i in inside])),
            hovertemplate=f"{name}<br>row %{{y}}, col %{{x}}<extra></extra>",
        ))
    data.append(marker(pixel))
    everything = np.concatenate([cells for _, cells, _ in taps] + [np.array([[0, 0], [grid[0] - 1, grid[1] - 1]])])
    (top, left), (bottom, right) = everything.min(0) - 2, everything.max(0) + 2
    outside = sum(int((~inside).sum()) for _, _, inside in taps)
    caption = f"frame: the {grid[0]} x {grid[1]} map; x: {outside} taps outside it (zero padding)"
    layout = frame_layout(title, caption, grid, height)
    layout["shapes"] = [dict(type="rect", x0=-0.5, y0=-0.5, x1=grid[1] - 0.5, y1=grid[0] - 0.5,
                             line=dict(color="black", width=2))]
    layout["xaxis"].update(range=[float(left) - 0.5, float(right) + 0.5], constraintoward="center")
    layout["yaxis"].update(range=[float(bottom) + 0.5, float(top) - 0.5])
    # the legend under the map, one branch a line: beside it, it ran over the axis in narrow columns
    layout.update(showlegend=True, clickmode="none", margin=dict(layout["margin"], r=10, b=MARGIN["b"] + 8 + 20 * len(taps)),
                  legend=dict(orientation="h", x=0, xanchor="left", y=0, yref="container", yanchor="bottom",
                              entrywidth=1, entrywidthmode="fraction", font=dict(size=10)))
    return Spec(data, layout)


def sampling_figure(*args, **kwargs) -> go.Figure:
    """`sampling_spec` (same arguments) as a validated graph-object figure."""
    return sampling_spec(*args, **kwargs).figure()


PANEL_PX = 210  # a prediction's plot height: a 4:3 photo in a third of the main area (titles.NARROW wide)
HEADING_PX = 46  # over each panel: its title and caption line


def predictions_spec(image: np.ndarray, predictions: list[np.ndarray], titles: list[str], captions: list[str], palette,
                     title: str, *, opacity: float = 0.6, columns: int = 2) -> Spec:
    """Each head's (H,W) labels over the photo, a panel each, `columns` a row, in one figure: as many
    separate figures they were most of what the browser drew on the Compare page's first visit. The panels
    keep the photo's aspect; a panel's title and caption (e.g. its score) sit over it; no tick labels
    (input pixels say nothing here)."""
    rows = math.ceil(len(predictions) / columns)
    heading = HEADING_PX
    plot = rows * (PANEL_PX + heading)
    gap = 0.03
    width = (1 - gap * (columns - 1)) / columns
    data, annotations, layout = [], [], {}
    for index, (labels, name, caption) in enumerate(zip(predictions, titles, captions)):
        row, column = divmod(index, columns)
        suffix = str(index + 1) if index else ""
        top = 1 - (row * (PANEL_PX + heading) + heading) / plot
        x0 = column * (width + gap)
        layout[f"xaxis{suffix}"] = dict(domain=[x0, x0 + width], range=[-0.5, labels.shape[1] - 0.5], visible=False,
                                        constrain="domain", constraintoward="left")
        layout[f"yaxis{suffix}"] = dict(domain=[top - PANEL_PX / plot, top], range=[labels.shape[0] - 0.5, -0.5],
                                        visible=False, scaleanchor=f"x{suffix}", constrain="domain",
                                        constraintoward="top")
        data.append(dict(type="image", source=data_uri(blend(image, labels, palette, opacity)), xaxis=f"x{suffix}",
                         yaxis=f"y{suffix}", hoverinfo="skip"))
        text = name + (f"<br><sup>{caption}</sup>" if caption else "")  # <sup>: smaller, also in large type
        annotations.append(dict(text=text, x=x0, xref="paper", xanchor="left", y=top, yref="paper", yanchor="bottom",
                                yshift=4, showarrow=False, align="left", font=dict(size=TITLE_SIZE)))
    above = titled(title, width=2 * NARROW, above=0)
    layout.update(title=above, height=plot + title_room(above) + 10, margin=dict(l=0, r=0, t=title_room(above), b=10),
                  annotations=annotations, showlegend=False, clickmode="none", dragmode=False,
                  meta=dict(title_width=2 * NARROW))  # large type wraps the title for the same width
    return Spec(data, layout)


def loglog_figure(series: dict[str, tuple[np.ndarray, np.ndarray]], slopes: dict[str, float | None], title: str,
                  value_name: str, caption: str = "", height: int = 380,
                  colours: dict[str, str] | None = None) -> go.Figure:
    """One line per head of value against pixels on log-log axes, named with its fitted slope,
    and dashed guides of slope 1 (linear) and 2 (quadratic) through the lowest first point;
    `colours` by head name (plotly's default cycle for the others)."""
    fig = go.Figure()
    for name, (pixels, values) in series.items():
        slope = slopes.get(name)
        label = f"{name} (slope {slope:.2f})" if slope is not None else name
        fig.add_trace(go.Scatter(x=pixels, y=values, mode="lines+markers", name=label,
                                 line=dict(color=(colours or {}).get(name)),
                                 hovertemplate=f"{name}<br>n = %{{x}}<br>{value_name} = %{{y:.4g}}<extra></extra>"))
    starts = [(p[0], v[0]) for p, v in series.values() if len(p)]
    if starts:
        x0, y0 = min(starts, key=lambda s: s[1])
        x1 = max(p[-1] for p, _ in series.values() if len(p))
        for power, dash in ((1, "dot"), (2, "dash")):
            fig.add_trace(go.Scatter(x=[x0, x1], y=[y0, y0 * (x1 / x0) ** power], mode="lines", name=f"slope {power}",
                                     line=dict(color="grey", dash=dash, width=1), hoverinfo="skip"))
    fig.update_xaxes(type="log", dtick=1)  # powers of ten: 2 and 5 between collide
    fig.update_yaxes(type="log", title=value_name, dtick=1)
    # the x axis named in the caption: its title sat where the legend under the plot goes
    headed(fig, title, "; ".join(c for c in ("x: pixels n (h x w)", caption) if c), above=10, l=10, r=10, b=10)
    # under the plot (plotly makes room for it): inside, it hid the ticks; beside, it covered the last x tick
    # and left a narrow column's plot a sliver in large type
    # placed from the figure's bottom edge, in px of margin that grows with the legend's rows: placed
    # relative to the plot, a legend of many heads pushed the plot up until it sat on the x ticks
    rows = math.ceil(len(fig.data) / 2)
    fig.update_layout(height=height + 22 * rows, margin_b=50 + 22 * rows,
                      legend=dict(font=dict(size=11), orientation="h", x=0, xanchor="left", y=0, yanchor="bottom",
                                  yref="container"))
    fig.update_yaxes(automargin=True, title_standoff=6)
    return fig
