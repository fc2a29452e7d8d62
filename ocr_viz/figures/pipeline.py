"""The paper's pipeline (Fig. 3) as Graphviz source, each box with its symbol and tensor shape."""
from __future__ import annotations

from html import escape


def node_label(label: str, detail: str, font: float = 14, compact: bool = False) -> str:
    """Graphviz HTML label: the symbol in bold, then the description (unless `compact`) and the shape,
    smaller (as large as the rest when compact, for a diagram read from afar)."""
    symbol, _, name = label.partition("  ")
    head = f"<B>{escape(symbol)}</B>" + (f"<BR/>{escape(name.strip())}" if name and not compact else "")
    return (f'<{head}<BR/><FONT POINT-SIZE="{font if compact else round(font * 0.75):g}" COLOR="#555555">'
            f'{escape(detail)}</FONT>>')


def neighbourhood(nodes, edges, stage: str) -> list:
    """The nodes of `stage` and those one edge away: where a step sits, small enough to draw large."""
    own = {n[0] for n in nodes if n[3] == stage}
    near = own | {a for a, b, _ in edges if b in own} | {b for a, b, _ in edges if a in own}
    return [n for n in nodes if n[0] in near]


def pipeline_dot(nodes, edges, links: dict[str, str] | None = None, current: str | None = None,
                 font: float = 14, compact: bool = False) -> str:
    """nodes: (id, label, shape text, stage key); edges: (from, to, operation); links: stage key
    -> URL for clickable boxes; `current` highlights one stage's boxes; `font`: the type in points
    (shapes and edge labels smaller, unless `compact`: symbols and shapes only, all at `font`)."""
    links = links or {}
    present = {n[0] for n in nodes}
    lines = ["digraph ocr {", '  rankdir=TB; nodesep=0.35; ranksep=0.3; bgcolor="transparent";',
             f'  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", color="#4a6fa5", fontname="Helvetica", '
             f'fontsize={font:g}];',
             f'  edge [fontname="Helvetica", fontsize={font if compact else round(font * 0.65):g}, color="#777777"];']
    for node, label, detail, stage in nodes:
        attrs = [f"label={node_label(label, detail, font, compact)}"]
        if stage == current:
            attrs.append('fillcolor="#ffe9a8"')
        if stage in links:
            attrs += [f'URL="{escape(links[stage])}"', 'target="_self"', f'tooltip="open the {escape(stage)} page"']
        lines.append(f"  {node} [{', '.join(attrs)}];")
    for source, target, operation in edges:
        if source in present and target in present:
            lines.append(f'  {source} -> {target} [label="{escape(operation)}"];')
    lines.append("}")
    return "\n".join(lines)
