"""Figures restyled for a projector: larger type everywhere (titles, axes, legends, colour bars,
value labels), with margins widened to match so nothing is cut off."""
from __future__ import annotations

import plotly.graph_objects as go

from .titles import WIDTH, refit

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
    if bigger.layout.legend.orientation == "h" and margin.b is not None:  # a legend under a map: two a line
        entries = sum(1 for trace in bigger.data if getattr(trace, "showlegend", False))  # images have none
        width = bigger.layout.legend.entrywidth
        bigger.update_layout(legend_entrywidth=round(width * grow) if bigger.layout.legend.entrywidthmode == "pixels"
                             and width else 0.5, margin_b=30 + round(1.5 * size) * -(-entries // 2))
    if bigger.layout.height:  # bar charts need room for each larger row label; maps for their larger margins
        taller = grow if any(trace.type == "bar" for trace in bigger.data) else grow ** 0.5
        bigger.update_layout(height=round(bigger.layout.height * taller))
    bigger.update_xaxes(selector=dict(type="log"), dtick=1)  # powers of ten only: 2 and 5 between them collide
    bigger.update_yaxes(selector=dict(type="log"), dtick=1)
    top = bigger.layout.margin.t
    if bigger.layout.title.pad.b:  # room for the larger labels over the plot
        bigger.update_layout(title_pad_b=round(bigger.layout.title.pad.b * grow ** 0.5))
    refit(bigger, width=WIDTH, size=size + 4)  # the larger title wrapped into more, shorter lines
    if bigger.layout.height and top is not None:
        bigger.update_layout(height=bigger.layout.height + max(bigger.layout.margin.t - top, 0))
    return bigger
