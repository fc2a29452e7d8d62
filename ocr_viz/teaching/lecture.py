"""Lecture mode as data: the pipeline in steps, each with a plain-language explanation, the
stage whose equations it shows, the code it shows, a figure of the current image, and a
"what to notice" prompt whose numbers are computed from this image.

Figures and facts are functions of a Scene (the trace arrays and the classes); the prompt
is a template filled with the facts. numpy, plotly, the figure builders and the analysis
summaries only. The relation steps state what this model does, measured on the image, never
the paper's idealised picture as a fact.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ocr_viz.analysis import relation as relation_stats, stats
from ocr_viz.model.arrays import TraceArrays
from ocr_viz.data.class_maps import GroundTruth, identity
from ocr_viz.figures import (Scale, class_bars, label_figure, map_figure, pca_caption, rgb_figure, score_bars,
                             similarity_figure)
from ocr_viz.figures.attention import term_bars
from ocr_viz.figures.charts import shown_classes
from ocr_viz.teaching import explain, transformer, worked_pixel


@dataclass(frozen=True)
class Scene:
    """What a step's figure and facts are computed from."""

    arrays: TraceArrays
    classes: list[str]
    palette: list[tuple[int, int, int]]
    truth: np.ndarray | None = None  # (H,W) ground truth, for dataset images
    pixel: tuple[int, int] | None = None  # a pixel and region chosen by a link or the user (else a typical one)
    region: int | None = None
    typical: bool = False  # `pixel` is the typical one the lecture chose (typical_pixel), kept for links
    scores: dict[str, float] | None = None  # mIoU % per ablation variant (name), for the last step's figure
    scored_on: str = ""  # where the scores come from: "on this image", "over 233 test images"
    model: object = None  # the Segmentor, whose head's modules recompute what the trace does not record
    ground: GroundTruth | None = None  # the labels read for this model (class_maps.ground_truth); else from `truth`

    @property
    def labels(self) -> GroundTruth | None:
        """The one path to ground truth: `ground`, or `truth` taken as the model's own classes."""
        if self.ground is not None or self.truth is None:
            return self.ground
        return GroundTruth(self.truth, identity(self.classes, "the labels"))

    @property
    def K(self) -> int:
        return len(self.classes)

    @property
    def largest(self) -> int:
        """The class with the most predicted pixels: the region the steps single out."""
        return int(np.argmax(stats.class_shares(self.arrays.pred, self.K)))


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    stage: str | None                # explain.STAGE_BY_KEY key: its equations, its box in the diagram
    text: str                        # plain-language explanation (markdown)
    notice: str                      # "what to notice": a template filled with facts(scene)
    sources: tuple[str, ...] = ()    # the code shown, dotted names under ocr_viz (explain.resolve)
    figure: Callable[[Scene], object] | None = None
    facts: Callable[[Scene], dict] = lambda scene: {}
    links: tuple[tuple[str, str], ...] = ()  # (page file, label): pages to go on to
    filled: Callable[[Scene], list[str]] | None = None  # equations with this image's numbers (LaTeX)

    def prompt(self, scene: Scene) -> str:
        return self.notice.format(**self.facts(scene))


# ---- facts: numbers from this image -----------------------------------------------------------

def goal_facts(scene: Scene) -> dict:
    shares = stats.class_shares(scene.arrays.pred, scene.K)
    return {"top_class": scene.classes[scene.largest], "top_share": shares[scene.largest],
            "present": int((shares > 0).sum()), "K": scene.K}


def pixel_facts(scene: Scene) -> dict:
    a = scene.arrays
    _, share = stats.pca_rgb(a.x)
    h, w = a.grid
    return {"n": h * w, "h": h, "w": w, "stride": a.stride, "c": a.x.shape[0], "share": float(share.sum())}


def region_facts(scene: Scene) -> dict:
    agree = float((scene.arrays.aux_pred == scene.arrays.pred).mean())
    reading = ("OCR refines these regions rather than starting over" if agree >= 0.7 else
               "here OCR changes much of the first guess (expected of an untrained head; rare for a trained one)")
    return {"agree": agree, "reading": reading}


def weight_facts(scene: Scene) -> dict:
    m = scene.arrays.m_tilde[scene.largest]
    return {"cls": scene.classes[scene.largest], "n": m.size, "top": stats.share_of_top(m, 10), "even": 10 / m.size}


def object_facts(scene: Scene) -> dict:
    raw = stats.cosine_similarity(scene.arrays.f)
    centred = stats.cosine_similarity(scene.arrays.f, centred=True)
    off = ~np.eye(scene.K, dtype=bool)
    masked = np.where(off, centred, np.nan)
    best = np.unravel_index(np.nanargmax(masked), masked.shape)
    worst = np.unravel_index(np.nanargmin(masked), masked.shape)
    name = scene.classes.__getitem__
    return {"min_raw": float(raw[off].min()), "a1": name(best[0]), "a2": name(best[1]), "best": float(centred[best]),
            "b1": name(worst[0]), "b2": name(worst[1]), "worst": float(centred[worst])}


def decimals(a: float, b: float, fewest: int = 2) -> int:
    """The fewest decimals (at least `fewest`, at most 8) that tell a and b apart."""
    return next((d for d in range(fewest, 9) if f"{a:.{d}f}" != f"{b:.{d}f}"), 8)


BORDER = 2  # cells: a typical pixel's circle must lie inside the map


def typical_pixel(scene: Scene) -> tuple[int, int]:
    """A cell predicted as the largest class, at least BORDER cells from the map's edge (its circle
    drawn whole), whose relation entropy is the median of those cells: a typical pixel of the region,
    not a hand-picked one (any cell of the class if none is that far in; the centre if there is none)."""
    cells = relation_stats.cell_predictions(scene.arrays.logits) == scene.largest
    entropy = stats.entropy(scene.arrays.w, axis=0)
    inner = np.zeros_like(cells)
    inner[BORDER:-BORDER, BORDER:-BORDER] = True
    if (cells & inner).any():
        cells = cells & inner
    if not cells.any():
        return entropy.shape[0] // 2, entropy.shape[1] // 2
    rows, cols = np.nonzero(cells)
    order = np.argsort(entropy[rows, cols], kind="stable")
    middle = order[len(order) // 2]
    return int(rows[middle]), int(cols[middle])


def focus(scene: Scene) -> tuple[int, tuple[int, int], bool]:
    """(region k, pixel, typical?): the scene's chosen pixel and region, else the largest region and a
    typical pixel of it."""
    if scene.pixel is not None and scene.region is not None:
        typical = scene.typical and (scene.region, scene.pixel) == (scene.largest, typical_pixel(scene))
        return scene.region, scene.pixel, typical
    return scene.largest, typical_pixel(scene), True


def relation_summary(scene: Scene) -> dict:
    """analysis.relation's statistics of this image (with its ground truth when there is one)."""
    labels = scene.labels
    return relation_stats.image_summary(scene.arrays, scene.classes, None if labels is None else labels.model_labels)


def relation_facts(scene: Scene) -> dict:
    s = relation_summary(scene)
    w = scene.arrays.w
    k, (row, col), typical = focus(scene)
    top = int(w[:, row, col].argmax())
    predicted = int(relation_stats.cell_predictions(scene.arrays.logits)[row, col])
    mean, uniform = s["entropy"]["mean"], s["entropy"]["log_k"]
    d = decimals(mean, uniform)
    bias_cls, bias_share = explain.strongest_region(s, scene.classes)
    top1 = s["absolute"]["top1_truth"]
    mapped = scene.labels is not None and not scene.labels.map.exact
    truth_note = (f" Against the ground truth, the strongest region is the true class for {top1:.0%} of the "
                  f"labelled cells" + (f" of the classes that are one model class each ({', '.join(scene.labels.map.one_to_one())})"
                                       if mapped else "") + f": {explain.alignment_verdict(top1)}." if top1 is not None else
                  " (Choose a CamVid image to compare with the ground truth.)")
    return {"mean": f"{mean:.{d}f}", "uniform": f"{uniform:.{d}f}",
            "reading": explain.entropy_reading(mean, uniform), "row": row, "col": col, "cls": scene.classes[k],
            "which": (f"a typical **{scene.classes[k]}** pixel" if typical else
                      f"the chosen pixel, predicted **{scene.classes[predicted]}**"),
            "top_cls": scene.classes[top], "top": float(w[top, row, col]), "own": float(w[k, row, col]),
            "chance": 1 / scene.K, "aligned": s["absolute"]["top1_pred"], "bias_cls": bias_cls,
            "bias_share": bias_share, "truth_note": truth_note}


def context_facts(scene: Scene) -> dict:
    _, share_x = stats.pca_rgb(scene.arrays.x)
    _, share_y = stats.pca_rgb(scene.arrays.y)
    mean, uniform = float(stats.entropy(scene.arrays.w, axis=0).mean()), math.log(scene.K)
    mix = ("so y_i here is close to one global mix of the region values, nearly the same for every pixel"
           if mean >= 0.9 * uniform else "so pixels with different relations get visibly different contexts")
    return {"K": scene.K, "share_x": float(share_x.sum()), "share_y": float(share_y.sum()),
            "mean": mean, "uniform": uniform, "mix": mix}


def output_facts(scene: Scene) -> dict:
    change = stats.changes(scene.arrays.aux_pred, scene.arrays.pred)
    truth = None if scene.labels is None else scene.labels.changes(scene.arrays.aux_pred, scene.arrays.pred)
    truth_note = (f" Against the ground truth, {truth['fixed']:,} of them became right and {truth['broken']:,} "
                  "became wrong." if truth is not None else
                  " (Choose a CamVid image to see how many of them became right.)")
    return {"changed": change["changed"], "total": change["total"], "share": change["changed"] / change["total"],
            "truth_note": truth_note}


def whatif_facts(scene: Scene) -> dict:
    mean_max, uniform = float(scene.arrays.w.max(0).mean()), 1 / scene.K
    d = decimals(mean_max, uniform, 3)
    return {"mean_max": f"{mean_max:.{d}f}", "uniform": f"{uniform:.{d}f}"}


# ---- figures: the existing builders, on this image ----------------------------------------------

def goal_figure(scene: Scene):
    return label_figure(scene.arrays.image, scene.arrays.pred, scene.classes, scene.palette,
                        "the model's segmentation of this image", height=520)


def pixel_figure(scene: Scene):
    rgb, share = stats.pca_rgb(scene.arrays.x)
    return rgb_figure(rgb, f"x_i: PCA of the {scene.arrays.x.shape[0]} channels", pca_caption(share), height=520)


def region_figure(scene: Scene):
    return label_figure(scene.arrays.image, scene.arrays.aux_pred, scene.classes, scene.palette,
                        "argmax_k M_k: the soft object regions as a coarse segmentation", height=520)


def weight_figure(scene: Scene):
    k = scene.largest
    return map_figure(scene.arrays.m_tilde[k], f"m~_k for {scene.classes[k]}: each pixel's weight in the region",
                      Scale("log"), image=scene.arrays.image, opacity=0.75, value_name="m~_k", height=520)


def object_figure(scene: Scene):
    return similarity_figure(stats.cosine_similarity(scene.arrays.f, centred=True), scene.classes,
                             "how alike the region vectors f_k are (cosine, centred)", height=520)


def relation_figure(scene: Scene):
    """The map of w_ik for the region in focus (the largest) with its pixel circled (a typical one), and that
    pixel's bars over the K regions."""
    k, (row, col), _ = focus(scene)
    w = scene.arrays.w
    entropy = stats.entropy(w[:, row, col], axis=0)
    region = map_figure(w[k], f"w_ik for region k = {scene.classes[k]}, every pixel i", Scale("percentile"),
                        image=scene.arrays.image, opacity=0.7, value_name="w_ik", pixel=(row, col), height=520)
    bars = class_bars(w[:, row, col], scene.classes, scene.palette, f"w_i of the circled pixel (row {row}, col {col})",
                      f"entropy {entropy:.3f} (uniform {math.log(scene.K):.3f})", value_name="w_ik",
                      reference=1 / scene.K, reference_name="1/K", highlight=k, height=520)
    return region, bars


def whatif_figure(scene: Scene):
    """The ablations' mIoU per variant (scene.scores), or None when none were measured for this image or model."""
    if not scene.scores:
        return None
    names = list(scene.scores)
    return score_bars(names, [scene.scores[n] for n in names], f"mean IoU per variant, {scene.scored_on}",
                      "dashed: the model's OCR; the Ablations page has the table", baseline=next(
                          (n for n in names if n.startswith("OCR")), None), height=520)


def context_figure(scene: Scene):
    rgb, share = stats.pca_rgb(scene.arrays.y)
    return rgb_figure(rgb, "y_i: PCA of the object contextual representations", pca_caption(share), height=520)


def output_figure(scene: Scene):
    a = scene.arrays
    return label_figure(a.image, a.pred, scene.classes, scene.palette, "pixels whose label OCR changed",
                        opacity=1.0, mask=a.pred != a.aux_pred,
                        caption="coloured by the final label; the rest dimmed", height=520)


STEPS = (
    Step(
        "goal", "What the model does", "segmentation",
        "Semantic segmentation gives **every pixel a class**: road, car, sky... OCR's idea (Yuan, Chen, Wang, "
        "ECCV 2020) is that *the class of a pixel is the class of the object it belongs to*. So before deciding, "
        "each pixel looks at the **objects** in the image, not only at its own neighbourhood. This lecture follows "
        "one image through every stage of that computation.",
        "Here the model labels {top_share:.0%} of the pixels **{top_class}** and finds {present} of the {K} "
        "classes. Keep this picture in mind: every later step explains a part of how it was made.",
        ("segmentor.Segmentor.trace",), goal_figure, goal_facts,
    ),
    Step(
        "pixels", "Pixel representations x_i", "pixels",
        "A backbone network (here EfficientNet-Lite0) turns the image into a grid of feature vectors, coarser "
        "than the image: one vector **x_i** per cell *i*. Each vector describes what the network sees around "
        "that cell. All of OCR works on this grid.",
        "Each of the n = {n:,} grid cells ({h} x {w}; one cell covers {stride:g} x {stride:g} input pixels) has "
        "a {c}-dimensional x_i. The colours show the first three principal components, which explain {share:.0%} "
        "of the variance: cells with the same colour look alike to the head.",
        ("segmentor.fuse",), pixel_figure, pixel_facts,
    ),
    Step(
        "regions", "Soft object regions M_k", "regions",
        "A small extra head makes a **first guess**: for each class *k*, a map **M_k** saying how much each cell "
        "looks like that class. Trained on the ground truth, these maps are a rough segmentation. They are "
        "'soft': every cell belongs a little to every region.",
        "The coarse segmentation from M agrees with the final one on {agree:.1%} of the pixels: {reading}.",
        ("heads.ocr.OCRHead.trace",), region_figure, region_facts,
    ),
    Step(
        "weights", "Spatial softmax m~_k", "regions",
        "To describe a region by one vector, OCR needs weights that say **how much each cell counts in region k**. "
        "It takes a softmax of M_k over all cells of the image (not over the classes): the weights **m~_k** are "
        "positive and sum to 1 over the image.",
        "For **{cls}** (the largest region here) the 10 heaviest of the {n:,} cells hold {top:.1%} of the weight "
        "m~_k; equal weights would give them {even:.2%}. Where a few confident cells dominate a region, m~ looks "
        "speckled on a linear scale, hence the log scale here.",
        ("heads.ocr.m_tilde",), weight_figure, weight_facts,
    ),
    Step(
        "objects", "Object region representations f_k (Eq. 4)", "objects",
        "Each region becomes **one vector f_k**: the average of the pixel vectors x_i, weighted by m~_k. "
        "So f_k summarises 'what the road looks like in this image', 'what the cars look like', computed "
        "from this image alone.",
        "Uncentred, every pair of region vectors has cosine at least {min_raw:.2f} (averages of non-negative "
        "vectors all point into one orthant). Centred, the most alike are **{a1}** and **{a2}** ({best:.2f}) and "
        "the least alike **{b1}** and **{b2}** ({worst:.2f}).",
        ("heads.ocr.f",), object_figure, object_facts,
    ),
    Step(
        "relation", "Pixel-region relation w_ik (Eq. 5)", "relation",
        "Now each pixel compares its own vector with every region vector (a dot product after two small "
        "transforms, phi and psi) and turns the K scores into weights **w_ik** that sum to 1 over the regions: "
        "attention over objects, not over pixels. The paper's idea is that a pixel relates most to the region "
        "of **its own object**. Whether a trained model does that is a measurement, not a given: the map shows "
        "one region's weight at every pixel, the bars one pixel's weights over all regions.",
        "The mean entropy of w_i here is {mean} nats, against {uniform} for a uniform relation (log K): "
        "the relation is {reading}. The circled pixel (row {row}, col {col}), {which}, puts "
        "{own:.0%} on **{cls}** and the most, {top:.0%}, on **{top_cls}** (1/K = {chance:.0%}). Over the image, "
        "the strongest region is the cell's own predicted class for {aligned:.0%} of the cells, and {bias_share:.0%} "
        "of the cells relate most to **{bias_cls}**.{truth_note}",
        ("heads.ocr.kappa", "heads.ocr.w"), relation_figure, relation_facts,
        (("pages/relation.py", "w_ik: click any pixel"),
         ("pages/relation_truth.py", "What the relation really does: measured over the test set")),
    ),
    Step(
        "context", "Object contextual representation y_i (Eq. 3)", "context",
        "Each pixel gathers the regions: the **w_ik-weighted sum** of the (transformed) region vectors, "
        "transformed once more. That is **y_i**, the pixel's object context. A pixel with a decided relation "
        "gets mostly one region's value; with a near-uniform relation, every pixel gets nearly the same mix.",
        "y_i mixes only K = {K} region values, so it is simpler than x_i: three principal components explain "
        "{share_y:.0%} of its variance, against {share_x:.0%} for x_i. The relation's mean entropy here is "
        "{mean:.2f} of {uniform:.2f} nats, {mix}.",
        ("heads.ocr.context", "heads.ocr.OCRHead.y"), context_figure, context_facts,
    ),
    Step(
        "output", "Augmented representation z_i (Eq. 6) and the labels", "context",
        "Finally each pixel's own vector x_i and its context y_i are **concatenated** and transformed into "
        "**z_i**; a 1x1 convolution maps z_i to K class scores, which are upsampled to the image, and each "
        "pixel takes the most likely class.",
        "OCR changed the label of {changed:,} of {total:,} pixels ({share:.1%}) compared with the soft "
        "regions' first guess.{truth_note}",
        ("heads.ocr.OCRHead.z", "segmentor.Segmentor.trace"), output_figure, output_facts,
    ),
    Step(
        "whatif", "Take it apart", None,
        "The paper tests its idea by **ablation**: replace the soft regions with the ground truth (GT-OCR, the "
        "upper bound), give every pixel the same relation, or remove the context module altogether. The "
        "**Ablations** page runs these on a CamVid image and scores them; the **Interventions** page lets you "
        "change one stage by hand and see what follows.",
        "On this image a pixel's largest relation weight is {mean_max} on average, against 1/K = "
        "{uniform} for a uniform relation. Question for the class: how much of the accuracy do you expect to "
        "lose with w = 1/K? Check it on the Ablations page.",
        (), whatif_figure, whatif_facts,
        (("pages/ablations.py", "Ablations: GT-OCR, uniform relation, no context"),
         ("pages/interventions.py", "Interventions: temperature, suppress a region, set w by hand")),
    ),
)


# ---- one pixel worked through (Eq. 5, 3, 6 with its numbers) ---------------------------------------

def worked(scene: Scene) -> worked_pixel.WorkedPixel:
    """The relation step's pixel (chosen by a link or a click, else a typical one), worked through with
    the head's own modules."""
    _, pixel, _ = focus(scene)
    return worked_pixel.work(scene.model.head, scene.arrays, *pixel)


def worked_facts(scene: Scene) -> dict:
    w = worked(scene)
    k, biggest = int(np.argmax(w.w)), int(np.argmax(w.sizes))
    name = scene.classes.__getitem__
    return {"row": w.row, "col": w.col, "i": w.index, "top": name(k), "w": float(w.w[k]), "total": w.total,
            "sum": float(w.w.sum()), "biggest": name(biggest), "share": float(w.sizes[biggest] / w.sizes.sum()),
            "x": float(np.linalg.norm(w.x)), "y": float(np.linalg.norm(w.y)), "before": name(w.soft_class),
            "after": name(w.final_class)}


def worked_figure(scene: Scene):
    w = worked(scene)
    shown, rest = shown_classes(w.sizes)  # every region up to 20 (the equation writes out fewer)
    others = (f"the other {len(rest)} (their sum)", float(np.linalg.norm(w.parts[rest].sum(0)))) if len(rest) else None
    return term_bars(w.sizes[shown], [scene.classes[k] for k in shown], [scene.palette[k] for k in shown],
                     f"Eq. 3's terms ||w_ik delta(f_k)||, pixel i = {w.index}", "largest first", rest=others,
                     value_name="||w_ik delta(f_k)||", height=520)


def worked_equations(scene: Scene) -> list[str]:
    w = worked(scene)
    return worked_pixel.relation_equations(w, scene.classes) + worked_pixel.context_equations(w, scene.classes)


STEPS = STEPS + (
    Step(
        "worked", "One pixel worked through (Eq. 5, 3, 6)", None,
        "The same computation for **one pixel**, with the numbers on the board: its relation logits "
        "kappa_ik to every region, the softmax of Eq. 5 written out with its sum, the weights w_ik; then "
        "y_i as the w-weighted sum of the region values delta(f_k), and how large each region's term is; "
        "then z_i and the class the pixel gets.",
        "Pixel i = {i} (row {row}, col {col}, the circled pixel of the relation step): the softmax's sum is "
        "{total:.4g} and its largest weight, {w:.3f}, goes to **{top}**; the w_ik add up to {sum:.6f}. The "
        "largest term of Eq. 3 is **{biggest}**'s ({share:.0%} of the summed term sizes). ||x_i|| = {x:.3g}, "
        "||y_i|| = {y:.3g}. Its label: **{before}** from the soft regions, **{after}** after OCR.",
        ("heads.ocr.kappa", "heads.ocr.w", "heads.ocr.context"), worked_figure, worked_facts,
        (("pages/relation.py", "w_ik: click any pixel, Eq. 5 worked through below the bars"),
         ("pages/context.py", "y_i, z_i: Eq. 3 and 6 worked through for the chosen pixel")),
        filled=worked_equations,
    ),
)


# ---- OCR as a Segmentation Transformer ------------------------------------------------------------

_last_reading: tuple | None = None  # (model, arrays, reading): the step's facts and equations share one reading


def reading(scene: Scene) -> transformer.Reading:
    """The Transformer reading of the scene, computed once for its facts and its equations (one tuple,
    read and replaced whole, so sessions running at once never pair one trace with another's reading)."""
    global _last_reading
    last = _last_reading
    if last is None or last[0] is not scene.model or last[1] is not scene.arrays:
        last = _last_reading = (scene.model, scene.arrays, transformer.read(scene.model, scene.arrays))
    return last[2]


def transformer_facts(scene: Scene) -> dict:
    r = reading(scene)
    return {"K": scene.K, "n": r.pixels, "s": r.temperature, "width": r.aux_width, "spread": float(np.median(r.spread)),
            "scaled": float(np.median(r.spread_scaled)), "worst": r.worst, "from_x": r.from_x, "from_y": r.from_y}


def transformer_figure(scene: Scene):
    """Query k's attention over the pixels (the decoder) and a typical pixel's attention over the regions (the encoder)."""
    k, (row, col), _ = focus(scene)
    a = scene.arrays
    decoder = map_figure(a.m_tilde[k], f"decoder: query {scene.classes[k]}, its attention m~_k", Scale("log"),
                         image=a.image, opacity=0.75, value_name="m~_k", height=520)
    encoder = class_bars(a.w[:, row, col], scene.classes, scene.palette,
                         f"encoder: pixel (row {row}, col {col}), its attention w_i", "over the K regions; sums to 1",
                         value_name="w_ik", reference=1 / scene.K, reference_name="1/K", height=520)
    return decoder, encoder


STEPS = STEPS + (
    Step(
        "transformer", "OCR as a Segmentation Transformer", None,
        "The paper's later versions (arXiv:1909.11065, retitled *Segmentation Transformer*) read the same "
        "computation as **two cross-attentions**, softmax(Q K^T / sqrt(d)) V. In the **decoder**, one query per "
        "class attends over the pixels: the attention weights are the soft regions m~_k and the outputs the region "
        "vectors f_k. In the **encoder**, every pixel attends over those K regions: the attention is the relation "
        "w_ik and the output, after rho, the context y_i. The queries are not learned embeddings but the rows of "
        "the soft-region classifier, and the decoder's attention is supervised by the ground truth.",
        "Recomputed from this model's Q, K and V, the attention reproduces the trace to a relative error of "
        "{worst:.0e}. The decoder's softmax has scale s = {s:g}, not 1/sqrt({width}): each region averages a median "
        "of {spread:,.0f} of the {n:,} pixels; with the Transformer's 1/sqrt(d) it would be {scaled:,.0f}, nearly "
        "all of them. g mixes the pixel's own part (mean length {from_x:.3g}) with its context ({from_y:.3g}) "
        "where a Transformer block would add a residual and a feed-forward layer.",
        ("transformer.category_queries", "transformer.attention"), transformer_figure,
        transformer_facts, (("pages/transformer.py", "OCR as a Segmentation Transformer: every role, the checks, "
                             "where the analogy breaks"),),
        filled=lambda scene: transformer.filled(reading(scene)),
    ),
)
STEP_BY_KEY = {s.key: s for s in STEPS}
