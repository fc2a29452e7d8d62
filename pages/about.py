"""About: the paper, how this model differs from it (read from the model's metadata), credits."""
import streamlit as st

from ocr_viz.app import session
from ocr_viz.teaching import explain
from pages._layout import table

current = session.current()

st.title("About ocr-viz")
st.markdown(f"Paper: {explain.PAPER}. The model and every stage shown are this project's own code "
            "(`ocr_viz/`), written from the paper and the public implementations.")

st.subheader("Deviations from the paper")
st.markdown("\n".join(f"- {note}" for note in explain.deviations(current.meta)))
st.caption("Read from the loaded model's metadata (`meta['arch']`), so an uploaded checkpoint is described as it is.")



def readable(value) -> str:
    """One metadata value as text: numbers rounded, per-class lists named by class, unset as '(not set)'."""
    if value is None:
        return "(not set)"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        if len(value) == len(current.classes) and all(isinstance(v, (int, float)) for v in value):
            return ", ".join(f"{name} {readable(v)}" for name, v in zip(current.classes, value))
        return " to ".join(readable(v) for v in value) if len(value) == 2 else ", ".join(map(readable, value))
    if isinstance(value, dict):
        return "; ".join(f"{k}: {readable(v)}" for k, v in value.items())
    return str(value)


for key, heading in (("training", "How the loaded weights were trained"), ("recipe", "Training recipe"),
                     ("metrics", "Reported metrics of the loaded weights")):
    if current.meta.get(key):
        st.subheader(heading)
        facts = current.meta[key]
        if isinstance(facts, dict):
            table([{"setting": name, "value": readable(value)} for name, value in facts.items()])
        else:
            st.markdown(readable(facts))
if current.meta.get("recipe"):
    st.caption("The recipe is the training command's options (`python -m ocr_viz.train --help` explains each); "
               "'(not set)': the option's default. The model card, assets/weights/MODEL_CARD.md, tells the story.")

st.subheader("Credits")
st.markdown("CamVid (the training data and the sample frames with ground truth): Brostow, Fauqueur, Cipolla, "
            "'Semantic object classes in video: a high-definition ground truth database', Pattern Recognition "
            "Letters, 2009, in the SegNet tutorial's 11-class split. Sample photos: OpenCV sample data (Apache "
            "License 2.0). See `assets/samples/README.md`.")
