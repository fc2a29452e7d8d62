"""Figures restyled for a projector: larger type everywhere (titles, axes, legends, colour bars,
value labels), with margins widened to match so nothing is cut off."""
from __future__ import annotations

import plotly.graph_objects as go

from .titles import refit

BASE_SIZE = 12  # plotly's default font size, which the figures' margins are sized for


def large_type(fig: go.Figure, size: int = 20) -> go.Figure:
    """A copy of `fig` with `size`-point text (title a little larger), readable from the back of a room."""
    bigger = go.Figure(fig)
    grow = size / BASE_SIZE
    bigger.update_layout(font=dict(size=size), title_font_size=size + 4, hoverlabel_font_size=size,
                         legend_font_size=size, legend_title_font_size=size)
    bigger.update_annotations(font_size=size)
    bigger.update_xaxes(title_font_size=size, tickfont_size=size)
    bigger.update_yaxes(title_font_size=size, tickfont_size=size)
    bigger.update_traces(selector=dict(type="heatmap"), colorbar_tickfont_size=size, colorbar_title_font_size=size)
    margin = bigger.layout.margin  # grown less than the type: narrow columns must keep room for the map
    bigger.update_layout(margin={side: round(getattr(margin, side) * grow ** 0.5) for side in ("l", "r", "t", "b")
                                 if getattr(margin, side) is not None})
    axis_room = round(4 * size)  # a fixed margin (maps) under the x axis: its larger labels, a gap, its title
    if margin.autoexpand is False and margin.b is not None and bigger.layout.xaxis.title.text:
        bigger.update_layout(margin_b=max(bigger.layout.margin.b, axis_room))
    legend = bigger.layout.legend
    named = [trace.name or "" for trace in bigger.data if getattr(trace, "showlegend", False)]  # images have none
    if legend.orientation == "h" and legend.entrywidthmode == "pixels" and legend.entrywidth and margin.b is not None:
        # a legend under a map: wider entries, room for two a line
        bigger.update_layout(legend_entrywidth=round(legend.entrywidth * grow),
                             margin_b=30 + round(1.5 * size) * -(-len(named) // 2))
    elif legend.orientation == "h" and legend.entrywidthmode == "fraction" and legend.entrywidth == 1 and \
            legend.yref == "container" and margin.b is not None:
        # one entry a line under a map (ASPP's taps): the axis' room and a larger line per entry
        entries = [t for t in bigger.data if t.type == "scatter" and t.name and t.showlegend is not False]
        bigger.update_layout(margin_b=axis_room + round(1.45 * size) * len(entries))
    elif legend.orientation != "h" and (legend.x or 0) >= 1 and named and margin.r is not None:
        # a legend beside a map, in its right margin: as wide as the longest larger name
        bigger.update_layout(margin_r=max(bigger.layout.margin.r, round(0.62 * size * max(map(len, named)) + 50)))
    if bigger.layout.height:  # bar charts need room for each larger row label; maps for their larger margins
        taller = grow if any(trace.type == "bar" for trace in bigger.data) else grow ** 0.5
        bigger.update_layout(height=round(bigger.layout.height * taller))
    for name in [key for key in bigger.layout.to_plotly_json() if key.startswith(("xaxis", "yaxis"))]:
        if bigger.layout[name].type == "log":  # powers of ten only: the 2 and 5 between them collide
            bigger.layout[name].dtick = 1
    top = bigger.layout.margin.t
    if bigger.layout.title.pad.b:  # room for the larger labels over the plot (a 1/K line's), as they grow
        bigger.update_layout(title_pad_b=round(bigger.layout.title.pad.b * grow))
    refit(bigger, size=size + 4)  # the larger title wrapped into more, shorter lines
    if bigger.layout.height and top is not None:
        bigger.update_layout(height=bigger.layout.height + max(bigger.layout.margin.t - top, 0))
    return bigger
