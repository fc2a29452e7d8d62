"""Object contextual representations y_i (Eq. 3) and augmented representations z_i (Eq. 6),
and what OCR changed: the coarse (auxiliary) prediction against the final one."""
import streamlit as st

from ocr_viz.analysis import stats
from ocr_viz.app import model_choice, session, transport
from ocr_viz.figures import label_figure, map_figure, narrow, pca_caption, rgb_figure
from pages._layout import class_legend, figure_columns, scale_picker, stage_code, stage_page
from pages._worked import context_block

current = stage_page("context")
arrays, classes, palette = current.arrays, current.classes, current.palette

columns = figure_columns(3)
for column, (name, maps, what) in zip(columns, [("x", arrays.x, "pixel representations x_i (input)"),
                                               ("y", arrays.y, "object contextual y_i (Eq. 3)"),
                                               ("z", arrays.z, "augmented z_i (Eq. 6)")]):
    with column:
        rgb, share = model_choice.derived(f"pca.{name}", lambda maps=maps: stats.pca_rgb(maps))
        transport.chart(narrow(rgb_figure(rgb, f"PCA of {what}", pca_caption(share), height=340)))
st.caption("y_i is built only from the K region vectors, so it is smooth where w_i varies slowly: "
           "pixels related to the same regions get the same context. (The server keeps y and z in float16 for "
           "these pictures, 3 significant digits; the model computed them in float32, and every experiment "
           "recomputes them so.)")

controls, norm = st.columns([1, 2])
with controls:
    scale = scale_picker("context.norm")
    st.caption("The length of y_i = rho(sum_k w_ik delta(f_k)) (Eq. 3), the context each pixel gets, before it is "
               "concatenated with x_i (Eq. 6).")
with norm:
    transport.chart(map_figure(stats.norms(arrays.y), "||y_i||, the length of each pixel's context vector", scale,
                               image=arrays.image, opacity=0.8, value_name="||y_i||"))

st.subheader("What OCR changed")
opacity = st.slider("opacity over the image", 0.0, 1.0, 0.6, key="context.opacity")
change = stats.changes(arrays.aux_pred, arrays.pred)
class_legend(classes, palette, arrays.aux_pred, arrays.pred)
left, middle, right = figure_columns(3)
with left:
    transport.chart(narrow(label_figure(arrays.image, arrays.aux_pred, classes, palette,
                                 "coarse: argmax M_k (soft regions)", opacity=opacity, height=340, legend=False)))
with middle:
    transport.chart(narrow(label_figure(arrays.image, arrays.pred, classes, palette,
                                 "final: argmax of the classifier on z_i", opacity=opacity, height=340, legend=False)))
with right:
    transport.chart(narrow(label_figure(arrays.image, arrays.pred, classes, palette, "pixels whose label OCR changed",
                                 opacity=1.0, mask=change["mask"], caption="coloured by the final label; the rest dimmed",
                                 height=340, legend=False)))
share = change["changed"] / change["total"]
summary = f"OCR changed the label of {change['changed']:,} of {change['total']:,} pixels ({share:.1%})."
if current.ground is not None:
    truth = current.ground.changes(arrays.aux_pred, arrays.pred)
    summary += (f" Against the ground truth: {truth['fixed']:,} of them became right and {truth['broken']:,} "
                "became wrong" + ("." if current.ground.map.exact else
                                  f" (in {current.ground.map.labels_title}'s classes: a change between two classes "
                                  f"merged into one is no change there; {truth['changed']:,} changed in those classes)."))
st.markdown(summary)


@session.fragment
def for_one_pixel():
    """Eq. 3 and 6 with the chosen pixel's numbers: choosing another pixel reruns this part alone, not the
    page's seven figures above it."""
    context_block(current)


for_one_pixel()

stage_code("context")
