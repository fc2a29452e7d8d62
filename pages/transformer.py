"""OCR as a Segmentation Transformer: the loaded model's own recorded tensors relabelled as the two
cross-attentions of the paper's later reading, recomputed from Q, K, V and compared with the trace;
where the analogy breaks, with this run's numbers. The library: ocr_viz/teaching/transformer.py."""
import streamlit as st

from ocr_viz.app import model_choice, session, transport
from ocr_viz.figures import Scale, class_bars, map_figure
from ocr_viz.teaching import explain, transformer
from pages._layout import table

current = session.current()
st.title("OCR as a Segmentation Transformer")
st.caption(f"{current.image_label}, {current.meta.get('name', '?')} model"
           + ("" if current.meta.get("trained") else " with **untrained** weights"))
if not current.arrays.is_ocr:
    st.warning(f"This page reads the OCR head as a Transformer; the loaded model's head is "
               f"`{current.meta['arch']['head']}`. Choose an OCR model in the sidebar.")
    st.stop()
arrays, classes, palette = current.arrays, current.classes, current.palette
reading = model_choice.derived("transformer.reading", lambda: transformer.read(current.model, arrays))

st.markdown(
    "The later versions of the paper, retitled *Segmentation Transformer: Object-Contextual Representations for "
    "Semantic Segmentation* (arXiv:1909.11065, revised in 2021 under this title; the HRNet-OCR README says \"the approach is "
    "rephrased as Segmentation Transformer\"), read OCR as a Transformer encoder-decoder made of two "
    "cross-attentions. In the **decoder**, K category queries attend over the pixels: the attention weights are "
    "the soft object regions, the outputs the object region representations f_k. In the **encoder**, every pixel "
    "attends over the K regions: the attention is the relation w_ik, the output the contextual representation "
    "y_i. Below, this model's own tensors from this image are put in those roles and the attention is "
    "recomputed from Q, K and V, with the shapes of this run.")
for line in transformer.filled(reading):
    st.latex(line)


def roles(block: transformer.Block) -> None:
    table([{"Transformer": r.transformer, "in this model": r.ocr,
            "shape here": " x ".join(map(str, r.shape)) if r.shape else "not in the trace"} for r in block.roles])


def checks(block: transformer.Block) -> None:
    st.caption("Recomputed from the roles above and compared with the trace (max |difference| / max |recorded|; y "
               "and z with the head's own Eq. 3 and 6 on the trace's x, w and f, in float32: the server keeps only a "
               "float16 copy of them, for the pictures): "
               + "; ".join(f"{name}: {error:.1e}" for name, error in block.errors.items()))


st.subheader("(a) " + reading.decoder.name)
left, right = st.columns([3, 2])
with left:
    roles(reading.decoder)
    st.markdown(f"The score of query k at pixel i is M_ki = q_k . a_i + b_k, exactly the aux head's last 1x1 conv: "
                f"the query is a **classifier's weight row**, and it acts on the aux head's hidden features a_i, not on "
                f"x_i. The bias b_k is the same for every pixel, so it cancels in the softmax over pixels. Softmax "
                f"scale: {reading.decoder.scale_text}.")
    checks(reading.decoder)
with right:
    k = session.class_picker("query k (a class)")
    transport.chart(map_figure(arrays.m_tilde[k], f"query {classes[k]}: its attention over the pixels, m~_k",
                               Scale("log"), image=arrays.image, opacity=0.75, value_name="m~_k", height=380))
    st.caption(f"Region {classes[k]} averages exp(entropy) = {reading.spread[k]:,.0f} of the {reading.pixels:,} pixels; "
               f"divided by sqrt({reading.aux_width}) as a Transformer would, {reading.spread_scaled[k]:,.0f}.")

st.subheader("(b) " + reading.encoder.name)
left, right = st.columns([3, 2])
with left:
    roles(reading.encoder)
    st.markdown(f"Softmax scale: {reading.encoder.scale_text}. The value is delta(f_k), a transform of the decoder's "
                "output, and rho plays the part of the output projection.")
    checks(reading.encoder)
with right:
    row, col = session.chosen_pixel()
    i = row * arrays.grid[1] + col
    transport.chart(class_bars(arrays.w[:, row, col], classes, palette,
                               f"w_i of pixel i = {i} (row {row}, col {col})",
                               "its attention over the K regions: sums to 1", value_name="w_ik",
                               reference=1 / len(classes), reference_name="1/K", height=380))
    st.caption("The pixel is the one chosen on the relation page (click there to change it).")

st.subheader("(c) " + reading.fusion.name)
st.latex(r"z_i = \mathrm{ReLU}\big(\mathrm{BN}(W_x x_i + W_y y_i + b)\big)\qquad\text{vs.}\qquad "
         r"u_i = x_i + \mathrm{Attention}(x)_i,\;\; z_i = u_i + \mathrm{FFN}(u_i)\;\;\text{(LayerNorm aside)}")
st.markdown(f"g's 1x1 conv on the concatenation [x_i; y_i] is W_x x_i + W_y y_i. A residual connection would be "
            f"W_x = W_y = identity; here the learned W_x x_i has mean length {reading.from_x:.3g} over the pixels and "
            f"W_y y_i {reading.from_y:.3g}. There is no feed-forward layer after it: the classifier reads z_i directly.")
checks(reading.fusion)

st.subheader("Where the analogy breaks")
st.markdown("\n".join(f"- {line}" for line in transformer.breaks(reading, classes)))
worst = reading.worst
st.caption(f"Every recomputed tensor on this page matches the trace to a relative error of {worst:.1e} or better "
           "(float32 arithmetic in another order); tests/test_transformer_reading.py requires 1e-5.")

st.subheader("The code that computed it")
for function in (transformer.category_queries, transformer.aux_keys, transformer.attention, transformer.attend,
                 transformer.encoder_qkv, transformer.g_split):
    with st.expander(explain.source_location(function), expanded=function is transformer.attention):
        st.code(explain.source(function), language="python")
