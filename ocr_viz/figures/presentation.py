"""Figures restyled for a projector: larger type everywhere, titles included."""
from __future__ import annotations

import plotly.graph_objects as go


def large_type(fig: go.Figure, size: int = 20) -> go.Figure:
    """A copy of `fig` with `size`-point text (title a little larger), readable from the back of a room."""
    bigger = go.Figure(fig)
    bigger.update_layout(font=dict(size=size), title_font_size=size + 4, hoverlabel_font_size=size)
    bigger.update_annotations(font_size=size)
    return bigger
