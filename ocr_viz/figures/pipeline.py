"""The paper's pipeline (Fig. 3) as Graphviz source, each box with its symbol and tensor shape."""
from __future__ import annotations

from html import escape


def node_label(label: str, detail: str) -> str:
    """Graphviz HTML label: the symbol in bold, then the description and the shape."""
    symbol, _, name = label.partition("  ")
    head = f"<B>{escape(symbol)}</B>" + (f"<BR/>{escape(name.strip())}" if name else "")
    return f'<{head}<BR/><FONT POINT-SIZE="10" COLOR="#555555">{escape(detail)}</FONT>>'


def pipeline_dot(nodes, edges, links: dict[str, str] | None = None, current: str | None = None) -> str:
    """nodes: (id, label, shape text, stage key); edges: (from, to, operation); links: stage key
    -> URL for clickable boxes; `current` highlights one stage's boxes."""
    links = links or {}
    present = {n[0] for n in nodes}
    lines = ["digraph ocr {", '  rankdir=TB; nodesep=0.35; ranksep=0.3; bgcolor="transparent";',
             '  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", color="#4a6fa5", fontname="Helvetica"];',
             '  edge [fontname="Helvetica", fontsize=9, color="#777777"];']
    for node, label, detail, stage in nodes:
        attrs = [f"label={node_label(label, detail)}"]
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
