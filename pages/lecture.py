"""Lecture mode: the pipeline step by step on the current image, for teaching from a projector.
Each step: a plain-language explanation, a "what to notice" prompt computed from this image,
the figure, the equations, where it sits in the pipeline, and the code. The step is in the URL
(?step=), and the left / right arrow keys move through the steps. Texts: ocr_viz/teaching/lecture.py."""
from dataclasses import replace

import streamlit as st

from ocr_viz.analysis import relation
from ocr_viz.app import model_choice, session, transport
from ocr_viz.figures import pipeline_dot
from ocr_viz.figures.pipeline import neighbourhood
from ocr_viz.teaching import explain, lecture
from pages._layout import share_box

current = session.current()
steps = lecture.STEPS
count = len(steps)
number = session.lecture_step(count)
step = steps[number - 1]

if not current.arrays.is_ocr:
    st.title("Lecture mode")
    st.warning(f"The lecture walks through the OCR head; the loaded model's head is `{current.meta['arch']['head']}`. "
               "Choose the shipped OCR model in the sidebar.")
    st.stop()
scene = lecture.Scene(current.arrays, current.classes, current.palette, current.truth, model=current.model,
                      ground=current.ground)
if step.key == "relation":
    # The pixel and region a link (or a click) chose; else a typical pixel of the largest region, which
    # then becomes the chosen one, so the URL, and a link copied from it, show this same view.
    if not st.session_state.get(session.PIXEL_CHOSEN):
        k, (row, col), _ = lecture.focus(scene)
        st.session_state[session.CLASS], st.session_state[session.ROW], st.session_state[session.COL] = k, row, col
        st.session_state[session.PIXEL_CHOSEN] = "typical"  # a click or a link replaces it with True
        session.write_url(current.image_key, current.model_key, current.classes[k], (row, col))
    scene = replace(scene, pixel=session.chosen_pixel(), region=session.chosen_class(),
                    typical=st.session_state.get(session.PIXEL_CHOSEN) == "typical")
elif step.key in ("worked", "transformer") and st.session_state.get(session.PIXEL_CHOSEN):
    scene = replace(scene, pixel=session.chosen_pixel(), region=session.chosen_class())  # the relation step's pixel
elif step.key == "whatif":
    @st.cache_data(max_entries=8, show_spinner=False)
    def weights_digest(model_key: str, _model) -> str:
        return relation.model_digest(_model)

    results = relation.find_results(weights_digest(current.model_key, current.model))
    if results and results.get("ablations", {}).get("rows"):
        scene = replace(scene, scores={r["name"]: 100 * r["miou"] for r in results["ablations"]["rows"]},
                        scored_on=f"over {results['images']} test images")

with st.container(horizontal=True, vertical_alignment="center"):
    st.button("Previous", key="lecture.previous", icon=":material/arrow_back:", shortcut="Left",
              on_click=session.move_step, args=(-1,), disabled=number == 1)
    st.button("Next", key="lecture.next", icon=":material/arrow_forward:", shortcut="Right", type="primary",
              on_click=session.move_step, args=(1,), disabled=number == count)
    session.bound(st.selectbox, session.STEP, "jump to step", options=range(1, count + 1),
                    format_func=lambda n: f"{n}. {steps[n - 1].title}", label_visibility="collapsed")
    st.caption("Large type for a projector: in the sidebar")
st.progress(number / count, text=f"Step {number} of {count}  (keys: left / right arrow, when no widget has the focus)")

st.title(step.title)
st.caption(f"{current.image_label}, {current.meta.get('name', '?')} model"
           + ("" if current.meta.get("trained") else " with **untrained** weights: the numbers show the mechanics, "
              "not what a trained OCR model learns"))
shown = (scene.pixel, scene.region, tuple(sorted((scene.scores or {}).items())))  # what the step's caches depend on
text, maths = st.columns([3, 2])
with text:
    st.markdown(step.text)
    prompt = model_choice.derived(f"lecture.prompt.{step.key}.{hash(shown)}", lambda: step.prompt(scene))
    st.info(f"**What to notice.** {prompt}", icon=":material/visibility:")
    for page, label in step.links:
        st.page_link(page, label=label, icon=":material/arrow_forward:")
with maths:
    for equation in explain.STAGE_BY_KEY[step.stage].equations if step.stage else ():
        st.latex(equation.latex + (rf"\qquad\text{{({equation.number})}}" if equation.number else ""))
        if equation.note:
            st.caption(equation.note)
if step.filled is not None:  # the equations with this image's numbers substituted, full width
    for line in model_choice.derived(f"lecture.filled.{step.key}.{hash(shown)}", lambda: step.filled(scene)):
        st.latex(line)

if step.figure is not None:
    colours = hash(tuple(current.palette))  # another choice of class colours draws the figure anew
    figure = model_choice.derived(f"lecture.figure.{step.key}.{colours}.{hash(shown)}", lambda: step.figure(scene))
    figures = figure if isinstance(figure, tuple) else (figure,) if figure is not None else ()
    for column, one in zip(st.columns([3, 2]) if len(figures) == 2 else (st.container(),), figures):
        with column:
            transport.chart(one)  # enlarged in projector mode
    if not figures:
        st.info("No ablation scores of this model yet: the Ablations page scores the variants on a CamVid image, "
                "and `python -m ocr_viz.analyze relation` over a test set.", icon=":material/science:")

if step.stage:
    # Only the step's stage and its neighbours, at the page's type size: the whole Fig. 3 fitted into a
    # column drew its text at 6-8 px, unreadable from the back of a room.
    large = bool(st.session_state.get(session.LARGE_TYPE))
    nodes = neighbourhood(explain.pipeline_nodes(current.arrays.shapes), explain.PIPELINE_EDGES, step.stage)
    st.graphviz_chart(pipeline_dot(nodes, explain.PIPELINE_EDGES, current=step.stage, font=20 if large else 14,
                                   compact=True), width="content")
    st.caption("Where this step sits in the paper's Fig. 3: its stage (highlighted) and the stages next to it, with "
               "this run's tensor shapes; the whole figure is on the Home page.")

if step.sources:
    with st.expander("The code that computed it", expanded=False):
        for name in step.sources:
            function = explain.resolve(name)
            st.caption(explain.source_location(function))
            st.code(explain.source(function), language="python")

with st.expander("Link to this step", expanded=False):
    share_box("lecture", "lecture")
