"""Downloads: a whole OCR trace as .npz for a notebook, and figures as PNG, SVG or HTML.

An .npz holds one array per SCHEMA key present, plus two JSON strings: "schema" (each
key's shape and meaning) and "meta" (model, classes, palette, sizes). It loads without
pickle:  z = np.load("trace.npz", allow_pickle=False); json.loads(str(z["meta"])).
The backbone's stage outputs are not stored (only their fusion, the head's input).

Plotly figures become PNG/SVG through kaleido (v1), which drives a Chromium-based browser
installed on the machine (Debian: apt-get install chromium); HTML needs neither, and
embeds plotly.js so the file works offline. Matplotlib figures are saved at 300 dpi.
"""
from __future__ import annotations

import dataclasses
import functools
import io
import json
import shutil

import numpy as np
import torch

from ocr_viz.data.classes import CAMVID_CLASSES, CAMVID_PALETTE, IGNORE_INDEX
from ocr_viz.figures.spec import graph_object
from ocr_viz.model.heads.ocr import OCRHeadTrace

SCHEMA = {
    "schema": ("()", "this table as JSON: key -> [shape, meaning]"),
    "meta": ("()", "JSON: model name, classes, palette, ignore_index, image_size [H, W], feature_size [h, w], ..."),
    "images": ("(b,3,H,W) float32", "the input, normalised with the ImageNet mean and std"),
    "features": ("(b,c,h,w) float32", "the head's input: the fused backbone features"),
    "x": ("(b,c,h,w) float32", "pixel representations x_i"),
    "M": ("(b,K,h,w) float32", "soft object regions (auxiliary logits), one map per class"),
    "m_tilde": ("(b,K,n) float32", "Eq. 4 weights: spatial softmax of M; n = h*w, pixel i = row*w + col"),
    "f": ("(b,K,c) float32", "Eq. 4: object region representations f_k"),
    "kappa": ("(b,n,K) float32", "Eq. 5 logits: phi(x_i)^T psi(f_k) / sqrt(key channels)"),
    "w": ("(b,n,K) float32", "Eq. 5: pixel-region relation, each row sums to 1"),
    "y": ("(b,c,h,w) float32", "Eq. 3: object contextual representations y_i"),
    "z": ("(b,c,h,w) float32", "Eq. 6: augmented representations z_i = g([x_i, y_i])"),
    "logits": ("(b,K,h,w) float32", "class logits at the feature size"),
    "probs": ("(b,K,H,W) float32", "class softmax at the input size"),
    "pred": ("(b,H,W) int64", "predicted labels at the input size"),
    "aux_pred": ("(b,H,W) int64", "argmax of the soft object regions M at the input size"),
}
HEAD_KEYS = tuple(f.name for f in dataclasses.fields(OCRHeadTrace))
MIME = {"png": "image/png", "svg": "image/svg+xml", "html": "text/html"}


STATIC_EXPORT_NEEDS = ("kaleido (pip install 'kaleido>=1') and a Chromium-based browser (apt-get install chromium); "
                       "HTML export works without them")


class ExportUnavailable(RuntimeError):
    """A figure format this machine cannot produce; the message says what to install."""


def trace_arrays(trace) -> dict[str, np.ndarray]:
    """The arrays of a Segmentor Trace (input, features, head, outputs) or of an OCRHeadTrace."""
    head = getattr(trace, "head", trace)
    if not isinstance(head, OCRHeadTrace):
        raise TypeError(f"expected an OCR trace, got {type(head).__name__}")
    tensors = {k: getattr(head, k) for k in HEAD_KEYS}
    if head is not trace:
        tensors |= {k: getattr(trace, k) for k in ("images", "features", "probs", "pred", "aux_pred")}
    return {k: v.detach().cpu().numpy() for k, v in tensors.items() if v is not None}


def trace_to_npz(trace, meta: dict, path_or_buffer, compress: bool = True) -> None:
    """Write every array of the trace, the schema and the metadata (see the module docstring).
    numpy adds ".npz" to a file name without it; compress=False is ~40x faster and ~1.5x larger."""
    arrays = trace_arrays(trace)
    images = arrays.get("images")
    info = {
        **meta, "model": meta.get("name"), "classes": list(meta.get("classes", CAMVID_CLASSES)),
        "palette": [list(c) for c in meta.get("palette", CAMVID_PALETTE)], "ignore_index": IGNORE_INDEX,
        "image_size": list(images.shape[-2:]) if images is not None else meta.get("image_size"),
        "feature_size": list(arrays["x"].shape[-2:]),
    }
    schema = {k: SCHEMA[k] for k in ("schema", "meta", *arrays)}
    save = np.savez_compressed if compress else np.savez
    save(path_or_buffer, schema=np.array(json.dumps(schema)), meta=np.array(json.dumps(info, default=str)), **arrays)


def load_npz(path_or_buffer) -> tuple[dict[str, np.ndarray], dict, dict]:
    """(arrays, meta, schema) from a file written by trace_to_npz, without unpickling."""
    with np.load(path_or_buffer, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if k not in ("schema", "meta")}
        return arrays, json.loads(str(z["meta"])), json.loads(str(z["schema"]))


def head_trace(arrays: dict[str, np.ndarray]) -> OCRHeadTrace:
    """An OCRHeadTrace of torch tensors from loaded arrays, to run interventions on."""
    return OCRHeadTrace(**{k: torch.from_numpy(arrays[k]) for k in HEAD_KEYS})


@functools.cache
def static_export_available() -> bool:
    """Whether plotly PNG/SVG export can run here: kaleido installed and a Chromium-based browser found."""
    try:
        import kaleido  # noqa: F401
        from choreographer.browsers.chromium import Chromium
    except ImportError:
        return False
    try:
        return Chromium.find_browser(skip_local=False) is not None
    except Exception:  # an internal of choreographer: fall back to the usual names
        return any(shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome", "chrome"))


def plotly_bytes(fig, fmt: str, scale: float = 3.0) -> bytes:
    """A plotly figure as self-contained HTML, or PNG/SVG via kaleido (scale 3: print resolution)."""
    if fmt == "html":
        return fig.to_html(include_plotlyjs=True, full_html=True).encode()
    if not static_export_available():
        raise ExportUnavailable(f"{fmt.upper()} export of plotly figures needs {STATIC_EXPORT_NEEDS}")
    return fig.to_image(format=fmt, scale=scale)


def matplotlib_bytes(fig, fmt: str, dpi: int = 300) -> bytes:
    """A matplotlib figure as PNG or SVG at print quality."""
    if fmt == "html":
        raise ValueError("matplotlib figures export as png or svg, not html")
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def figure_bytes(fig, fmt: str = "png") -> bytes:
    """A plotly figure as PNG, SVG or HTML, or a matplotlib figure as PNG or SVG (MIME[fmt] is its type)."""
    fmt = fmt.lower()
    if fmt not in MIME:
        raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(MIME)}")
    if hasattr(fig, "savefig"):
        return matplotlib_bytes(fig, fmt)
    return plotly_bytes(graph_object(fig), fmt)  # a Spec is validated only here
