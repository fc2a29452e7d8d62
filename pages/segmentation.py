"""The final segmentation: over the image, with the class colours and each class's share of the
pixels; against the ground truth for dataset images."""
import streamlit as st

from ocr_viz.analysis import stats
from ocr_viz.app import transport
from ocr_viz.figures import class_bars, label_figure, map_figure
from pages._layout import stage_code, stage_page

current = stage_page("segmentation")
arrays, classes, palette = current.arrays, current.classes, current.palette

opacity = st.slider("opacity over the image", 0.0, 1.0, 0.6, key="segmentation.opacity")
left, right = st.columns([3, 2])
with left:
    transport.chart(label_figure(arrays.image, arrays.pred, classes, palette, "segmentation (legend: the classes present)",
                                 opacity=opacity, height=480))
with right:
    transport.chart(class_bars(stats.class_shares(arrays.pred, len(classes)), classes, palette,
                               "share of the pixels per class", "the bars also give each class's colour",
                               value_name="share of pixels", percent=True, height=480))

left, right = st.columns(2)
with left:
    transport.chart(map_figure(arrays.confidence, "confidence: the top class probability (feature-map resolution)",
                               value_name="probability"))
ground = current.ground
if ground is not None:
    exact = ground.map.exact
    names, colours = ground.classes + ["(unlabelled)" if exact else "(unlabelled or not scored)"], current.ground_palette + [(0, 0, 0)]
    with right:
        transport.chart(label_figure(arrays.image, ground.drawn_labels, names, colours,
                                     f"ground truth ({ground.map.labels_title})", opacity=opacity))
    if not exact:  # the model's classes are not the labels': show its prediction read in the labels' classes
        with left:
            transport.chart(label_figure(arrays.image, ground.map.predictions(arrays.pred), names[:-1] + ["(no counterpart)"],
                                         colours, f"the prediction read in {ground.map.labels_title}'s classes",
                                         opacity=opacity))
    score = ground.score(arrays.pred)
    st.markdown(f"On this image: pixel accuracy **{score['pixel_accuracy']:.1%}**, mean IoU over the classes present "
                f"**{score['mean_iou']:.1%}** (unlabelled pixels ignored"
                + (")." if exact else f"; scored on {ground.map.labels_title}'s classes that map, merged as said below)."))
    if not exact:
        st.info(ground.map.note(), icon=":material/info:")
elif current.truth_note:
    st.info(current.truth_note, icon=":material/info:")

stage_code("segmentation")
