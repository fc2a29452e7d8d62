"""The model, the image and their trace for this run: the sidebar's model choice, loading, and the
caches.

The model is loaded once per process (and again only when its weights file changes); a trace
is computed once per (model, image bytes) and kept as numpy arrays, so choosing a class or
clicking a pixel never reruns the network.
"""
from __future__ import annotations

import gc
import os
import warnings
from functools import partial
from typing import Callable
from pathlib import Path

import numpy as np
import streamlit as st
from PIL import Image

import ocr_viz
from ocr_viz.model.images import too_small
from ocr_viz.analysis import compare
from ocr_viz.serving.allocator import release_free_memory
from . import compute, gallery
from .session import (
    CONVERTED, CURRENT, DOWNLOADS, IMAGE, LINK_NOTICE, MODEL, SHIPPED, SHIPPED_NAME, SHIPPED_VARIANTS, UPLOAD, UPLOADED_IMAGE,
    UPLOADED_MODEL, DEFAULT_IMAGE, SHA_DIGITS, Current, chosen_class, chosen_pixel, current, digest, file_sha, forget_fragments,
    settle_choices, upload_key, write_url,
)
from ocr_viz.data.class_maps import ground_truth
from ocr_viz.model import arrays
from ocr_viz.model.arrays import TraceArrays
from ocr_viz.model.paths import OFFICIAL_SUFFIXES, converted_models, models_dir, shipped_path


# ---- caches ---------------------------------------------------------------------------------

@st.cache_resource(show_spinner="Loading the model...")
def _shipped_model(name: str, weights_stamp: float | None):
    """weights_stamp (the file's mtime, None while absent) is part of the key, so trained
    weights that land while the app runs are picked up."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ocr_viz.UntrainedWarning)  # meta["trained"] says it, and the app shows it
        model, meta = ocr_viz.load_model(name)
    if meta.get("backbone_from"):  # a head-only checkpoint: hold its backbone once, with the model it came from
        compare.share_backbone(model, shipped_model(Path(meta["backbone_from"]).stem)[1])
    return model, meta


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


def tidy_memory() -> None:
    """What the queue calls once idle for a second, and every BUSY_TIDY_SECONDS while it never empties: collect
    the reference cycles finished runs left (a page's namespace holds the trace it drew; Streamlit's collection
    after every run is off: it cost a click 0.13 s, and 30 students a third of their rounds even with the startup
    heap frozen), then hand the allocator's free pages back to the OS (the next job faults its buffers in again).
    Measured in `bench load --uploads 100`: README's memory section."""
    gc.collect()
    release_free_memory()


# Once `python -m ocr_viz.serve` froze the startup heap, a collection costs ~0.1 ms: tidy every second while busy
# (the soak's free pages 335 -> 244 MB on average, rounds not fewer); in a process that has not (`streamlit run`,
# AppTest), each collection walks ~300,000 objects (0.12-0.25 s): every 5 s.
BUSY_TIDY_SECONDS = 1.0 if gc.get_freeze_count() else 5.0


# Results computed per image go through one queue (ocr_viz/app/compute.py): at most
# compute.default_slots() jobs run at once, however many students wait, and a key being
# computed is joined, not recomputed. Each kind is kept in its own cache, bounded by bytes
# (a 640 x 480 trace of the default holds about 31 MB of arrays, a seven-head comparison about 78 MB).
QUEUE = compute.ComputeQueue(on_idle=tidy_memory, on_busy=tidy_memory, busy_seconds=BUSY_TIDY_SECONDS)
# OCR_VIZ_PREFETCH_COMPARISON=0 turns the idle-time comparison off (the tests do: it would run
# six heads in the background of every AppTest)
PREFETCH_COMPARISON = os.environ.get("OCR_VIZ_PREFETCH_COMPARISON", "1") != "0"
# OCR_VIZ_CACHE_MB sets the caches' total (default 372 MB: 2 traces of 31 MB, 1 comparison of 78 MB, or of 46 MB
# of its own when it reuses the default's trace), split in these proportions. An idle-time comparison is a spare:
# it never evicts what a user asked for, and replaces only a spare whose image no session has opened for 30 s
# (ByteCache), so the prefetches of a class's two images do not evict each other in turn. Traces and comparisons
# are also found while a session or a page still holds them (ByteCache's while_held), so the budget pays only for
# those nobody shows: a class on one image shares one trace, and ten students uploading their own photos hold ten
# traces, not 10 + 7 (README: Many students on one server). Every MB here is RSS at the soak's peaks, when ten
# students' new traces arrive at once.
CACHE_BOUNDS_MB = compute.scaled_bounds({"image": 32, "trace": 64, "comparison": 96, "experiment": 120, "derived": 60},
                                        os.environ.get("OCR_VIZ_CACHE_MB"))
for _kind, _mb in CACHE_BOUNDS_MB.items():
    QUEUE.cache(_kind, _mb * compute.MB, while_held=_kind in ("trace", "comparison"))
WAIT_TEXT = {"trace": "Running the model on the image", "comparison": "Running every shipped head on the image",
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


def derived_now(name: str, compute):
    """`derived` for milliseconds of work (one pixel's numbers, on every click): computed in this
    session's thread instead of waiting in the queue behind other students' traces."""
    return QUEUE.inline("derived", (current().trace_key, name), compute)


# ---- what the pages read --------------------------------------------------------------------

def model_choices() -> dict[str, str]:
    """Sidebar options: the shipped model, every converted checkpoint in the models folder
    (OCR_VIZ_MODELS, default models/ beside app.py), and an upload; value -> label."""
    choices = {SHIPPED: "shipped OCR model, the default (CamVid, 11 classes)"}
    choices |= {f"{SHIPPED}:{name}": label for name, label in SHIPPED_VARIANTS.items() if shipped_path(name).exists()}
    choices |= {CONVERTED + p.name: p.stem for p in converted_models()}
    return choices | {UPLOAD: "upload a checkpoint (.safetensors or an official .pth)"}


def load_model() -> tuple[str, object, dict]:
    """(model key, model, meta): the chosen converted or uploaded checkpoint if it is valid,
    else the shipped model."""
    choice = st.session_state.get(MODEL) or SHIPPED
    if st.session_state.get(LINK_NOTICE):  # until the user chooses a model
        if choice == SHIPPED:
            st.sidebar.warning(st.session_state[LINK_NOTICE], icon=":material/warning:")
        else:
            del st.session_state[LINK_NOTICE]
    if choice.removeprefix(SHIPPED + ":") in SHIPPED_VARIANTS:
        return shipped_model(choice.removeprefix(SHIPPED + ":"))
    if choice.startswith(CONVERTED):
        path = models_dir() / Path(choice[len(CONVERTED):]).name  # a bare name: never a path out of the folder
        try:
            stamp = path.stat().st_mtime
            model, meta = _converted_model(str(path), stamp)
            return f"{CONVERTED}{path.name}@{file_sha(path)[:SHA_DIGITS]}:{stamp}", model, meta
        except (OSError, ocr_viz.CheckpointError) as e:
            st.error(f"The checkpoint {path.name!r} could not be loaded: {e}. Using the shipped model instead.")
    upload = st.session_state.get(UPLOADED_MODEL)
    if choice == UPLOAD and upload is not None:
        data = upload.getvalue()
        try:
            model, meta = _uploaded_model(digest(data), data, upload.name)
            return upload_key(data, upload.name), model, meta
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
                image = _image(digest(data), data)
                small = too_small(image)  # refused: a few pixels upscaled to 640 are a blur, not a photo
                if small:
                    raise ocr_viz.ImageError(small)
                return UPLOAD, upload.name, data, image, None
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
    if getattr(st.session_state.get(CURRENT), "trace_key", trace_key) != trace_key:
        # a new image or model: the old trace is not held while the new one waits its turn in the queue
        # (seconds, with a class uploading), unless a cache keeps it
        del st.session_state[CURRENT]
        forget_fragments()
    arrays = _arrays(trace_key, model, image, meta["arch"]["head"])
    labels = None
    if entry is not None and entry.label_path is not None:  # the gallery's labels are CamVid's
        labels = gallery.read_ground_truth(entry.label_path, arrays.image.shape[1::-1])
    ground, why = ground_truth(labels, meta["classes"])
    truth = ground.labels if ground is not None and ground.map.exact else None
    current = Current(model_key, meta, str(next(model.parameters()).device), image_key, label, trace_key, arrays, truth,
                      model, "No ground truth for this image: " + why + "." if why else "", ground)
    prefetch_comparison(current)
    settle_choices(arrays, current.classes)
    write_url(image_key, model_key, current.classes[chosen_class()], chosen_pixel())
    st.session_state[DOWNLOADS] = 0
    st.session_state[CURRENT] = current
    return current


def comparison_job(image: np.ndarray, model_key: str = "", arrays: TraceArrays | None = None
                   ) -> tuple[str, Callable[[], compare.Comparison]]:
    """The key and the computation of every shipped head (compare.HEADS) on `image`. `arrays`, the trace
    of `image` by the model of `model_key`, is reused for the head that is that model (the default's
    trace: not computed and kept twice)."""
    loaded = {name: shipped_model(name) for name in compare.HEADS}
    key = "|".join(k for k, _, _ in loaded.values()) + "|" + digest(image.tobytes())
    models = {name: (model, meta) for name, (_, model, meta) in loaded.items()}
    traced = {name: arrays for name, (k, _, _) in loaded.items() if arrays is not None and k == model_key}
    return key, lambda: compare.run_all(models, Image.fromarray(image), traced)


def comparison() -> tuple[str, compare.Comparison]:
    """(key, comparison): every shipped head on the current image, computed once per key (image, weights)."""
    key, compute_value = current_comparison_job(current())
    return key, queued("comparison", key, compute_value)


def current_comparison_job(now: Current) -> tuple[str, Callable[[], compare.Comparison]]:
    """comparison_job for the image of `now`, reusing its trace where it is the default model's."""
    return comparison_job(now.arrays.image, now.model_key, now.arrays)


def prefetch_comparison(now: Current) -> None:
    """Start the comparison of the current image while the server is idle, at the lowest priority, so
    that the Compare page's first visit finds it ready (it runs six more heads: seconds of CPU)."""
    if PREFETCH_COMPARISON:
        QUEUE.prefetch("comparison", *current_comparison_job(now))
