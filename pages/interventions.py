"""Interventions: change one stage of the OCR head by hand (the spatial-softmax temperature, a
suppressed region, one pixel's relation) and see f, y, z and the prediction update, with the
change as difference maps. Only the head reruns, from the cached trace; never the backbone."""
import streamlit as st

from ocr_viz.analysis import whatif
from ocr_viz.app import model_choice, session, transport
from ocr_viz.model.arrays import head_trace
from ocr_viz.figures import Scale, class_bars, label_figure, map_figure, narrow, photo_figure
from ocr_viz.figures.scales import shared_limits
from ocr_viz.teaching import explain
from pages._layout import class_legend, figure_columns

current = session.current()
arrays, classes, palette = current.arrays, current.classes, current.palette
K = len(classes)

st.title("Interventions: change one stage, see what follows")
st.markdown(
    "Each intervention replaces one stage of the OCR head and reruns **only the stages after it**, with the head's "
    "own weights, from this image's cached trace: the backbone never reruns. The maps show where y, z, w and the "
    "logits changed, and how much."
)
if not arrays.is_ocr:
    st.warning(f"Interventions change stages of the OCR head; the loaded model's head is "
               f"`{current.meta['arch']['head']}`. Choose the shipped OCR model in the sidebar.")
    st.stop()

head = current.model.head
base = model_choice.derived("replay.head_trace", lambda: head_trace(arrays, current.model.head, current.device))
KINDS = {"temperature": "spatial-softmax temperature (Eq. 4)", "suppress": "suppress a region: m~_k := 0 (Eq. 4)",
         "override": "set w_i by hand for one pixel (Eq. 5)"}
TEMPERATURES = [0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
kind = st.radio("intervention", list(KINDS), format_func=KINDS.get, horizontal=True, key="interventions.kind")

controls, chooser = st.columns([2, 3])
with controls:
    if kind == "temperature":
        st.latex(r"\tilde m_{ki} = \frac{e^{s M_{ki}}}{\sum_{j} e^{s M_{kj}}}, \qquad f_k = \sum_i \tilde m_{ki} x_i")
        value = st.select_slider("temperature s", TEMPERATURES, value=4.0, key="interventions.temperature",
                                 help=f"the model's own is s = {head.temperature:g}: s > 1 concentrates each region on "
                                      "its most confident pixels, s < 1 spreads it towards a plain average")
        intervention = whatif.Temperature(float(value))
        k = session.class_picker("region shown")
    elif kind == "suppress":
        st.latex(r"\tilde m_{k} := 0 \;\Rightarrow\; f_k = 0")
        k = session.class_picker("region k to suppress")
        keep = st.toggle("keep w as recorded", value=False, key="interventions.keep",
                         help="off: w is recomputed by Eq. 5 with the new f_k; on: only f_k (so delta(f_k)) changes")
        intervention = whatif.Suppress(k, keep)
        st.caption("f_k = 0 does not remove region k: psi(0) and delta(0) end in BatchNorm and ReLU, so pixels still "
                   "attend to the empty region, and its value delta(0) is not 0.")
    else:
        st.latex(r"w_{i\cdot} := v \,/\, \textstyle\sum_k v_k \quad\text{for the chosen pixel } i")
        row, col = session.pixel_picker()
        k = session.chosen_class()
        sliders = [st.slider(classes[j], 0.0, 1.0, float(arrays.w[j, row, col]), step=0.001, format="%.3f",
                             key=f"interventions.w.{row}.{col}.{j}") for j in range(K)]
        intervention = whatif.Override((row, col), tuple(float(v) for v in whatif.renormalised(sliders)))
        st.caption("The sliders start at the model's w_i for this pixel; the weights are renormalised to sum 1.")
size = arrays.image.shape[:2]
result = model_choice.experiment(("whatif", intervention), lambda: whatif.outcome(head, base, intervention, size, classes))
with chooser:
    if kind == "override":
        transport.chart(photo_figure(arrays.image, arrays.grid, "click a pixel to set its relation",
                                     pixel=session.chosen_pixel(), clickable=True),
                        clickable_key="interventions.click", downloads=False)
    st.info(whatif.summary(result, arrays.grid), icon=":material/science:")
    opacity = st.slider("opacity over the image", 0.0, 1.0, 0.6, key="interventions.opacity")
class_legend(classes, palette, arrays.pred, result.pred)
before, after, changed = figure_columns(3)
with before:
    transport.chart(narrow(label_figure(arrays.image, arrays.pred, classes, palette, "prediction before", opacity=opacity,
                                 height=340, legend=False)))
with after:
    transport.chart(narrow(label_figure(arrays.image, result.pred, classes, palette, f"after: {result.what}", opacity=opacity,
                                 height=340, legend=False)))
with changed:
    transport.chart(narrow(label_figure(arrays.image, result.pred, classes, palette, "pixels whose label changed", opacity=1.0,
                                 mask=result.changed,
                                 caption=f"{whatif.plural(int(result.changed.sum()), 'pixel')}; the rest dimmed",
                                 height=340, legend=False)))

st.subheader("Where the stages changed (difference maps)")
CHANGES = {"y": "||y'_i - y_i||  (Eq. 3)", "z": "||z'_i - z_i||  (Eq. 6)",
           "w": "1/2 sum_k |w'_ik - w_ik|  (Eq. 5)", "logits": "||logits'_i - logits_i||"}
# two a row: four left each map 80 px wide at 1280 px, its tick labels over each other
for column, (name, title) in zip(figure_columns(len(CHANGES), per_row=2), CHANGES.items()):
    with column:
        transport.chart(map_figure(result.change[name], title, Scale("linear"), value_name=f"change of {name}",
                                   pixel=session.chosen_pixel() if kind == "override" else None, height=300))

row, col = session.chosen_pixel()
moved, first, second = figure_columns(3)
with moved:
    transport.chart(narrow(class_bars(result.f_change, classes, palette,
                                      "||f'_k - f_k||: how much each region vector moved",
                                      "Eq. 4; all 0 when the intervention comes after it", value_name="change of f_k",
                                      highlight=k)))
if kind == "temperature":
    limits = shared_limits(arrays.m_tilde[k], result.m_tilde[k], positive=True)  # one range, so the two compare
    for column, (maps, when) in zip((first, second), ((arrays.m_tilde, "before"), (result.m_tilde, "after"))):
        with column:
            transport.chart(narrow(map_figure(maps[k], f"m~_k for {classes[k]}, {when}", Scale("log"),
                                              image=arrays.image, opacity=0.75, value_name="m~_k", limits=limits)))
else:
    top = 1.1 * max(float(arrays.w[:, row, col].max()), float(result.w[:, row, col].max()), 1 / K)
    for column, (w, when) in zip((first, second), ((arrays.w, "before"), (result.w, "after"))):
        with column:
            transport.chart(narrow(class_bars(w[:, row, col], classes, palette,
                                              f"w_i {when}, pixel (row {row}, col {col})", value_name="w_ik",
                                              reference=1 / K, reference_name="1/K", highlight=k,
                                              value_range=(0.0, top))))

st.subheader("The code that ran")
for name in ("interventions.with_temperature", "interventions.suppress_region", "interventions.override_relation",
             "interventions.with_m_tilde", "interventions.with_relation"):
    function = explain.resolve(name)
    with st.expander(explain.source_location(function), expanded=False):
        st.code(explain.source(function), language="python")
