"""Soft object regions M_k: all K maps and one large, as raw logits, class softmax or spatial
softmax m~_k, over the image; and the coarse segmentation they make."""
import streamlit as st

from ocr_viz.analysis import stats
from ocr_viz.app import model_choice, session, transport
from ocr_viz.figures import label_figure, map_figure, map_grid
from pages._layout import scale_picker, stage_code, stage_page

current = stage_page("regions")
arrays, classes = current.arrays, current.classes
n = arrays.grid[0] * arrays.grid[1]
class_prob = model_choice.derived("class_softmax.M", lambda: stats.softmax(arrays.M, axis=0))
VIEWS = {  # name -> (maps, symbol, what it is, default colour scale)
    "raw logits M_k": (arrays.M, "M_k", "raw auxiliary logits", "linear"),
    "class softmax p_k": (class_prob, "p_k", "softmax over the K classes at each pixel", "linear"),
    "spatial softmax m~_k (Eq. 4 weights)": (arrays.m_tilde, "m~_k", "softmax over all pixels of each class map", "log"),
}

view = st.radio("show", list(VIEWS), index=2, horizontal=True, key="regions.view")
maps, symbol, meaning, default_scale = VIEWS[view]
st.caption(f"**{symbol}**: {meaning}." + (f" Each map sums to 1 over the {n} pixels; a few pixels hold most of "
                                          "the weight, hence the log scale by default." if symbol == "m~_k" else ""))

controls, large, beside = st.columns([1, 2, 2])
with controls:
    k = session.class_picker()
    scale = scale_picker(f"regions.{symbol}", default_scale)
    opacity = st.slider("opacity over the image", 0.0, 1.0, 0.7, key="regions.opacity")
with large:
    transport.chart(map_figure(maps[k], f"{symbol} for {classes[k]} ({meaning})", scale, image=arrays.image,
                               opacity=opacity, value_name=symbol))
with beside:
    if symbol == "m~_k":
        transport.chart(map_figure(class_prob[k], f"p_k for {classes[k]}: class softmax, beside it", image=arrays.image,
                                   opacity=opacity, value_name="p_k"))
    else:
        transport.chart(map_figure(arrays.m_tilde[k], f"m~_k for {classes[k]}: the Eq. 4 weights, beside it",
                                   scale_picker("regions.beside", "log", "its colour scale"), image=arrays.image,
                                   opacity=opacity, value_name="m~_k"))
top = stats.share_of_top(arrays.m_tilde[k], 10)
st.caption(f"The 10 largest of the {n} weights m~_k for {classes[k]} hold {top:.0%} of it "
           f"(uniform weights would give {10 / n:.1%}).")

GRID_PAGE = 16  # maps per page of the grid: 4 rows of 4 stay readable
options, _ = st.columns([1, 2])
with options:
    shared = st.toggle("one colour range for all maps", value=False, key="regions.shared",
                       help="off: each map has its own range, so weak regions stay visible")
    K = len(classes)
    first = 0
    if K > GRID_PAGE:  # e.g. 150 classes: a page of 16 at a time
        starts = list(range(0, K, GRID_PAGE))
        first = st.select_slider("maps", starts, key="regions.grid_page",
                                 format_func=lambda s: f"{s + 1}-{min(s + GRID_PAGE, K)} of {K}")
shown = slice(first, first + GRID_PAGE)
title = f"all {K} maps" if K <= GRID_PAGE else f"maps {first + 1}-{min(first + GRID_PAGE, K)} of {K}"
transport.chart(map_grid(maps[shown], classes[shown], f"{title}: {symbol} ({meaning})", scale, shared=shared,
                         value_name=symbol))
if shared and K > GRID_PAGE:
    st.caption("The shared colour range is the range of the maps on this page.")

st.subheader("Coarse segmentation")
coarse, note = st.columns([2, 1])
with coarse:
    transport.chart(label_figure(arrays.image, arrays.aux_pred, classes, current.palette,
                                 "argmax_k M_k: the soft regions as labels (auxiliary prediction)", opacity=opacity))
with note:
    st.caption("Each pixel takes the class whose soft region M_k is largest there: the coarse segmentation the "
               "auxiliary head learns, from which Eq. 4 builds the region vectors f_k. The final segmentation "
               "(Segmentation page) comes after OCR's context.")

stage_code("regions")
