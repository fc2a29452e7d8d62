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

import base64
import functools
import hashlib
import io
import re
import warnings
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

import ocr_viz
from ocr_viz.analysis import compare
from . import compute, export, gallery
from ocr_viz.model import arrays
from ocr_viz.model.arrays import TraceArrays
from ocr_viz.figures.maps import CLICK_LAYER
from ocr_viz.figures.palettes import CONTRAST, display_palette
from ocr_viz.figures.presentation import large_type
from ocr_viz.serving.memory import return_freed_memory_to_the_os
from ocr_viz.model.paths import OFFICIAL_SUFFIXES, converted_models, models_dir, shipped_path

IMAGE, MODEL, CLASS, ROW, COL = "state.image", "state.model", "state.class", "state.row", "state.col"
SOURCE = "state.source"  # where the image comes from: "sample", "camvid" or "upload"
CLASS_NAME = "state.class_name"  # a class named by a link, resolved once the model's classes are known
CURRENT, RESTORED = "state.current", "state.restored"
LEFT_LEGACY_MODE = "state.left_legacy_mode"
UPLOADED_IMAGE, UPLOADED_MODEL = "upload.image", "upload.model"  # file-uploader widget keys
UPLOAD, SHIPPED = "upload", "shipped"
CONVERTED = "models:"  # + a file name in the models folder
SHIPPED_NAME = "ocr"
# Other shipped OCR models, offered beside the default (the comparison heads share the default's backbone)
SHIPPED_VARIANTS = {"ocr_paper_widths": "shipped OCR at the paper's widths 512/256 (CamVid; test mIoU 60.1)"}
DEFAULT_IMAGE, DEFAULT_CLASS = gallery.default_image(), "Road"  # a CamVid frame with ground truth
FIGURE_FORMAT = "figure_format"
PALETTE = "state.palette"  # class colours on label maps: palettes.CONTRAST (default) or palettes.DATASET
LARGE_TYPE = "state.large_type"  # projector mode: large text on every page, figures included
NO_WEBGL = "state.no_webgl"  # draw click layers as SVG, for browsers without WebGL (slower clicks)
STEP = "state.step"  # the lecture's step, 1-based; in the URL (?step=) once the lecture has been shown
DOWNLOADS = "state.downloads"  # figures offered for download in this run, for unique widget keys


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
    model: object = field(default=None, repr=False, compare=False)  # the Segmentor, for head-only experiments

    @property
    def classes(self) -> list[str]:
        return list(self.meta["classes"])

    @property
    def palette(self) -> list[tuple[int, int, int]]:
        """The class colours to draw with: high contrast unless the sidebar chose the dataset's."""
        return display_palette(self.meta["palette"], st.session_state.get(PALETTE, CONTRAST))


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
def _uploaded_model(key: str, _data: bytes, name: str = ""):
    """A safetensors checkpoint, or a released .pth / .pt / .pth.tar converted in memory
    (read with weights_only=True: nothing in the file runs)."""
    if name.lower().endswith(OFFICIAL_SUFFIXES):
        from ocr_viz.model import convert
        return convert.to_model(convert.convert(_data, file_name=name), ocr_viz.default_device())
    return ocr_viz.load_model(_data)


@st.cache_resource(max_entries=2, show_spinner="Loading the converted checkpoint...")
def _converted_model(path: str, stamp: float):
    """A checkpoint in the models folder (OCR_VIZ_MODELS); stamp (mtime) reloads a rewritten file."""
    return ocr_viz.load_model(Path(path))


# Results computed per image go through one queue (ocr_viz/app/compute.py): at most
# compute.default_slots() jobs run at once, however many students wait, and a key being
# computed is joined, not recomputed. Each kind is kept in its own cache, bounded by bytes
# (a 640 x 480 trace holds about 29 MB of arrays, a five-head comparison about 105 MB).
RELEASES_MEMORY = return_freed_memory_to_the_os()  # this server process, once
QUEUE = compute.ComputeQueue()
CACHE_BOUNDS_MB = {"image": 64, "trace": 384, "comparison": 256, "experiment": 192, "derived": 192}
for _kind, _mb in CACHE_BOUNDS_MB.items():
    QUEUE.cache(_kind, _mb * compute.MB)
WAIT_TEXT = {"trace": "Running the model on the image", "comparison": "Running the five heads on the image",
             "experiment": "Rerunning the head", "derived": "Summarising the trace"}


def queued(kind: str, key, compute_value):
    """QUEUE.run with the waiting user's position and progress shown in place while they wait."""
    shown = []

    def on_wait(wait: compute.Wait) -> None:
        if not shown:
            shown.append(st.empty())
        where = "running now" if wait.position == 0 else \
            f"{wait.position} job{'s' if wait.position > 1 else ''} ahead of yours on this server"
        shown[0].progress(min(wait.progress, 0.99), text=f"{WAIT_TEXT[kind]}: {where}, about {wait.ahead_seconds:.0f} s left")

    try:
        return QUEUE.run(kind, key, compute_value, on_wait)
    finally:
        if shown:
            shown[0].empty()


def _image(key: str, _data: bytes):
    """The decoded image, kept by its digest (decoding is not torch work: not queued)."""
    cache = QUEUE.caches()["image"]
    image = cache.get(key)
    if image is None:
        image = ocr_viz.open_image(_data)
        cache.put(key, image)
    return image


def _arrays(trace_key: str, _model, _image, head: str) -> TraceArrays:
    return queued("trace", trace_key, partial(arrays.run, _model, _image, head))


def _comparison(key: str, _models: dict, _image: np.ndarray) -> compare.Comparison:
    return queued("comparison", key, lambda: compare.run_all(_models, Image.fromarray(_image)))


def _derived(trace_key: str, name: str, _compute):
    return queued("derived", (trace_key, name), _compute)


def _experiment(trace_key: str, what, _compute):
    return queued("experiment", (trace_key, what), _compute)


def experiment(what, compute):
    """A what-if result on the current trace (e.g. an intervention), computed once per trace and
    `what` (hashable, naming the experiment and its settings); fewer kept than `derived`, as they are larger."""
    return _experiment(current().trace_key, what, compute)


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
    if params.get("step", "").isdigit():
        st.session_state[STEP] = int(params["step"])
    st.session_state[RESTORED] = True


def write_url(image_key: str, model_key: str, class_name: str, pixel: tuple[int, int]) -> None:
    wanted = {"class": class_name, "pixel": f"{pixel[0]},{pixel[1]}"}
    if image_key != UPLOAD:
        wanted["image"] = image_key
    if not model_key.startswith(UPLOAD):
        wanted["model"] = SHIPPED_NAME
    if STEP in st.session_state:
        wanted["step"] = str(st.session_state[STEP])
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

def model_choices() -> dict[str, str]:
    """Sidebar options: the shipped model, every converted checkpoint in the models folder
    (OCR_VIZ_MODELS, default models/ beside app.py), and an upload; value -> label."""
    choices = {SHIPPED: "shipped OCR model (CamVid, 11 classes)"}
    choices |= {f"{SHIPPED}:{name}": label for name, label in SHIPPED_VARIANTS.items() if shipped_path(name).exists()}
    choices |= {CONVERTED + p.name: p.stem for p in converted_models()}
    return choices | {UPLOAD: "upload a checkpoint (.safetensors or an official .pth)"}


def load_model() -> tuple[str, object, dict]:
    """(model key, model, meta): the chosen converted or uploaded checkpoint if it is valid,
    else the shipped model."""
    choice = st.session_state.get(MODEL) or SHIPPED
    if choice.removeprefix(SHIPPED + ":") in SHIPPED_VARIANTS:
        return shipped_model(choice.removeprefix(SHIPPED + ":"))
    if choice.startswith(CONVERTED):
        path = models_dir() / Path(choice[len(CONVERTED):]).name  # a bare name: never a path out of the folder
        try:
            stamp = path.stat().st_mtime
            model, meta = _converted_model(str(path), stamp)
            return f"{choice}:{stamp}", model, meta
        except (OSError, ocr_viz.CheckpointError) as e:
            st.error(f"The checkpoint {path.name!r} could not be loaded: {e}. Using the shipped model instead.")
    upload = st.session_state.get(UPLOADED_MODEL)
    if choice == UPLOAD and upload is not None:
        data = upload.getvalue()
        try:
            model, meta = _uploaded_model(digest(data), data, upload.name)
            return f"{UPLOAD}:{digest(data)}", model, meta
        except (ocr_viz.CheckpointError, ocr_viz.ConvertError) as e:
            st.error(f"The checkpoint {upload.name!r} was refused: {e}. Using the shipped model instead.")
    return shipped_model(SHIPPED_NAME)


def shipped_model(name: str) -> tuple[str, object, dict]:
    """(model key, model, meta) of a shipped model by name, reloaded when its weights file changes."""
    path = shipped_path(name)
    stamp = path.stat().st_mtime if path.exists() else None
    model, meta = _shipped_model(name, stamp)
    return f"{SHIPPED}:{name}:{stamp}", model, meta


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
    current = Current(model_key, meta, str(next(model.parameters()).device), image_key, label, trace_key, arrays, truth,
                      model)
    settle_choices(arrays, current.classes)
    write_url(image_key, model_key, current.classes[chosen_class()], chosen_pixel())
    st.session_state[DOWNLOADS] = 0
    st.session_state[CURRENT] = current
    return current


def current() -> Current:
    if CURRENT not in st.session_state:
        leave_legacy_pages_mode()
    return st.session_state[CURRENT]


def leave_legacy_pages_mode() -> None:
    """A page ran without app.py. Streamlit does that in its legacy mode for a `pages/` folder,
    which a fresh server keeps until an entry script calls st.navigation: a deep link as the first
    request (say /relation) would never run app.py. Leave that mode, as st.navigation does, and
    rerun, so app.py draws the sidebar and sets the state."""
    from streamlit.runtime.pages_manager import PagesManager

    PagesManager.uses_pages_directory = False
    # Every session that started in that mode reruns, not only the first: students opening a deep
    # link at once on a fresh server all start in it. Once per session, so a page can never loop.
    if not st.session_state.get(LEFT_LEGACY_MODE):
        st.session_state[LEFT_LEGACY_MODE] = True
        st.rerun()


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


def chart(figure, clickable_key: str | None = None, downloads: bool = True) -> None:
    """Show a figure, with a download menu under it; with `clickable_key`, a click on it chooses
    the pixel (feature-map x, y). Embedded photos travel as URLs (see `served`). In projector mode
    (LARGE_TYPE) the figure's text is enlarged too."""
    if st.session_state.get(LARGE_TYPE):
        figure = large_type(figure)
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
        return figure
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


def _layout_image(trace: dict, source: str, layout: dict, media) -> dict:
    """An image trace's photo as a layout image at the same place (pixel j of the image covers
    x0 + (j -+ 1/2) dx), its axes given the ranges and aspect the trace would have given them."""
    header, encoded = source.split(",", 1)
    data = base64.b64decode(encoded)
    width, height = Image.open(io.BytesIO(data)).size
    x0, y0, dx, dy = (trace.get(k, d) for k, d in (("x0", 0), ("y0", 0), ("dx", 1), ("dy", 1)))
    left, top = x0 - dx / 2, y0 - dy / 2
    xref, yref = trace.get("xaxis", "x"), trace.get("yaxis", "y")
    xaxis = layout.setdefault("xaxis" + xref[1:], {})
    yaxis = layout.setdefault("yaxis" + yref[1:], {})
    if "range" not in xaxis:
        xaxis.update(range=[left, left + width * dx], showgrid=False, zeroline=False)
    if "range" not in yaxis:
        yaxis.update(range=[top + height * dy, top], showgrid=False, zeroline=False, scaleanchor=xref)
    url = media.add(data, header[5:].split(";")[0], f"ocr_viz.image.{digest(data)}")
    return dict(source=url, xref=xref, yref=yref, x=left, y=top, sizex=width * dx, sizey=height * dy,
                xanchor="left", yanchor="top", sizing="stretch", layer="below")


def fragment(draw):
    """`draw` as a Streamlit fragment: a click or a widget inside it reruns `draw` alone, not the
    page, so only its figures are rebuilt and resent. Put everything that follows the pixel or the
    class in it; the URL still follows them."""
    @functools.wraps(draw)
    def run(*args, **kwargs):
        result = draw(*args, **kwargs)
        if CURRENT in st.session_state and CLASS in st.session_state:
            now = current()
            write_url(now.image_key, now.model_key, now.classes[chosen_class()], chosen_pixel())
        return result

    return st.fragment(run)


def figure_name(figure) -> str:
    """A file name stem from the figure's title: its first line, lower case, words joined by '-'."""
    title = str(figure.layout.title.text or "").split("<br>")[0]
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


def comparison() -> compare.Comparison:
    """Every shipped head (compare.HEADS) on the current image, computed once per (image, weights)."""
    loaded = {name: shipped_model(name) for name in compare.HEADS}
    image = current().arrays.image
    key = "|".join(k for k, _, _ in loaded.values()) + "|" + digest(image.tobytes())
    return _comparison(key, {name: (model, meta) for name, (_, model, meta) in loaded.items()}, image)


def lecture_step(count: int) -> int:
    """The lecture's step (1..count), kept in the session and mirrored in the URL like the class and
    the pixel, so a copied link opens the same step."""
    step = min(max(int(st.session_state.get(STEP, 1)), 1), count)
    st.session_state[STEP] = step
    if st.query_params.get("step") != str(step):  # first visit, or a link's step out of range
        st.query_params["step"] = str(step)
    return step


def move_step(by: int) -> None:
    """Callback for the lecture's previous / next buttons (lecture_step clips the result)."""
    st.session_state[STEP] = st.session_state.get(STEP, 1) + by


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
