"""ocr-viz: every stage of Object-Contextual Representations (OCR) on your own image.

The entry point: the page list, the sidebar (image and model choice, on every page), then the
chosen page. Every page reads the same cached trace (ocr_viz.app.session.current()).
"""

import streamlit as st

st.set_page_config(page_title="ocr-viz", page_icon=":material/hub:", layout="wide")

PIPELINE = [
    st.Page("pages/home.py", title="Home: the pipeline", icon=":material/home:", default=True),
    st.Page("pages/pixels.py", title="x_i  pixel representations", icon=":material/grid_on:"),
    st.Page("pages/regions.py", title="M_k  soft object regions", icon=":material/layers:"),
    st.Page("pages/objects.py", title="f_k  object regions (Eq. 4)", icon=":material/category:"),
    st.Page("pages/relation.py", title="w_ik  pixel-region relation (Eq. 5)", icon=":material/share:"),
    st.Page("pages/relation_truth.py", title="What the relation really does", icon=":material/fact_check:"),
    st.Page("pages/context.py", title="y_i, z_i  context (Eq. 3, 6)", icon=":material/merge:"),
    st.Page("pages/segmentation.py", title="Segmentation", icon=":material/palette:"),
]
COMPARE = [
    st.Page("pages/compare.py", title="Compare the heads", icon=":material/compare:"),
    st.Page("pages/complexity.py", title="Complexity of the heads", icon=":material/speed:"),
    st.Page("pages/ablations.py", title="Ablations: GT-OCR, no context", icon=":material/science:"),
]
TEACH = [
    st.Page("pages/lecture.py", title="Lecture mode: step by step", icon=":material/school:"),
    st.Page("pages/transformer.py", title="OCR as a Transformer", icon=":material/swap_calls:"),
    st.Page("pages/interventions.py", title="Interventions: what if", icon=":material/tune:"),
    st.Page("pages/export.py", title="Export: figures, trace, link", icon=":material/download:"),
]
ABOUT = [st.Page("pages/about.py", title="About and deviations", icon=":material/info:")]
PAGES = {"The pipeline": PIPELINE, "Compare": COMPARE, "Teach": TEACH, "About": ABOUT}
# .streamlit/config.toml hides the sidebar navigation, so that a fresh server's first request, which
# Streamlit runs in its legacy mode for a pages/ folder, never shows the raw file list ("app", "layout",
# ...); this app's own navigation is shown, first thing, before the slow imports below.
st.set_option("client.showSidebarNavigation", True)
page = st.navigation(PAGES, expanded=True)  # every page visible, no "View more"

from ocr_viz.app import gallery, model_choice, session  # noqa: E402  (after the navigation: imports take seconds)
from ocr_viz.app.sidebar import large_type_toggle, model_provenance, webgl_toggle  # noqa: E402
from ocr_viz.figures import palettes  # noqa: E402

session.restore_from_url(model_choice.model_choices)

with st.sidebar:
    st.subheader("Image")
    sources = {"sample": "Samples: CamVid frames (with ground truth) and photos",
               "camvid": "CamVid test set (with ground truth)", session.UPLOAD: "Upload"}
    if gallery.data_root() is None:
        sources.pop("camvid")
    if st.session_state[session.SOURCE] not in sources:
        st.session_state[session.SOURCE] = "sample"
    chosen = session.bound(st.radio, session.SOURCE, "source", options=list(sources), format_func=sources.get,
                             label_visibility="collapsed")
    if chosen == session.UPLOAD:
        st.session_state[session.IMAGE] = session.UPLOAD
        st.file_uploader("image file", type=["png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff"],
                         key=session.UPLOADED_IMAGE)
    else:
        entries = gallery.samples() if chosen == "sample" else gallery.dataset_images()
        keys = [e.key for e in entries]
        if st.session_state[session.IMAGE] not in keys:
            st.session_state[session.IMAGE] = keys[0]
        labels = {e.key: e.label + (" (ground truth)" if e.label_path else "") for e in entries}
        session.bound(st.selectbox, session.IMAGE, "image", options=keys, format_func=labels.get)
    st.subheader("Display")
    large_type_toggle()
    st.session_state.setdefault(session.PALETTE, palettes.CONTRAST)
    session.bound(st.radio, session.PALETTE, "class colours", options=list(palettes.CHOICES),
                    format_func=palettes.CHOICES.get, horizontal=True,
                    help="high contrast: distinct colours, readable on a projector; the dataset's: its own palette "
                         "(CamVid's Car, Fence, Pavement and Road are all dark blue-purples)")
    webgl_toggle()

    st.subheader("Model")
    models = model_choice.model_choices()
    if st.session_state[session.MODEL] not in models:  # a converted file that was removed
        st.session_state[session.MODEL] = session.SHIPPED
    session.bound(st.radio, session.MODEL, "model", options=list(models), format_func=models.get,
                    label_visibility="collapsed",
                    help="converted checkpoints are the .safetensors files in the models folder "
                         "(OCR_VIZ_MODELS, default models/ beside app.py): `python -m ocr_viz.convert SRC.pth`")
    if st.session_state[session.MODEL] == session.UPLOAD:
        st.file_uploader("a checkpoint: .safetensors (ocr_viz.model.checkpoints.save) or a released HRNet-OCR, "
                         "openseg or mmsegmentation OCRNet .pth (converted in memory; only tensors are read)",
                         type=["safetensors", "pth", "pt", "tar"], key=session.UPLOADED_MODEL)

current = model_choice.load_current()

with st.sidebar:
    model_provenance(current)  # shipped and trained here, a known release, or "cannot tell whether trained"
    st.selectbox("figure download format", ["png", "svg"], key=session.FIGURE_FORMAT,
                 help="the camera icon on each figure saves it in this format")

page.run()
