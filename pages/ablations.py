"""The paper's ablations, live on a dataset image with ground truth: no context (FCN), the soft
regions alone, a uniform relation, the model's OCR, the model's relation on ground-truth
regions, and GT-OCR (the paper's upper bound), scored side by side."""
import streamlit as st

from ocr_viz.analysis import ablations
from ocr_viz.data.classes import truth_mismatch
from ocr_viz.app import gallery, model_choice, session, transport
from ocr_viz.model.arrays import head_trace, input_tensor
from ocr_viz.figures import decimals_apart, label_figure, narrow, score_bars
from ocr_viz.teaching import explain
from pages._layout import class_legend, figure_columns, score_table, table

current = session.current()
arrays, classes, palette = current.arrays, current.classes, current.palette

st.title("The paper's ablations, live")
st.markdown(
    "How much do OCR's object regions matter? The paper (Fig. 1) answers with **GT-OCR**: replace the soft "
    "object regions, and the relation, by the ground truth. The paper reads the gap between OCR and GT-OCR as "
    "what better regions could still give, and the gap between **no context** and OCR as what the context module "
    "gives. Here the same comparison runs on one image, and the gaps are read from the scores, whatever they "
    "turn out to be; the whole test set is on the page *What the relation really does*. The OCR variants rerun "
    "only the head, on the cached trace."
)
if not arrays.is_ocr:
    st.warning(f"These ablations change stages of the OCR head; the loaded model's head is "
               f"`{current.meta['arch']['head']}`. Choose the shipped OCR model in the sidebar.")
    st.stop()
if truth_mismatch(classes):
    st.info(f"These ablations score against CamVid's ground truth and use the FCN head trained on CamVid; the loaded "
            f"model has {len(classes)} classes of another dataset, so they do not apply here. For its own labelled "
            "data: `python -m ocr_viz.analyze relation CHECKPOINT --data DIR --no-fcn` (the test-set ablations "
            "without the no-context row).", icon=":material/info:")
    st.stop()
if current.truth is None:
    st.info("GT-OCR and the scores need the ground truth of the image, which only the dataset images have "
            f"({current.image_label!r} has none).", icon=":material/info:")
    dataset = gallery.with_ground_truth()
    if dataset:
        st.button(f"Use a CamVid test image ({dataset[0].label})", key="ablations.use_dataset", type="primary",
                  on_click=session.choose_image, args=(dataset[0].key,))
        st.caption("or choose an image marked **(ground truth)** in the sidebar.")
    else:
        st.caption(f"No dataset is configured: set {gallery.DATA_ENV} to a CamVid folder (with test/ and testannot/) "
                   "and restart the app.")
    st.stop()

model = current.model
fcn_key, fcn, fcn_meta = model_choice.shipped_model("fcn")
base = model_choice.derived("replay.head_trace", lambda: head_trace(arrays, current.model.head, current.device))
trained = bool(current.meta.get("trained"))
variants = ablations.recorded_variants(arrays, trained)
variants += model_choice.experiment(("ablations.head",),
                                 lambda: ablations.head_variants(model.head, base, current.truth, trained))
no_context = model_choice.experiment(("ablations.no_context", fcn_key), lambda: ablations.no_context(
    fcn, arrays, input_tensor(arrays), ablations.same_backbone(model, fcn)))
variants = ablations.ordered(variants + [ablations.no_context_variant(no_context, bool(fcn_meta.get("trained")))])
scores = {v.key: ablations.score(v.pred, current.truth, len(classes)) for v in variants}

untrained = [v.name for v in variants if not v.trained]
if untrained:
    st.warning("Untrained weights behind: " + ", ".join(untrained) + ". Their numbers show the mechanics, not what "
               "the trained models do (weights go in assets/weights/).", icon=":material/warning:")

names = [v.name for v in variants]
places = decimals_apart([100 * scores[v.key].mean_iou for v in variants])  # one rounding: bars, table, text
transport.chart(score_bars(names, [100 * scores[v.key].mean_iou for v in variants],
                           f"mean IoU on {current.image_label}, per variant",
                           "classes present in the prediction or the ground truth; unlabelled pixels ignored; "
                           "hatched: untrained weights", baseline=ablations.OCR[0],
                           muted=[not v.trained for v in variants], decimals=places))
score_table([{"key": v.key, "name": v.name, "miou": scores[v.key].mean_iou, "meaning": v.meaning, "trained": v.trained,
              "pixel_accuracy": scores[v.key].pixel_accuracy} for v in variants], places)
st.markdown(explain.ablation_reading({v.key: scores[v.key].mean_iou for v in variants}, f"on {current.image_label}",
                                     places))
st.page_link("pages/relation_truth.py", label="The same ablations over the whole test set", icon=":material/fact_check:")

st.subheader("The predictions")
opacity = st.slider("opacity over the image", 0.0, 1.0, 0.7, key="ablations.opacity")
panels = [("ground truth (CamVid)", current.truth, None)] + [(v.name, v.pred, scores[v.key]) for v in variants]
class_legend(classes + ["(unlabelled)"], palette + [(0, 0, 0)], *[labels for _, labels, _ in panels])
for column, (name, labels, result) in zip(figure_columns(len(panels)), panels):
    with column:
        caption = "" if result is None else f"mIoU {result.mean_iou:.1%}, pixel accuracy {result.pixel_accuracy:.1%}"
        transport.chart(narrow(label_figure(arrays.image, labels, classes + ["(unlabelled)"], palette + [(0, 0, 0)],
                                            name, opacity=opacity, caption=caption, height=340, legend=False)))

st.subheader("IoU per class (%)")
table([{name: f"{value:.1f}" if isinstance(value, float) else value for name, value in row.items()}
       for row in ablations.class_rows(variants, scores, classes, current.truth)])  # None shows as a dash
st.caption("A dash: the class is neither in the ground truth nor in that prediction. One image is a small sample: "
           "the paper's numbers are over a whole validation set.")

st.subheader("The code that ran")
SOURCES = ("interventions.gt_ocr", "interventions.gt_regions", "interventions.uniform_relation", "ablations.no_context")
for name in SOURCES:
    function = explain.resolve(name)
    with st.expander(explain.source_location(function), expanded=name == "interventions.gt_ocr"):
        st.code(explain.source(function), language="python")
