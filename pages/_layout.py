"""What every stage page shows around its figures: the title, the equations numbered as in
the paper, the real tensor shapes of this run, and the source of the functions that computed
it. Not a page itself (st.navigation in app.py lists the pages)."""
import html

import numpy as np
import pandas as pd
import streamlit as st

from ocr_viz.app import downloads, session, transport
from ocr_viz.figures import KINDS, Scale, decimals_apart
from ocr_viz.teaching import explain


def stage_page(key: str) -> session.Current:
    """Draw the stage's introduction and return the current trace; stops on a non-OCR model."""
    stage = explain.STAGE_BY_KEY[key]
    current = session.current()
    st.title(f"{stage.title}  ({stage.symbol})")
    st.caption(f"{current.image_label}, {current.meta.get('name', '?')} model"
               + ("" if current.meta.get("trained") else " with **untrained** weights"))
    if not current.arrays.is_ocr and key != "segmentation":
        st.warning(f"This page shows a stage of the OCR head; the loaded model's head is "
                   f"`{current.meta['arch']['head']}`. Its segmentation is on the Segmentation page.")
        st.stop()
    left, right = st.columns([3, 2])
    with left:
        st.markdown(stage.summary)
    with right:
        for equation in stage.equations:
            st.latex(equation.latex + (rf"\qquad\text{{({equation.number})}}" if equation.number else ""))
            if equation.note:
                st.caption(equation.note)
    shapes = current.arrays.shapes
    st.caption("Tensor shapes in this run: " + ", ".join(
        f"`{name}` {explain.shape_text(shapes[name])}" for name in stage.tensors if name in shapes))
    return current


def stage_code(key: str) -> None:
    """The project's own functions that computed this stage, as they are in this checkout."""
    stage = explain.STAGE_BY_KEY[key]
    st.subheader("The code that computed it")
    for name in stage.sources:
        function = explain.resolve(name)
        with st.expander(explain.source_location(function), expanded=name == stage.sources[-1]):
            st.code(explain.source(function), language="python")


def scale_picker(key: str, default: str = "linear", label: str = "colour scale") -> Scale:
    """Linear, log10, or linear clipped to percentiles (the percentiles chosen with a slider)."""
    kind = st.radio(label, KINDS, index=KINDS.index(default), horizontal=True, key=f"scale.{key}",
                    help="linear: full range; log: log10 of positive values; percentile: linear between two "
                         "percentiles, so a few extreme pixels do not wash out the rest")
    if kind != "percentile":
        return Scale(kind)
    low, high = st.slider("percentiles", 0.0, 100.0, (1.0, 99.0), step=0.5, key=f"scale.{key}.range")
    return Scale(kind, low, high)


def share_box(page_path: str, here: str, label: str = "Link to this view") -> str | None:
    """The link that reopens `page_path` in the current state, as copyable text; None (and why) for uploads."""
    link = downloads.share_link(page_path, here)
    if link is None:
        st.caption(f"{label}: not available while an uploaded image or model is in use (a link cannot carry the file).")
        return None
    st.caption(f"{label} (the copy icon copies it):")
    st.code(link, language=None, wrap_lines=True)
    return link


def figure_columns(count: int, per_row: int = 3) -> list:
    """`count` columns for figures side by side, `per_row` a row (two in large type, where a third of the
    page left a map a few dozen pixels wide inside its larger margins), in reading order."""
    per_row = min(per_row, 2) if st.session_state.get(session.LARGE_TYPE) else per_row
    return [column for start in range(0, count, per_row)
            for column in st.columns(per_row)[:min(per_row, count - start)]]


def class_legend(classes: list[str], palette, *label_maps: np.ndarray, masks=()) -> None:
    """One legend for a row of label maps drawn without their own (label_figure(legend=False)): a
    swatch and the name of each class present in any of them (where its mask, if given, is true), as
    page text, which wraps at any width and grows with large type."""
    present = np.unique(np.concatenate([(m if i >= len(masks) or masks[i] is None else m[masks[i]]).ravel()
                                        for i, m in enumerate(label_maps)]))
    chips = [f'<span style="display:inline-block;white-space:nowrap;margin-right:1.1em">'
             f'<span style="display:inline-block;width:0.9em;height:0.9em;vertical-align:-0.1em;margin-right:0.35em;'
             f'border:1px solid #888;background:rgb({",".join(str(int(c)) for c in palette[k])})"></span>'
             f'{html.escape(classes[k])}</span>' for k in present if 0 <= k < len(classes)]
    st.markdown("Classes: " + " ".join(chips), unsafe_allow_html=True)


def number_text(value) -> str:
    """A table cell: a dash for a missing value (an en dash: st.table reads cells as Markdown, where
    '-' starts a list), floats to 4 significant digits, the rest as is."""
    if value is None or (isinstance(value, float) and value != value) or value == "-":
        return "\u2013"
    return f"{value:,.4g}" if isinstance(value, float) else str(value)


def table(rows: list[dict]) -> None:
    """A small table shown whole, never cut off or scrolled: long headers wrap, the first column
    labels the rows, missing values show as a dash (not None)."""
    frame = pd.DataFrame(rows)
    st.table(frame.set_index(frame.columns[0]).style.format(number_text))  # the numbers stay numbers underneath


def score_table(rows: list[dict], places: int, baseline: str = "ocr") -> None:
    """Variants' scores as a table that shows whole (the meanings wrap): mIoU and its difference from the
    baseline with `places` decimals, the difference taken of the rounded numbers, so the columns, the bars
    and the text (written with the same `places`) agree. rows: key, name, miou and pixel_accuracy (0-1),
    meaning, and optionally trained."""
    shown = {r["key"]: round(100 * r["miou"], places) for r in rows}
    accuracy_places = decimals_apart([100 * r["pixel_accuracy"] for r in rows])
    table([{"variant": r["name"], "mIoU %": f"{shown[r['key']]:.{places}f}",
            f"vs {baseline.upper()} (points)": (f"{shown[r['key']] - shown[baseline]:+.{places}f}"
                                                if baseline in shown else None),
            "pixel accuracy %": f"{100 * r['pixel_accuracy']:.{accuracy_places}f}",
            **({"weights": "trained" if r["trained"] else "UNTRAINED"} if "trained" in r else {}),
            "what it is": r["meaning"]} for r in rows])
