"""The app's state and caches: the one module that knows Streamlit's session state and the
URL's query parameters.

State: the image, the model, the class and the pixel live in st.session_state under the
STATE keys, which survive page changes (widget keys do not: Streamlit drops a widget's value
when a page does not draw it). Widgets are bound to them with `bound`. The query parameters
mirror them: read when a session starts, written on every run, so a copied link reproduces
the view (for sample and dataset images; an upload cannot travel in a link).

Caches: the model is loaded once per process (and again only when its weights file
changes); a trace is computed once per (model, image bytes) and kept as numpy arrays, so
choosing a class or clicking a pixel never reruns the network.
"""
from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from functools import partial
from urllib.parse import urlencode

import numpy as np
import streamlit as st

import ocr_viz
from ocr_viz import gallery, uploads, views
from ocr_viz.api import shipped_path
from ocr_viz.views import TraceArrays

IMAGE, MODEL, CLASS, ROW, COL = "state.image", "state.model", "state.class", "state.row", "state.col"
SOURCE = "state.source"  # where the image comes from: "sample", "camvid" or "upload"
CLASS_NAME = "state.class_name"  # a class named by a link, resolved once the model's classes are known
CURRENT, RESTORED = "state.current", "state.restored"
UPLOADED_IMAGE, UPLOADED_MODEL = "upload.image", "upload.model"  # file-uploader widget keys
UPLOAD, SHIPPED = "upload", "shipped"
SHIPPED_NAME = "ocr"
DEFAULT_IMAGE, DEFAULT_CLASS = "sample:leuvenA.jpg", "Road"
FIGURE_FORMAT = "figure_format"


@dataclass(frozen=True)
class Current:
    """What every page draws from: the model, the image and its trace as arrays."""

    model_key: str
    meta: dict
    device: str
    image_key: str       # a gallery key, or "upload"
    image_label: str
    trace_key: str       # (model, image) identity: the cache key of `arrays`
    arrays: TraceArrays
    truth: np.ndarray | None  # (H,W) ground truth at the model's input size, for dataset images

    @property
    def classes(self) -> list[str]:
        return list(self.meta["classes"])

    @property
    def palette(self) -> list[tuple[int, int, int]]:
        return [tuple(c) for c in self.meta["palette"]]


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


# ---- caches ---------------------------------------------------------------------------------

@st.cache_resource(show_spinner="Loading the model...")
def _shipped_model(name: str, weights_stamp: float | None):
    """weights_stamp (the file's mtime, None while absent) is part of the key, so trained
    weights that land while the app runs are picked up."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ocr_viz.UntrainedWarning)  # meta["trained"] says it, and the app shows it
        return ocr_viz.load_model(name)


@st.cache_resource(max_entries=2, show_spinner="Loading the uploaded checkpoint...")
def _uploaded_model(key: str, _data: bytes):
    return ocr_viz.load_model(_data)


@st.cache_resource(max_entries=4)
def _image(key: str, _data: bytes):
    return ocr_viz.open_image(_data)


@st.cache_resource(max_entries=6, show_spinner="Running the model on the image...")
def _arrays(trace_key: str, _model, _image, head: str) -> TraceArrays:
    return views.run(_model, _image, head)


@st.cache_resource(max_entries=64)
def _derived(trace_key: str, name: str, _compute):
    return _compute()


def derived(name: str, compute):
    """A summary of the current trace (e.g. a PCA), computed once per trace and name."""
    return _derived(current().trace_key, name, compute)


# ---- state and the URL ----------------------------------------------------------------------

def restore_from_url() -> None:
    """Once per session: the state named by the query parameters, or the defaults."""
    if st.session_state.get(RESTORED):
        return
    params = st.query_params
    key = params.get("image", DEFAULT_IMAGE)
    if gallery.find(key) is None:
        if "image" in params:
            st.toast(f"The link's image {key!r} is not available here; showing the default sample.")
        key = DEFAULT_IMAGE
    st.session_state[IMAGE], st.session_state[SOURCE] = key, key.partition(":")[0]
    st.session_state[MODEL] = SHIPPED
    st.session_state[CLASS_NAME] = params.get("class", DEFAULT_CLASS)
    row, _, col = params.get("pixel", "").partition(",")
    if row.isdigit() and col.isdigit():
        st.session_state[ROW], st.session_state[COL] = int(row), int(col)
    st.session_state[RESTORED] = True


def write_url(image_key: str, model_key: str, class_name: str, pixel: tuple[int, int]) -> None:
    wanted = {"class": class_name, "pixel": f"{pixel[0]},{pixel[1]}"}
    if image_key != UPLOAD:
        wanted["image"] = image_key
    if not model_key.startswith(UPLOAD):
        wanted["model"] = SHIPPED_NAME
    if dict(st.query_params) != wanted:
        st.query_params.from_dict(wanted)


def settle_choices(arrays: TraceArrays, classes: list[str]) -> None:
    """Clip the class and pixel to this model and image (a new image may have another grid)."""
    if CLASS_NAME in st.session_state:  # named by the link when the session started
        name = st.session_state.pop(CLASS_NAME)
        st.session_state[CLASS] = classes.index(name) if name in classes else 0
    st.session_state[CLASS] = min(max(int(st.session_state.get(CLASS, 0)), 0), len(classes) - 1)
    h, w = arrays.grid
    st.session_state[ROW] = min(max(int(st.session_state.get(ROW, h // 2)), 0), h - 1)
    st.session_state[COL] = min(max(int(st.session_state.get(COL, w // 2)), 0), w - 1)


def bound(widget, state_key: str, label: str, **kwargs):
    """Draw `widget` showing st.session_state[state_key]; a change by the user is stored there."""
    widget_key = "widget." + state_key
    st.session_state[widget_key] = st.session_state[state_key]
    return widget(label, key=widget_key, on_change=_store, args=(widget_key, state_key), **kwargs)


def _store(widget_key: str, state_key: str) -> None:
    st.session_state[state_key] = st.session_state[widget_key]


def choose_image(key: str) -> None:
    """Callback for gallery buttons."""
    st.session_state[IMAGE], st.session_state[SOURCE] = key, key.partition(":")[0]


# ---- what the pages read --------------------------------------------------------------------

def load_model() -> tuple[str, object, dict]:
    """(model key, model, meta): the uploaded checkpoint if one is chosen and valid, else the shipped model."""
    upload = st.session_state.get(UPLOADED_MODEL)
    if st.session_state.get(MODEL) == UPLOAD and upload is not None:
        data = upload.getvalue()
        try:
            uploads.check_checkpoint(data)
            model, meta = _uploaded_model(digest(data), data)
            return f"{UPLOAD}:{digest(data)}", model, meta
        except ocr_viz.CheckpointError as e:
            st.error(f"The checkpoint {upload.name!r} was refused: {e}. Using the shipped model instead.")
    path = shipped_path(SHIPPED_NAME)
    stamp = path.stat().st_mtime if path.exists() else None
    model, meta = _shipped_model(SHIPPED_NAME, stamp)
    return f"{SHIPPED}:{SHIPPED_NAME}:{stamp}", model, meta


def load_image() -> tuple[str, str, bytes, object, object]:
    """(image key, label, its bytes, RGB image, gallery entry or None); a bad upload shows an
    error and falls back to the default sample, so the app keeps working."""
    if st.session_state.get(IMAGE) == UPLOAD:
        upload = st.session_state.get(UPLOADED_IMAGE)
        if upload is None:
            st.info("Choose an image file in the sidebar; meanwhile the default sample is shown.")
        else:
            data = upload.getvalue()
            try:
                return UPLOAD, upload.name, data, _image(digest(data), data), None
            except ocr_viz.ImageError as e:
                st.error(f"Could not use {upload.name!r}: {e}. Showing the default sample instead.")
    entry = gallery.find(st.session_state.get(IMAGE, DEFAULT_IMAGE)) or gallery.find(DEFAULT_IMAGE)
    data = entry.path.read_bytes()
    return entry.key, entry.label, data, _image(digest(data), data), entry


def load_current() -> Current:
    """Resolve the model, image and trace for this run, settle the choices, mirror them in the URL."""
    model_key, model, meta = load_model()
    image_key, label, data, image, entry = load_image()
    trace_key = f"{model_key}|{digest(data)}"
    arrays = _arrays(trace_key, model, image, meta["arch"]["head"])
    truth = None
    if entry is not None and entry.label_path is not None:
        truth = gallery.read_ground_truth(entry.label_path, arrays.image.shape[1::-1])
    current = Current(model_key, meta, str(next(model.parameters()).device), image_key, label, trace_key, arrays, truth)
    settle_choices(arrays, current.classes)
    write_url(image_key, model_key, current.classes[chosen_class()], chosen_pixel())
    st.session_state[CURRENT] = current
    return current


def current() -> Current:
    return st.session_state[CURRENT]


def chosen_class() -> int:
    return st.session_state[CLASS]


def chosen_pixel() -> tuple[int, int]:
    """(row, column) in the feature map."""
    return st.session_state[ROW], st.session_state[COL]


def class_picker(label: str = "class k") -> int:
    classes = current().classes
    return bound(st.selectbox, CLASS, label, options=range(len(classes)), format_func=classes.__getitem__)


def pixel_picker() -> tuple[int, int]:
    """Row and column inputs for the chosen pixel (clicking a clickable chart sets them too)."""
    h, w = current().arrays.grid
    left, right = st.columns(2)
    with left:
        bound(st.number_input, ROW, f"pixel row (0-{h - 1})", min_value=0, max_value=h - 1, step=1)
    with right:
        bound(st.number_input, COL, f"pixel column (0-{w - 1})", min_value=0, max_value=w - 1, step=1)
    return chosen_pixel()


def _pixel_clicked(chart_key: str) -> None:
    event = st.session_state.get(chart_key) or {}
    points = (event.get("selection") or {}).get("points") or []
    if points:
        st.session_state[ROW], st.session_state[COL] = int(round(points[0]["y"])), int(round(points[0]["x"]))


def figure_config() -> dict:
    """Plotly's download button saves PNG or SVG (for papers), as chosen in the sidebar."""
    return {"displaylogo": False, "toImageButtonOptions": {"format": st.session_state.get(FIGURE_FORMAT, "png"), "scale": 2}}


def chart(figure, clickable_key: str | None = None) -> None:
    """Show a figure; with `clickable_key`, a click on it chooses the pixel (feature-map x, y)."""
    if clickable_key is None:
        st.plotly_chart(figure, config=figure_config())
    else:
        st.plotly_chart(figure, key=clickable_key, on_select=partial(_pixel_clicked, clickable_key),
                        selection_mode="points", config=figure_config())


def link_query() -> str | None:
    """The current state as a query string, for links that open a page in a new session; None
    when an uploaded image or model is in use, since a new session would not have it."""
    shareable = current().image_key != UPLOAD and not current().model_key.startswith(UPLOAD)
    return urlencode(dict(st.query_params)) if shareable else None
