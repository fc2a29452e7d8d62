"""Home: the paper's pipeline (Fig. 3) for the current image, each box linking to its page."""
import streamlit as st

from ocr_viz.app import gallery, state as app_state
from ocr_viz.figures import pipeline_dot
from ocr_viz.figures.labels import blend
from ocr_viz.teaching import explain

current = app_state.current()
arrays = current.arrays

st.title("OCR, stage by stage")
st.markdown(
    "Every stage of **Object-Contextual Representations** (OCR; Yuan, Chen, Wang, ECCV 2020), computed on "
    "your image by the loaded model, beside its equation and the code that computed it. The class of a pixel is "
    "the class of the object it belongs to, so OCR describes each pixel by the representations of the object "
    "regions it relates to. Choose an image and a model in the sidebar; the boxes below link to each stage."
)

diagram, pictures = st.columns([3, 2])
with diagram:
    query = app_state.link_query()  # the boxes open a new session, so they link only views a URL can carry
    links = {stage.key: f"{stage.key}?{query}" for stage in explain.STAGES} if query is not None else {}
    st.graphviz_chart(pipeline_dot(explain.pipeline_nodes(arrays.shapes), explain.PIPELINE_EDGES, links),
                      width="stretch")
    st.caption("The paper's Fig. 3 for this image. Each box: its symbol, what it is, and the shape of its tensor "
               "in this run (batch x channels x height x width; n = h*w feature-map pixels). "
               + ("Click a box, or:" if links else "Open a stage:"))
    for stage in explain.STAGES:
        st.page_link(f"pages/{stage.key}.py", label=f"{stage.symbol}: {stage.title}", icon=":material/arrow_forward:")
    st.page_link("pages/about.py", label="How this model deviates from the paper", icon=":material/info:")
with pictures:
    st.image(arrays.image, caption=f"{current.image_label}: the model's input, {arrays.image.shape[1]} x "
             f"{arrays.image.shape[0]} pixels (longer side 640)")
    st.image(blend(arrays.image, arrays.pred, current.palette, 0.6), caption="its segmentation (details on the "
             "Segmentation page)")

st.subheader("Sample images")
samples = gallery.samples()
for column, entry in zip(st.columns(len(samples)), samples):
    with column:
        st.image(str(entry.path), caption=entry.label)
        st.button("Use this image", key=f"use.{entry.key}", on_click=app_state.choose_image, args=(entry.key,),
                  disabled=entry.key == current.image_key)
st.caption("Samples: OpenCV sample data (Apache License 2.0), see assets/samples/README.md. "
           + ("CamVid test images with ground truth are in the sidebar." if gallery.data_root() else
              f"Set {gallery.DATA_ENV} to a CamVid folder (test/ and testannot/) to add its images with ground truth."))
