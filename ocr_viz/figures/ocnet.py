"""Figures of OCNet's Pyramid-OC: a pixel's attention at one pyramid level, with the level's
partitions drawn over it and the pixel's own partition outlined. numpy in, plotly out."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .maps import map_spec
from .scales import Scale
from .spec import Spec


def partition_spec(values: np.ndarray, title: str, bounds: tuple[list[tuple[int, int]], list[tuple[int, int]]],
                   pixel: tuple[int, int], scale: Scale = Scale(), *, image: np.ndarray | None = None,
                   opacity: float = 0.7, height: int = 360) -> Spec:
    """A pixel's (h,w) attention at one level; `bounds` (row parts, column parts) as [start, end) pairs:
    thin lines between the partitions, a white frame around the pixel's own. Outside that partition the
    attention is zero by construction and is left undrawn, so a log scale spans the partition's weights.
    As plotly JSON, unvalidated: a click redraws four of these (`partition_figure` is the graph-object figure)."""
    rows, cols = bounds
    (r0, r1), (c0, c1) = (next(b for b in parts if b[0] <= p < b[1]) for parts, p in zip(bounds, pixel))
    h, w = values.shape
    inside = np.zeros((h, w), bool)
    inside[r0:r1, c0:c1] = True
    spec = map_spec(np.where(inside, values, np.nan), title, scale, image=image, opacity=opacity, value_name="a_ij",
                    pixel=pixel, clickable=True, height=height)
    line = dict(color="rgba(255,255,255,0.6)", width=1, dash="dot")
    spec.layout["shapes"] = (
        [dict(type="line", x0=-0.5, x1=w - 0.5, y0=start - 0.5, y1=start - 0.5, line=dict(line)) for start, _ in rows[1:]]
        + [dict(type="line", x0=start - 0.5, x1=start - 0.5, y0=-0.5, y1=h - 0.5, line=dict(line)) for start, _ in cols[1:]]
        + [dict(type="rect", x0=c0 - 0.5, x1=c1 - 0.5, y0=r0 - 0.5, y1=r1 - 0.5, line=dict(color="white", width=2.5))])
    return spec


def partition_figure(*args, **kwargs) -> go.Figure:
    """`partition_spec` (same arguments) as a validated graph-object figure."""
    return partition_spec(*args, **kwargs).figure()
