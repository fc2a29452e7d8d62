"""About: the paper, how this model differs from it (read from the model's metadata), credits."""
import streamlit as st

from ocr_viz.app import state as app_state
from ocr_viz.teaching import explain

current = app_state.current()

st.title("About ocr-viz")
st.markdown(f"Paper: {explain.PAPER}. The model and every stage shown are this project's own code "
            "(`ocr_viz/`), written from the paper and the public implementations.")

st.subheader("Deviations from the paper")
st.markdown("\n".join(f"- {note}" for note in explain.deviations(current.meta)))
st.caption("Read from the loaded model's metadata (`meta['arch']`), so an uploaded checkpoint is described as it is.")

for key, heading in (("training", "How the loaded weights were trained"), ("recipe", "Training recipe"),
                     ("metrics", "Reported metrics of the loaded weights")):
    if current.meta.get(key):
        st.subheader(heading)
        st.json(current.meta[key], expanded=False)

st.subheader("Credits")
st.markdown("Sample photos: OpenCV sample data (Apache License 2.0), see `assets/samples/README.md`. "
            "CamVid: Brostow, Fauqueur, Cipolla, 'Semantic object classes in video', 2009 (SegNet's split).")
