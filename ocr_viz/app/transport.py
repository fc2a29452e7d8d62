"""Plotly figures on their way to the browser: `chart` shows a figure (clickable, with its download
menu), `served` turns it into the JSON the browser draws (photos as media URLs, click layers in
WebGL), `ValidatedSpec` keeps Streamlit from validating it again. A figure is a graph-object figure
or a `Spec` (its JSON built directly, see ocr_viz/figures/spec.py), which is validated only when
restyled for large type or downloaded.
"""
from __future__ import annotations

import base64
import io
from functools import lru_cache, partial

import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from .downloads import figure_downloads
from .session import COL, FIGURE_FORMAT, LARGE_TYPE, NO_WEBGL, PIXEL_CHOSEN, ROW, digest
from ocr_viz.figures.maps import CLICK_LAYER
from ocr_viz.figures.presentation import large_type
from ocr_viz.figures.spec import graph_object


def _pixel_clicked(chart_key: str) -> None:
    event = st.session_state.get(chart_key) or {}
    points = (event.get("selection") or {}).get("points") or []
    if points:
        st.session_state[ROW], st.session_state[COL] = int(round(points[0]["y"])), int(round(points[0]["x"]))
        st.session_state[PIXEL_CHOSEN] = True


def figure_config() -> dict:
    """Plotly's download button saves PNG or SVG (for papers), as chosen in the sidebar."""
    return {"displaylogo": False, "toImageButtonOptions": {"format": st.session_state.get(FIGURE_FORMAT, "png"), "scale": 2}}


def chart(figure, clickable_key: str | None = None, downloads: bool = True) -> None:
    """Show a figure, with a download menu under it; with `clickable_key`, a click on it chooses
    the pixel (feature-map x, y). Embedded photos travel as URLs (see `served`). In projector mode
    (LARGE_TYPE) the figure's text is enlarged too."""
    if st.session_state.get(LARGE_TYPE):
        figure = large_type(graph_object(figure))
    spec = served(figure)
    spec = ValidatedSpec(spec) if isinstance(spec, dict) else spec
    if clickable_key is None:
        st.plotly_chart(spec, config=figure_config())
    else:
        st.plotly_chart(spec, key=clickable_key, on_select=partial(_pixel_clicked, clickable_key),
                        selection_mode="points", config=figure_config())
    if downloads:
        figure_downloads(figure)


def served(figure):
    """The figure as plotly JSON, ready for the browser:
    - each embedded photo (an image trace holding a base64 data URI) is drawn instead as a layout
      image whose source is the URL of the same bytes in Streamlit's media files (plotly.js draws
      image traces from data URIs only), so a photo shown in five figures reaches the browser once,
      over HTTP, and a click that redraws a map over it resends the map's data only;
    - the click layer (one invisible point per cell) is drawn with WebGL: as SVG it is thousands of
      DOM nodes that cost ~0.2 s per draw and delay every click by ~0.3 s (measured, see
      `python -m ocr_viz.bench browser`). The sidebar's "no WebGL" switch keeps SVG.
    The figure object itself is untouched, so downloads stay standalone SVG figures."""
    from streamlit import runtime

    if not runtime.exists():
        return graph_object(figure)
    spec = figure.to_plotly_json()
    kept, images, layout = [], [], spec.setdefault("layout", {})
    webgl = not st.session_state.get(NO_WEBGL, False)
    for trace in spec.get("data", []):
        source = trace.get("source")
        if trace.get("type") == "image" and isinstance(source, str) and source.startswith("data:image/"):
            images.append(_layout_image(trace, source, layout, runtime.get_instance().media_file_mgr))
            continue
        if webgl and trace.get("type") == "scatter" and trace.get("name") == CLICK_LAYER:
            trace["type"] = "scattergl"
        kept.append(trace)
    spec["data"] = kept
    layout["images"] = list(layout.get("images") or []) + images
    layout["template"] = "none"  # Streamlit's theme replaces plotly's 7 kB default template in the browser
    return spec


class ValidatedSpec(go.Figure):
    """A plotly spec made from a validated figure, handed to st.plotly_chart as a Figure: given a
    dict, Streamlit builds and validates a Figure from it again (~35 ms per map, the largest cost of
    a click's rerun); given a Figure, it only calls to_dict."""

    def __init__(self, spec: dict):  # deliberately not plotly's __init__: nothing to validate again
        self._spec = spec

    def to_dict(self) -> dict:
        return self._spec

    def to_plotly_json(self) -> dict:
        return self._spec


@lru_cache(maxsize=16)
def _photo(source: str) -> tuple[bytes, str, int, int, str]:
    """A data URI's bytes, MIME type, width, height and media name: decoded once, as every click on a map
    brings the same photo again (reading its size from the JPEG was ~3% of a click's CPU)."""
    header, encoded = source.split(",", 1)
    data = base64.b64decode(encoded)
    width, height = Image.open(io.BytesIO(data)).size
    return data, header[5:].split(";")[0], width, height, f"ocr_viz.image.{digest(data)}"


def _layout_image(trace: dict, source: str, layout: dict, media) -> dict:
    """An image trace's photo as a layout image at the same place (pixel j of the image covers
    x0 + (j -+ 1/2) dx), its axes given the ranges and aspect the trace would have given them."""
    data, mime, width, height, name = _photo(source)
    x0, y0, dx, dy = (trace.get(k, d) for k, d in (("x0", 0), ("y0", 0), ("dx", 1), ("dy", 1)))
    left, top = x0 - dx / 2, y0 - dy / 2
    xref, yref = trace.get("xaxis", "x"), trace.get("yaxis", "y")
    xaxis = layout.setdefault("xaxis" + xref[1:], {})
    yaxis = layout.setdefault("yaxis" + yref[1:], {})
    if "range" not in xaxis:
        xaxis.update(range=[left, left + width * dx], showgrid=False, zeroline=False)
    if "range" not in yaxis:
        yaxis.update(range=[top + height * dy, top], showgrid=False, zeroline=False, scaleanchor=xref)
    url = media.add(data, mime, name)
    return dict(source=url, xref=xref, yref=yref, x=left, y=top, sizex=width * dx, sizey=height * dy,
                xanchor="left", yanchor="top", sizing="stretch", layer="below")
