"""Lecture mode: the pipeline step by step on the current image, for teaching from a projector.
Each step: a plain-language explanation, a "what to notice" prompt computed from this image,
the figure, the equations, where it sits in the pipeline, and the code. The step is in the URL
(?step=), and the left / right arrow keys move through the steps. Texts: ocr_viz/teaching/lecture.py."""
import streamlit as st

from ocr_viz.app import model_choice, session, transport
from ocr_viz.figures import pipeline_dot
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
scene = lecture.Scene(current.arrays, current.classes, current.palette, current.truth)

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
text, maths = st.columns([3, 2])
with text:
    st.markdown(step.text)
    prompt = model_choice.derived(f"lecture.prompt.{step.key}", lambda: step.prompt(scene))
    st.info(f"**What to notice.** {prompt}", icon=":material/visibility:")
    for page, label in step.links:
        st.page_link(page, label=label, icon=":material/arrow_forward:")
with maths:
    for equation in explain.STAGE_BY_KEY[step.stage].equations if step.stage else ():
        st.latex(equation.latex + (rf"\qquad\text{{({equation.number})}}" if equation.number else ""))
        if equation.note:
            st.caption(equation.note)

picture, diagram = st.columns([3, 2])
with picture:
    if step.figure is not None:
        colours = hash(tuple(current.palette))  # another choice of class colours draws the figure anew
        figure = model_choice.derived(f"lecture.figure.{step.key}.{colours}", lambda: step.figure(scene))
        for one in figure if isinstance(figure, tuple) else (figure,):  # a step may show several figures
            transport.chart(one)  # enlarged in projector mode
with diagram:
    st.graphviz_chart(pipeline_dot(explain.pipeline_nodes(current.arrays.shapes), explain.PIPELINE_EDGES,
                                   current=step.stage), width="stretch")
    st.caption("Where this step sits in the paper's Fig. 3 (highlighted), with this run's tensor shapes.")

if step.sources:
    with st.expander("The code that computed it", expanded=False):
        for name in step.sources:
            function = explain.resolve(name)
            st.caption(explain.source_location(function))
            st.code(explain.source(function), language="python")

with st.expander("Link to this step", expanded=False):
    share_box("lecture", "lecture")
