"""Torch traces rebuilt from the cached display arrays (views.TraceArrays), so head-only
experiments and downloads never rerun the network: the inverse of views.trace_arrays for
everything from the head's input on (the backbone's stage outputs are not kept).

The values are the recorded ones, bit for bit: rerunning a head stage on them (e.g.
interventions.with_temperature(head, trace, 1.0)) reproduces the cached arrays.
"""
from __future__ import annotations

import io

import numpy as np
import torch
from einops import rearrange
from PIL import Image

from . import export
from .views import TraceArrays
from ocr_viz.data.transforms import normalize
from ocr_viz.model.heads.ocr import OCRHeadTrace
from ocr_viz.model.images import to_tensor
from ocr_viz.model.segmentor import Trace, upsample


def batch(array: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """A (1, ...) tensor holding a copy of a cached (read-only) array."""
    return torch.from_numpy(np.array(array))[None].to(device)


def head_trace(arrays: TraceArrays, device: str | torch.device = "cpu") -> OCRHeadTrace:
    """The OCR head's trace in the head's own layout: m~ (b,K,n), kappa and w (b,n,K)."""
    if not arrays.is_ocr:
        raise TypeError(f"the trace is of a {arrays.head!r} head; head experiments need the OCR head")
    per_region = lambda a: rearrange(batch(a, device), "b k h w -> b k (h w)")  # noqa: E731
    # contiguous, so that a replayed head multiplies the same memory layout as the traced one
    per_pixel = lambda a: rearrange(batch(a, device), "b k h w -> b (h w) k").contiguous()  # noqa: E731
    return OCRHeadTrace(
        x=batch(arrays.x, device), M=batch(arrays.M, device), m_tilde=per_region(arrays.m_tilde),
        f=batch(arrays.f, device), kappa=per_pixel(arrays.kappa), w=per_pixel(arrays.w),
        y=batch(arrays.y, device), z=batch(arrays.z, device), logits=batch(arrays.logits, device),
    )


def input_tensor(arrays: TraceArrays) -> torch.Tensor:
    """(1,3,H,W) the normalised input, as preprocess made it from the image the model saw."""
    return normalize(to_tensor(Image.fromarray(np.asarray(arrays.image))))[None]


def segmentor_trace(arrays: TraceArrays) -> Trace:
    """A Segmentor Trace of the cached arrays, without the backbone's stage outputs (on the CPU)."""
    logits = batch(arrays.logits)
    return Trace(
        images=input_tensor(arrays), backbone=None, features=batch(arrays.features), head=head_trace(arrays),
        logits=logits, probs=torch.softmax(upsample(logits, arrays.image.shape[:2]), dim=1),
        pred=batch(arrays.pred), aux_pred=batch(arrays.aux_pred),
    )


def npz_bytes(arrays: TraceArrays, meta: dict, compress: bool = True) -> bytes:
    """The whole trace as an .npz file (layout: export.SCHEMA), for a download button."""
    buffer = io.BytesIO()
    export.trace_to_npz(segmentor_trace(arrays), meta, buffer, compress=compress)
    return buffer.getvalue()


def npz_shapes(arrays: TraceArrays) -> dict[str, tuple[int, ...]]:
    """The shape of every array the .npz of this trace holds, by key."""
    return {k: v.shape for k, v in export.trace_arrays(segmentor_trace(arrays)).items()}


def notebook_snippet(file_name: str) -> str:
    """Five lines that load a downloaded trace in a notebook, without pickle."""
    return (
        "import json, numpy as np\n"
        f'z = np.load("{file_name}", allow_pickle=False)\n'
        'meta, schema = json.loads(str(z["meta"])), json.loads(str(z["schema"]))\n'
        'w = z["w"][0].T.reshape(-1, *meta["feature_size"])  # (K,h,w): each region\'s relation map\n'
        'print(meta["classes"], {k: z[k].shape for k in z.files})\n'
    )
