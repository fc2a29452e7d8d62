"""OCR read as a Segmentation Transformer: the loaded model's own tensors in the roles of Transformer
cross-attention, Attention(Q, K, V) = softmax(scale Q K^T) V, recomputed from those roles and compared
with the trace. No second model: every tensor is the trace's, or the loaded head's own module applied
to the trace's.

The later versions of the paper (arXiv:1909.11065, revised in 2021 under the title "Segmentation
Transformer: Object-Contextual Representations for Semantic Segmentation"; the HRNet-OCR README: "the
approach is rephrased as Segmentation Transformer") read the pipeline as
- a decoder cross-attention: K category queries attend over the pixels; the attention weights are the
  soft object regions (Eq. 4's spatial softmax m~_k), the values the pixel representations x_i, the
  outputs the object region representations f_k;
- an encoder cross-attention: each pixel attends over the K regions; queries phi(x_i), keys psi(f_k),
  values delta(f_k); the attention is w_ik (Eq. 5), the output after rho is y_i (Eq. 3);
- then z_i = g([x_i; y_i]) (Eq. 6), where a Transformer block adds a residual and a feed-forward layer.

What is exact in this code: the "category queries" are the rows q_k of the auxiliary head's last 1x1
conv, and they act on that head's hidden features a_i (its conv-BN-ReLU of the backbone features), not
on x_i: M_ki = q_k . a_i + b_k. The bias b_k is the same for every pixel, so it cancels in the softmax
over pixels: m~_k = softmax_i(s q_k . a_i), s the spatial-softmax temperature (1 in the released code).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from einops import einsum, rearrange

from ocr_viz.analysis.interventions import evaluating
from ocr_viz.model.arrays import TraceArrays, head_trace


def attention(Q: torch.Tensor, K: torch.Tensor, scale: float,
              bias: torch.Tensor | None = None) -> torch.Tensor:
    """softmax over the keys of scale (Q K^T + bias): one row of weights per query, each summing to 1.
    The bias (one number per query, or None) is the same for every key."""
    scores = einsum(Q, K, "q d, n d -> q n")
    if bias is not None:
        scores = scores + bias[:, None]
    return torch.softmax(scale * scores, dim=-1)


def attend(A: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """Attention(Q, K, V) = A V: each query's A-weighted mean of the values."""
    return einsum(A, V, "q n, n d -> q d")


def relative_error(a: torch.Tensor, b: np.ndarray) -> float:
    """max |a - b| / max |b|: the difference measured against the recorded tensor's own size."""
    b = torch.from_numpy(np.array(b, dtype=np.float64))
    a = a.detach().double().cpu().reshape(b.shape)
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def device_of(head) -> torch.device:
    return next(head.parameters()).device


def array(values: np.ndarray, head) -> torch.Tensor:
    """A float32 copy of a cached (read-only) array, on the head's device."""
    return torch.from_numpy(np.array(values, dtype=np.float32)).to(device_of(head))


# ---- the decoder: K category queries attend over the pixels (Eq. 4) -------------------------------

def category_queries(head) -> tuple[torch.Tensor, torch.Tensor]:
    """Q (K, C_a): the aux classifier's weight rows q_k, one query per class; and its bias b (K,)."""
    last = head.aux_head[-1]
    bias = last.bias if last.bias is not None else torch.zeros(last.out_channels, device=last.weight.device)
    return rearrange(last.weight.detach(), "k c 1 1 -> k c"), bias.detach()


def aux_keys(head, features: np.ndarray) -> torch.Tensor:
    """K (n, C_a): the aux head's hidden features a_i (its layers before the last conv), one key per pixel."""
    with evaluating(head):
        return rearrange(head.aux_head[:-1](array(features, head)[None])[0], "c h w -> (h w) c")


def pixel_values(arrays: TraceArrays, head) -> torch.Tensor:
    """V (n, C): the pixel representations x_i, the decoder's values."""
    return rearrange(array(arrays.x, head), "c h w -> (h w) c")


# ---- the encoder: every pixel attends over the K regions (Eq. 5, 3) --------------------------------

def encoder_qkv(head, arrays: TraceArrays) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """Q = phi(x_i) (n, d), K = psi(f_k) (K, d), V = delta(f_k) (K, d), and the scale 1/sqrt(d)."""
    with evaluating(head):
        x, f = array(arrays.x, head)[None], array(arrays.f, head)[None]
        Q = rearrange(head.phi(x)[0], "d h w -> (h w) d")
        K, V = head.regions(f, head.psi)[0], head.regions(f, head.delta)[0]
    return Q, K, V, Q.shape[-1] ** -0.5


def head_context(head, arrays: TraceArrays) -> tuple[torch.Tensor, torch.Tensor]:
    """y and z (C, h, w) as the head computes them from the trace's x, w and f, in float32: the cached
    arrays keep a float16 copy, too coarse to measure the reading against."""
    with evaluating(head):
        replayed = head_trace(arrays, head, device_of(head))
    return replayed.y[0], replayed.z[0]


def y_from(head, output: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """rho, the output projection: the encoder's output A V (n, d) -> y (C, h, w)."""
    with evaluating(head):
        return head.rho(rearrange(output, "(h w) d -> 1 d h w", h=grid[0], w=grid[1]))[0]


# ---- z_i = g([x_i; y_i]) against a Transformer block's residual + feed-forward ---------------------

def g_split(head, arrays: TraceArrays, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """g's first 1x1 conv split by its input: W [x; y] + b = W_x x + W_y y + b. Returns W_x x, W_y y
    (C, n each) and z = ReLU(BN(W_x x + W_y y + b)) rebuilt from them (C, h, w); a residual block would
    instead add x + y, i.e. W_x = W_y = identity and no BN-ReLU."""
    conv, bn = head.g[0][0], head.g[0][1]
    weight = rearrange(conv.weight.detach(), "o c 1 1 -> o c")
    c = arrays.x.shape[0]
    W_x, W_y = (weight[:, c:], weight[:, :c]) if head.context_first else (weight[:, :c], weight[:, c:])
    x = rearrange(array(arrays.x, head), "c h w -> c (h w)")
    y = rearrange(y, "c h w -> c (h w)")
    from_x, from_y = W_x @ x, W_y @ y
    total = from_x + from_y + (conv.bias.detach()[:, None] if conv.bias is not None else 0)
    with evaluating(head):
        z = torch.relu(bn(rearrange(total, "c (h w) -> 1 c h w", h=arrays.grid[0])))[0]
    return from_x, from_y, z


# ---- the reading, with this run's shapes and how close each recomputed tensor is -------------------

@dataclass(frozen=True)
class Role:
    transformer: str           # the Transformer's name, e.g. "queries Q"
    ocr: str                   # the OCR tensor in that role
    shape: tuple[int, ...]     # its shape in this run (() when it cannot be formed from the trace)


@dataclass(frozen=True)
class Block:
    """One cross-attention of the reading: its roles, its softmax and how the recomputed tensors
    compare with the trace (max |recomputed - recorded| / max |recorded|)."""

    name: str
    roles: tuple[Role, ...]
    over: str                  # what the softmax runs over: "pixels" or "regions"
    scale: float               # what multiplies Q K^T inside the softmax
    scale_text: str
    errors: dict[str, float]


@dataclass(frozen=True)
class Reading:
    decoder: Block
    encoder: Block
    fusion: Block                  # g: its input split, and z rebuilt from the split
    from_x: float                  # mean over pixels of ||W_x x_i||
    from_y: float                  # mean over pixels of ||W_y y_i||
    temperature: float             # the spatial softmax's scale s
    aux_width: int                 # C_a, the queries' and keys' width
    pixels: int                    # n
    spread: np.ndarray             # (K,) exp(entropy of m~_k): the pixels each region effectively averages
    spread_scaled: np.ndarray      # (K,) the same had the decoder divided by sqrt(C_a) as a Transformer does
    keys_recorded: bool            # False when M is read off another backbone stage the trace does not keep
    key_kernel: int                # the aux head's first conv (the keys' branch): 1 for 1x1, 3 for 3x3
    value_kernel: int              # the conv that makes x_i (the values' branch)

    @property
    def worst(self) -> float:
        return max(max(b.errors.values()) for b in (self.decoder, self.encoder, self.fusion))


def effective_pixels(A: torch.Tensor) -> np.ndarray:
    """exp(entropy) of each attention row: 1 for a row on one pixel, n for a uniform row."""
    A = A.double()
    return torch.exp(-(A * torch.log(A.clamp_min(1e-300))).sum(-1)).cpu().numpy()


def shape(t: torch.Tensor | None) -> tuple[int, ...]:
    return () if t is None else tuple(t.shape)


@torch.no_grad()
def read(model, arrays: TraceArrays) -> Reading:
    """The whole reading for one trace. `model` is the Segmentor (its head's modules are applied to
    the recorded tensors; its `aux_feature` says whether the recorded features are the aux head's input)."""
    head = model.head
    n, K_classes, C = arrays.x.shape[1] * arrays.x.shape[2], arrays.M.shape[0], arrays.x.shape[0]
    s = float(head.temperature)
    Q_dec, b = category_queries(head)
    keys_recorded = getattr(model, "aux_feature", None) is None
    M = rearrange(array(arrays.M, head), "k h w -> k (h w)")
    V_dec = pixel_values(arrays, head)
    y, z = head_context(head, arrays)  # what the readings of Eq. 3 and 6 are measured against
    errors = {}
    if keys_recorded:
        K_dec = aux_keys(head, arrays.features)
        errors["M = Q K^T + b"] = relative_error(einsum(Q_dec, K_dec, "k c, n c -> k n") + b[:, None], arrays.M)
        A_dec = attention(Q_dec, K_dec, s)
        scores = einsum(Q_dec, K_dec, "k c, n c -> k n")
    else:  # the keys are not in the trace: the scores are the recorded M (its bias cancels in the softmax)
        K_dec, scores = None, M
        A_dec = torch.softmax(s * M, dim=-1)
    errors["m~ = softmax(s Q K^T)"] = relative_error(A_dec, arrays.m_tilde)
    errors["f = A V"] = relative_error(attend(A_dec, V_dec), arrays.f)
    aux_width = Q_dec.shape[1]
    decoder = Block(
        "decoder cross-attention (Eq. 4): K category queries attend over the n pixels",
        (Role("queries Q", "the aux classifier's rows q_k (its last 1x1 conv)", shape(Q_dec)),
         Role("keys K", "the aux head's hidden features a_i (conv-BN-ReLU of the backbone features)", shape(K_dec)),
         Role("values V", "the pixel representations x_i", shape(V_dec)),
         Role("attention A", "the soft object regions m~_k (softmax over pixels)", (K_classes, n)),
         Role("output A V", "the object region representations f_k (Eq. 4)", tuple(arrays.f.shape))),
        "pixels", s, f"s = {s:g} (the spatial softmax's temperature), not 1/sqrt({aux_width})", errors)

    Q, K_enc, V, scale = encoder_qkv(head, arrays)
    A_enc = attention(Q, K_enc, scale)
    output = attend(A_enc, V)
    encoder = Block(
        "encoder cross-attention (Eq. 5, 3): every pixel attends over the K regions",
        (Role("queries Q", "phi(x_i)", shape(Q)), Role("keys K", "psi(f_k)", shape(K_enc)),
         Role("values V", "delta(f_k)", shape(V)),
         Role("attention A", "the relation w_ik (softmax over regions, Eq. 5)", shape(A_enc)),
         Role("output A V", "sum_k w_ik delta(f_k), the sum inside rho (Eq. 3)", shape(output)),
         Role("output projection", "rho: y_i = rho(A V)", tuple(arrays.y.shape))),
        "regions", scale, f"1/sqrt({Q.shape[-1]}) = {scale:.4g}, as in a Transformer (Eq. 5 in the paper has none)",
        {"kappa = Q K^T / sqrt(d)": relative_error(scale * einsum(Q, K_enc, "n d, k d -> n k"),
                                                   rearrange(np.asarray(arrays.kappa), "k h w -> (h w) k")),
         "w = softmax(Q K^T / sqrt(d))": relative_error(A_enc, rearrange(np.asarray(arrays.w), "k h w -> (h w) k")),
         "y = rho(A V)": relative_error(y_from(head, output, arrays.grid), y.numpy(force=True))})

    from_x, from_y, z_again = g_split(head, arrays, y)
    fusion = Block(
        "z_i = g([x_i; y_i]) (Eq. 6) where a Transformer block has x + Attention(x) and a feed-forward layer",
        (Role("the block's input", "x_i", tuple(arrays.x.shape)), Role("the attention's output", "y_i", tuple(arrays.y.shape)),
         Role("residual + FFN", "g: 1x1 conv of the concatenation, BN, ReLU (and dropout when training)", tuple(arrays.z.shape))),
        "", 1.0, "", {"z = ReLU(BN(W_x x + W_y y + b))": relative_error(z_again, z.numpy(force=True))})

    return Reading(
        decoder=decoder, encoder=encoder, fusion=fusion,
        from_x=float(from_x.norm(dim=0).mean()), from_y=float(from_y.norm(dim=0).mean()),
        temperature=s, aux_width=aux_width, pixels=n, spread=effective_pixels(A_dec),
        spread_scaled=effective_pixels(torch.softmax(scores / math.sqrt(aux_width), dim=-1)),
        keys_recorded=keys_recorded, key_kernel=head.aux_head[0][0].kernel_size[0],
        value_kernel=head.conv3x3[0].kernel_size[0])


def breaks(reading: Reading, classes: list[str]) -> list[str]:
    """Where the analogy breaks, each point with this run's numbers (markdown)."""
    r = reading
    median, median_scaled = float(np.median(r.spread)), float(np.median(r.spread_scaled))
    widest = int(np.argmax(r.spread))
    return [
        "**The decoder's attention is supervised.** M (the scores before its softmax) is trained with cross-entropy "
        "against the ground truth through the auxiliary loss; a Transformer's attention gets no target of its own.",
        f"**The queries are a classifier's weights**, the {len(classes)} rows of the aux head's last 1x1 conv "
        f"({r.aux_width} numbers each), the same for every image; not learned query embeddings refined by "
        "self-attention. They meet the aux head's hidden features a_i as keys, not x_i: keys and values come "
        f"from two branches on the backbone's features (a {r.key_kernel}x{r.key_kernel} conv-BN-ReLU for the keys, "
        f"the {r.value_kernel}x{r.value_kernel} conv-BN-ReLU that makes x_i for the values). Their bias b_k is the "
        "same for every pixel and cancels in the softmax."
        + ("" if r.keys_recorded else " This model reads M off an earlier backbone stage that the trace does not "
           "keep, so its keys are not formed here; the scores are the recorded M."),
        f"**The decoder's softmax scale is s = {r.temperature:g}**, not 1/sqrt({r.aux_width}) = "
        f"{1 / math.sqrt(r.aux_width):.3f}. Measured here: each region effectively averages exp(entropy of m~_k) "
        f"pixels, median {median:,.0f} of n = {r.pixels:,} (widest: {classes[widest]}, {r.spread[widest]:,.0f}); "
        f"divided by sqrt({r.aux_width}) the median would be {median_scaled:,.0f}, close to every pixel. The "
        "encoder's softmax does divide by sqrt(d), as the official code does (the paper's Eq. 5 does not).",
        "**One head, one layer**, no positional encoding (a pixel's position enters only through the backbone's "
        "and the 3x3 conv's receptive fields), no self-attention among the pixels or among the regions (the "
        "paper's figure greys these out), no LayerNorm, and the projections phi, psi (two conv-BN-ReLU each), "
        "delta and rho are not linear maps but conv-BN-ReLU blocks.",
        f"**No residual and no feed-forward layer**: g concatenates x_i and y_i and applies one 1x1 conv-BN-ReLU. "
        f"Its conv splits into W_x x_i + W_y y_i; here the pixel's own part has mean length {r.from_x:.3g} and the "
        f"context's {r.from_y:.3g}. A residual would be W_x = W_y = identity.",
        "**The order is reversed**: the decoder (queries over pixels) runs first and the encoder reads its outputs "
        "f_k as keys and values; in the original Transformer the encoder runs first and feeds the decoder.",
    ]



def dims(shape: tuple[int, ...]) -> str:
    return r" \times ".join(str(n) for n in shape)


def brace(symbol: str, shape: tuple[int, ...]) -> str:
    """symbol with its shape written under it (just the symbol when the shape is unknown)."""
    return rf"\underbrace{{{symbol}}}_{{{dims(shape)}}}" if shape else symbol


def filled(reading: Reading) -> list[str]:
    """softmax(Q K^T / sqrt(d)) V beside the two cross-attentions of this run, with their shapes."""
    d, e = ({r.transformer: r.shape for r in b.roles} for b in (reading.decoder, reading.encoder))
    m, f, Q, K, V = (brace(r"\tilde m", d["attention A"]), brace("f", d["output A V"]), brace("Q", d["queries Q"]),
                     brace(r"K^\top", d["keys K"][::-1]), brace("V", d["values V"]))
    w, phi, psi, delta = (brace("w", e["attention A"]), brace(r"\phi(x)", e["queries Q"]),
                          brace(r"\psi(f)^\top", e["keys K"][::-1]), brace(r"\delta(f)", e["values V"]))
    s, width = f"{reading.temperature:g}", e["keys K"][-1]
    return [
        r"\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\Big(\frac{Q K^\top}{\sqrt{d}}\Big)\, V",
        rf"\text{{decoder: }} {m} = \mathrm{{softmax}}_{{\text{{pixels}}}}\big({s}\cdot {Q}\, {K}\big),\quad {f} = \tilde m\, {V}",
        rf"\text{{encoder: }} {w} = \mathrm{{softmax}}_{{\text{{regions}}}}\Big(\frac{{{phi}\, {psi}}}{{\sqrt{{{width}}}}}\Big),"
        rf"\quad y = \rho\big(w\, {delta}\big)",
    ]
