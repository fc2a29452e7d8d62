"""What the relation really does: the paper's claim about w_ik (Eq. 5) beside what the loaded model
does, measured over a whole labelled test set (the JSON of `python -m ocr_viz.analyze relation`) and
on this image; the test-set ablations; what a near-uniform relation means for y_i (Eq. 3)."""
from pathlib import Path

import streamlit as st

from ocr_viz.analysis import interventions, relation
from ocr_viz.app import model_choice, session, transport
from ocr_viz.model.arrays import head_trace
from ocr_viz.figures import decimals_apart, score_bars
from ocr_viz.figures.relation_stats import (alignment_bars, argmax_share_bars, confusion_figure, entropy_histogram,
                                            rank_bars)
from ocr_viz.teaching import explain
from pages._layout import score_table, table

current = session.current()
arrays, classes, palette = current.arrays, current.classes, current.palette
K = len(classes)

st.title("What the relation really does")
st.caption(f"{current.image_label}, {current.meta.get('name', '?')} model"
           + ("" if current.meta.get("trained") else " with **untrained** weights: the numbers show the mechanics, "
              "not what a trained OCR model learns"))
if not arrays.is_ocr:
    st.warning(f"The relation w_ik is a stage of the OCR head; the loaded model's head is "
               f"`{current.meta['arch']['head']}`. Choose the shipped OCR model in the sidebar.")
    st.stop()


@st.cache_data(max_entries=8, show_spinner=False)
def weights_digest(model_key: str, _model) -> str:
    """The loaded weights' identity, as `analyze relation` records it (hashed once per model)."""
    return relation.model_digest(_model)


results = relation.find_results(weights_digest(current.model_key, current.model))
upload = st.session_state.get("relation_truth.upload")
if upload is not None:
    try:
        uploaded = relation.parse_results(upload.getvalue(), repr(upload.name))
        if list(uploaded["classes"]) != classes:
            raise ValueError(f"{upload.name!r} is for the classes {', '.join(uploaded['classes'][:5])}..., "
                             "not the loaded model's")
        results = uploaded
    except ValueError as e:
        st.error(f"The analysis file was not used: {e}")

here = model_choice.derived("relation_truth.image", lambda: relation.image_summary(arrays, classes, current.model_labels))
test = results["relation"] if results else None

claim, measured = st.columns(2)
with claim:
    st.subheader("The paper's claim")
    st.markdown(explain.PAPER_CLAIM)
    st.latex(r"w_{ik} = \frac{e^{\kappa(x_i, f_k)}}{\sum_{j=1}^{K} e^{\kappa(x_i, f_j)}}\qquad\text{(5)}")
    st.markdown(explain.OFFICIAL_COUNTERPART)
with measured:
    if test is not None:
        st.subheader(f"Measured over {results['images']} images of "
                     f"`{Path(results['data'].get('root', '?')).name}`")
        st.markdown("\n".join(f"- {line}" for line in explain.relation_findings(test, classes)))
        st.caption(f"Each image at the app's input size (longer side {results['input_long_side']}), statistics per "
                   f"feature cell ({test['cells']:,} cells, {test['labelled_cells']:,} with a ground-truth class). "
                   f"Command: `{results['command']}`")
    else:
        st.subheader("Measured on this image")
        st.markdown("\n".join(f"- {line}" for line in explain.relation_findings(here, classes)))
        st.info("No test-set analysis of this checkpoint is available, so only this image is measured. Make one with "
                "`python -m ocr_viz.analyze relation CHECKPOINT --data DIR --out relation.json` (DIR: a CamVid-layout "
                "folder or one with images/ and masks/ in the model's class table) and upload the JSON below, or put "
                "it in `assets/analysis/`.", icon=":material/info:")
st.file_uploader("analysis JSON written by `python -m ocr_viz.analyze relation` (optional)", type=["json"],
                 key="relation_truth.upload")


def row(name: str, get, fmt: str) -> dict:
    value = lambda s: None if s is None or get(s) is None else format(get(s), fmt)  # noqa: E731
    return {"statistic": name, "test set": value(test), "this image": value(here)}


st.subheader("The test set and this image, side by side")
strongest = lambda s: explain.strongest_region(s, classes)  # noqa: E731
table([
    row("mean entropy of w_i (nats)", lambda s: s["entropy"]["mean"], ".3f"),
    row("log K: a uniform relation", lambda s: s["entropy"]["log_k"], ".3f"),
    row("argmax_k w_ik = ground-truth class", lambda s: s["absolute"]["top1_truth"], ".1%"),
    row("argmax_k w_ik = predicted class", lambda s: s["absolute"]["top1_pred"], ".1%"),
    row(f"mean rank of the true class (chance {(K + 1) / 2:g})", lambda s: s["absolute"]["mean_rank"], ".2f"),
    row("relative view: argmax = ground-truth class", lambda s: s["relative"]["top1_truth"], ".1%"),
    row("relative view: mean rank of the true class", lambda s: s["relative"]["mean_rank"], ".2f"),
    row("argmax_k w_ik = soft region argmax_k M_ki", lambda s: s["m_tilde"]["top1_soft_region"], ".1%"),
    row("argmax_k w_ik = argmax_k m~_ki", lambda s: s["m_tilde"]["top1_m_tilde"], ".1%"),
    row("spatial correlation of w_:k and m~_k", lambda s: s["m_tilde"]["spatial_correlation"], ".3f"),
    {"statistic": "the region most cells relate most to", "test set": None if test is None else
     "{} ({:.0%})".format(*strongest(test)), "this image": "{} ({:.0%})".format(*strongest(here))},
])
st.caption(f"Chance for an argmax: 1/K = {1 / K:.1%}. Relative view: w_ik divided by its mean over the image's "
           "pixels, which removes a preference for one region shared by every pixel. Empty: needs the ground truth "
           "(choose a CamVid test image in the sidebar) or the test-set analysis."
           + (f" This image's labels are {current.ground.map.labels_title}'s: its true-class rows count only the "
              f"classes that are one model class each ({', '.join(current.ground.map.one_to_one())}); merged classes "
              "have no single own region." if current.ground is not None and not current.ground.map.exact else ""))

st.subheader("The figures")
left, right = st.columns(2)
with left:
    histograms = {f"test set ({results['images']} images)": test["entropy"]["histogram"]} if test else {}
    histograms["this image"] = here["entropy"]["histogram"]
    means = ({"test set": test["entropy"]["mean"]} if test else {}) | {"this image": here["entropy"]["mean"]}
    transport.chart(entropy_histogram(here["entropy"]["edges"], histograms, here["entropy"]["log_k"],
                                      "entropy of w_i per cell", "dotted: the means; dashed: a uniform relation",
                                      means=means))
with right:
    source = test if test is not None else here
    where = "test set" if test is not None else "this image"
    transport.chart(argmax_share_bars(classes, palette, source["absolute"]["argmax_share"],
                                      f"which region each cell relates to most ({where})",
                                      "share of all cells whose argmax_k w_ik is each class"))

source = test if test is not None else (here if current.ground is not None else None)
if source is not None:
    where = f"test set, {results['images']} images" if test is not None else "this image"
    left, right = st.columns(2)
    with left:
        transport.chart(alignment_bars(classes, {
            view: [source[view]["per_class"][c]["top1_truth"] for c in classes] for view in relation.VIEWS},
            f"argmax_k w_ik = the true class, per class ({where})",
            "absolute: w_ik; relative: w_ik divided by its image mean", chance=1 / K))
    with right:
        transport.chart(rank_bars({view: source[view]["rank_histogram"] for view in relation.VIEWS},
                                  f"rank of the true class among the K weights ({where})",
                                  "dashed: 1/K, what a relation unrelated to the class gives"))
    view = st.radio("confusion of", relation.VIEWS, horizontal=True, key="relation_truth.view",
                    format_func={"absolute": "argmax_k w_ik", "relative": "argmax_k of w_ik / image mean"}.get)
    transport.chart(confusion_figure(source[view]["versus_truth"], classes,
                                     f"the true class (rows) against the strongest region (columns), {where}",
                                     "each row: the share of that class's cells; a diagonal would be the paper's "
                                     "picture", columns_name="argmax_k w_ik" if view == "absolute" else
                                     "argmax_k w_ik / mean"))

st.subheader("The paper's ablations over the test set")
if results is None:
    st.caption("They need the test-set analysis. The Ablations page scores them on one image.")
else:
    rows = results["ablations"]["rows"]
    places = decimals_apart([100 * r["miou"] for r in rows])  # one rounding for the bars, the table and the text
    transport.chart(score_bars([r["name"] for r in rows], [100 * r["miou"] for r in rows],
                               f"mean IoU over {results['images']} images, per variant",
                               results["ablations"]["scored_at"], baseline=next(
                                   (r["name"] for r in rows if r["key"] == "ocr"), None), decimals=places))
    score_table(rows, places)
    st.markdown(explain.ablation_reading({r["key"]: r["miou"] for r in rows}, f"over {results['images']} test images",
                                         places))
    no_context = results["ablations"].get("no_context")
    st.caption(("No context: " + no_context + ", trained separately (so it differs from OCR by its head and its "
                "training run, not only by the context). ") if no_context else "No no-context model was given. ")
    st.page_link("pages/ablations.py", label="The same variants on one image: Ablations", icon=":material/science:")

st.subheader("What follows for y_i")
base = model_choice.derived("replay.head_trace", lambda: head_trace(arrays, current.model.head, current.device))
uniform = model_choice.experiment(("relation_truth.uniform",), lambda: interventions.uniform_relation(current.model.head, base))
share = relation.share_beyond_global_mix(interventions.context_of(current.model.head, base)[0].cpu().numpy(),
                                        interventions.context_of(current.model.head, uniform)[0].cpu().numpy())
scores = {r["key"]: r["miou"] for r in results["ablations"]["rows"]} if results else {}
st.markdown(explain.y_consequence(share, here["entropy"]["mean"], here["entropy"]["log_k"],
                                  (scores["uniform"], scores["ocr"]) if {"uniform", "ocr"} <= scores.keys() else None,
                                  decimals_apart([100 * v for v in scores.values()])))
st.page_link("pages/context.py", label="y_i, z_i: see y on this image", icon=":material/merge:")
st.page_link("pages/relation.py", label="w_ik: click a pixel and read its bars", icon=":material/share:")
