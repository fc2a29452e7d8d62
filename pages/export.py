"""Export: figures (PNG, SVG, HTML), the whole trace as .npz with its schema and a notebook
snippet to load it, and a link that reopens this view."""
import re
from functools import partial

import streamlit as st

from ocr_viz.app import downloads, export, model_choice, session
from ocr_viz.teaching import explain
from pages._layout import share_box

current = session.current()
arrays = current.arrays
HERE = "export"

st.title("Export: figures, the trace, a link")

st.subheader("Figures")
st.markdown("Every figure in the app has a **download** menu under it: **PNG** (3x screen resolution, for slides), "
            "**SVG** (vector, for papers) and **HTML** (the interactive figure as a standalone page that works "
            "offline). Each file is made when you click.")
if export.static_export_available():
    st.caption("PNG and SVG are rendered by kaleido with this server's Chromium.")
else:
    st.warning(f"PNG and SVG are not available on this server: it needs {export.STATIC_EXPORT_NEEDS}.")

st.subheader("The whole trace (.npz)")
if not arrays.is_ocr:
    st.warning(f"The .npz layout holds the OCR head's stages; the loaded model's head is "
               f"`{current.meta['arch']['head']}`.")
else:
    file_name = "ocr-trace-" + re.sub(r"[^A-Za-z0-9]+", "-", current.image_key).strip("-") + ".npz"
    meta = {**current.meta, "image": current.image_key, "image_label": current.image_label}
    st.download_button("Download the trace (.npz)", data=partial(downloads.npz_bytes, arrays, current.model.head, meta),
                       file_name=file_name,
                       mime="application/octet-stream", key="export.npz", on_click="ignore", type="primary",
                       icon=":material/download:",
                       help="every array from the input to the labels, compressed; made on click")
    shapes = model_choice.derived("npz.shapes", lambda: downloads.npz_shapes(arrays, current.model.head))
    st.dataframe([{"key": key, "shape in this file": explain.shape_text(shapes[key]) if key in shapes else "()",
                   "layout": layout, "meaning": meaning}
                  for key, (layout, meaning) in export.SCHEMA.items() if key in shapes or key in ("schema", "meta")],
                 hide_index=True, height="content")
    st.caption("b: batch (1), K: classes, c: channels, H x W: the model's input, h x w: the feature map, n = h*w. "
               "The backbone's stage outputs are not included (only their fusion, the head's input). "
               "No pickle: the schema and the metadata are JSON strings.")
    st.markdown("Load it in a notebook:")
    st.code(downloads.notebook_snippet(file_name), language="python")

st.subheader("Share this view")
DESTINATIONS = {"": "Home: the pipeline", "lecture": "Lecture mode (this step)", "pixels": "x_i", "regions": "M_k",
                "objects": "f_k", "relation": "w_ik", "context": "y_i, z_i", "segmentation": "Segmentation",
                "ablations": "Ablations", "interventions": "Interventions"}
page = st.selectbox("the link opens", list(DESTINATIONS), format_func=DESTINATIONS.get, key="export.destination")
share_box(page, HERE, "Link")
st.caption("The link carries the image, the class, the pixel (and the lecture's step): everything in the URL's "
           "query parameters. Uploaded images and models cannot travel in a link.")
