"""The sidebar's display switches that app.py draws on every run: large type for projectors and
maps without WebGL; and what the loaded model is (provenance)."""
import json
import re
from dataclasses import dataclass

import streamlit as st

from . import session
from ocr_viz.model.paths import WEIGHTS_DIR

PROJECTOR_CSS = """<style>
[data-testid="stMain"] [data-testid="stMarkdownContainer"] p,
[data-testid="stMain"] [data-testid="stMarkdownContainer"] li { font-size: 1.6rem; line-height: 1.45; }
[data-testid="stMain"] [data-testid="stCaptionContainer"],
[data-testid="stMain"] [data-testid="stCaptionContainer"] p { font-size: 1.25rem; }
[data-testid="stMain"] h1 { font-size: 3.2rem !important; }
[data-testid="stMain"] h2, [data-testid="stMain"] h3 { font-size: 2.3rem !important; }
[data-testid="stMain"] .katex { font-size: 1.75em !important; }
[data-testid="stMain"] .katex-display { padding: 0.8em 0.1em; }
[data-testid="stMain"] pre code { font-size: 1.15rem !important; }
[data-testid="stMain"] button p,
[data-testid="stMain"] [data-testid="stWidgetLabel"] p { font-size: 1.3rem !important; }
[data-testid="stMain"] [data-testid="stPageLink"] p,
[data-testid="stMain"] [data-testid="stWidgetLabel"] p,
[data-testid="stMain"] [data-testid="stWidgetLabel"] div { white-space: normal !important; overflow: visible !important; text-overflow: clip !important; }
</style>"""


# On every page: a formula wider than its column scrolls instead of being cut off at the column's edge;
# the padding holds what KaTeX draws past its box (underbrace labels, accents, a sum's limits).
BASE_CSS = """<style>
[data-testid="stMain"] .katex-display { overflow-x: auto; overflow-y: hidden; padding: 0.45em 0.1em; }
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


# ---- what the loaded model is ----------------------------------------------------------------

# mmsegmentation names a released file ...-HASH.pth after the first 8 hex digits of its SHA-256
# (mmcv's publish_model), so such a name can be checked; HRNet-OCR's and openseg's names carry no hash.
MMSEG_HASH = re.compile(r"-([0-9a-f]{8})\.pth$")


@dataclass(frozen=True)
class Provenance:
    """What the sidebar says the loaded model is: `kind` is "trained" (shipped and trained here, or a
    release recognised), "unknown" (nobody here knows whether its weights were trained) or "untrained"."""

    kind: str
    text: str


def shipped_test_miou(name: str) -> float | None:
    """The CamVid test mIoU of a shipped model, from its evaluation JSON (assets/weights/eval/NAME_test.json)."""
    path = WEIGHTS_DIR / "eval" / f"{name}_test.json"
    try:
        return float(json.loads(path.read_text())["miou"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def release_of(file_name: str | None) -> dict | None:
    """The releases table's entry (ocr_viz/data/tables/releases.json) of a file name, or None."""
    from ocr_viz.model.convert import releases

    return next((r for r in releases() if r["file"] == file_name), None) if file_name else None


def provenance(model_key: str, meta: dict) -> Provenance:
    """Shipped and trained by this project (its test mIoU), converted from a file (its short SHA-256,
    layout, dataset, the mIoU its release reports when the file name is a known release), or a
    checkpoint the app cannot vouch for. Never "trained" for weights nobody here knows were."""
    kind, _, rest = model_key.partition(":")
    if not meta.get("trained"):
        return Provenance("untrained", "**Untrained weights**: ImageNet backbone, randomly initialised head. The stages "
                                       "are computed correctly, but they do not show what a trained OCR model learns.")
    if kind == session.SHIPPED:
        name = rest.partition(":")[0]
        miou = shipped_test_miou(name)
        return Provenance("trained", f"**Shipped** with this app, trained by this project on CamVid (`{name}`): "
                          + (f"test mIoU **{100 * miou:.1f}** (233 CamVid test images, "
                             f"`assets/weights/eval/{name}_test.json`)." if miou is not None else
                             "no test evaluation recorded."))
    here = ""
    if model_key.startswith(session.CONVERTED):  # models:FILE@SHA:stamp
        file, _, sha = model_key[len(session.CONVERTED):].rpartition(":")[0].rpartition("@")
        here = f"File `{file}` in the models folder (SHA-256 `{sha}...`). "
    elif kind == session.UPLOAD:
        here = "Uploaded. "
    source = meta.get("source")
    if not source:
        return Provenance("unknown", here + "A checkpoint in this project's format whose metadata says it was trained; "
                          "it is not one of the shipped models, so the app cannot tell whether its weights were trained.")
    file, sha = source.get("file") or "?", (source.get("sha256") or "?")[:session.SHA_DIGITS]
    text = (here + f"**Converted** from `{file}` (SHA-256 `{sha}...`), {source.get('layout')} layout "
            f"({source.get('backbone')}), {meta.get('dataset_title', meta.get('dataset'))}. ")
    release = release_of(file)
    if release is None:
        return Provenance("unknown", text + "Not a known release: **the app cannot tell whether its weights were "
                          "trained**.")
    named_hash = MMSEG_HASH.search(file)
    if named_hash and not (source.get("sha256") or "").startswith(named_hash.group(1)):
        return Provenance("unknown", text + f"Named as a release, but its SHA-256 does not begin with {named_hash.group(1)}, "
                          "the hash in that name: not the released file, so **the app cannot tell whether its weights "
                          "were trained**.")
    checked = ("its SHA-256 begins with the hash in its name" if named_hash else
               "recognised by its file name only (the release publishes no checksum)")
    return Provenance("trained", text + f"A known release ({checked}): it reports **{release['miou']} mIoU** "
                      f"({release['setting']}); not measured here.")


def model_provenance(current) -> None:
    """The loaded model, its device, and what it is (provenance), in the sidebar."""
    st.caption(f"model: **{current.meta.get('name', '?')}** ({current.meta['arch']['head']} head), "
               f"device: **{current.device}**")
    said = provenance(current.model_key, current.meta)
    if said.kind == "trained":
        st.success("trained weights", icon=":material/check_circle:")
        st.caption(said.text)
    elif said.kind == "unknown":
        st.warning(said.text, icon=":material/help:")
    else:
        st.warning(said.text, icon=":material/warning:")
