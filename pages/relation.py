"""Pixel-region relation w_ik (Eq. 5): click a pixel to see its relation to every region;
the map of one region's relation to every pixel; entropy, argmax and the raw logits kappa."""
import math

import streamlit as st

from ocr_viz.analysis import relation, stats as analysis
from ocr_viz.app import state as app_state
from ocr_viz.figures import class_bars, label_figure, map_figure
from ocr_viz.teaching import explain
from pages._layout import scale_picker, stage_code, stage_page

current = stage_page("relation")
arrays, classes, palette = current.arrays, current.classes, current.palette
K = len(classes)
uniform_entropy = math.log(K)
entropy = app_state.derived("entropy.w", lambda: analysis.entropy(arrays.w, axis=0))

controls, picture, bars = st.columns([1, 3, 2])
with controls:
    k = app_state.class_picker()
    row, col = app_state.pixel_picker()
    scale = scale_picker("relation", "percentile")
    opacity = st.slider("opacity over the image", 0.0, 1.0, 0.65, key="relation.opacity")
    zoom = st.toggle("zoom bar axes", value=True, key="relation.zoom",
                     help="the relation is often close to uniform (1/K); zooming shows the differences")
i = row * arrays.grid[1] + col
with picture:
    app_state.chart(map_figure(arrays.w[k], f"w_ik for region k = {classes[k]}: click a pixel", scale,
                               image=arrays.image, opacity=opacity, value_name="w_ik", pixel=(row, col),
                               clickable=True), clickable_key="relation.click.w")
with bars:
    app_state.chart(class_bars(
        arrays.w[:, row, col], classes, palette, f"w_i for pixel i = {i} (row {row}, col {col})",
        f"sums to 1; entropy {entropy[row, col]:.4f} (uniform {uniform_entropy:.4f})",
        value_name="w_ik", reference=1 / K, reference_name="1/K", highlight=k, zoom=zoom))
st.caption(f"Pixel index i = row x {arrays.grid[1]} + column, on the {arrays.grid[0]} x {arrays.grid[1]} feature map "
           f"(one cell = {arrays.stride:g} x {arrays.stride:g} input pixels). The chosen pixel is circled in white.")
predicted = app_state.derived("relation.cell_predictions", lambda: relation.cell_predictions(arrays.logits))
st.markdown(explain.pixel_relation_note(arrays.w[:, row, col], int(predicted[row, col]), classes))
here = app_state.derived("relation_truth.image", lambda: relation.image_summary(arrays, classes, current.truth))
with st.container(border=True):
    st.markdown("**What the relation does on this image, measured** (the paper's picture: each pixel relates "
                "mostly to the region of its own object)\n\n"
                + "\n".join(f"- {line}" for line in explain.relation_findings(here, classes)))
    st.page_link("pages/relation_truth.py", label="The same over the whole test set: What the relation really does",
                 icon=":material/fact_check:")

left, right = st.columns(2)
with left:
    app_state.chart(map_figure(entropy, "entropy of w_i over the K regions, per pixel", scale_picker("relation.entropy"),
                               value_name="entropy (nats)", pixel=(row, col), clickable=True),
                    clickable_key="relation.click.entropy")
    st.caption(f"Mean entropy {entropy.mean():.3f} nats; a uniform relation over {K} regions has log K = "
               f"{uniform_entropy:.3f}. Close to it means each pixel mixes all regions almost equally.")
with right:
    strongest = analysis.resize_nearest(analysis.argmax_map(arrays.w), arrays.image.shape[:2])
    app_state.chart(label_figure(arrays.image, strongest, classes, palette,
                                 "argmax_k w_ik: each pixel's most related region", opacity=opacity))

st.subheader("Raw relation logits kappa(x_i, f_k)")
left, right = st.columns(2)
with left:
    kappa_scale = scale_picker("relation.kappa", "percentile")
    app_state.chart(map_figure(arrays.kappa[k], f"kappa for region k = {classes[k]}", kappa_scale,
                               value_name="kappa", pixel=(row, col), clickable=True),
                    clickable_key="relation.click.kappa")
with right:
    app_state.chart(class_bars(arrays.kappa[:, row, col], classes, palette, f"kappa for pixel i = {i} over the regions",
                               "the logits before the softmax of Eq. 5", value_name="kappa", highlight=k, zoom=zoom))

stage_code("relation")
