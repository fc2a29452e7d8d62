"""OCR beside the FCN, ASPP, Non-local and base-OC heads on the same backbone features: their
predictions, where they disagree, what each head looks at for the chosen pixel, and accuracy."""
import numpy as np
import streamlit as st

from ocr_viz.analysis import compare, relation
from ocr_viz.app import model_choice, session, transport
from ocr_viz.data.classes import truth_mismatch
from ocr_viz.figures import class_bars_spec, label_figure, map_spec
from ocr_viz.figures.compare import BRANCH_COLOURS, predictions_spec, sampling_spec
from ocr_viz.figures.ocnet import partition_spec
from ocr_viz.figures.spec import narrow_spec
from ocr_viz.teaching import explain
from ocr_viz.training import results
from pages._layout import class_legend, figure_columns, scale_picker, table

current = session.current()
if truth_mismatch(current.classes):
    st.title("Compare the heads")
    st.info(f"The comparison heads (FCN, ASPP, Non-local, base-OC, OCR) are trained on CamVid's 11 classes; the "
            f"loaded model has {len(current.classes)} classes of another dataset, so a side-by-side comparison on "
            "the same features does not apply to it. Choose the shipped OCR model in the sidebar to compare the "
            "heads.", icon=":material/info:")
    st.stop()
comparison_key, comparison = model_choice.comparison()
classes, palette, runs = current.classes, current.palette, comparison.runs

st.title("Compare the heads: " + ", ".join(compare.TITLES.values()))
st.caption(f"{current.image_label}; " + (
    f"all {len(runs)} heads read the same backbone features, computed once" if comparison.backbone_runs == 1 else
    f"**the heads' backbones differ** ({comparison.backbone_runs} distinct backbones, e.g. trained and untrained), "
    "so the heads do not see the same features"))
st.markdown(
    "Five ways to give a pixel context, on the same features: **FCN** none (a 3x3 window); **ASPP** dilated 3x3 "
    "convolutions that sample pixels 12, 24 and 36 cells away, plus the image average; **Non-local** and "
    "**base-OC** attention of every pixel on every pixel ($n^2$ weights); **OCR** attention of every pixel on "
    "$K$ object regions ($nK$ weights), each region a weighted average of pixels. OCNet's **Pyramid-OC** "
    "restricts base-OC's attention to partitions of a 1x1 to 6x6 pyramid, **ASP-OC** puts it in ASPP's place of "
    "image pooling. How object-wise OCR's "
    "relation really is, is measured for the chosen pixel below and over the test set on the page *What the "
    "relation really does*.")
untrained = [r.title for r in runs.values() if not r.trained]
if untrained:
    st.warning(f"**Untrained weights** for {', '.join(untrained)}: ImageNet backbone, randomly initialised head. "
               "Their predictions and attention show the computation, not what training teaches.",
               icon=":material/warning:")
if not current.model_key.startswith(f"{session.SHIPPED}:{session.SHIPPED_NAME}:"):
    st.info("The comparison uses the shipped models (its OCR is the default model, on whose backbone the other "
            "heads were trained), not the model chosen in the sidebar.")
for run in runs.values():
    if run.refused:
        st.warning(f"**{run.title}** did not run on this image: {run.refused}", icon=":material/memory:")

if not comparison.ran:
    st.stop()
grid = comparison.grid
# Per comparison (its key names the heads' weights and the image), not per rerun: the IoUs over the full-size
# maps and the classes present were over a third of this page's server CPU on every rerun.


def computed_once(what: str, compute):
    return model_choice.derived(f"compare.{what}.{comparison_key}", compute)


scores = {}
if current.truth is not None:
    scores = {row["head"]: row for row in computed_once(
        "image_scores", lambda: compare.image_scores(comparison, current.truth, classes))}


def score_text(run: compare.HeadRun) -> str:
    miou = scores.get(run.title, {}).get("mIoU")
    return f"mIoU on this image {miou:.1f}%" if miou is not None else ""


st.subheader("Predictions, and where they disagree")
opacity = st.slider("opacity over the image", 0.0, 1.0, 0.6, key="compare.opacity")
class_legend(classes, palette, computed_once("predicted_classes",
                                             lambda: np.unique([run.arrays.pred for run in comparison.ran])))
# One figure for every head's prediction: as separate figures they were seven of the charts the browser had to
# draw on this page's first visit. In large type it takes the page's width, two predictions a row.
large = bool(st.session_state.get(session.LARGE_TYPE))
predictions, disagreement = (st.container(), st.columns(2)[0]) if large else st.columns([2, 1])
with predictions:
    transport.chart(predictions_spec(comparison.image, [run.arrays.pred for run in comparison.ran],
                                     [run.title for run in comparison.ran], [score_text(run) for run in comparison.ran],
                                     palette, "each head's prediction (argmax), over the image",
                                     opacity=opacity))
with disagreement:
    transport.chart(narrow_spec(map_spec(
        compare.distinct_labels(comparison), "distinct labels per pixel: click one",
        image=comparison.image, opacity=0.7, colours="Reds", value_name="labels",
        clickable=True, height=340)), clickable_key="compare.click.disagree")
    agree = compare.agreement(comparison)
    st.caption(f"Disagreement map: 1 = all {len(comparison.ran)} heads give the same class at that feature-map pixel. "
               "Share of the image where each head agrees with OCR: "
               + ", ".join(f"{runs[name].title} {share:.0%}" for name, share in agree.items() if name != "ocr") + ".")


def attention_panel(name: str, title: str, values_of, pixel: tuple[int, int], scale, opacity: float) -> None:
    """One head's attention map for the pixel, or why it is not available."""
    run = runs.get(name)
    if run is None or run.arrays is None:
        st.warning(f"{compare.TITLES[name]}: not available for this image" + (f" ({run.refused})" if run else ""))
        return
    values = values_of(run)
    transport.chart(narrow_spec(map_spec(values, title, scale, image=comparison.image, opacity=opacity,
                                         value_name="a_ij", pixel=pixel, clickable=True, height=360)),
                    clickable_key=f"compare.click.{name}")
    st.caption(f"spread {compare.effective_pixels(values):,.0f} of {values.size:,} pixels; largest weight "
               f"{values.max():.3g}, on the pixel itself {values[pixel]:.3g}")


# The per-pixel figures one group of heads at a time: each is a map of thousands of values (or a chart)
# that the browser draws on the first visit, and all 13 of them made that visit take over 3 s.
# st.tabs or an expander would still build and send every one.
GROUPS = {"attention": "attention: Non-local, base-OC, OCR", "aspp": "ASPP", "ocnet": "OCNet: Pyramid-OC, ASP-OC"}


@session.fragment
def for_one_pixel():
    """What each head looks at for the chosen pixel: a click on one of these maps reruns this part alone."""
    st.subheader("What each head looks at for one pixel")
    # full width: in the controls' column its three long options were cut off
    group = st.segmented_control("heads", list(GROUPS), format_func=GROUPS.get, default="attention",
                                 required=True, key="compare.heads", persist_state="session",
                                 help="the per-pixel figures of one group of heads at a time")
    controls, notes = st.columns([1, 3])
    with controls:
        row, col = session.pixel_picker()
        row, col = min(row, grid[0] - 1), min(col, grid[1] - 1)
        scale = scale_picker("compare.attention", "log")
        map_opacity = st.slider("opacity of the maps", 0.0, 1.0, 0.7, key="compare.map_opacity")
    at = f"pixel ({row}, {col})"
    with notes:
        st.markdown(
            f"Pixel i = {row * grid[1] + col} (row {row}, col {col}) of the {grid[0]} x {grid[1]} feature map, circled "
            "in white; click any map to choose another. Choose the heads above: **attention** (Non-local, base-OC "
            "and OCR), **ASPP**, or OCNet's **Pyramid-OC** and **ASP-OC**. **FCN** has no context module: it sees its "
            "3x3 window of backbone features (and what the backbone's receptive field brings), nothing per pixel to "
            "show.")
        if group == "attention":
            st.markdown(
                "The three maps are distributions over all pixels j (each sums to 1): for Non-local and base-OC the "
                "attention row $a_{ij}$; for OCR the attention its region detour amounts to, "
                r"$a_{ij} = \sum_k w_{ik}\,\tilde m_{kj}$ (Eq. 4 inside Eq. 3: "
                r"$\sum_k w_{ik} f_k = \sum_j a_{ij} x_j$, before $\delta$). 'Spread' is $e^{\text{entropy}}$: the "
                "number of pixels the weight is spread over.")
    if group == "attention":
        attention_for_one_pixel((row, col), at, scale, map_opacity)
    elif group == "aspp":
        aspp_for_one_pixel((row, col), at)
    else:
        ocnet_for_one_pixel((row, col), at, scale, map_opacity)


def attention_for_one_pixel(pixel: tuple[int, int], at: str, scale, map_opacity: float) -> None:
    """Non-local's and base-OC's attention rows, OCR's pixel attention and its relation w_i."""
    left, middle, right = figure_columns(3)
    with left:
        attention_panel("nonlocal", f"Non-local, {at}: softmax_j(theta_i . phi_j)",
                        lambda r: compare.attention_map(r, pixel), pixel, scale, map_opacity)
    with middle:
        attention_panel("baseoc", f"base-OC, {at}: softmax_j(q_i . q_j / sqrt(d))",
                        lambda r: compare.attention_map(r, pixel), pixel, scale, map_opacity)
    with right:
        attention_panel("ocr", f"OCR, {at}: sum_k w_ik m~_kj",
                        lambda r: compare.ocr_pixel_attention(r.arrays, pixel), pixel, scale, map_opacity)
    ocr = runs.get("ocr")
    if ocr is None or ocr.arrays is None:
        return
    left, _, _ = figure_columns(3)
    with left:
        K = len(classes)
        relation_i = compare.ocr_relation(ocr.arrays, pixel)
        transport.chart(narrow_spec(class_bars_spec(relation_i, classes, palette,
                                                    f"OCR, {at}: w_i, the relation to the K regions", "Eq. 5; sums to 1",
                                                    value_name="w_ik", reference=1 / K, reference_name="1/K",
                                                    height=360)))
        cells = relation.cell_predictions(ocr.arrays.logits)
        st.caption(explain.pixel_relation_note(relation_i, int(cells[pixel]), classes).replace("**", "")
                   + f" Its pixel attention differs from the one a uniform relation gives (the mean of the K maps "
                   f"m~_k) by a total variation of {compare.ocr_distance_from_uniform(ocr.arrays, pixel):.2f} "
                   "(0: the same, 1: disjoint).")


def aspp_for_one_pixel(pixel: tuple[int, int], at: str) -> None:
    """The cells ASPP's branches read for the pixel, and each branch's share of its output."""
    aspp = runs.get("aspp")
    if aspp is None or aspp.arrays is None:
        st.warning(f"{compare.TITLES['aspp']}: not available for this image" + (f" ({aspp.refused})" if aspp else ""))
        return
    left, right, _ = figure_columns(3)
    with left:
        taps = compare.aspp_taps(aspp.rates, pixel, grid)
        transport.chart(narrow_spec(sampling_spec(comparison.image, grid, pixel,
                                                  [(t.branch, t.cells, t.inside) for t in taps],
                                                  f"ASPP, {at}: the cells each branch reads", height=360)))
    with right:
        names = compare.branch_names(aspp.rates)
        transport.chart(narrow_spec(class_bars_spec(compare.aspp_contributions(aspp, pixel), names,
                                                    BRANCH_COLOURS[:len(names)], f"ASPP, {at}: each branch's share",
                                                    "||W_r a_r||, its term in the 1x1 projection", value_name="norm",
                                                    height=360)))
    st.caption("ASPP's atrous taps lie rate cells apart on the feature map (x 8 input pixels); those outside the "
               "map read zeros (padding). The image-pooling branch reads every pixel equally (the global average).")


def ocnet_for_one_pixel(pixel: tuple[int, int], at: str, scale, map_opacity: float) -> None:
    """OCNet's Pyramid-OC (attention inside the pixel's partition, per level) and ASP-OC (branch shares)."""
    pyramid, asp = runs.get("pyramid_oc"), runs.get("asp_oc")
    if pyramid is not None and pyramid.arrays is not None:
        st.markdown("**Pyramid-OC** (OCNet): base-OC's attention, but only over the pixels of the pixel's own "
                    "partition, at each level of a 1x1, 2x2, 3x3 and 6x6 split of the feature map (PSPNet's bins); "
                    "the four contexts are concatenated. Dotted: the level's partitions; white frame: this pixel's. "
                    "Each map sums to 1 and is zero outside the frame.")
        levels = compare.pyramid_attention(pyramid, pixel)
        for column, level in zip(figure_columns(len(levels), per_row=2), levels):  # four a row: 40 px maps
            with column:
                transport.chart(partition_spec(level.values, f"Pyramid-OC {level.s}x{level.s}, {at}",
                                               (level.rows, level.cols), pixel, scale, image=comparison.image,
                                               opacity=map_opacity, height=320),
                                clickable_key=f"compare.click.pyramid_oc.{level.s}")
                st.caption(f"its partition: {level.cells:,} pixels; spread {compare.effective_pixels(level.values):,.0f}; "
                           f"largest weight {level.values.max():.3g}")
    if asp is not None and asp.arrays is not None:
        left, middle, right = figure_columns(3)
        names = compare.asp_oc_branch_names(asp.rates)
        with left:
            taps = compare.aspp_taps(asp.rates, pixel, grid)
            transport.chart(narrow_spec(sampling_spec(comparison.image, grid, pixel,
                                                      [(t.branch, t.cells, t.inside) for t in taps],
                                                      f"ASP-OC, {at}: the cells its convolutions read", height=360)))
        with middle:
            values, cell = compare.asp_oc_attention(asp, pixel)
            transport.chart(narrow_spec(map_spec(values, f"ASP-OC, {at}: its object context's attention", scale,
                                                 image=comparison.image, opacity=map_opacity, value_name="a_ij",
                                                 pixel=cell, height=360)))
        with right:
            colours = [BRANCH_COLOURS[-1], *BRANCH_COLOURS[:len(names) - 1]]  # object context, then as ASPP's
            transport.chart(narrow_spec(class_bars_spec(compare.aspp_contributions(asp, pixel), names, colours,
                                                        f"ASP-OC, {at}: each branch's share",
                                                        "||W_r a_r||, its term in the 1x1 projection",
                                                        value_name="norm", height=360)))
        st.caption(f"ASP-OC (OCNet) is ASPP with the image-pooling branch replaced by an object-context branch: "
                   f"base-OC's attention on the map max-pooled 2x2 ({values.shape[0]} x {values.shape[1]} cells; the "
                   f"map shows the attention of cell {cell}, the nearest to the pixel), upsampled back.")


for_one_pixel()

if scores:
    st.subheader("On this image: against the CamVid ground truth")
    left, right = st.columns([1, 2])
    with left:
        transport.chart(label_figure(comparison.image, current.truth, classes + ["(unlabelled)"], palette + [(0, 0, 0)],
                                     "ground truth (CamVid)", opacity=opacity, height=340, legend=False))
        class_legend(classes + ["(unlabelled)"], palette + [(0, 0, 0)], current.truth)  # beside: a sliver in large type
    with right:
        table(list(scores.values()))
        st.caption("IoU in % per class on this image, and their mean over the classes present; unlabelled pixels "
                   "ignored; blank where a class is in neither the prediction nor the ground truth. One image says "
                   "little: see the test-set table below.")

st.subheader("Accuracy on the CamVid test set")
found = compare.test_results()
if not found:
    st.info("No evaluation results yet: not evaluated. They appear here once each model has been evaluated with",
            icon=":material/hourglass_empty:")
    st.code(compare.EVALUATE_COMMAND, language="bash")
else:
    table(results.accuracy_rows(found))
    st.caption("IoU and pixel accuracy in %, read from assets/weights/eval/NAME_test.json, written by `"
               + compare.EVALUATE_COMMAND + "`. " + " ".join(f"{n}." for n in compare.evaluation_notes(found)))
