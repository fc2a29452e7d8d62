"""Pixel representations x_i: a 3-component PCA as colours, a channel browser, feature norms."""
import streamlit as st

from ocr_viz.analysis import stats
from ocr_viz.app import model_choice, transport
from ocr_viz.figures import map_figure, pca_caption, rgb_figure
from pages._layout import scale_picker, stage_code, stage_page

current = stage_page("pixels")
arrays = current.arrays
c = arrays.x.shape[0]


left, right = st.columns(2)
with left:
    rgb, share = model_choice.derived("pca.x", lambda: stats.pca_rgb(arrays.x))
    transport.chart(rgb_figure(rgb, f"x_i: PCA of the {c} channels", pca_caption(share)))
with right:
    rgb, share = model_choice.derived("pca.features", lambda: stats.pca_rgb(arrays.features))
    transport.chart(rgb_figure(rgb, f"backbone features (head input): PCA of the {arrays.features.shape[0]} channels",
                               pca_caption(share)))
st.caption("Similar colours mean similar vectors: pixels the head will treat alike.")

st.subheader("Channel browser")
controls, figure = st.columns([1, 3])
with controls:
    order = st.radio("order channels by", ["index", "mean activation"], key="pixels.order")
    ranked = stats.channels_by_mean(arrays.x) if order == "mean activation" else range(c)
    rank = st.slider("channel" if order == "index" else "rank (0 = most active)", 0, c - 1, 0, key="pixels.channel")
    channel = int(ranked[rank])
    scale = scale_picker("pixels.channel")
    opacity = st.slider("opacity over the image", 0.0, 1.0, 1.0, key="pixels.opacity")
with figure:
    transport.chart(map_figure(arrays.x[channel], f"channel {channel} of x_i", scale, image=arrays.image,
                               opacity=opacity, value_name=f"x[{channel}]"))

st.subheader("Feature norms")
controls, norm = st.columns([1, 2])
with controls:
    scale = scale_picker("pixels.norm")
    st.caption("Eq. 4 weights each pixel's x_i, so pixels with long vectors pull f_k towards themselves.")
with norm:
    transport.chart(map_figure(stats.norms(arrays.x), "||x_i||, the length of each pixel's vector", scale,
                               value_name="||x_i||"))

stage_code("pixels")
