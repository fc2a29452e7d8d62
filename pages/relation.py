"""Pixel-region relation w_ik (Eq. 5): click a pixel to see its relation to every region;
the map of one region's relation to every pixel; entropy, argmax and the raw logits kappa."""
import math

import streamlit as st

from ocr_viz.analysis import relation, stats
from ocr_viz.app import model_choice, session, transport
from ocr_viz.figures import class_bars_spec, label_figure, map_figure, map_spec
from ocr_viz.teaching import explain
from pages._layout import class_legend, scale_picker, stage_code, stage_page
from pages._worked import relation_block

current = stage_page("relation")
arrays, classes, palette = current.arrays, current.classes, current.palette
K = len(classes)
uniform_entropy = math.log(K)
entropy = model_choice.derived("entropy.w", lambda: stats.entropy(arrays.w, axis=0))

# The class and the display choices rerun the page; a pixel (click or inputs) reruns only
# `follow_the_pixel`, so a click resends the w map and the bars, not every figure on the page; they are
# built as plotly JSON directly (map_spec, class_bars_spec): graph objects cost 48 ms of CPU a click.
choice, look, shade = st.columns([1, 2, 1])
with choice:
    k = session.class_picker()
    zoom = st.toggle("zoom bar axes", value=False, key="relation.zoom",
                     help="off: the axis starts at 0, so bar lengths compare honestly; on: fitted to nearly equal "
                          "values, with the axis break drawn, which makes small differences look large")
with look:
    scale = scale_picker("relation", "percentile")
with shade:
    opacity = st.slider("opacity over the image", 0.0, 1.0, 0.65, key="relation.opacity")
predicted = model_choice.derived("relation.cell_predictions", lambda: relation.cell_predictions(arrays.logits))


@session.fragment
def follow_the_pixel():
    """The w map with the chosen pixel circled, that pixel's w_i and kappa bars, and what it says."""
    picture, bars = st.columns([3, 2])
    with picture:
        row, col = session.pixel_picker()
        transport.chart(map_spec(arrays.w[k], f"w_ik for region k = {classes[k]}: click a pixel", scale,
                                 image=arrays.image, opacity=opacity, value_name="w_ik", pixel=(row, col),
                                 clickable=True), clickable_key="relation.click.w")
    i = row * arrays.grid[1] + col
    with bars:
        transport.chart(class_bars_spec(
            arrays.w[:, row, col], classes, palette, f"w_i for pixel i = {i} (row {row}, col {col})",
            f"sums to 1; entropy {entropy[row, col]:.4f} (uniform {uniform_entropy:.4f})",
            value_name="w_ik", reference=1 / K, reference_name="1/K", highlight=k, zoom=zoom))
        transport.chart(class_bars_spec(
            arrays.kappa[:, row, col], classes, palette, f"kappa for pixel i = {i} over the regions",
            "the logits before the softmax of Eq. 5", value_name="kappa", highlight=k, zoom=zoom))
    st.caption(f"Pixel index i = row x {arrays.grid[1]} + column, on the {arrays.grid[0]} x {arrays.grid[1]} feature "
               f"map (one cell = {arrays.stride:g} x {arrays.stride:g} input pixels). The chosen pixel is circled in white.")
    st.markdown(explain.pixel_relation_note(arrays.w[:, row, col], int(predicted[row, col]), classes))
    relation_block(current, row, col)  # Eq. 5 with this pixel's numbers


follow_the_pixel()
here = model_choice.derived("relation_truth.image", lambda: relation.image_summary(arrays, classes, current.model_labels))
with st.container(border=True):
    st.markdown("**What the relation does on this image, measured** (the paper's picture: each pixel relates "
                "mostly to the region of its own object)\n\n"
                + "\n".join(f"- {line}" for line in explain.relation_findings(here, classes)))
    if current.ground is not None and not current.ground.map.exact:
        st.caption(f"Own class: counted on the {current.ground.map.labels_title} classes that are one model class each "
                   f"({', '.join(current.ground.map.one_to_one())}); a merged class has no single own region.")
    st.page_link("pages/relation_truth.py", label="The same over the whole test set: What the relation really does",
                 icon=":material/fact_check:")

left, right = st.columns(2)
with left:
    transport.chart(map_figure(entropy, "entropy of w_i over the K regions, per pixel", scale_picker("relation.entropy"),
                               value_name="entropy (nats)", clickable=True), clickable_key="relation.click.entropy")
    st.caption(f"Mean entropy {entropy.mean():.3f} nats; a uniform relation over {K} regions has log K = "
               f"{uniform_entropy:.3f}. Close to it means each pixel mixes all regions almost equally. "
               "Click a pixel here or on the map of kappa to choose it.")
with right:
    strongest = stats.resize_nearest(stats.argmax_map(arrays.w), arrays.image.shape[:2])
    transport.chart(label_figure(arrays.image, strongest, classes, palette,
                                 "argmax_k w_ik: each pixel's most related region", opacity=opacity, legend=False))
    class_legend(classes, palette, strongest)  # under the map: beside it, it left the map a sliver in large type

st.subheader("Raw relation logits kappa(x_i, f_k)")
kappa_scale = scale_picker("relation.kappa", "percentile")
transport.chart(map_figure(arrays.kappa[k], f"kappa for region k = {classes[k]}", kappa_scale,
                           value_name="kappa", clickable=True), clickable_key="relation.click.kappa")

stage_code("relation")
