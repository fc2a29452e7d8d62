"""Downloads and links: a figure's download menu (PNG, SVG, HTML), the whole trace as an .npz (the
arrays turned back into a torch trace by model.arrays.segmentor_trace) with the notebook lines that
load it, and links that reopen the current view.
"""
from __future__ import annotations

import io
import re
from functools import partial
from urllib.parse import urlencode

import streamlit as st

from . import export
from .session import DOWNLOADS, STEP, UPLOAD, current
from ocr_viz.figures.spec import Spec
from ocr_viz.figures.titles import plain
from ocr_viz.model.arrays import TraceArrays, segmentor_trace


def figure_name(figure) -> str:
    """A file name stem from the figure's title: its first line, lower case, words joined by '-'."""
    text = figure.title if isinstance(figure, Spec) else figure.layout.title.text
    title = plain(str(text or "")).split("<br>")[0]  # the whole title, unwrapped
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60] or "figure"


FORMAT_HELP = {"png": "bitmap at 3x screen resolution, for slides and print",
               "svg": "vector graphics, for papers (text stays editable)",
               "html": "the interactive figure (zoom, hover) as a standalone page that works offline"}


def figure_downloads(figure) -> None:
    """A download menu for a plotly figure: PNG and SVG at print resolution (where kaleido and
    Chromium are installed; else the reason) and interactive HTML. Each file is made on click."""
    count = st.session_state[DOWNLOADS] = st.session_state.get(DOWNLOADS, 0) + 1
    static = export.static_export_available()
    with st.popover("download", icon=":material/download:", type="tertiary"):
        if not static:
            st.caption(f"PNG and SVG need {export.STATIC_EXPORT_NEEDS}.")
        for fmt in ("png", "svg", "html") if static else ("html",):
            st.download_button(fmt.upper(), data=partial(export.figure_bytes, figure, fmt),
                               file_name=f"{figure_name(figure)}.{fmt}", mime=export.MIME[fmt],
                               key=f"download.{count}.{fmt}", on_click="ignore", help=FORMAT_HELP[fmt])


def npz_bytes(arrays: TraceArrays, head, meta: dict, compress: bool = True) -> bytes:
    """The whole trace as an .npz file (layout: export.SCHEMA), for a download button; `head`, the
    model's, recomputes y and z in float32 (the cached arrays keep them at half precision)."""
    buffer = io.BytesIO()
    export.trace_to_npz(segmentor_trace(arrays, head), meta, buffer, compress=compress)
    return buffer.getvalue()


def npz_shapes(arrays: TraceArrays, head) -> dict[str, tuple[int, ...]]:
    """The shape of every array the .npz of this trace holds, by key."""
    return {k: v.shape for k, v in export.trace_arrays(segmentor_trace(arrays, head)).items()}


def notebook_snippet(file_name: str) -> str:
    """Five lines that load a downloaded trace in a notebook, without pickle."""
    return (
        "import json, numpy as np\n"
        f'z = np.load("{file_name}", allow_pickle=False)\n'
        'meta, schema = json.loads(str(z["meta"])), json.loads(str(z["schema"]))\n'
        'w = z["w"][0].T.reshape(-1, *meta["feature_size"])  # (K,h,w): each region\'s relation map\n'
        'print(meta["classes"], {k: z[k].shape for k in z.files})\n'
    )


def base_url(here: str) -> str:
    """The app's address in the user's browser, without this page's path `here` (or a local guess)."""
    url = st.context.url
    if not url:
        return f"http://localhost:{st.get_option('server.port')}"
    return (url.removesuffix("/" + here) if here else url).rstrip("/")


def share_link(page_path: str = "", here: str = "") -> str | None:
    """A link that opens `page_path` ("" for home) in a new session in this state (with the lecture's
    step for the lecture); None while an uploaded image or model is in use. `here`: this page's path."""
    if link_query() is None:
        return None
    params = dict(st.query_params)
    params.pop("step", None)
    if page_path == "lecture" and STEP in st.session_state:
        params["step"] = str(st.session_state[STEP])
    return f"{base_url(here)}/{page_path}?{urlencode(params)}"


def link_query() -> str | None:
    """The current state as a query string, for links that open a page in a new session; None
    when an uploaded image or model is in use, since a new session would not have it."""
    shareable = current().image_key != UPLOAD and not current().model_key.startswith(UPLOAD)
    return urlencode(dict(st.query_params)) if shareable else None
