"""One pixel worked through Eq. 5, 3 and 6 with this trace's numbers, as a lecturer writes them on
the board: kappa_ik for every region, the softmax of Eq. 5 with its sum, w_ik; y_i = rho(sum_k w_ik
delta(f_k)) term by term; ||x_i|| beside ||y_i||; z_i; the logits, and the class before and after.

The trace records x, f, kappa, w, y, z, M and the logits; it does not record phi(x_i), psi(f_k),
delta(f_k) or the sum inside rho. Those are computed here with the loaded head's own modules (eval
mode, no gradients) from the recorded x and f, and so are y_i and z_i (the trace keeps y and z at half
precision); everything else is read from the trace. The tests check that the recomputed parts lead
back to the recorded kappa and w, and to the head's own y and z.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from einops import einsum, rearrange

from ocr_viz.model.arrays import TraceArrays


@torch.no_grad()
def transform(module, vectors: np.ndarray) -> np.ndarray:
    """A 1x1 conv-BN-ReLU transform (phi, psi, delta, rho) applied to each of n vectors, (n, c) -> (n, d),
    in eval mode; float64 out, so the sums below add no rounding of their own."""
    was = module.training
    module.eval()
    try:
        batch = rearrange(torch.from_numpy(np.array(vectors, dtype=np.float32)), "n c -> 1 c n 1")
        return rearrange(module(batch), "1 d n 1 -> n d").double().numpy()
    finally:
        module.train(was)


def kappa_i(head, x_i: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, float]:
    """Eq. 5 (logits) for one pixel: phi(x_i)^T psi(f_k) for every region k, and the 1/sqrt(d) the code scales it by."""
    phi_x, psi_f = transform(head.phi, x_i[None])[0], transform(head.psi, f)
    return einsum(psi_f, phi_x, "k d, d -> k"), phi_x.shape[-1] ** -0.5


def softmax_terms(kappa: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Eq. 5 written out: the terms e^(kappa_ik - s) and their sum, so w_ik = term / sum. The shift s
    is 0 unless a term would overflow (then the largest kappa: the ratios are the same)."""
    kappa = np.asarray(kappa, dtype=np.float64)
    shift = float(kappa.max()) if kappa.max() > 700 else 0.0
    terms = np.exp(kappa - shift)
    return terms, float(terms.sum()), shift


def contributions(w_i: np.ndarray, delta_f: np.ndarray) -> np.ndarray:
    """Eq. 3 inside rho, term by term: w_ik delta(f_k), (K, d); their sum over k is what rho transforms."""
    return einsum(np.asarray(w_i, dtype=np.float64), delta_f, "k, k d -> k d")


def g_parts(head, x_i: np.ndarray, y_i: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eq. 6's first 1x1 conv split by its input: W [x_i; y_i] = W_x x_i + W_y y_i (bias aside): what
    z_i's input takes from the pixel itself and what from its context. The released models'
    g reads [y; x] (`context_first`), the paper writes [x; y]."""
    weight = rearrange(head.g[0][0].weight.detach().double(), "o c 1 1 -> o c").numpy()
    c = len(x_i)
    first, second = weight[:, :c], weight[:, c:]
    W_x, W_y = (second, first) if head.context_first else (first, second)
    return W_x @ np.asarray(x_i, np.float64), W_y @ np.asarray(y_i, np.float64)


def z_i(head, x_i: np.ndarray, y_i: np.ndarray) -> np.ndarray:
    """Eq. 6 for one pixel: g applied to its concatenation (in g's order, see g_parts)."""
    pair = (y_i, x_i) if head.context_first else (x_i, y_i)
    return transform(head.g, np.concatenate(pair)[None])[0]


@dataclass(frozen=True)
class WorkedPixel:
    """Pixel i = row * width + col worked through Eq. 5, 3, 6. Arrays over the K regions are in class order."""

    row: int
    col: int
    index: int
    dots: np.ndarray       # (K,) phi(x_i)^T psi(f_k), recomputed
    scale: float           # 1/sqrt(d): the code's kappa is dots * scale (Eq. 5 in the paper has no scale)
    kappa: np.ndarray      # (K,) kappa_ik, the trace's
    terms: np.ndarray      # (K,) e^(kappa_ik - shift)
    total: float           # sum_j e^(kappa_ij - shift)
    shift: float           # 0 unless e^kappa would overflow
    w: np.ndarray          # (K,) w_ik, the trace's
    delta_f: np.ndarray    # (K, d) delta(f_k), recomputed
    y_again: np.ndarray    # (C,) rho(sum_k w_ik delta(f_k)), recomputed
    x: np.ndarray          # (C,) x_i, the trace's
    y: np.ndarray          # (C,) y_i = y_again: the trace keeps y and z at half precision, too coarse for these sums
    z: np.ndarray          # (C,) z_i = g([x_i; y_i]), recomputed
    from_x: np.ndarray     # (C,) W_x x_i, g's first conv on the pixel's own part
    from_y: np.ndarray     # (C,) W_y y_i, on the context's part
    logits: np.ndarray     # (K,) the final class logits at the pixel, the trace's
    soft: np.ndarray       # (K,) M_ki, the soft object regions' logits at the pixel, the trace's

    @property
    def parts(self) -> np.ndarray:
        """(K, d) w_ik delta(f_k), each region's term of Eq. 3."""
        return contributions(self.w, self.delta_f)

    @property
    def context(self) -> np.ndarray:
        """(d,) sum_k w_ik delta(f_k): what rho transforms into y_i."""
        return self.parts.sum(0)

    @property
    def sizes(self) -> np.ndarray:
        """(K,) ||w_ik delta(f_k)||, the size of each region's term."""
        return np.linalg.norm(self.parts, axis=1)

    @property
    def soft_class(self) -> int:
        """The class before OCR: argmax_k M_ki (the soft regions' coarse segmentation at this cell)."""
        return int(np.argmax(self.soft))

    @property
    def final_class(self) -> int:
        """The class after OCR: argmax of the classifier's logits on z_i at this cell."""
        return int(np.argmax(self.logits))


def work(head, arrays: TraceArrays, row: int, col: int) -> WorkedPixel:
    """Everything the worked example shows for pixel (row, col) of the feature map."""
    h, w = arrays.grid
    if not (0 <= row < h and 0 <= col < w):
        raise ValueError(f"pixel ({row}, {col}) is outside the {h} x {w} feature map")
    x_i = arrays.x[:, row, col]
    w_i = np.asarray(arrays.w[:, row, col], dtype=np.float64)
    dots, scale = kappa_i(head, x_i, arrays.f)
    terms, total, shift = softmax_terms(arrays.kappa[:, row, col])
    delta_f = transform(head.delta, arrays.f)
    y_i = transform(head.rho, contributions(w_i, delta_f).sum(0)[None])[0]
    from_x, from_y = g_parts(head, x_i, y_i)
    return WorkedPixel(
        row=row, col=col, index=row * w + col, dots=dots, scale=scale,
        kappa=np.asarray(arrays.kappa[:, row, col], np.float64), terms=terms, total=total, shift=shift, w=w_i,
        delta_f=delta_f, y_again=y_i, x=np.asarray(x_i, np.float64), y=y_i, z=z_i(head, x_i, y_i),
        from_x=from_x, from_y=from_y, logits=np.asarray(arrays.logits[:, row, col], np.float64),
        soft=np.asarray(arrays.M[:, row, col], np.float64),
    )


# ---- the numbers as a lecturer writes them ----------------------------------------------------------

TOP = 6  # regions written out one by one; with more, the rest are summed into one term


def top_and_rest(order_by: np.ndarray, top: int = TOP) -> tuple[np.ndarray, np.ndarray]:
    """(shown, rest): all K regions, largest first, when K <= top + 1; else the `top` largest and the others."""
    order = np.argsort(-np.asarray(order_by), kind="stable")
    return (order, order[:0]) if len(order) <= top + 1 else (order[:top], order[top:])


def number(value: float) -> str:
    """4 significant digits, in LaTeX: 1.234, 0.01234, 5.321 x 10^13."""
    text = f"{value:.4g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        return rf"{mantissa} \times 10^{{{int(exponent)}}}"
    return text


def name(label: str) -> str:
    """A class name as LaTeX text (specials removed: class tables have names like 'wall-other-made')."""
    return r"\text{" + "".join(ch for ch in label if ch not in "{}\\$&%#_^~") + "}"


def table(worked: WorkedPixel, classes: list[str], top: int = TOP) -> list[dict]:
    """One row per region (largest w_ik first; with many, the top ones and the rest summed): the
    numbers of Eq. 5 and of Eq. 3's terms. The rest's size is that of their summed vector."""
    shown, rest = top_and_rest(worked.w, top)
    exp_name = "e^kappa_ik" if worked.shift == 0 else f"e^(kappa_ik - {worked.shift:.4g})"
    rows = [{"region k": classes[k], "phi(x_i).psi(f_k)": float(worked.dots[k]), "kappa_ik": float(worked.kappa[k]),
             exp_name: float(worked.terms[k]), "w_ik": float(worked.w[k]),
             "||w_ik delta(f_k)||": float(worked.sizes[k])} for k in shown]
    if len(rest):
        rows.append({"region k": f"the other {len(rest)}", "phi(x_i).psi(f_k)": None, "kappa_ik": None,
                     exp_name: float(worked.terms[rest].sum()), "w_ik": float(worked.w[rest].sum()),
                     "||w_ik delta(f_k)||": float(np.linalg.norm(worked.parts[rest].sum(0)))})
    rows.append({"region k": "sum over k", "phi(x_i).psi(f_k)": None, "kappa_ik": None, exp_name: worked.total,
                 "w_ik": float(worked.w.sum()), "||w_ik delta(f_k)||": float(np.linalg.norm(worked.context))})
    return rows


def relation_equations(worked: WorkedPixel, classes: list[str], top: int = 4) -> list[str]:
    """Eq. 5 for this pixel with its numbers: kappa of the strongest region, the softmax over all K
    with its sum, and the check that the w_ik add up to 1."""
    k = int(np.argmax(worked.w))
    shown, rest = top_and_rest(worked.w, top)
    i = worked.index
    e = (lambda j: rf"e^{{{number(worked.kappa[j])}}}") if worked.shift == 0 else \
        (lambda j: rf"e^{{{number(worked.kappa[j])} - {number(worked.shift)}}}")
    terms = " + ".join(e(j) for j in shown) + (rf" + \underbrace{{\cdots}}_{{\text{{{len(rest)} more}}}}" if len(rest) else "")
    weights = " + ".join(number(worked.w[j]) for j in shown) + (
        rf" + \underbrace{{{number(worked.w[rest].sum())}}}_{{\text{{{len(rest)} more}}}}" if len(rest) else "")
    return [
        rf"\kappa_{{{i},{name(classes[k])}}} = \frac{{\phi(x_{{{i}}})^\top \psi(f_{{{name(classes[k])}}})}}{{\sqrt{{d}}}}"
        rf" = \frac{{{number(worked.dots[k])}}}{{\sqrt{{{round(worked.scale ** -2)}}}}} = {number(worked.kappa[k])}",
        rf"w_{{{i},{name(classes[k])}}} = \frac{{{e(k)}}}{{{terms}}} = \frac{{{number(worked.terms[k])}}}"
        rf"{{{number(worked.total)}}} = {number(worked.w[k])}",
        rf"\sum_{{k=1}}^{{{len(worked.w)}}} w_{{{i}k}} = {weights} = {worked.w.sum():.6f}",
    ]


def context_equations(worked: WorkedPixel, classes: list[str], top: int = 4) -> list[str]:
    """Eq. 3 and 6 for this pixel with its numbers: y_i as the w-weighted sum of the region values
    (largest terms first), the lengths of x_i, y_i, the two parts of g's input, and z_i; the three
    largest logits, and the class before (argmax of the soft regions M) and after (argmax of the logits)."""
    i = worked.index
    shown, rest = top_and_rest(worked.sizes, top)
    terms = " + ".join(rf"{number(worked.w[k])}\,\delta(f_{{{name(classes[k])}}})" for k in shown)
    if len(rest):
        terms += rf" + \underbrace{{\cdots}}_{{\text{{{len(rest)} more}}}}"
    before, after = worked.soft_class, worked.final_class
    return [
        rf"y_{{{i}}} = \rho\Big({terms}\Big)",
        rf"\Big\lVert \textstyle\sum_k w_{{{i}k}}\,\delta(f_k) \Big\rVert = {number(np.linalg.norm(worked.context))},"
        rf"\quad \lVert x_{{{i}}} \rVert = {number(np.linalg.norm(worked.x))},"
        rf"\quad \lVert y_{{{i}}} \rVert = {number(np.linalg.norm(worked.y))}",
        rf"z_{{{i}}} = g([x_{{{i}}};\, y_{{{i}}}]):\quad \lVert W_x x_{{{i}}} \rVert = {number(np.linalg.norm(worked.from_x))},"
        rf"\quad \lVert W_y y_{{{i}}} \rVert = {number(np.linalg.norm(worked.from_y))},"
        rf"\quad \lVert z_{{{i}}} \rVert = {number(np.linalg.norm(worked.z))}",
        rf"\mathrm{{logit}}_{{k,{i}}}:\ " + r",\ ".join(
            rf"{name(classes[k])}\ {number(worked.logits[k])}" for k in top_and_rest(worked.logits, 3)[0][:3])
        + (r",\ \dots" if len(worked.logits) > 3 else ""),
        rf"\arg\max_k M_{{k,{i}}} = {name(classes[before])}\ ({number(worked.soft[before])})"
        rf"\;\longrightarrow\; \arg\max_k \mathrm{{logit}}_{{k,{i}}} = {name(classes[after])}\ ({number(worked.logits[after])})",
    ]


def summary(worked: WorkedPixel, classes: list[str]) -> str:
    """A sentence for the page: what this pixel's numbers say."""
    k = int(np.argmax(worked.w))
    biggest = int(np.argmax(worked.sizes))
    share = worked.sizes[biggest] / worked.sizes.sum()
    before, after = classes[worked.soft_class], classes[worked.final_class]
    change = f"stays **{after}**" if before == after else f"changes from **{before}** (soft regions) to **{after}**"
    return (f"Pixel i = {worked.index} puts its largest weight, {worked.w[k]:.3f}, on **{classes[k]}** (1/K = "
            f"{1 / len(worked.w):.3f}). The largest term of Eq. 3 is **{classes[biggest]}**'s, {share:.0%} of the summed "
            f"term sizes. ||y_i|| = {np.linalg.norm(worked.y):.3g} beside ||x_i|| = {np.linalg.norm(worked.x):.3g}; "
            f"the label {change}.")
