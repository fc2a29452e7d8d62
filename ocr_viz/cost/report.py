"""The heads' measured costs, as the complexity page shows them: read from the JSON reports that
`python -m ocr_viz.bench complexity|scaling --json` writes (measuring takes minutes), laid out
as table rows beside the paper's reported table; and a live FLOPs-only recount (meta tensors,
no arithmetic, about a second).

Units in the rows: parameters in millions, FLOPs in 1e9, memory in MB (1e6 bytes), time in ms.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from . import complexity as cx
from ocr_viz.model.heads import table

ASSETS = Path(__file__).resolve().parents[2] / "assets"
COMPLEXITY_JSON = ASSETS / "complexity.json"
SCALING_JSON = ASSETS / "scaling.json"
COMPLEXITY_COMMAND = "python -m ocr_viz.bench complexity --json assets/complexity.json"
SCALING_COMMAND = "python -m ocr_viz.bench scaling --json assets/scaling.json"
HEADS = table.NAMES  # OCR last: the reference of the ratios
SCALING_HEADS = table.SCALED
COLOURS = table.COLOURS  # each head's line in the cost plots
MEASURES = {"flops": "GFLOPs", "latency": "time (ms)", "peak_memory": "peak memory (MB)"}
UNIT = {"flops": 1e9, "latency": 1e-3, "peak_memory": cx.MB}


def read_report(path: Path) -> dict | None:
    """A bench JSON report, or None when it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def complexity_report() -> dict | None:
    return read_report(COMPLEXITY_JSON)


def scaling_report() -> dict | None:
    return read_report(SCALING_JSON)


def provenance(report: dict) -> str:
    """How a report was produced: command, date, machine, load; says so when it was a --quick run."""
    run = report.get("run")
    if not run:
        return "produced by an older bench without a record of its run"
    load = ", ".join(f"{v:.1f}" for v in run.get("load_average_before", ()))
    return (f"`{run['command']}`" + (" (**--quick**: tiny sizes, one repeat; a smoke test)" if run.get("quick") else "")
            + f", {run['created']}, torch {run['torch']}, {run['threads']} thread(s) on {run['device']} "
            f"({run['cpus']} CPUs, load average {load} when it started)")


def mb(n: float | None) -> float | None:
    return None if n is None else round(n / cx.MB, 1)


def size_text(shape) -> str:
    return " x ".join(map(str, shape))


def setting_text(section: dict) -> str:
    """The input the heads saw and where they were counted and timed."""
    s, first = section["setting"], section["heads"][0]
    timed = "the same size" if s["timed_size"] == s["counted_size"] else size_text(s["timed_size"])
    return (f"input features {size_text(first['counted_shape'])}, {s['num_classes']} classes; params and FLOPs "
            f"counted at {size_text(s['counted_size'])}, memory and time measured at {timed}")


def ratios_to_ocr(heads: list[dict], fields=("params", "flops", "peak_memory", "latency")) -> dict[str, dict]:
    """Each head's fields divided by the OCR head's (empty when OCR was not measured)."""
    ocr = next((c for c in heads if c["head"] == "ocr"), None)
    if ocr is None:
        return {}
    return {c["head"]: {f: c[f] / ocr[f] if c[f] is not None and ocr[f] else None for f in fields} for c in heads}


def measured_rows(section: dict) -> list[dict]:
    """One row per head: all its parameters and FLOPs, peak memory, time, and their ratios to OCR's."""
    ratios = ratios_to_ocr(section["heads"])
    rows = []
    for c in section["heads"]:
        r = ratios.get(c["head"], {})
        rows.append({
            "head": c["head"], "params (M)": round(c["params"] / 1e6, 2), "GFLOPs": round(c["flops"] / 1e9, 1),
            "peak memory (MB)": mb(c["peak_memory"]), "peak RSS rise (MB)": mb(c["peak_rss"]),
            "time (ms)": round(c["latency"] * 1e3, 1), "fastest (ms)": round(c["latency_min"] * 1e3, 1),
            "params / OCR": rounded(r.get("params")), "FLOPs / OCR": rounded(r.get("flops")),
            "memory / OCR": rounded(r.get("peak_memory")), "time / OCR": rounded(r.get("latency")),
        })
    return rows


def rounded(v: float | None, digits: int = 2) -> float | None:
    return None if v is None else round(v, digits)


def paper_matches(report: dict) -> list[tuple[dict, str | None]]:
    """Each head measured at the paper's setting, with the name of the paper row it is compared with."""
    rows_for = report.get("paper_row_for_head") or {}
    return [(c, rows_for.get(c["head"], [None])[0]) for c in report["paper"]["heads"]]


def paper_rows(report: dict) -> list[dict]:
    """Ours at the paper's setting (paper-style counts) beside the paper's matching row, value by value."""
    timed = size_text(report["paper"]["setting"]["timed_size"])
    rows = []
    for c, name in paper_matches(report):
        paper = cx.PAPER_TABLE.get(name)
        value = (lambda field: getattr(paper, field)) if paper else (lambda field: None)
        rows.append({
            "head": c["head"], "paper row": name or "-",
            "params* (M)": round(c["params_paper"] / 1e6, 2), "paper params (M)": value("params_m"),
            "GFLOPs*": round(c["flops_paper"] / 1e9, 1), "paper GFLOPs": value("gflops"),
            f"memory @{timed} (MB)": mb(c["peak_memory"]), "paper memory (MB)": value("memory_mb"),
            f"time @{timed} (ms)": round(c["latency"] * 1e3, 1),
            "est. time (ms)": round(c["latency_at_counted"] * 1e3, 1),
            "paper time (ms)": value("time_ms"),
        })
    return rows


def paper_ratio_rows(report: dict) -> list[dict]:
    """Ratios to OCR at the paper's setting: ours (paper-style params and FLOPs, memory, time) and the paper's."""
    ours, theirs = report["paper"].get("ratios_to_ocr") or {}, cx.paper_ratios_to_ocr()
    pairs = (("params", "params_paper", "params_m"), ("FLOPs", "flops_paper", "gflops"),
             ("memory", "peak_memory", "memory_mb"), ("time", "latency", "time_ms"))
    rows = []
    for c, name in paper_matches(report):
        mine, paper = ours.get(c["head"], {}), theirs.get(name, {})
        row = {"head": c["head"], "paper row": name or "-"}
        for label, our_field, paper_field in pairs:
            row[f"{label} / OCR: ours"] = rounded(mine.get(our_field))
            row[f"{label} / OCR: paper"] = rounded(paper.get(paper_field))
        rows.append(row)
    return rows


def excluded_share_note(section: dict) -> str:
    """Memory and time are of whole heads: say how much of each head's FLOPs the paper-style counts leave out."""
    shares = {c["head"]: 1 - c["flops_paper"] / c["flops"] for c in section["heads"] if c["flops"] > c["flops_paper"]}
    if not shares:
        return ""
    parts = ", ".join(f"{head} {share:.0%}" for head, share in shares.items())
    return (f"Memory and time are measured on the whole head, including the parts the paper-style counts leave out "
            f"({parts} of the head's FLOPs), so those heads' memory and time ratios are not paper-style.")


def attention_note(report: dict) -> str:
    """What the n x n attention would take if held whole at the paper's size (ours never holds it)."""
    h, w = report["paper"]["setting"]["counted_size"]
    whole = cx.attention_matrix_bytes(h * w) / cx.MB
    return (f"At {h} x {w} (n = {h * w}) an n x n float32 attention matrix takes {whole:,.0f} MB if held whole, as "
            "a plain implementation (and, by its memory, the paper's Self-Attention row) does; ours computes it a "
            "block of rows at a time (heads/attention.py), so its memory stays far lower.")


def paper_table_rows() -> list[dict]:
    """The paper's efficiency table as reported (a claim, not our measurement), with its ratios to its OCR row."""
    ratios = cx.paper_ratios_to_ocr()
    return [{"paper row": name, "params (M)": r.params_m, "GPU memory (MB)": r.memory_mb, "GFLOPs": r.gflops,
             "time (ms)": r.time_ms, **{f"{label} / OCR": round(ratios[name][key], 2) for key, label in
                                        (("params_m", "params"), ("memory_mb", "memory"), ("gflops", "FLOPs"),
                                         ("time_ms", "time"))}}
            for name, r in cx.PAPER_TABLE.items()]


def scaling_series(points: list[dict], measure: str) -> dict[str, tuple[list[int], list[float]]]:
    """{head: (pixels, values in the page's unit)} for one measure; heads without it are left out."""
    series: dict[str, tuple[list[int], list[float]]] = {}
    for p in points:
        if p.get(measure) is not None:
            pixels, values = series.setdefault(p["head"], ([], []))
            pixels.append(p["pixels"])
            values.append(p[measure] / UNIT[measure])
    return series


def slope_rows(report: dict) -> list[dict]:
    """Per head, the fitted log-log slopes over all sizes and over the largest three."""
    every, last = report["loglog_slopes"], report.get("loglog_slopes_last3", {})
    return [{"head": h, **{f"{MEASURES[m]}: all": rounded(v) for m, v in s.items()},
             **{f"{MEASURES[m]}: largest 3": rounded(v) for m, v in last.get(h, {}).items()}}
            for h, s in every.items()]


def slopes(report: dict, measure: str, last3: bool = False) -> dict[str, float | None]:
    table = report.get("loglog_slopes_last3" if last3 else "loglog_slopes", {})
    return {h: s.get(measure) for h, s in table.items()}


def counts(setting: cx.Setting, heads=HEADS) -> list[dict]:
    """Params and FLOPs (all, and paper-style) of every head at the setting's counted size, on meta tensors."""
    rows = []
    for name in heads:
        head = cx.build_head(name, setting, "meta")
        shape = setting.shape(setting.counted_size)
        params, params_paper = cx.paper_style_params(head, name)
        rows.append({"head": name, "params (M)": round(params / 1e6, 2), "params* (M)": round(params_paper / 1e6, 2),
                     "GFLOPs": round(cx.flops(head, shape) / 1e9, 1),
                     "GFLOPs*": round(cx.flops(head, shape, cx.PAPER_EXCLUDED_MODULES.get(name, ())) / 1e9, 1)})
    return rows


def live_flops(sizes: list[int]) -> dict:
    """A FLOPs-only recount now: both settings' counts, and FLOPs vs pixels with fitted slopes."""
    points = cx.scaling(SCALING_HEADS, sizes, timed=False)
    return {"app": counts(cx.app_setting()), "paper": counts(cx.paper_setting()),
            "points": [asdict(p) for p in points], "loglog_slopes": cx.scaling_exponents(points),
            "loglog_slopes_last3": cx.scaling_exponents(points, 3), "sizes": list(sizes)}
