"""The sidebar's display switches that app.py draws on every run: large type for projectors and
maps without WebGL."""
import streamlit as st

from . import session

PROJECTOR_CSS = """<style>
[data-testid="stMain"] [data-testid="stMarkdownContainer"] p,
[data-testid="stMain"] [data-testid="stMarkdownContainer"] li { font-size: 1.6rem; line-height: 1.45; }
[data-testid="stMain"] [data-testid="stCaptionContainer"],
[data-testid="stMain"] [data-testid="stCaptionContainer"] p { font-size: 1.25rem; }
[data-testid="stMain"] h1 { font-size: 3.2rem !important; }
[data-testid="stMain"] h2, [data-testid="stMain"] h3 { font-size: 2.3rem !important; }
[data-testid="stMain"] .katex { font-size: 1.75em !important; }
[data-testid="stMain"] pre code { font-size: 1.15rem !important; }
[data-testid="stMain"] button p,
[data-testid="stMain"] [data-testid="stWidgetLabel"] p { font-size: 1.3rem !important; }
[data-testid="stMain"] [data-testid="stPageLink"] p,
[data-testid="stMain"] [data-testid="stWidgetLabel"] p,
[data-testid="stMain"] [data-testid="stWidgetLabel"] div { white-space: normal !important; overflow: visible !important; text-overflow: clip !important; }
</style>"""


# On every page: a formula wider than its column scrolls instead of being cut off at the column's edge.
BASE_CSS = """<style>
[data-testid="stMain"] .katex-display { overflow-x: auto; overflow-y: hidden; padding: 2px 0; }
</style>"""


def large_type_toggle() -> bool:
    """A toggle for large type, readable on a projector: text, equations, code and figures (transport.chart
    enlarges them) on every page; kept while the session lasts."""
    st.session_state.setdefault(session.LARGE_TYPE, False)
    on = session.bound(st.toggle, session.LARGE_TYPE, "large type (projector)",
                         help="larger text, equations, code and figure labels, for the back of a lecture hall")
    st.html(BASE_CSS + (PROJECTOR_CSS if on else ""))
    return on


# A check in the browser, once per page load: without WebGL the clickable maps (their click layer is a
# WebGL scatter) would show plotly's "WebGL is not supported" box; the check turns the SVG switch on instead.
WEBGL_PROBE_JS = """
export default function ({ setStateValue }) {
  let webgl = false;
  try {
    const canvas = document.createElement('canvas');
    webgl = !!(canvas.getContext('webgl2') || canvas.getContext('webgl') || canvas.getContext('experimental-webgl'));
  } catch (e) { webgl = false; }
  setStateValue('webgl', webgl);
}
"""
WEBGL_PROBE = st.components.v2.component("ocr_viz.webgl_probe", js=WEBGL_PROBE_JS)
PROBE_KEY = "probe.webgl"


def _webgl_checked() -> None:
    """The browser answered: without WebGL, draw clickable maps as SVG (the user can still switch back)."""
    result = st.session_state.get(PROBE_KEY)
    if result is not None and getattr(result, "webgl", None) is False:
        st.session_state[session.NO_WEBGL] = True


def webgl_toggle() -> bool:
    """Click layers are drawn with WebGL (fast); a browser without it (some lecture-hall PCs, remote
    desktops) would show an empty box instead of a map: the browser is asked (WEBGL_PROBE) and, without
    WebGL, this switch, which draws them as SVG, is turned on for it."""
    st.session_state.setdefault(session.NO_WEBGL, False)
    WEBGL_PROBE(key=PROBE_KEY, height=0, on_webgl_change=_webgl_checked)
    return session.bound(st.toggle, session.NO_WEBGL, "maps without WebGL",
                         help="on by itself when this browser has no WebGL; else turn it on if maps show 'WebGL is "
                              "not supported': clickable maps are then drawn as SVG, which works everywhere but "
                              "makes each click about 0.5 s slower")
