"""What the app says about each stage, as data: the paper's equations (numbered as in the
paper), a short description, the project functions that compute the stage (shown with
inspect.getsource, so the page shows the code that actually ran), and the pipeline of
Fig. 3 that the home page draws."""
from __future__ import annotations

import inspect
import textwrap
from dataclasses import dataclass
from pathlib import Path

import importlib

from ocr_viz.data.classes import CAMVID_CLASSES
from ocr_viz.model.backbones.efficientnet_lite import FEATURE_CHANNELS

REPO = Path(__file__).resolve().parents[2]
PAPER = "Yuan, Chen, Wang. Object-Contextual Representations for Semantic Segmentation. ECCV 2020 (arXiv:1909.11065)"


@dataclass(frozen=True)
class Equation:
    latex: str           # KaTeX
    number: str = ""     # the paper's equation number, if it has one
    note: str = ""


@dataclass(frozen=True)
class Stage:
    key: str          # the page is pages/{key}.py
    title: str
    symbol: str       # plain-text symbol, for menus and the diagram
    summary: str      # markdown
    equations: tuple[Equation, ...]
    sources: tuple[str, ...]  # the functions that compute it, as dotted names under ocr_viz
    tensors: tuple[str, ...]  # names in TraceArrays.shapes whose real shapes the page lists


STAGES = (
    Stage(
        "pixels", "Pixel representations", "x_i",
        "The backbone's stride-8, stride-16 and final features are upsampled to stride 8 and concatenated "
        "(as HRNet-OCR concatenates its four branches); a 3x3 conv-BN-ReLU turns them into the pixel "
        "representations $x_i$, one vector per feature-map pixel $i$. Every later stage starts from them.",
        (Equation(r"x_i = \mathrm{ReLU}\big(\mathrm{BN}(\mathrm{conv}_{3\times 3}"
                  r"[\,F_{8} \,\Vert\, \uparrow F_{16} \,\Vert\, \uparrow F_{\mathrm{final}}\,])\big)_i",
                  note="Not numbered in the paper: the 'pixel representations' box of Fig. 3."),),
        ("segmentor.fuse", "heads.ocr.OCRHead.trace"), ("image", "stride8", "stride16", "final", "features", "x"),
    ),
    Stage(
        "regions", "Soft object regions", "M_k",
        "An auxiliary head predicts a coarse segmentation: $K$ maps $M_k$, one per class, trained with "
        "cross-entropy on the ground truth (weight 0.4). Three views of the same maps: the **raw logits** "
        "$M_{ki}$; the **class softmax** $p_{ki}$ (over the $K$ classes at each pixel: 'how much is pixel $i$ "
        "class $k$'); and the **spatial softmax** $\\tilde m_{ki}$ (over all pixels for each class: 'how much "
        "pixel $i$ weighs in region $k$'), which is what Eq. 4 uses. $\\tilde m_k$ sums to 1 over the image "
        "and is dominated by a handful of pixels, so it looks noisy on a linear scale.",
        (Equation(r"p_{ki} = \frac{e^{M_{ki}}}{\sum_{j=1}^{K} e^{M_{ji}}}", note="class softmax (the coarse segmentation)"),
         Equation(r"\tilde m_{ki} = \frac{e^{M_{ki}}}{\sum_{j \in \mathcal{I}} e^{M_{kj}}}",
                  note="spatial softmax: the weights of Eq. 4")),
        ("heads.ocr.OCRHead.trace", "heads.ocr.m_tilde"), ("M", "m_tilde"),
    ),
    Stage(
        "objects", "Object region representations", "f_k",
        "Each region's representation $f_k$ is the $\\tilde m_k$-weighted average of the pixel "
        "representations: one $C$-dimensional vector per class, computed from this image alone.",
        (Equation(r"f_k = \sum_{i \in \mathcal{I}} \tilde m_{ki}\, x_i", "4"),),
        ("heads.ocr.m_tilde", "heads.ocr.f"), ("x", "m_tilde", "f"),
    ),
    Stage(
        "relation", "Pixel-region relation", "w_ik",
        "Each pixel $i$ relates to each region $k$ by a softmax over the $K$ regions of "
        "$\\kappa(x_i, f_k) = \\phi(x_i)^\\top \\psi(f_k)$. As in the official code (not in the paper's Eq. 5), "
        "the logits are divided by $\\sqrt{d}$, $d$ the key channels. The paper's picture is that a pixel relates "
        "most to the region of its own object; how close $w_i$ comes to that, or to uniform ($1/K$), is measured "
        "below for this image and, over the test set, on the page *What the relation really does*. Nearly "
        "equal weights need adaptive colour scales, so the page also shows the entropy and the raw logits "
        "$\\kappa$. Click a pixel to see its relation to every region.",
        (Equation(r"w_{ik} = \frac{e^{\kappa(x_i, f_k)}}{\sum_{j=1}^{K} e^{\kappa(x_i, f_j)}}", "5"),
         Equation(r"\kappa(x, f) = \phi(x)^\top \psi(f) \,/\, \sqrt{d}",
                  note="the project's (and the official code's) kappa")),
        ("heads.ocr.kappa", "heads.ocr.w", "heads.ocr.OCRHead.relation"), ("x", "f", "kappa", "w"),
    ),
    Stage(
        "context", "Object contextual and augmented representations", "y_i, z_i",
        "Each pixel gathers the regions' (transformed) representations, weighted by its relation: that is "
        "its object contextual representation $y_i$ (Eq. 3). $y_i$ is concatenated with $x_i$ and "
        "transformed into the augmented representation $z_i$ (Eq. 6), from which a 1x1 conv predicts the "
        "classes. Comparing the coarse segmentation (from $M$) with the final one shows what OCR changed.",
        (Equation(r"y_i = \rho\Big(\sum_{k=1}^{K} w_{ik}\, \delta(f_k)\Big)", "3"),
         Equation(r"z_i = g\big([\,x_i^\top \;\; y_i^\top\,]^\top\big)", "6")),
        ("heads.ocr.context", "heads.ocr.OCRHead.y", "heads.ocr.OCRHead.z"), ("w", "f", "y", "z"),
    ),
    Stage(
        "segmentation", "Segmentation", "argmax",
        "A 1x1 conv maps $z_i$ to $K$ class logits; they are upsampled (bilinear) to the input size, and "
        "each pixel takes the most probable class.",
        (Equation(r"\hat\ell_i = \arg\max_k \operatorname{softmax}_k\big(\uparrow W z\big)_{ki}",
                  note="Not numbered in the paper."),),
        ("segmentor.Segmentor.trace",), ("z", "logits", "pred"),
    ),
)
STAGE_BY_KEY = {s.key: s for s in STAGES}

# Fig. 3 as a graph: (node, label, the TraceArrays.shapes keys it shows, stage key) and (from, to, operation).
PIPELINE_NODES = (
    ("image", "input image", ("image",), "home"),
    ("stages", "EfficientNet-Lite0 stages", ("stride8", "stride16", "final"), "pixels"),
    ("features", "fused features", ("features",), "pixels"),
    ("x", "x_i  pixel representations", ("x",), "pixels"),
    ("M", "M_k  soft object regions", ("M",), "regions"),
    ("m_tilde", "m~_k  spatial softmax", ("m_tilde",), "regions"),
    ("f", "f_k  object region representations  (Eq. 4)", ("f",), "objects"),
    ("w", "w_ik  pixel-region relation  (Eq. 5)", ("w",), "relation"),
    ("y", "y_i  object contextual representations  (Eq. 3)", ("y",), "context"),
    ("z", "z_i  augmented representations  (Eq. 6)", ("z",), "context"),
    ("pred", "segmentation", ("pred",), "segmentation"),
)
PIPELINE_EDGES = (
    ("image", "stages", "backbone"), ("stages", "features", "upsample + concat"),
    ("features", "x", "3x3 conv"), ("features", "M", "aux head"), ("M", "m_tilde", "softmax over pixels"),
    ("m_tilde", "f", "weights"), ("x", "f", ""), ("x", "w", "phi"), ("f", "w", "psi"),
    ("w", "y", "weights"), ("f", "y", "delta, rho"), ("x", "z", "concat, g"), ("y", "z", ""),
    ("z", "pred", "1x1 conv, upsample, argmax"),
)


def resolve(dotted: str):
    """"heads.ocr.OCRHead.y" -> the object ocr_viz.model.heads.ocr.OCRHead.y: the names are relative
    to the model package, then to the analysis package, then to this teaching package (module first,
    then attributes)."""
    parts = dotted.split(".")
    for package in ("ocr_viz.model.", "ocr_viz.analysis.", "ocr_viz.teaching."):
        for split in range(len(parts), 0, -1):
            try:
                target = importlib.import_module(package + ".".join(parts[:split]))
            except ModuleNotFoundError:
                continue
            for name in parts[split:]:
                target = getattr(target, name)
            return target
    raise ImportError(f"no module for {dotted!r} in ocr_viz.model, ocr_viz.analysis or ocr_viz.teaching")


def source(function) -> str:
    """The function's source code as it is in this checkout (decorators such as torch.no_grad unwrapped)."""
    return textwrap.dedent(inspect.getsource(inspect.unwrap(function)))


def source_location(function) -> str:
    """'ocr_viz/model/heads/ocr.py, line 27: f' for a heading above the code."""
    function = inspect.unwrap(function)
    path = Path(inspect.getsourcefile(function)).resolve()
    line = inspect.getsourcelines(function)[1]
    where = path.relative_to(REPO) if path.is_relative_to(REPO) else path
    return f"{where}, line {line}: {function.__qualname__}"


def shape_text(shape: tuple[int, ...]) -> str:
    return " x ".join(str(n) for n in shape)


def pipeline_nodes(shapes: dict[str, tuple[int, ...]]) -> list[tuple[str, str, str, str]]:
    """(node, label, its tensors' shapes in this run, stage key) for the nodes this run has."""
    return [(node, label, ", ".join(shape_text(shapes[k]) for k in keys), stage)
            for node, label, keys, stage in PIPELINE_NODES if all(k in shapes for k in keys)]


def deviations(meta: dict) -> list[str]:
    """How the loaded model differs from the paper, read from its metadata where it says."""
    if meta.get("source", {}).get("layout"):  # a converted release describes itself
        return release_notes(meta)
    arch = meta.get("arch", {})
    head_kwargs = arch.get("head_kwargs", {})
    names = arch.get("feature_names", [])
    channels = sum(FEATURE_CHANNELS.get(n, 0) for n in names)
    classes = meta.get("classes", [])
    dataset = "CamVid's" if tuple(classes) == CAMVID_CLASSES else "its"
    notes = [
        f"**Backbone**: `{arch.get('backbone')}` at output stride {arch.get('output_stride')} instead of "
        "HRNet-W48 or a dilated ResNet-101, so that it runs on a CPU.",
        f"**Features**: the backbone's {', '.join(f'`{n}`' for n in names)} outputs fused at stride 8 by "
        f"upsampling and concatenation ({channels} channels), like HRNet-OCR's concatenation of its four branches.",
    ]
    if arch.get("head") == "ocr":
        mid, key = head_kwargs.get("mid_channels", 512), head_kwargs.get("key_channels", 256)
        widths = ("the paper's" if (mid, key) == (512, 256) else "instead of the paper's 512 and 256")
        notes.append(
            f"**Widths**: mid channels {mid} and key channels {key}, {widths}; dropout "
            f"{head_kwargs.get('dropout', 0.05)} after g; spatial-softmax temperature {head_kwargs.get('temperature', 1.0)}.")
        notes.append("**Relation logits** are divided by sqrt(key channels), as in the official code; Eq. 5 omits it.")
    else:
        notes.append(f"**Head**: `{arch.get('head')}`, not OCR: the OCR stage pages need an OCR head.")
    notes.append(f"**Classes**: {len(classes)} ({dataset} classes: {', '.join(classes)}) instead of the paper's "
                 "benchmarks (Cityscapes' 19, ADE20K's 150, PASCAL-Context's 59, ...).")
    notes.append("**Inference**: one scale (longer side 640 pixels), no flipping; bilinear upsampling without align_corners.")
    if not meta.get("trained", True):
        notes.append("**Weights**: untrained head (ImageNet backbone only): the maps show structure, not what OCR learns.")
    return notes


# ---- what the relation does, in words computed from the measured statistics ----------------------

PAPER_CLAIM = (
    "The paper's picture (Sec. 3.2, Fig. 1): a pixel is described by the object it belongs to, so its relation "
    "$w_{ik}$ should be large for the region $k$ of its own class and small for the others. GT-OCR makes that "
    "picture literal: $w_{ik} = 1$ for the pixel's labelled class and 0 for the rest."
)
OFFICIAL_COUNTERPART = (
    "Not only this small model: with the official HRNet-OCR Cityscapes checkpoint, a user printed the relation "
    "(the official code's `sim_map`) during validation and found every value very close to 1/19 = 0.0526, the "
    "uniform relation over Cityscapes' 19 classes "
    "([openseg-group/openseg.pytorch issue #22](https://github.com/openseg-group/openseg.pytorch/issues/22), 2020); "
    "the maintainers could not explain it and noted that the 1/sqrt(key channels) scaling does not change the accuracy."
)


def percent(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1%}" if v < 0.01 else f"{v:.0%}"


def entropy_reading(mean: float, log_k: float) -> str:
    """How close to uniform a mean entropy is, in words."""
    ratio = mean / log_k if log_k > 0 else 0.0
    if ratio >= 0.9:
        return "close to uniform on average: pixels mix nearly all regions equally"
    if ratio >= 0.6:
        return "far from one-hot on average"
    return "fairly decided on average: pixels put most of their weight on a few regions"


def alignment_verdict(top1: float | None) -> str:
    """How far the measured top-1 alignment with the ground truth supports the paper's picture."""
    if top1 is None:
        return "without ground truth, only the alignment with the predicted class can be measured"
    if top1 >= 0.7:
        return "largely as the paper describes: most pixels relate most to the region of their own class"
    if top1 >= 0.4:
        return "only partly as the paper describes: many pixels relate most to another class's region"
    return "mostly not as the paper describes: the own class is the strongest region for a minority of pixels"


def strongest_region(s: dict, classes: list[str]) -> tuple[str, float]:
    """The class whose region is argmax_k w_ik for the most cells, and that share."""
    share = s["absolute"]["argmax_share"]
    k = max(range(len(share)), key=share.__getitem__)
    return classes[k], share[k]


def relation_findings(s: dict, classes: list[str]) -> list[str]:
    """Markdown sentences on what the relation does, from relation statistics (analysis.relation's
    summary of one image or of a set): entropy, alignment, the shared bias, the relative view, w vs m~."""
    k, a, r = len(classes), s["absolute"], s["relative"]
    e = s["entropy"]
    counts, edges = e["histogram"], e["edges"]
    cells = max(sum(counts), 1)
    near_uniform = sum(c for c, lo in zip(counts, edges) if lo >= 0.9 * e["log_k"] - 1e-9) / cells
    decided = sum(c for c, hi in zip(counts, edges[1:]) if hi <= 0.5 * e["log_k"] + 1e-9) / cells
    found = [f"**Entropy**: the mean entropy of $w_i$ is {e['mean']:.2f} nats; a uniform relation has "
             f"log K = {e['log_k']:.2f}. The relation is {entropy_reading(e['mean'], e['log_k'])}: "
             f"{percent(near_uniform)} of the cells are within 10% of log K (nearly uniform), {percent(decided)} "
             "below half of it (decided)."]
    if a["top1_truth"] is not None:
        found.append(f"**Own class**: argmax$_k\\,w_{{ik}}$ is the pixel's ground-truth class for "
                     f"{percent(a['top1_truth'])} of the labelled cells (chance 1/K = {1 / k:.0%}); the true class "
                     f"ranks {a['mean_rank']:.1f} of {k} on average (chance {(k + 1) / 2:g}). That is "
                     f"{alignment_verdict(a['top1_truth'])}.")
        per_class = [(name, a["per_class"][name]["top1_truth"]) for name in classes
                     if a["per_class"][name]["top1_truth"] is not None]
        strong = [f"{name} {v:.0%}" for name, v in sorted(per_class, key=lambda p: -p[1]) if v >= 0.5]
        weak = [name for name, v in per_class if v < 0.1]
        if strong and weak:
            found.append(f"**Which classes**: the alignment comes from few classes ({', '.join(strong)} of their "
                         f"cells); for {len(weak)} of the {len(per_class)} classes present ({', '.join(weak)}) the own "
                         "region is the strongest for under 10% of the cells.")
    found.append(f"**Predicted class**: argmax$_k\\,w_{{ik}}$ is the pixel's own predicted class for "
                 f"{percent(a['top1_pred'])} of the cells.")
    shares = a["argmax_share"]
    rows = [sum(r_) for r_ in a["versus_truth"]]
    labelled = sum(rows)
    top = sorted(range(k), key=lambda j: -shares[j])[:2]
    parts = [f"{shares[j]:.0%} of the cells relate most to **{classes[j]}**"
             + (f" (a class that covers {percent(rows[j] / labelled)} of the labelled cells)" if labelled else "")
             for j in top if shares[j] >= 0.05]
    over = [j for j in top if labelled and shares[j] >= 0.1 and shares[j] >= 3 * rows[j] / labelled]
    bias = (f" {' and '.join(classes[j] for j in over)} draws far more pixels than it covers: a preference shared "
            "across the image, not object membership." if over else
            " One region drawing that many pixels, whatever object they are on, is a preference shared by the image, "
            "not object membership." if not labelled and shares[top[0]] >= 0.4 else "")
    found.append(f"**Most related region**: {', '.join(parts) or 'no region draws 5% of the cells'}.{bias}")
    if r["top1_truth"] is not None and a["top1_truth"] is not None:
        delta = r["top1_truth"] - a["top1_truth"]
        reading = ("so part of the relation is a per-region bias shared by all pixels, and the relative view "
                   "uncovers more object-wise structure" if delta > 0.05 else
                   "so a shared per-region bias is not what hides the own class" if delta > -0.05 else
                   "so dividing by the image mean makes the alignment worse: the bias is not the issue")
        found.append(f"**Relative view** ($w_{{ik}}$ divided by its image mean over the pixels): the own class is "
                     f"the strongest for {percent(r['top1_truth'])} of the labelled cells (absolute: "
                     f"{percent(a['top1_truth'])}), {reading}.")
    elif r["top1_pred"] is not None:
        found.append(f"**Relative view** ($w_{{ik}}$ divided by its image mean over the pixels): the strongest "
                     f"region is the predicted class for {percent(r['top1_pred'])} of the cells (absolute: "
                     f"{percent(a['top1_pred'])}).")
    m = s["m_tilde"]
    corr = m["spatial_correlation"]
    found.append(f"**w against m~**: a cell's strongest region is its soft region (argmax$_k M_{{ki}}$) for "
                 f"{percent(m['top1_soft_region'])} of the cells, and the region whose spatial softmax weights it "
                 f"most (argmax$_k\\,\\tilde m_{{ki}}$) for {percent(m['top1_m_tilde'])}; the map $w_{{:k}}$ "
                 f"correlates with $\\tilde m_k$ at {'n/a' if corr is None else f'{corr:.2f}'} on average.")
    return found


def y_consequence(share: float, entropy_mean: float, log_k: float, uniform_vs_ocr: tuple[float, float] | None = None,
                  decimals: int = 2) -> str:
    """What the measured relation means for y_i (Eq. 3): `share` is analysis.relation.share_beyond_global_mix
    on this image; `uniform_vs_ocr` the test-set mIoU with w = 1/K and with the model's w, if measured, written
    with `decimals` as in the table beside it (the difference taken of the rounded numbers)."""
    reading = ("so y_i is close to that global mix: nearly the same context for every pixel" if share < 0.2 else
               "so the relation does make the contexts of different pixels differ" if share < 0.5 else
               "so the contexts of different pixels differ a lot")
    text = (f"Eq. 3: $y_i = \\rho(\\sum_k w_{{ik}}\\,\\delta(f_k))$. A uniform relation "
            f"gives every pixel the same global mix $\\frac1K \\sum_k \\delta(f_k)$ of the region values. Measured "
            f"on this image (mean entropy of $w_i$ {entropy_mean:.2f}, uniform {log_k:.2f}): a pixel's mix differs "
            f"from the global one by {share:.0%} of its size on average, {reading}. (rho's BatchNorm then rescales "
            "these differences, so the y maps look more varied than the mixes are.)")
    if uniform_vs_ocr is not None:
        uniform, ocr = (round(100 * v, decimals) for v in uniform_vs_ocr)
        text += (f" Over the test set, replacing $w$ by 1/K changes the mIoU from {ocr:.{decimals}f} to "
                 f"{uniform:.{decimals}f} ({uniform - ocr:+.{decimals}f} points): that is how much the labels depend "
                 "on the pixel-specific part of the relation.")
    return text + " Look at y on the y/z page, and at the uniform relation on one image on the Ablations page."


NOISE_POINTS = 1.0  # mIoU points: the spread between two training seeds of the same head (the model card)


def ablation_reading(miou: dict[str, float], where: str, decimals: int = 1) -> str:
    """The ablations in words from the measured mIoU (0-1) per variant key (analysis.ablations.ORDER),
    never the expected ordering as a fact; `where` says what was scored ("on this image", ...). Points are
    written with `decimals`, as in the table beside it, and differences taken of the rounded scores."""
    def gap(a: str, b: str) -> float | None:
        return None if a not in miou or b not in miou else round(100 * miou[a], decimals) - round(100 * miou[b], decimals)

    def size(points: float) -> str:
        return "within the noise" if abs(points) < NOISE_POINTS else "a real difference" if abs(points) < 5 else "large"

    parts = []
    context = gap("ocr", "no_context")
    if context is not None:
        parts.append(f"OCR scores {context:+.{decimals}f} points against no context (the FCN head; {size(context)})")
    relation = gap("uniform", "ocr")
    if relation is not None:
        parts.append(f"replacing the relation by w = 1/K changes the score by {relation:+.{decimals}f} points "
                     f"({size(relation)}: {'the pixel-specific relation hardly matters for the labels' if abs(relation) < NOISE_POINTS else 'the relation matters'})")
    regions = gap("gt_regions", "ocr")
    if regions is not None:
        parts.append(f"ground-truth regions with the model's relation: {regions:+.{decimals}f} points")
    upper = gap("gt_ocr", "ocr")
    if upper is not None:
        parts.append(f"GT-OCR (ground-truth regions and relation): {upper:+.{decimals}f} points")
    if not parts:
        return ""
    return (f"Measured {where}: " + "; ".join(parts) + f". Differences under {NOISE_POINTS:g} point are within the "
            "run-to-run noise measured between two training seeds (model card).")


def pixel_relation_note(w_i, predicted: int, classes: list[str]) -> str:
    """One pixel's relation in words: its strongest region, and the weight and rank of its predicted class."""
    w_i = [float(v) for v in w_i]
    top = max(range(len(w_i)), key=w_i.__getitem__)
    rank = 1 + sum(v > w_i[predicted] for v in w_i)
    own = ("its strongest region is its own predicted class, as the paper's picture has it" if top == predicted else
           f"its predicted class **{classes[predicted]}** gets {w_i[predicted]:.3f}, rank {rank} of {len(w_i)}")
    return (f"This pixel is predicted **{classes[predicted]}**. Its strongest region is **{classes[top]}** "
            f"(w = {w_i[top]:.3f}, against 1/K = {1 / len(w_i):.3f}); {own}.")


def release_notes(meta: dict) -> list[str]:
    """How a converted release differs from the paper's description, read from its metadata
    (the About page shows these in place of the shipped model's deviations)."""
    arch, src, head = meta["arch"], meta["source"], meta["arch"]["head_kwargs"]
    if arch["backbone"] == "hrnet":
        where = (f"HRNetV2 `{arch['hrnet_layout']}`, its four branches upsampled to stride 4 and concatenated "
                 f"(align_corners={arch['align_corners']}); OCR runs at stride 4")
    else:
        where = (f"dilated ResNet-101 ({arch['resnet_stem']} deep stem) at output stride 8; the soft regions M are "
                 f"read off `{arch['aux_feature']}` by a {head['aux_kernel']}x{head['aux_kernel']} conv, x off `layer4`")
    reported = meta.get("reported") or {}
    notes = [
        f"**Converted checkpoint**: a {src['layout']} checkpoint `{src['file']}` ({src['repository']}), SHA-256 "
        f"`{(src.get('sha256') or '?')[:16]}...`, converted by `python -m ocr_viz.convert`; every tensor mapped.",
        f"**Backbone**: {where}.",
        f"**Head** as the release builds it: mid {head['mid_channels']}, key {head['key_channels']} channels; "
        f"g reads [y; x] (the paper writes [x; y]); relation logits scaled by key_channels^-0.5; "
        + ("biases on the 3x3 conv and the aux conv; " if head.get("conv_bias") else "")
        + ("biases on the 1x1 convs of phi, psi, delta, rho, g; " if head.get("attention_bias") else "")
        + (f"every ReLU leaky (slope {head['relu_slope']:g}: the release's InPlace-ABN BNReLU); " if head.get("relu_slope") else "")
        + f"spatial-softmax scale {head['temperature']:g}.",
        f"**Classes**: {len(meta['classes'])} ({meta.get('dataset_title', meta.get('dataset'))}); its own palette is one of the colour choices.",
        "**Inference here**: one scale (the app's input size), no flipping"
        + (f"; the source evaluates at {meta['eval_size'][0]} x {meta['eval_size'][1]}" if meta.get("eval_size") else "") + ".",
    ]
    if meta.get("input_note"):
        notes.append(f"**Input**: {meta['input_note']}.")
    if src.get("norm", {}).get("inplace_abn"):
        notes.append(f"**Normalisation**: {src['norm']['inplace_abn']} of its batch norms are InPlace-ABN (scale |weight| + eps, "
                     "stored here as plain BatchNorm).")
    if reported.get("miou") is not None:
        notes.append(f"**Reported**: {reported['miou']} mIoU ({reported['setting']}), by its release; not measured here.")
    elif reported.get("note"):
        notes.append(f"**Reported**: {reported['note']}.")
    return notes
