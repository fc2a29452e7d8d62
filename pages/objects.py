"""Object region representations f_k (Eq. 4): the K x C matrix, how alike the K vectors are,
a 2-D projection, and which pixels built a chosen f_k."""
import streamlit as st

from ocr_viz.analysis import stats
from ocr_viz.app import session, transport
from ocr_viz.figures import map_figure, matrix_figure, photo_figure, projection_figure, similarity_figure
from pages._layout import scale_picker, stage_code, stage_page

current = stage_page("objects")
arrays, classes, palette = current.arrays, current.classes, current.palette
K, C = arrays.f.shape

transport.chart(matrix_figure(arrays.f, classes, f"f: {K} region vectors x {C} channels",
                              scale_picker("objects.matrix"), value_name="f_kc"))
k = session.class_picker()
left, right = st.columns(2)
with left:
    centred = st.toggle("subtract the mean vector first", value=False, key="objects.centred",
                        help="f_k are averages of non-negative (post-ReLU) vectors, so their plain cosines are all "
                             "close to 1; centring shows how each differs from the others")
    fixed = st.toggle("fixed colour range -1 to 1", value=False, key="objects.fixed")
    transport.chart(similarity_figure(stats.cosine_similarity(arrays.f, centred), classes,
                                      "cosine similarity of the region vectors f_k" + (", centred" if centred else ""),
                                      fixed=fixed))
with right:
    points, share = stats.pca(arrays.f, 2)
    transport.chart(projection_figure(points, classes, palette, "the K vectors f_k, projected by PCA",
                                      f"explained variance {share[0]:.0%} and {share[1]:.0%}", highlight=k))
st.caption("Vectors of regions that the image barely contains are averages over pixels of other classes, so "
           "they sit close together; well-separated vectors give each region a distinct value delta(f_k) in Eq. 3.")

st.subheader(f"Which pixels built f_k for {classes[k]}")
HOW = {"term norm m~_ki ||x_i||": "norm", "component along f_k": "along f_k"}
controls, contribution, marked = st.columns([1, 2, 2])
with controls:
    how = HOW[st.radio("contribution of pixel i", list(HOW), key="objects.how",
                       help="term norm: the length of pixel i's term m~_ki x_i in the sum of Eq. 4; component along "
                            "f_k: its signed part in f_k's direction (these add up to ||f_k||)")]
    scale = scale_picker("objects.contribution", "log" if how == "norm" else "percentile")
    count = st.slider("mark the top pixels", 1, 50, 10, key="objects.count")
values = stats.contributions(arrays.m_tilde[k], arrays.x, arrays.f[k], how)
top = stats.top_pixels(values, count)
with contribution:
    transport.chart(map_figure(values, f"contribution of each pixel to f_k ({classes[k]})", scale,
                               image=arrays.image, opacity=0.75, value_name="contribution"))
with marked:
    held = stats.share_of_top(values.clip(min=0), count)
    transport.chart(photo_figure(arrays.image, arrays.grid, f"the {count} largest contributions, ranked",
                                 f"together {held:.0%} of the total", marks=top))

stage_code("objects")
