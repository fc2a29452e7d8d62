"""What each head costs: parameters, FLOPs, peak memory and time, at the app's setting and at the
paper's, beside the paper's reported table; how the costs grow with the number of pixels."""
import streamlit as st

from ocr_viz.app import transport
from ocr_viz.cost import report as cost_report
from ocr_viz.figures import narrow
from ocr_viz.figures.compare import loglog_figure
from pages._layout import figure_columns, table

LIVE = "complexity.live"

st.title("Complexity: what each head costs")
st.markdown(
    "One forward pass of each head on backbone features, in eval mode without gradients. **Params**: every "
    "parameter; **FLOPs**: 2 per multiply-add of the convolutions and matrix products (softmax, BN, ReLU and "
    "additions not counted, as in the paper), counted on shape-only meta tensors; **peak memory**: the most tensor "
    "memory allocated during the call beyond what was live before it (weights and input excluded, output "
    "included); **time**: median wall-clock time after a warm-up. Measuring takes minutes, so this page reads "
    "the results stored by the benchmark; the FLOPs can be recounted live at the bottom.")

report = cost_report.complexity_report()
if report is None:
    st.info("No complexity measurements yet. Produce them with", icon=":material/hourglass_empty:")
    st.code(cost_report.COMPLEXITY_COMMAND, language="bash")
else:
    st.caption("Measured by " + cost_report.provenance(report) + ". Times on a busy machine are slower than its "
               "idle speed; the ratios between heads measured in one run are the steadier figure.")
    if report.get("run", {}).get("quick"):
        st.warning("These are **--quick** measurements (tiny sizes, one repeat): a smoke test, not the real figures.")

    st.subheader("At the app's setting")
    st.caption(f"The shipped heads' widths, {cost_report.setting_text(report['app'])}.")
    table(cost_report.measured_rows(report["app"]))

    st.subheader("At the paper's setting, beside the paper's table")
    st.caption(f"The heads at the paper's widths, {cost_report.setting_text(report['paper'])}. * = paper-style: "
               "without OCR's auxiliary head and ASPP's extra 3x3 conv, which the paper's rows leave out. 'est. time' "
               "scales the measured time to the counted size by the FLOPs ratio. The paper's numbers: "
               f"{report.get('paper_table_setting', '')}; its memory and time are a GPU's, ours a CPU's, so compare "
               "the ratios to OCR, not the values.")
    table(cost_report.paper_rows(report))
    st.markdown("**Ratios to OCR**: ours (paper-style params and FLOPs, memory, time) beside the paper's")
    table(cost_report.paper_ratio_rows(report))
    st.caption(cost_report.excluded_share_note(report["paper"]) + " " + cost_report.attention_note(report))
    with st.expander("Which paper row each head is compared with"):
        for head, (row, note) in report.get("paper_row_for_head", {}).items():
            st.markdown(f"- **{head}** -> {row or '-'}: {note}")

st.subheader("The paper's efficiency table, as reported")
table(cost_report.paper_table_rows())
st.caption("Yuan, Chen, Wang (ECCV 2020), efficiency table: a claim shown for comparison, not a measurement of ours.")

st.subheader("How the costs grow with the number of pixels")
scaling = cost_report.scaling_report()
if scaling is None:
    st.info("No scaling measurements yet. Produce them with", icon=":material/hourglass_empty:")
    st.code(cost_report.SCALING_COMMAND, language="bash")
else:
    st.caption("Measured by " + cost_report.provenance(scaling) + ". App widths; feature maps from "
               f"{scaling['points'][0]['size'][0]} x {scaling['points'][0]['size'][1]} up to "
               f"{scaling['points'][-1]['size'][0]} x {scaling['points'][-1]['size'][1]}.")
    if scaling.get("run", {}).get("quick"):
        st.warning("These are **--quick** measurements (tiny sizes, one repeat): a smoke test, not the real figures.")
    last3 = st.toggle("fit the slopes over the largest three sizes only", value=True, key="complexity.last3",
                      help="at small sizes the convolutions (linear in n) dominate every head; the n^2 attention "
                           "term takes over only as n grows")
    for column, measure in zip(figure_columns(len(cost_report.MEASURES)), cost_report.MEASURES):
        with column:
            series = cost_report.scaling_series(scaling["points"], measure)
            if series:
                transport.chart(narrow(loglog_figure(series, cost_report.slopes(scaling, measure, last3),
                                                     cost_report.MEASURES[measure], cost_report.MEASURES[measure],
                                                     "legend: fitted log-log slope", colours=cost_report.COLOURS)))
            else:
                st.caption(f"{cost_report.MEASURES[measure]}: not measured in this run")
    table(cost_report.slope_rows(scaling))
    st.caption("Slope 1: cost proportional to the number of pixels n (convolutions, OCR's n x K relation); slope 2: "
               "to n^2 (Non-local and base-OC's n x n attention). Memory: the attention is computed in blocks of "
               "rows (heads/attention.py), so its memory stops growing as n^2 once a block is full.")

st.subheader("Recount the FLOPs now")
st.caption("FLOPs and parameters only, counted on meta tensors (shapes, no arithmetic), so it takes about a second; "
           "memory and time need the benchmark commands above.")
largest = st.select_slider("largest feature-map side", [16, 32, 64, 128], value=64, key="complexity.largest")
if st.button("Recount FLOPs", key="complexity.recount", icon=":material/calculate:"):
    sizes = [s for s in (8, 11, 16, 23, 32, 45, 64, 91, 128) if s <= largest]
    with st.spinner("Counting..."):
        st.session_state[LIVE] = cost_report.live_flops(sizes)
live = st.session_state.get(LIVE)
if live is not None:
    left, right = st.columns(2)
    with left:
        st.markdown("**App's setting** (all parameters and FLOPs; * = paper-style)")
        table(live["app"])
        st.markdown("**Paper's setting** (2048 x 128 x 128 features, 19 classes)")
        table(live["paper"])
    with right:
        transport.chart(loglog_figure(cost_report.scaling_series(live["points"], "flops"),
                                      cost_report.slopes(live, "flops", last3=True),
                                      "GFLOPs vs pixels, counted now", "GFLOPs",
                                      f"sides {', '.join(map(str, live['sizes']))}; "
                                      "legend: slope over the largest three", colours=cost_report.COLOURS))
