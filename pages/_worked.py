"""One pixel worked through, as a block the relation and context pages call: the equations with this
pixel's numbers substituted from the trace (ocr_viz/teaching/worked_pixel.py). Not a page itself."""
import numpy as np
import streamlit as st

from ocr_viz.app import model_choice, session, transport
from ocr_viz.figures.attention import term_bars
from ocr_viz.figures.charts import shown_classes
from ocr_viz.teaching import explain, worked_pixel
from pages._layout import table


def worked(current: session.Current, row: int, col: int) -> worked_pixel.WorkedPixel:
    return model_choice.derived_now(f"worked_pixel.{row}.{col}",
                                lambda: worked_pixel.work(current.model.head, current.arrays, row, col))


def term_figure(current: session.Current, w: worked_pixel.WorkedPixel):
    classes, palette = current.classes, current.palette
    shown, rest = shown_classes(w.sizes)  # every region up to 20 (the equations write out fewer)
    others = None
    if len(rest):
        others = (f"the other {len(rest)} (their sum)", float(np.linalg.norm(w.parts[rest].sum(0))))
    return term_bars(w.sizes[shown], [classes[k] for k in shown], [palette[k] for k in shown],
                     f"Eq. 3's terms for pixel i = {w.index}",
                     "||w_ik delta(f_k)||: the size of each region's share of the sum inside rho", rest=others, value_name="||w_ik delta(f_k)||")


def relation_block(current: session.Current, row: int, col: int) -> None:
    """Eq. 5 for the chosen pixel with its numbers: kappa_ik for every region, the softmax with its sum, w_ik."""
    w = worked(current, row, col)
    with st.expander(f"One pixel worked through: Eq. 5 for pixel i = {w.index} with its numbers", expanded=True):
        for line in worked_pixel.relation_equations(w, current.classes):
            st.latex(line)
        table(worked_pixel.table(w, current.classes))
        st.caption("phi(x_i) and psi(f_k) are computed here with the loaded head's own modules from the recorded x and "
                   "f; kappa_ik and w_ik are the trace's. The last row sums each column (its last cell is the length of "
                   "the summed vector, not a sum of lengths). Eq. 3 and 6 for the same pixel: on the context page.")


def context_block(current: session.Current) -> None:
    """Eq. 3 and 6 for the chosen pixel with its numbers: y_i term by term, the lengths of x_i and y_i,
    z_i, the logits and the class before and after."""
    st.subheader("One pixel worked through: Eq. 3 and 6 with its numbers")
    picker, sentence = st.columns([1, 2])
    with picker:
        row, col = session.pixel_picker()
    w = worked(current, row, col)
    with sentence:
        st.markdown(worked_pixel.summary(w, current.classes))
    for line in worked_pixel.context_equations(w, current.classes):  # full width: the sums are long
        st.latex(line)
    bars, notes = st.columns([3, 2])
    with bars:
        transport.chart(term_figure(current, w))
    with notes:
        st.caption("delta(f_k), the sum inside rho and g's two input parts (W_x x_i, W_y y_i: g's first 1x1 conv "
                   "split by its input channels) are computed with the loaded head's own modules; x_i, y_i, z_i, M "
                   "and the logits are the trace's. The class before is argmax of the soft regions M at this cell, "
                   "the class after argmax of the final logits.")
    with st.expander("The code that computed it"):
        for function in (worked_pixel.work, worked_pixel.contributions, worked_pixel.g_parts):
            st.caption(explain.source_location(function))
            st.code(explain.source(function), language="python")
