"""Session state and the URL: the one module that knows Streamlit's session state keys and the URL's
query parameters.

The image, the model, the class and the pixel live in st.session_state under the STATE keys,
which survive page changes (widget keys do not: Streamlit drops a widget's value when a page
does not draw it). Widgets are bound to them with `bound`. The query parameters mirror them:
read when a session starts, written on every run, so a copied link reproduces the view (for
sample and dataset images; an upload cannot travel in a link).
"""
from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from . import gallery
from ocr_viz.model.paths import models_dir
from ocr_viz.data.class_maps import GroundTruth
from ocr_viz.figures.palettes import CONTRAST, display_palette
from ocr_viz.model.arrays import TraceArrays

IMAGE, MODEL, CLASS, ROW, COL = "state.image", "state.model", "state.class", "state.row", "state.col"
SOURCE = "state.source"  # where the image comes from: "sample", "camvid" or "upload"
CLASS_NAME = "state.class_name"  # a class named by a link, resolved once the model's classes are known
LINK_NOTICE = "state.link_notice"  # why the link's model is not the one shown, until another is chosen
CURRENT, RESTORED = "state.current", "state.restored"
LEFT_LEGACY_MODE = "state.left_legacy_mode"
UPLOADED_IMAGE, UPLOADED_MODEL = "upload.image", "upload.model"  # file-uploader widget keys
UPLOAD, SHIPPED = "upload", "shipped"
CONVERTED = "models:"  # + a file name in the models folder
SHIPPED_NAME = "ocr"
# Other shipped OCR models, offered beside the default (the comparison heads share the default's backbone)
SHIPPED_VARIANTS = {"ocr_paper_widths": "shipped OCR before its two 480 px fine-tunes (CamVid; the default's grandparent)"}
DEFAULT_IMAGE, DEFAULT_CLASS = gallery.default_image(), "Road"  # a CamVid frame with ground truth
FIGURE_FORMAT = "figure_format"
PALETTE = "state.palette"  # class colours on label maps: palettes.CONTRAST (default) or palettes.DATASET
LARGE_TYPE = "state.large_type"  # projector mode: large text on every page, figures included
NO_WEBGL = "state.no_webgl"  # draw click layers as SVG, for browsers without WebGL (slower clicks)
PIXEL_CHOSEN = "state.pixel_chosen"  # the pixel came from a link or a click, not a default: the lecture keeps it
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
    truth: np.ndarray | None  # (H,W) ground truth as the model's class indices: only when both name the same classes
    model: object = field(default=None, repr=False, compare=False)  # the Segmentor, for head-only experiments
    truth_note: str = ""  # why an image with ground truth shows none for this model (class_maps.no_map_reason)
    # the image's labels read for this model (class_maps.ground_truth): the model's own classes, or a
    # table's mapped classes (then `truth` is None: label k is not the model's class k)
    ground: GroundTruth | None = field(default=None, repr=False, compare=False)

    @property
    def classes(self) -> list[str]:
        return list(self.meta["classes"])

    @property
    def palette(self) -> list[tuple[int, int, int]]:
        """The class colours to draw with: high contrast unless the sidebar chose the dataset's."""
        return display_palette(self.meta["palette"], st.session_state.get(PALETTE, CONTRAST))

    @property
    def model_labels(self) -> np.ndarray | None:
        """The ground truth as the model's class indices (-1 where a class is not one model class), or None."""
        return None if self.ground is None else self.ground.model_labels

    @property
    def ground_palette(self) -> list[tuple[int, int, int]]:
        """The colours of ground.classes: the model's when they are its classes, else the labels' dataset's."""
        if self.ground is None or self.ground.map.exact:
            return self.palette
        return display_palette([list(c) for c in self.ground.map.palette], st.session_state.get(PALETTE, CONTRAST))


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


# ---- state and the URL ----------------------------------------------------------------------

def restore_from_url(model_choices: Callable[[], dict[str, str]]) -> None:
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
    st.session_state[MODEL] = model_from_link(params.get("model"), model_choices)
    st.session_state[CLASS_NAME] = params.get("class", DEFAULT_CLASS)
    row, _, col = params.get("pixel", "").partition(",")
    if row.isdigit() and col.isdigit():
        st.session_state[ROW], st.session_state[COL] = int(row), int(col)
        st.session_state[PIXEL_CHOSEN] = True
    if params.get("step", "").isdigit():
        st.session_state[STEP] = int(params["step"])
    st.session_state[RESTORED] = True


SHA_DIGITS = 12  # of a file's SHA-256 in a link and the sidebar: enough to tell two files apart


@functools.lru_cache(maxsize=32)
def _file_sha(path: str, size: int, mtime: float) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_sha(path) -> str:
    """The SHA-256 (hex) of a file, hashed once per size and modification time."""
    stat = Path(path).stat()
    return _file_sha(str(path), stat.st_size, stat.st_mtime)


def upload_key(data: bytes, name: str) -> str:
    """The model key of an uploaded checkpoint: its digest and its file name (upload:DIGEST:NAME)."""
    return f"{UPLOAD}:{digest(data)}:{name}"


def link_model(model_key: str) -> str | None:
    """The link's name of a loaded model (Current.model_key): a shipped model's name ("ocr",
    "ocr_paper_widths"), "models:FILE@SHA" for a converted checkpoint (its file's short SHA-256),
    "upload:FILE@SHA" for an upload (which cannot travel: the link's opener is told so)."""
    kind, _, rest = model_key.partition(":")
    if kind == SHIPPED:
        return rest.partition(":")[0]  # shipped:NAME:stamp
    if model_key.startswith(CONVERTED):
        return model_key.rpartition(":")[0]  # models:FILE@SHA:stamp
    if kind == UPLOAD:
        data_digest, _, name = rest.partition(":")  # upload:DIGEST:NAME
        return f"{UPLOAD}:{name}@{data_digest[:SHA_DIGITS]}"
    return None


def choice_link_name(choice: str) -> str | None:
    """The link's name of a sidebar model choice (as link_model names the model it loads)."""
    if choice == SHIPPED:
        return SHIPPED_NAME
    if choice.startswith(SHIPPED + ":"):
        return choice.removeprefix(SHIPPED + ":")
    return choice if choice.startswith(CONVERTED) else None


def model_from_link(name: str | None, model_choices: Callable[[], dict[str, str]]) -> str:
    """The sidebar's model choice a link names (link_model's inverse over the server's
    `model_choices()`). A converted checkpoint is restored only when this server's models folder has a
    file of that name and SHA-256; otherwise, and for an uploaded one, the default, with a notice
    that says what could not be restored: never silently another model."""
    st.session_state.pop(LINK_NOTICE, None)
    if name is None or name == SHIPPED_NAME:
        return SHIPPED
    if name.startswith(UPLOAD + ":"):
        file, _, sha = name[len(UPLOAD) + 1:].rpartition("@")
        return _not_restored(f"The link was made with an uploaded checkpoint, {file!r} (SHA-256 {sha}...), which a "
                             "link cannot carry; showing the default shipped model instead. Upload the file again "
                             "(sidebar: Model, upload a checkpoint) to see that view.")
    if name.startswith(CONVERTED):
        file, at, sha = name[len(CONVERTED):].rpartition("@")
        file = file if at else sha
        sha = sha if at else ""
        choice = CONVERTED + file
        if choice not in model_choices():
            return _not_restored(f"The link's model {file!r} (SHA-256 {sha or 'not given'}...) is not in this "
                                 "server's models folder; showing the default shipped model instead.")
        here = file_sha(models_dir() / Path(file).name)[:SHA_DIGITS]
        if not sha:
            st.toast(f"The link names {file!r} without its SHA-256, so the app cannot check that this server's file "
                     f"(SHA-256 {here}...) is the one it was made with.", icon=":material/warning:")
        elif here != sha.lower():
            return _not_restored(f"This server's {file!r} is another file than the link's (SHA-256 {here}..., the "
                                 f"link's {sha}...); showing the default shipped model instead of a different model "
                                 "under the same name.")
        return choice
    choice = next((c for c in model_choices() if choice_link_name(c) == name), None)
    if choice is None:
        return _not_restored(f"The link's model {name!r} is not available on this server; showing the default "
                             "shipped model instead.")
    return choice


def _not_restored(notice: str) -> str:
    """The default model, with `notice` shown in the sidebar until the user chooses a model."""
    st.session_state[LINK_NOTICE] = notice
    st.toast(notice, icon=":material/warning:")
    return SHIPPED


def write_url(image_key: str, model_key: str, class_name: str, pixel: tuple[int, int]) -> None:
    wanted = {"class": class_name, "pixel": f"{pixel[0]},{pixel[1]}"}
    if image_key != UPLOAD:
        wanted["image"] = image_key
    if link_model(model_key) is not None:
        wanted["model"] = link_model(model_key)
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


def forget_fragments() -> None:
    """Drop the previous run's fragments now. Streamlit drops them at the end of this run; until then each
    holds its page's namespace, and with it the trace the page drew (41 MB), while this run may wait
    seconds in the queue for a new one. This run registers its own fragments as its page draws them."""
    ctx = get_script_run_ctx()
    if ctx is not None:
        ctx.fragment_storage.clear()


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
