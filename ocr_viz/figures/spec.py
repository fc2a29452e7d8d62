"""A figure as the plotly JSON it becomes, built as plain dicts.

Plotly's graph objects check every property on every assignment: for a map and two bar charts that
was ~50 ms of CPU per click on the relation page (py-spy: mostly `update_xaxes` and `update_yaxes`), while
the dicts themselves take well under a millisecond. Builders here write the JSON in plotly's own
canonical form (a title as {"text": ...}, a colour scale as its list of stops), so a `Spec` sent as is
and the validated `Spec.figure()` give the browser the same figure (tests/test_fast_figures.py).
"""
from __future__ import annotations

import base64
from functools import lru_cache

import numpy as np
import plotly.graph_objects as go

from .titles import NARROW, TITLE_SIZE, parts, title_room, titled


class Spec:
    """`data` (trace dicts, each with its "type") and `layout`, numpy arrays left as arrays."""

    def __init__(self, data: list[dict], layout: dict):
        self.data, self.layout = data, layout

    @property
    def title(self) -> str:
        return (self.layout.get("title") or {}).get("text") or ""

    def figure(self) -> go.Figure:
        """The validated graph-object figure, for code that restyles it (large type, narrow columns,
        downloads); it also gets plotly's default template, which `to_plotly_json` leaves out."""
        return go.Figure(data=self.data, layout=self.layout)

    def to_plotly_json(self) -> dict:
        """What `self.figure().to_plotly_json()` gives less the template (the browser's theme replaces
        it), as a fresh copy: its receiver may change it (ocr_viz.app.transport.served does)."""
        return {"data": _copied(self.data), "layout": _copied(self.layout)}


def graph_object(figure) -> go.Figure:
    """A graph-object figure as it is, a `Spec` validated into one: for code that needs plotly's objects."""
    return figure.figure() if isinstance(figure, Spec) else figure


def _copied(value, key: str = ""):
    """Dicts and lists copied all the way down, arrays as typed arrays; strings shared."""
    if isinstance(value, dict):
        return {name: _copied(item, name) for name, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_copied(item) for item in value]
    if isinstance(value, np.ndarray) and key not in UNTYPED:
        return typed_array(value)
    return value


UNTYPED = ("range",)  # plotly.js reads an axis range as a plain list only
SHORT = {"int8": "i1", "uint8": "u1", "int16": "i2", "uint16": "u2", "int32": "i4", "uint32": "u4",
         "float32": "f4", "float64": "f8"}


def typed_array(array: np.ndarray):
    """An array as plotly.js's typed array, {"dtype", "bdata" (base64 of its bytes)[, "shape"]}, as plotly's
    to_dict sends it: exact, and shorter than its numbers written out. 64-bit integers go as the narrowest
    integers that hold them (plotly.js has none of 64 bits); an empty array or another type stays a list."""
    if array.dtype == np.int64 and array.size:
        array = array.astype(next(t for t in (np.int8, np.int16, np.int32, np.int64)
                                  if np.iinfo(t).min <= array.min() and array.max() <= np.iinfo(t).max))
    if array.size == 0 or str(array.dtype) not in SHORT:
        return array.tolist()
    spec = {"dtype": SHORT[str(array.dtype)], "bdata": base64.b64encode(np.ascontiguousarray(array)).decode("ascii")}
    if array.ndim > 1:
        spec["shape"] = ", ".join(map(str, array.shape))
    return spec


@lru_cache(maxsize=16)
def _stops(name: str) -> tuple[tuple[float, str], ...]:
    return tuple(tuple(stop) for stop in go.Heatmap(colorscale=name).to_plotly_json()["colorscale"])


def colour_scale(name: str) -> list[list]:
    """A named plotly colour scale as its list of [position, colour] stops, as validation writes it."""
    return [list(stop) for stop in _stops(name)]


def narrow_spec(spec: Spec, width: float = NARROW) -> Spec:
    """`titles.narrow` for a Spec (in place, returned): the title wrapped for a narrow column, the top
    margin holding it, the plot keeping its height under a longer title, the width kept in `meta` so
    large type wraps it again for the same column."""
    layout = spec.layout
    heading = layout.get("title") or {}
    if not heading.get("text"):
        return spec
    margin = layout.setdefault("margin", {})
    top = margin.get("t")
    size = (heading.get("font") or {}).get("size") or TITLE_SIZE
    above = (heading.get("pad") or {}).get("b")
    title, caption, _ = parts(heading["text"])
    new = titled(title, caption, width=width, size=size, above=10 if above is None else above)
    layout["title"] = {**heading, **new}
    margin["t"] = max(top or 0, title_room(new))
    layout["meta"] = {**(layout.get("meta") or {}), "title_width": width}
    if layout.get("height") and top is not None:
        layout["height"] += max(margin["t"] - top, 0)
    return spec
