"""Per-pixel maps as plotly figures, drawn in feature-map coordinates (column c, row r of the
h x w map the head works on), so a map, the photo under it and a clicked pixel line up.

A click on a heatmap cell is not reported by Streamlit, so clickable figures carry an
invisible scatter layer with one point per feature-map cell at (x, y) = (column, row).

Each map's values travel to the browser once: the heatmap's z where the colours are the values
(linear and percentile scales), and a copy for the tooltip only where they are not (log10) or
where the click layer, which sits on top and so answers the hover, needs them.
"""
from __future__ import annotations

import base64
import io
import math
import weakref

import numpy as np
import plotly.graph_objects as go
from matplotlib.image import imsave
from plotly.subplots import make_subplots

from .scales import Scale, apply
from .spec import Spec, colour_scale
from .titles import WIDTH, title_room, titled

MAP_COLOURS = "Viridis"
CLICK_LAYER = "pixels"  # the name of the clickable layer's trace


def data_uri(image: np.ndarray) -> str:
    """(H,W,3) uint8 -> JPEG data URI: far smaller in the page than a list of pixel values
    (a 640 x 480 photo is ~50 kB, against ~450 kB as PNG). The same photo object is encoded once:
    a page draws it under several maps, and every click redraws one (5 ms each)."""
    key = id(image)
    kept = _ENCODED.get(key)
    if kept is not None and kept[0]() is image and _frozen(image):
        return kept[1]
    buffer = io.BytesIO()
    imsave(buffer, image, format="jpeg", pil_kwargs={"quality": 90})
    uri = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
    if _frozen(image):  # only a read-only photo cannot change under its cached encoding
        if len(_ENCODED) >= 32:
            _ENCODED.pop(next(iter(_ENCODED)))
        _ENCODED[key] = (weakref.ref(image), uri)
    return uri


_ENCODED: dict[int, tuple[weakref.ref, str]] = {}  # id(photo) -> (the photo, while it lives; its data URI)


def _frozen(image: np.ndarray) -> bool:
    """Read-only, and not a view of memory that can be written through another array (a photo
    read from PIL is a view of immutable bytes)."""
    base = image.base
    return not image.flags.writeable and (base is None or isinstance(base, bytes)
                                          or (isinstance(base, np.ndarray) and _frozen(base)))


def photo(image: np.ndarray, grid: tuple[int, int]) -> dict:
    """The input image stretched over the h x w grid: input pixel j sits at (j + 0.5) * w/W - 0.5."""
    dy, dx = grid[0] / image.shape[0], grid[1] / image.shape[1]
    return dict(type="image", source=data_uri(image), x0=dx / 2 - 0.5, y0=dy / 2 - 0.5, dx=dx, dy=dy, hoverinfo="skip")


def photo_trace(image: np.ndarray, grid: tuple[int, int]) -> go.Image:
    return go.Image(photo(image, grid))


def click_points(grid: tuple[int, int], values: np.ndarray | None = None, value_name: str = "value") -> dict:
    """One invisible, clickable point per feature-map cell at x = column, y = row (a click
    reports them); `values` (h,w) go along as customdata for the tooltip. Coordinates are sent
    as the smallest integers that hold them (1 byte per cell for maps up to 127 cells a side)."""
    rows, cols = (a.astype(np.min_scalar_type(-max(grid))) for a in np.mgrid[0 : grid[0], 0 : grid[1]])
    value = f"<br>{value_name} = %{{customdata:.4g}}" if values is not None else ""
    layer = dict(
        type="scatter", x=cols.ravel(), y=rows.ravel(), mode="markers", name=CLICK_LAYER,
        marker=dict(size=6, color="rgba(0,0,0,0)"), showlegend=False,
        hovertemplate="pixel i = (row %{y}, col %{x})" + value + "<extra>click to choose</extra>",
        selected=dict(marker=dict(opacity=0)), unselected=dict(marker=dict(opacity=0)),
    )
    if values is not None:
        layer["customdata"] = values.ravel().astype(np.float32)
    return layer


def click_layer(grid: tuple[int, int], values: np.ndarray | None = None, value_name: str = "value") -> go.Scatter:
    return go.Scatter(click_points(grid, values, value_name))


def marker(pixel: tuple[int, int]) -> dict:
    """A white ring around the chosen pixel."""
    return dict(
        type="scatter", x=[pixel[1]], y=[pixel[0]], mode="markers", name=f"pixel (row {pixel[0]}, col {pixel[1]})",
        showlegend=False, marker=dict(symbol="circle-open", size=16, color="white", line=dict(width=3, color="white")),
        hoverinfo="skip", unselected=dict(marker=dict(opacity=1)),
    )


def pixel_marker(pixel: tuple[int, int]) -> go.Scatter:
    return go.Scatter(marker(pixel))


# The same margins on every map, whatever sits beside it (a colour bar, a legend or nothing), so
# maps drawn side by side get plot areas of the same size; the right margin holds the colour bar
# or the legend, next to the map (the map keeps to the right of its area, see `frame`).
MARGIN = dict(l=50, r=105, t=86, b=52, autoexpand=False)  # t: two lines of title and two of caption
COLORBAR = dict(thickness=12, len=0.9, x=1.02, xanchor="left", y=0.5, yanchor="middle")
MAP_AXES = ("column", "row")  # short: a long title under a narrow map runs into its colour bar


def edge_free_ticks(size: int, parts: int = 4) -> list[int]:
    """Ticks at a round step of about size / `parts`, none in the last tenth of the map: a column label
    centred on the right edge ran into the colour bar or legend beside it, the last row's into the column
    labels. Rows get three parts: a short map in large type had its five row labels over each other."""
    power = 10 ** max(0, math.floor(math.log10(max(size / parts, 1))))
    step = next(s * power for s in (1, 2, 5, 10) if s * power >= size / parts)
    return list(range(0, max(1, math.ceil(0.9 * size)), step))


def frame_layout(title: str, caption: str, grid: tuple[int, int], height: int,
                 axes: tuple[str, str] = MAP_AXES) -> dict:
    """Equal-aspect axes with row 0 at the top, axis titles, fixed margins, and a title whose
    second line is the caption. Where the area is wider than the map, the map keeps to the right,
    beside its colour bar or legend."""
    heading = titled(title, caption, above=12)  # above: half of the first row label, in large type too
    return dict(
        title=heading, height=height, margin=dict(MARGIN, t=max(MARGIN["t"], title_room(heading))),
        hovermode="closest", dragmode="pan", clickmode="event+select",
        xaxis=dict(range=[-0.5, grid[1] - 0.5], showgrid=False, zeroline=False, constrain="domain",
                   constraintoward="right", title=dict(text=axes[0], standoff=10), automargin=False,
                   tickvals=edge_free_ticks(grid[1])),
        yaxis=dict(range=[grid[0] - 0.5, -0.5], showgrid=False, zeroline=False, scaleanchor="x", constrain="domain",
                   title=dict(text=axes[1], standoff=4), automargin=False, tickvals=edge_free_ticks(grid[0], 3)),
    )


def frame(fig: go.Figure, title: str, caption: str, grid: tuple[int, int], height: int,
          axes: tuple[str, str] = MAP_AXES) -> go.Figure:
    """`fig` with the layout of a map (`frame_layout`)."""
    return fig.update_layout(frame_layout(title, caption, grid, height, axes))


def map_spec(
    values: np.ndarray, title: str, scale: Scale = Scale(), *, image: np.ndarray | None = None, opacity: float = 1.0,
    colours: str = MAP_COLOURS, value_name: str = "value", pixel: tuple[int, int] | None = None,
    clickable: bool = False, limits: tuple[float, float] | None = None, height: int = 420,
) -> Spec:
    """One (h,w) map, optionally over the photo with the given opacity; the caption names the scale.
    `limits` fixes the colour range (data units), e.g. the same for a before and an after map.
    As plotly JSON, unvalidated: a click redraws this map (`map_figure` is the graph-object figure)."""
    scaled = apply(values, scale, limits)
    grid = values.shape
    coloured_by_value = scaled.values is values or np.array_equal(scaled.values, values)
    heatmap = dict(type="heatmap", z=scaled.values.astype(np.float32), zmin=scaled.zmin, zmax=scaled.zmax,
                   colorscale=colour_scale(colours), opacity=opacity,
                   colorbar=dict(COLORBAR, title=dict(text=scaled.colorbar_title)))
    if clickable:
        heatmap["hoverinfo"] = "skip"  # the click layer on top answers the hover
    else:
        if not coloured_by_value:
            heatmap["customdata"] = values.astype(np.float32)
        shown = "z" if coloured_by_value else "customdata"
        heatmap["hovertemplate"] = f"row %{{y}}, col %{{x}}<br>{value_name} = %{{{shown}:.4g}}<extra></extra>"
    data = [photo(image, grid)] if image is not None else []
    data.append(heatmap)
    if clickable:
        data.append(click_points(grid, values, value_name))
    if pixel is not None:
        data.append(marker(pixel))
    return Spec(data, frame_layout(title, scaled.caption, grid, height))


def map_figure(*args, **kwargs) -> go.Figure:
    """`map_spec` (same arguments) as a validated graph-object figure, for pages that restyle it."""
    return map_spec(*args, **kwargs).figure()


def pca_caption(share) -> str:
    """Caption for a PCA shown as colours: which components, how much variance each explains."""
    return "R, G, B = principal components 1-3 (" + ", ".join(f"{v:.0%}" for v in share) + " of the variance)"


def rgb_figure(rgb: np.ndarray, title: str, caption: str = "", *, pixel: tuple[int, int] | None = None,
               height: int = 420) -> go.Figure:
    """(h,w,3) colours in [0,1] (e.g. a PCA of features) as an image."""
    fig = go.Figure(go.Image(z=np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8),
                             hovertemplate="row %{y}, col %{x}<extra></extra>"))
    if pixel is not None:
        fig.add_trace(pixel_marker(pixel))
    return frame(fig, title, caption, rgb.shape[:2], height)


def readable_ranks(marks: np.ndarray, grid: tuple[int, int], apart: float = 0.12) -> list[str]:
    """Rank labels for marked (row, col) cells, best first, leaving out a rank whose label would sit on a
    better one's (closer than `apart` of the map's longer side, room for large type's labels too): a clump
    of ten reads as one "1", the rest in the tooltips."""
    near = apart * max(grid)
    kept, labels = [], []
    for rank, (row, col) in enumerate(marks, start=1):
        free = all(max(abs(row - r), abs(col - c)) >= near for r, c in kept)
        labels.append(str(rank) if free else "")
        if free:
            kept.append((row, col))
    return labels


def photo_figure(image: np.ndarray, grid: tuple[int, int], title: str, caption: str = "", *,
                 pixel: tuple[int, int] | None = None, marks: np.ndarray | None = None,
                 clickable: bool = False, height: int = 420) -> go.Figure:
    """The photo in feature-map coordinates; optional chosen pixel, marked (row, col) points and click layer."""
    fig = go.Figure(photo_trace(image, grid))
    if marks is not None and len(marks):
        ranks = [str(i + 1) for i in range(len(marks))]
        fig.add_trace(go.Scatter(x=marks[:, 1], y=marks[:, 0], mode="markers+text", text=readable_ranks(marks, grid),
                                 customdata=ranks, textposition="top center", textfont=dict(color="yellow"),
                                 showlegend=False, marker=dict(symbol="square-open", size=10, color="yellow",
                                                               line=dict(width=2)),
                                 hovertemplate="rank %{customdata}: row %{y}, col %{x}<extra></extra>"))
    if clickable:
        fig.add_trace(click_layer(grid))
    if pixel is not None:
        fig.add_trace(pixel_marker(pixel))
    return frame(fig, title, caption, grid, height)


def map_grid(maps: np.ndarray, titles: list[str], title: str, scale: Scale = Scale(), *, shared: bool = True,
             colours: str = MAP_COLOURS, columns: int = 4, value_name: str = "value") -> go.Figure:
    """(K,h,w) maps as small multiples; one colour range for all (`shared`) or one per map."""
    count, h, w = maps.shape
    rows = math.ceil(count / columns)
    shared_scale = apply(maps, scale)
    own = [apply(m, scale) for m in maps] if not shared else []
    captions = [s.caption.split(", ", 1)[-1] for s in own] if own else [""] * count
    fig = make_subplots(rows=rows, cols=columns, horizontal_spacing=0.02, vertical_spacing=0.08,
                        subplot_titles=[f"{t}<br><sup>{c}</sup>" if c else t for t, c in zip(titles, captions)])
    name = f"log10 {value_name}" if shared_scale.colorbar_title == "log10" else value_name
    for index in range(count):
        scaled = own[index] if own else shared_scale
        values = scaled.values if own else shared_scale.values[index]
        fig.add_trace(go.Heatmap(
            z=values.astype(np.float32), zmin=scaled.zmin, zmax=scaled.zmax, colorscale=colours,
            showscale=shared and index == 0, colorbar=dict(title=shared_scale.colorbar_title, thickness=12),
            # thumbnails: the tooltip reads the colour value (log10 on a log scale), no second copy of the data
            hovertemplate=f"{titles[index]}<br>row %{{y}}, col %{{x}}<br>{name} = %{{z:.4g}}<extra></extra>",
        ), row=index // columns + 1, col=index % columns + 1)
    caption = shared_scale.caption + " (shared by all maps)" if shared else f"{scale.kind} scale, each map its own range"
    heading = titled(title, caption, width=2 * WIDTH, above=36)  # small multiples span the page; above: their titles
    fig.update_layout(title=heading, height=rows * (190 * h / w + 40) + title_room(heading),
                      margin=dict(l=10, r=10, t=title_room(heading), b=10))
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, autorange="reversed")
    for index in range(count):
        axis = "x" if index == 0 else f"x{index + 1}"
        fig.layout[f"yaxis{index + 1 if index else ''}"].scaleanchor = axis
    return fig
