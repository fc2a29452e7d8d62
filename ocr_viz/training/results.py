"""The evaluation results shipped beside the weights (written by `python -m ocr_viz.evaluate
... --out assets/weights/eval/NAME_test.json`), read back for the model card and the app.

    python -m ocr_viz.results      # the model card's accuracy table, as markdown
"""
from __future__ import annotations

import json
from pathlib import Path

from ocr_viz.model.heads import table
from ocr_viz.model.paths import WEIGHTS_DIR

EVAL_DIR = WEIGHTS_DIR / "eval"
# The heads in the table's order, OCR's variant trained with the comparison heads' recipe just before OCR.
HEAD_ORDER = (*table.NAMES[:-1], "ocr_frozen", "ocr")
HEAD_TITLES = {h.name: h.long_title for h in table.HEADS} | {
    "ocr_frozen": "OCR (frozen backbone, same recipe as the others)",
    "ocr_paper_widths": "OCR before its 1,600 steps on 480x480 crops (the default's grandparent)",
}


def load_results(kind: str = "test", folder: Path = EVAL_DIR) -> dict[str, dict]:
    """{name: result} for every `NAME_<kind>.json` in `folder`, in HEAD_ORDER."""
    found = {p.name[: -len(f"_{kind}.json")]: json.loads(p.read_text()) for p in folder.glob(f"*_{kind}.json")}
    return {n: found[n] for n in sorted(found, key=lambda n: (HEAD_ORDER.index(n) if n in HEAD_ORDER else 99, n))}


def accuracy_rows(results: dict[str, dict]) -> list[dict]:
    """One row per model (and one for OCR's soft regions): name, mIoU, pixel accuracy, per-class IoU, all in %."""
    rows = []
    for name, r in results.items():
        entries = [(HEAD_TITLES.get(name, name), r)]
        if r.get("aux"):
            entries.append((f"{HEAD_TITLES.get(name, name)}: soft regions M (aux head)", r["aux"]))
        for title, m in entries:
            row = {"model": title, "mIoU": pct(m["miou"]), "pixel acc.": pct(m["pixel_accuracy"])}
            row |= {c: pct(v) for c, v in m["per_class_iou"].items()}
            rows.append(row)
    return rows


def pct(v: float | None) -> float | None:
    return None if v is None else round(100 * v, 1)


def markdown(rows: list[dict]) -> str:
    if not rows:
        return "(no evaluation results found)"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join("-" if r[c] is None else str(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    for kind in ("test", "subset20"):
        print(f"\n{kind}:\n" + markdown(accuracy_rows(load_results(kind))))


if __name__ == "__main__":
    main()
