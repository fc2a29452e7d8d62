"""Home: the paper's pipeline (Fig. 3) for the current image, each box linking to its page."""
import streamlit as st

from ocr_viz.app import downloads, gallery, session, transport
from ocr_viz.figures import label_figure, pipeline_dot
from ocr_viz.teaching import explain
from pages._layout import class_legend

current = session.current()
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
    query = downloads.link_query()  # the boxes open a new session, so they link only views a URL can carry
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
    transport.chart(label_figure(arrays.image, arrays.pred, current.classes, current.palette, "its segmentation",
                                 caption="details on the Segmentation page" + (
                                     "; ground truth there too" if current.ground is not None else ""), height=380,
                                 legend=False),
                    downloads=False)
    class_legend(current.classes, current.palette, arrays.pred)

THUMBNAILS_PER_ROW = 3  # about 300 px wide on a laptop screen


def thumbnails(entries: list[gallery.GalleryImage]) -> None:
    """The images in rows of three, each with its note and a button that makes it the current image."""
    for start in range(0, len(entries), THUMBNAILS_PER_ROW):
        for column, entry in zip(st.columns(THUMBNAILS_PER_ROW), entries[start:start + THUMBNAILS_PER_ROW]):
            with column:
                st.image(str(entry.path), caption=entry.label + (f": {entry.note}" if entry.note else ""))
                st.button("Use this image", key=f"use.{entry.key}", on_click=session.choose_image,
                          args=(entry.key,), disabled=entry.key == current.image_key)


frames, photos = gallery.frames(), gallery.photos()
if frames:
    st.subheader("CamVid test frames, with ground truth")
    st.caption("From the CamVid test split, which the model never trained on: chosen by this model's per-image "
               "mean IoU to show what it does well and badly. Ground truth, the ablations and per-image IoU work "
               "on them.")
    thumbnails(frames)
st.subheader("Photos without ground truth")
thumbnails(photos)
st.caption("CamVid frames: Brostow, Fauqueur, Cipolla (2009), SegNet's test split; photos: OpenCV sample data "
           "(Apache License 2.0); see assets/samples/README.md. "
           + ("The whole CamVid test set is in the sidebar." if gallery.data_root() else
              f"Set {gallery.DATA_ENV} to a CamVid folder (test/ and testannot/) to add all its test images."))
