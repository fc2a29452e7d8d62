"""A model's trace of one image as numpy arrays laid out for display, computed once per
(image, model) and then only read: choosing a class or a pixel never reruns the network; and
its inverse, torch traces rebuilt from those arrays, so head-only experiments and downloads
never rerun the network either (everything from the head's input on; the backbone's stage
outputs are not kept). The rebuilt values are the recorded ones, bit for bit: rerunning a head
stage on them (e.g. interventions.with_temperature(head, trace, 1.0)) reproduces the arrays.
y and z, the largest maps and only ever drawn, are kept at half precision (a 640 x 480 trace 41 -> 31 MB,
and a class uploading photos holds one per student); the rebuilt torch trace recomputes them from x, w
and f with the head, in float32, so what is fed back into the model is exact.

Layout: batch dimension dropped; every per-pixel map is (..., h, w) at the feature-map size
(h, w); per-class maps are (K, h, w), so maps[k] is one region's map and maps[:, r, c] one
pixel's values over the K regions. H, W is the model's input size.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from einops import rearrange
from PIL import Image

from ocr_viz.data.transforms import normalize
from ocr_viz.model.heads.ocr import OCRHeadTrace
from ocr_viz.model.images import preprocess, resize_for_model, to_tensor
from ocr_viz.model.segmentor import Trace, upsample


@dataclass(frozen=True)
class TraceArrays:
    head: str                  # the head's name, e.g. "ocr"
    image: np.ndarray          # (H,W,3) uint8, the resized RGB image the model saw
    features: np.ndarray       # (C_in,h,w) fused backbone features, the head's input
    logits: np.ndarray         # (K,h,w) final class logits
    pred: np.ndarray           # (H,W) final labels (uint8 up to 256 classes: see `labels`)
    confidence: np.ndarray     # (h,w) the top class probability at the feature-map resolution
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # the real tensor shapes, by name
    # The OCR head's stages; None for other heads.
    x: np.ndarray | None = None        # (c,h,w) pixel representations
    M: np.ndarray | None = None        # (K,h,w) soft object regions (auxiliary logits)
    m_tilde: np.ndarray | None = None  # (K,h,w) spatial softmax of M: each map sums to 1
    f: np.ndarray | None = None        # (K,c) object region representations
    kappa: np.ndarray | None = None    # (K,h,w) relation logits kappa(x_i, f_k)
    w: np.ndarray | None = None        # (K,h,w) relation: w[:, r, c] sums to 1
    y: np.ndarray | None = None        # (c,h,w) object contextual representations (float16: see above)
    z: np.ndarray | None = None        # (c,h,w) augmented representations (float16)
    aux_pred: np.ndarray | None = None  # (H,W) labels of the soft regions (coarse segmentation)

    @property
    def is_ocr(self) -> bool:
        return self.w is not None

    @property
    def grid(self) -> tuple[int, int]:
        """(h, w) of the feature map."""
        return self.logits.shape[-2:]

    @property
    def stride(self) -> float:
        """Input pixels per feature-map cell, to one decimal: 8 for CamVid, e.g. 7.9 for other sizes."""
        return round(self.image.shape[0] / self.grid[0], 1)


def numpy(tensor) -> np.ndarray:
    """First batch item as a read-only float32 (or integer) array: cached arrays are shared."""
    array = tensor[0].detach().float().cpu().numpy() if tensor.is_floating_point() else tensor[0].cpu().numpy()
    array.flags.writeable = False
    return array


def half(tensor) -> np.ndarray:
    """First batch item as a read-only float16 array (y and z: drawn, never fed back into the model)."""
    array = tensor[0].detach().to("cpu", torch.float16).numpy()
    array.flags.writeable = False
    return array


def labels(tensor, num_classes: int) -> np.ndarray:
    """First batch item of class indices, uint8 up to 256 classes: a 640 x 480 label map is 0.3 MB,
    2.5 MB as argmax's int64, and a trace keeps two, a comparison eight."""
    array = numpy(tensor).astype(np.uint8 if num_classes <= 256 else np.int32)
    array.flags.writeable = False
    return array


def maps(tensor, grid: tuple[int, int], layout: str) -> np.ndarray:
    """Per-region values (layout "k n", like m~) or per-pixel values ("n k", like w) -> (K,h,w)."""
    array = numpy(tensor)
    array = np.ascontiguousarray((array if layout == "k n" else array.T).reshape(-1, *grid))
    array.flags.writeable = False
    return array


def shapes_of(trace: Trace) -> dict[str, tuple[int, ...]]:
    shapes = {"image": tuple(trace.images.shape), "features": tuple(trace.features.shape),
              "logits": tuple(trace.logits.shape), "pred": tuple(trace.pred.shape)}
    shapes.update({name: tuple(t.shape) for name, t in vars(trace.backbone).items()})
    shapes.update({name: tuple(t.shape) for name, t in vars(trace.head).items() if hasattr(t, "shape")})
    return shapes


def trace_arrays(trace: Trace, image: np.ndarray, head: str) -> TraceArrays:
    grid, K = tuple(trace.logits.shape[-2:]), trace.logits.shape[1]
    common = dict(
        head=head, image=image, features=numpy(trace.features), logits=numpy(trace.logits),
        pred=labels(trace.pred, K), confidence=numpy(trace.logits.softmax(1).amax(1)), shapes=shapes_of(trace),
    )
    t = trace.head
    if not hasattr(t, "w"):
        return TraceArrays(**common)
    return TraceArrays(
        **common, x=numpy(t.x), M=numpy(t.M), m_tilde=maps(t.m_tilde, grid, "k n"), f=numpy(t.f),
        kappa=maps(t.kappa, grid, "n k"), w=maps(t.w, grid, "n k"), y=half(t.y), z=half(t.z),
        aux_pred=labels(trace.aux_pred, K),
    )


def run(model, image: Image.Image, head: str) -> TraceArrays:
    """Preprocess an RGB image, trace it through the model (on the model's device), convert once."""
    device = next(model.parameters()).device
    trace = model.trace(preprocess(image).to(device))
    seen = np.asarray(resize_for_model(image), dtype=np.uint8)
    seen.flags.writeable = False
    return trace_arrays(trace, seen, head)


def batch(array: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """A (1, ...) tensor holding a copy of a cached (read-only) array."""
    return torch.from_numpy(np.array(array))[None].to(device)


def head_trace(arrays: TraceArrays, head, device: str | torch.device = "cpu") -> OCRHeadTrace:
    """The OCR head's trace in the head's own layout: m~ (b,K,n), kappa and w (b,n,K); y and z
    recomputed by `head` (the model that made the trace, in eval mode) in float32."""
    if not arrays.is_ocr:
        raise TypeError(f"the trace is of a {arrays.head!r} head; head experiments need the OCR head")
    per_region = lambda a: rearrange(batch(a, device), "b k h w -> b k (h w)")  # noqa: E731
    # contiguous, so that a replayed head multiplies the same memory layout as the traced one
    per_pixel = lambda a: rearrange(batch(a, device), "b k h w -> b (h w) k").contiguous()  # noqa: E731
    x, f, w = batch(arrays.x, device), batch(arrays.f, device), per_pixel(arrays.w)
    y, z = context(head, x, w, f)
    return OCRHeadTrace(
        x=x, M=batch(arrays.M, device), m_tilde=per_region(arrays.m_tilde), f=f, kappa=per_pixel(arrays.kappa),
        w=w, y=y, z=z, logits=batch(arrays.logits, device),
    )


@torch.no_grad()
def context(head, x: torch.Tensor, w: torch.Tensor, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """y (Eq. 3) and z (Eq. 6), (b,c,h,w) in float32, from x (b,c,h,w), w (b,n,K) and f (b,K,c), as the
    head's trace computes them."""
    y = head.y(w, f, x.shape[-2])
    return y, head.z(x, y)


def input_tensor(arrays: TraceArrays) -> torch.Tensor:
    """(1,3,H,W) the normalised input, as preprocess made it from the image the model saw."""
    return normalize(to_tensor(Image.fromarray(np.asarray(arrays.image))))[None]


def segmentor_trace(arrays: TraceArrays, head) -> Trace:
    """A Segmentor Trace of the cached arrays, without the backbone's stage outputs (on the CPU)."""
    logits = batch(arrays.logits)
    return Trace(
        images=input_tensor(arrays), backbone=None, features=batch(arrays.features), head=head_trace(arrays, head),
        logits=logits, probs=torch.softmax(upsample(logits, arrays.image.shape[:2]), dim=1),
        pred=batch(arrays.pred).long(), aux_pred=batch(arrays.aux_pred).long(),
    )
