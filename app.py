"""ocr-viz: see every stage of Object-Contextual Representations (OCR) on your own image."""
import streamlit as st

st.set_page_config(page_title="ocr-viz", layout="wide")
st.title("ocr-viz")
st.write("The app is being built; the model library is in `ocr_viz/`.")
