"""Label maps (segmentations) over the photo, in input-pixel coordinates, with a legend of
the class colours present."""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from .charts import rgb
from .maps import MARGIN, data_uri, frame

LEGEND = dict(orientation="v", x=1.01, xanchor="left", y=0.5, yanchor="middle", font=dict(size=10),
              itemsizing="constant", itemwidth=30, tracegroupgap=0)  # fits the maps' right margin
# For narrow columns (three maps in a row): the legend under the map, two entries a line (three cut
# "Pedestrian" off at 280 px), its room sized by the number of classes K (not those present), so a row
# of maps lines up.
LEGEND_BELOW = dict(orientation="h", x=0, xref="container", xanchor="left", y=0, yref="container", yanchor="bottom",
                    font=dict(size=10), itemsizing="constant", itemwidth=30, entrywidthmode="pixels")
GLYPH_PX = 6.5  # a wide estimate of a 10 px legend character
LEGEND_LINE = 17  # px per line of legend entries
PIXEL_AXES = ("x (input pixels)", "y (input pixels)")


def blend(image: np.ndarray, labels: np.ndarray, palette, opacity: float, mask: np.ndarray | None = None) -> np.ndarray:
    """(H,W,3) uint8: the photo with each pixel's class colour laid over it (only where `mask`)."""
    colours = np.asarray(palette, dtype=np.float64)[np.clip(labels, 0, len(palette) - 1)]
    mixed = (1 - opacity) * image + opacity * colours
    if mask is not None:
        grey = image.mean(-1, keepdims=True).repeat(3, -1) * 0.6  # dim what is not marked
        mixed = np.where(mask[..., None], mixed, grey)
    return np.round(mixed).astype(np.uint8)


def legend_traces(classes: list[str], palette, present) -> list[go.Scatter]:
    """Invisible points that only make legend entries, one per class present."""
    return [go.Scatter(x=[None], y=[None], mode="markers", name=classes[k], showlegend=True,
                       marker=dict(symbol="square", size=12, color=rgb(palette[k]))) for k in present]


def label_figure(image: np.ndarray, labels: np.ndarray, classes: list[str], palette, title: str, *,
                 opacity: float = 0.6, mask: np.ndarray | None = None, caption: str = "", legend_below: bool = False,
                 legend: bool = True, height: int = 420) -> go.Figure:
    """Labels over the photo with the given opacity, and a legend of the classes present beside it
    (in the map's right margin, where other maps have their colour bar); `mask` limits the colours to
    some pixels; `legend_below` puts the legend under the map instead, for narrow columns; without
    `legend`, the page shows one legend for a row of maps (pages/_layout.class_legend): a legend in
    each narrow map, beside or under it, left the map a sliver or ran over its axes in large type."""
    shown = labels if mask is None else labels[mask]
    fig = go.Figure(go.Image(source=data_uri(blend(image, labels, palette, opacity, mask)), hoverinfo="skip"))
    if not legend:
        frame(fig, title, caption, labels.shape, height, PIXEL_AXES)
        fig.update_layout(showlegend=False, clickmode="none", margin=dict(MARGIN, t=fig.layout.margin.t, r=10))
        fig.update_xaxes(constraintoward="center")
        return fig
    for trace in legend_traces(classes, palette, np.unique(shown)):
        fig.add_trace(trace)
    if not shown.size:  # nothing marked: say so in the legend (and keep a trace, which plotly needs)
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name="(no pixels)", showlegend=True,
                                 marker=dict(symbol="square-open", size=12, color="grey")))
    frame(fig, title, caption, labels.shape, height, PIXEL_AXES)
    fig.update_layout(legend=LEGEND, showlegend=True, clickmode="none")
    if legend_below:
        lines = math.ceil(len(classes) / 2)
        # entries as wide as the longest name (a fraction of the plot width cut "SignSymbol" short), plotly
        # starting a new line when the next does not fit; room for two a line
        fig.update_layout(legend=dict(LEGEND_BELOW, entrywidth=round(GLYPH_PX * max(map(len, classes)) + 12)),
                          margin=dict(MARGIN, t=fig.layout.margin.t, r=10, b=50 + LEGEND_LINE * lines))
        # the legend sits where the axis title and tick labels would (pixel positions matter little here)
        fig.update_xaxes(constraintoward="center", title_text="", showticklabels=False)
    return fig
