"""Benchmarks on this machine: python -m ocr_viz.bench trace | click | relation-click | complexity | scaling
(browser | load, the app in headless Chromium, one student or many, are in ocr_viz/serving/benchmarks.py).

  trace       median time and peak memory of Segmentor.trace on a 480 x 360 image, for the
              shipped OCR model (untrained head if its weights are not there yet), at the app's
              model size (long side 640) and the native size (long side 480), and BN-folded;
              for --model PATH of a converted release (or a .pth), at 1024 x 512 and the
              size its source evaluates at (or --input-sizes).
  click       the server-side work of one click in the app, without Streamlit: read w_i for the
              clicked pixel from the cached numpy trace, build the bar chart, serialise it.
  relation-click  CPU time (time.process_time) of the figures one click on the relation page
              builds, as pages/relation.py builds them: the w_ik map over the photo with the pixel
              circled and the w_i and kappa bars, to the JSON st.plotly_chart sends; --graph-objects
              builds them as validated plotly graph objects instead (the click path before 2026-12-01).
  complexity  params, FLOPs, peak memory and latency of every head (a) at the paper's setting
              (2048 x 128 x 128 features, 19 classes) beside the paper's table, and (b) at the
              app's setting (472 x 60 x 80 fused features, 11 classes).
  scaling     FLOPs, time and memory of nonlocal, baseoc and ocr against the number of pixels.

Common options: --threads N (torch intra-op threads), --repeats N, --device, --json PATH.
Memory and FLOPs are defined in ocr_viz/cost/complexity.py.
"""
from __future__ import annotations

import argparse
import copy
import importlib
import json
import os
import statistics
import sys
import time
import warnings
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch
from PIL import Image

from . import complexity as cx
from ocr_viz.model.api import UntrainedWarning, default_device, fold_batchnorm, load_model
from ocr_viz.model.heads import table
from ocr_viz.model.heads.attention import CHUNK_FLOATS
from ocr_viz.data.transforms import normalize
from ocr_viz.model.images import open_image, preprocess, to_tensor

if TYPE_CHECKING:
    import plotly.graph_objects as go

TRACE_IMAGE_SIZE = (480, 360)  # (width, height), a CamVid frame
LONG_SIDES = (640, 480)  # the app's default model size, and the image's native size
ATTENTION_HEADS = table.ATTENTION
COMPLEXITY_HEADS = table.NAMES  # OCR last: the reference of the ratios
SCALING_HEADS = table.SCALED

# ---------------------------------------------------------------------------------------
# Formatting.


def table(header: list[str], rows: list[list[str]]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)  # noqa: E731
                               for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def megabytes(n: float | None) -> str:
    return "n/a" if n is None else f"{n / cx.MB:.1f} MB"


def millis(seconds: float) -> str:
    """Seconds in the unit that reads best: µs, ms or s."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def ratio(x: float) -> str:
    return f"{x:.2f}"


def size_text(size: tuple[int, int]) -> str:
    return f"{size[0]} x {size[1]}"


def parse_size(text: str) -> tuple[int, int]:
    """'64x80' -> (64, 80); '64' -> (64, 64)."""
    parts = [int(p) for p in text.lower().split("x")]
    return (parts[0], parts[0]) if len(parts) == 1 else (parts[0], parts[1])


# ---------------------------------------------------------------------------------------
# trace


def synthetic_image(size: tuple[int, int] = TRACE_IMAGE_SIZE, seed: int = 0) -> Image.Image:
    """A deterministic RGB image (gradients plus noise); the trace's cost does not depend on content."""
    w, h = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx / w, yy / h, 1 - xx / w], axis=-1) * 200
    return Image.fromarray(np.clip(base + rng.normal(0, 25, (h, w, 3)), 0, 255).astype(np.uint8))


def load_shipped(name: str, device: torch.device) -> tuple[torch.nn.Module, dict]:
    """load_model(name) without its warning: whether the weights are trained is in meta["trained"]."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedWarning)
        return load_model(name, device)


def measure_trace(model: torch.nn.Module, images: torch.Tensor, repeats: int, device: torch.device) -> dict:
    """Median seconds, peak tensor bytes and RSS rise of model.trace(images)."""
    run = lambda: model.trace(images)  # noqa: E731
    times = cx.latencies(run, repeats, 1, device)
    return {
        "seconds": statistics.median(times), "all_seconds": times,
        "peak_memory": cx.peak_memory(run, device),
        "peak_rss": cx.peak_rss_increase(run) if device.type == "cpu" else None,
    }


def trace_row(model: torch.nn.Module, image: Image.Image, long_side: int, repeats: int, device: torch.device) -> dict:
    """One model size: the input and feature sizes, and the trace's time and memory."""
    images = preprocess(image, long_side=long_side).to(device)
    features = model.trace(images).features
    return {"long_side": long_side, "input_size": tuple(images.shape[-2:]), "feature_size": tuple(features.shape[-2:]),
            **measure_trace(model, images, repeats, device)}


def folding_check(model: torch.nn.Module, images: torch.Tensor) -> tuple[torch.nn.Module, dict]:
    """The BN-folded copy, its max |logit difference| from the original, and the share of equal labels."""
    folded = fold_batchnorm(copy.deepcopy(model))
    a, b = model.trace(images), folded.trace(images)
    return folded, {
        "max_logit_difference": (a.logits - b.logits).abs().max().item(),
        "max_abs_logit": a.logits.abs().max().item(),
        "label_agreement": (a.pred == b.pred).float().mean().item(),
    }


def exact_input(image: Image.Image, size: tuple[int, int]) -> torch.Tensor:
    """The (1,3,H,W) normalised model input at exactly size = (W, H), aspect not kept."""
    return normalize(to_tensor(image.convert("RGB").resize(size, Image.BILINEAR)))[None]


def sized_row(model: torch.nn.Module, image: Image.Image, size: tuple[int, int], repeats: int, device: torch.device) -> dict:
    """One explicit W x H model input: its feature size, and the trace's time and memory."""
    images = exact_input(image, size).to(device)
    features = model.trace(images).features
    return {"long_side": max(size), "input_size": tuple(images.shape[-2:]), "feature_size": tuple(features.shape[-2:]),
            **measure_trace(model, images, repeats, device)}


def input_sizes(args: argparse.Namespace, meta: dict) -> list[tuple[int, int]] | None:
    """--input-sizes, or for a converted release 1024 x 512 (Cityscapes' aspect) and the size its
    source evaluates at; None: the app's long sides (LONG_SIDES)."""
    if args.input_sizes:
        return [tuple(int(v) for v in s.lower().split("x")) for s in args.input_sizes.split(",")]
    if meta.get("source", {}).get("layout"):
        sizes = [(1024, 512)]
        if meta.get("eval_size") and tuple(meta["eval_size"]) not in sizes:
            sizes.append(tuple(meta["eval_size"]))
        return sizes
    return None


def run_trace(args: argparse.Namespace) -> dict:
    """Bench the trace at each model size, then (for the shipped EfficientNet model) the
    BN-folded model at the app's size."""
    device = torch.device(args.device)
    model, meta = load_shipped(args.model, device)
    image = open_image(args.image) if args.image else synthetic_image()
    sizes = input_sizes(args, meta)
    if sizes is None:
        rows = [trace_row(model, image, s, args.repeats, device) for s in LONG_SIDES]
    else:
        rows = [sized_row(model, image, s, args.repeats, device) for s in sizes]
    folded_row = None
    if meta["arch"].get("backbone") == "efficientnet_lite0":  # fold_batchnorm knows its conv/BN pairs
        folded, check = folding_check(model, preprocess(image, long_side=LONG_SIDES[0]).to(device))
        folded_row = {**trace_row(folded, image, LONG_SIDES[0], args.repeats, device), **check}
    params = sum(p.numel() for p in model.parameters())
    return {"model": args.model, "trained": meta.get("trained", True), "image_size": image.size,
            "image": args.image or "synthetic", "threads": torch.get_num_threads(), "device": str(device),
            "repeats": args.repeats, "rows": rows, "folded": folded_row, "parameters": params,
            "arch": meta["arch"], "source": meta.get("source")}


def print_trace(report: dict) -> None:
    w, h = report["image_size"]
    trained = "trained" if report["trained"] else "untrained head on the ImageNet backbone: same cost as trained"
    print(f"Segmentor.trace of a {w} x {h} {report['image']} image, model {report['model']!r} ({trained});")
    print(f"{report['device']}, torch threads: {report['threads']}, median of {report['repeats']} after 1 warm-up.\n")
    header = ["variant", "long side", "model input (H x W)", "features (h x w)", "median time", "fastest",
              "peak tensor mem", "RSS rise"]
    variants = [*(("as loaded", r) for r in report["rows"])] + ([("BN folded", report["folded"])] if report["folded"] else [])
    rows = [[name, r["long_side"], size_text(r["input_size"]), size_text(r["feature_size"]), millis(r["seconds"]),
             millis(min(r["all_seconds"])), megabytes(r["peak_memory"]), megabytes(r["peak_rss"])]
            for name, r in variants]
    print(f"{report['parameters'] / 1e6:.2f}M parameters" + (f"; {report['source']['backbone']} + OCR, from a "
          f"{report['source']['layout']} release" if report.get("source") else ""))
    print(table(header, rows))
    f = report["folded"]
    if not f:
        return
    print(f"\nBN folded vs as loaded (long side {f['long_side']}): max |logit difference| "
          f"{f['max_logit_difference']:.2e} (max |logit| {f['max_abs_logit']:.2f}), "
          f"labels equal at {100 * f['label_agreement']:.2f}% of pixels.")


# ---------------------------------------------------------------------------------------
# click


def relation_bars(values: np.ndarray, labels: list[str], palette) -> go.Figure:
    """The relation w_i as a plain plotly bar chart, one bar per region in its class colour."""
    import plotly.graph_objects as go

    colours = [f"rgb({r},{g},{b})" for r, g, b in palette]
    fig = go.Figure(go.Bar(x=list(labels), y=values, marker_color=colours,
                           text=[f"{v:.3f}" for v in values], textposition="outside"))
    fig.update_layout(yaxis_title="w_ik", xaxis_title="object region k",
                      yaxis_range=[0, max(1e-6, float(values.max())) * 1.15])
    return fig


def app_relation_bars(values: np.ndarray, labels: list[str], palette):
    """The app's own bar chart (ocr_viz.figures.class_bars_spec: plotly JSON), called as pages/relation.py calls it."""
    from ocr_viz.figures import class_bars_spec

    k = int(np.argmax(values))
    return class_bars_spec(values, labels, palette, "w_i for the clicked pixel: relation to each region",
                      "Eq. 5, sums to 1", value_name="w_ik", reference=1 / len(labels), reference_name="1/K",
                      highlight=k, zoom=True)


FIGURES = {"plotly": relation_bars, "app": app_relation_bars}


def figure_function(spec: str) -> Callable:
    """The bar-chart builder f(values, labels, palette): "plotly" (plain plotly), "app" (the app's
    ocr_viz.figures.class_bars_spec), or "package.module:function" for any other with that signature.

    Hook: if the app's relation chart changes, keep app_relation_bars calling it as pages/relation.py
    does, so that `click --figure app` times exactly what the app runs.
    """
    if spec in FIGURES:
        return FIGURES[spec]
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def feature_index(pixel: tuple[int, int], input_size: tuple[int, int], feature_size: tuple[int, int]) -> int:
    """Flat feature-map index i of the input pixel (y, x), as the head's n = h*w axis orders pixels."""
    (y, x), (H, W), (h, w) = pixel, input_size, feature_size
    return min(h - 1, y * h // H) * w + min(w - 1, x * w // W)


def time_click(w: np.ndarray, labels: list[str], palette, pixel: tuple[int, int], input_size: tuple[int, int],
               feature_size: tuple[int, int], make_figure: Callable) -> dict:
    """Seconds of each step of one click: find w_i, build the figure, serialise it as st.plotly_chart does."""
    import plotly.io

    t0 = time.perf_counter()
    w_i = np.array(w[0, feature_index(pixel, input_size, feature_size)])
    t1 = time.perf_counter()
    fig = make_figure(w_i, labels, palette)
    t2 = time.perf_counter()
    plotly.io.to_json(fig, validate=False)
    t3 = time.perf_counter()
    return {"extract": t1 - t0, "figure": t2 - t1, "to_json": t3 - t2, "total": t3 - t0}


def run_click(args: argparse.Namespace) -> dict:
    """Trace once, convert w to numpy (the app's cache), then time `repeats` clicks on random pixels."""
    device = torch.device(args.device)
    model, meta = load_shipped(args.model, device)
    image = open_image(args.image) if args.image else synthetic_image()
    images = preprocess(image).to(device)
    trace = model.trace(images)
    start = time.perf_counter()
    w = trace.head.w.cpu().numpy()
    to_numpy = time.perf_counter() - start
    input_size, feature_size = tuple(images.shape[-2:]), tuple(trace.features.shape[-2:])
    make_figure, rng = figure_function(args.figure), np.random.default_rng(0)
    pixels = [(int(rng.integers(input_size[0])), int(rng.integers(input_size[1]))) for _ in range(args.repeats + 1)]
    clicks = [time_click(w, meta["classes"], meta["palette"], p, input_size, feature_size, make_figure)
              for p in pixels][1:]
    medians = {step: statistics.median(c[step] for c in clicks) for step in clicks[0]}
    return {"model": args.model, "input_size": input_size, "feature_size": feature_size, "w_shape": w.shape,
            "w_to_numpy_seconds": to_numpy, "figure": args.figure,
            "repeats": args.repeats, "median_seconds": medians}


def print_click(report: dict) -> None:
    print(f"One click, server side, without Streamlit ({report['repeats']} clicks on random pixels, after 1 warm-up).")
    print(f"Cached trace: model input {size_text(report['input_size'])}, w of shape {report['w_shape']}; "
          f"converting w to numpy (once per image) took {millis(report['w_to_numpy_seconds'])}.")
    print(f"Figure function: {report['figure']}\n")
    steps = {"extract": "w_i = w[0, i] (pixel -> i, copy)", "figure": "build the bar figure",
             "to_json": "plotly.io.to_json (what st.plotly_chart sends)", "total": "total"}
    print(table(["step", "median"], [[steps[k], millis(v)] for k, v in report["median_seconds"].items()]))


# ---------------------------------------------------------------------------------------
# relation-click

SAMPLE_FRAME = Path(__file__).resolve().parents[2] / "assets" / "samples" / "camvid" / "0001TP_008550.jpg"


def run_relation_click(args: argparse.Namespace) -> dict:
    """Trace a frame once (as the app caches it), then build a click's figures for `repeats` random
    pixels after 3 warm-up clicks; CPU seconds per click, and the JSON's length."""
    import plotly.io

    from ocr_viz.figures import Scale
    from ocr_viz.figures.palettes import display_palette
    from ocr_viz.model.arrays import run as trace_arrays

    if args.graph_objects:  # imported apart: this command times a checkout from before map_spec too
        from ocr_viz.figures import class_bars as bars, map_figure as a_map
    else:
        from ocr_viz.figures import class_bars_spec as bars, map_spec as a_map

    model, meta = load_shipped(args.model, torch.device(args.device))
    arrays = trace_arrays(model, open_image(args.image or SAMPLE_FRAME), "ocr")
    classes, palette, K = meta["classes"], display_palette(meta["palette"]), len(meta["classes"])
    entropy = -(arrays.w * np.log(arrays.w)).sum(0)
    k, scale = int(np.bincount(arrays.pred.ravel(), minlength=K).argmax()), Scale("percentile", 1.0, 99.0)

    def click(row: int, col: int) -> list[str]:  # pages/relation.py, follow_the_pixel, its defaults
        i = row * arrays.grid[1] + col
        figures = [a_map(arrays.w[k], f"w_ik for region k = {classes[k]}: click a pixel", scale, image=arrays.image,
                         opacity=0.65, value_name="w_ik", pixel=(row, col), clickable=True),
                   bars(arrays.w[:, row, col], classes, palette, f"w_i for pixel i = {i} (row {row}, col {col})",
                        f"sums to 1; entropy {entropy[row, col]:.4f} (uniform {np.log(K):.4f})", value_name="w_ik",
                        reference=1 / K, reference_name="1/K", highlight=k),
                   bars(arrays.kappa[:, row, col], classes, palette, f"kappa for pixel i = {i} over the regions",
                        "the logits before the softmax of Eq. 5", value_name="kappa", highlight=k)]
        specs = [f.to_plotly_json() for f in figures]  # what transport.served starts from
        for spec in specs:
            spec["layout"]["template"] = "none"  # as transport.served sends every figure
        return [plotly.io.to_json(spec, validate=False) for spec in specs]

    rng = np.random.default_rng(0)
    pixels = [(int(rng.integers(arrays.grid[0])), int(rng.integers(arrays.grid[1]))) for _ in range(args.repeats + 3)]
    seconds = []
    for index, pixel in enumerate(pixels):
        start = time.process_time()
        sent = click(*pixel)
        if index >= 3:
            seconds.append(time.process_time() - start)
    return {"model": args.model, "image": str(args.image or SAMPLE_FRAME), "grid": arrays.grid, "classes": K,
            "figures": "graph objects" if args.graph_objects else "plotly JSON (map_spec, class_bars_spec)",
            "repeats": args.repeats, "cpu_seconds_median": statistics.median(seconds),
            "cpu_seconds_mean": statistics.mean(seconds), "json_characters": [len(s) for s in sent]}


def print_relation_click(report: dict) -> None:
    print(f"One click on the relation page, its figures only ({report['figures']}): {report['repeats']} clicks "
          f"on random pixels of {report['image']} ({size_text(report['grid'])} map, K = {report['classes']}).")
    print(f"CPU per click: median {millis(report['cpu_seconds_median'])}, mean {millis(report['cpu_seconds_mean'])}; "
          f"JSON sent (map, w_i bars, kappa bars): {', '.join(f'{n:,}' for n in report['json_characters'])} characters")


# ---------------------------------------------------------------------------------------
# complexity


def widths_text(widths: dict) -> str:
    return ", ".join(f"{k} {'/'.join(map(str, v)) if isinstance(v, (list, tuple)) else v}"
                     for k, v in widths.items() if k != "dropout")


def cost_rows(costs: list[cx.HeadCost], extrapolated: bool) -> list[list[str]]:
    rows = []
    for c in costs:
        row = [c.head, f"{c.params / 1e6:.2f}M", f"{c.params_paper / 1e6:.2f}M", f"{c.flops / 1e9:.1f}",
               f"{c.flops_paper / 1e9:.1f}", megabytes(c.peak_memory), megabytes(c.peak_rss), millis(c.latency),
               millis(c.latency_min)]
        rows.append(row + [millis(c.latency_at_counted)] if extrapolated else row)
    return rows


def ratio_rows(costs: list[cx.HeadCost]) -> list[list[str]]:
    """Our ratios to OCR beside the matching paper row's ratios to the paper's OCR."""
    ours, paper = cx.ratios_to(costs), cx.paper_ratios_to_ocr()
    rows = []
    for c in costs:
        row_name = cx.PAPER_ROW_FOR_HEAD[c.head][0]
        p = paper.get(row_name, {})
        mine = (ratio(ours[c.head][k]) for k in ("params_paper", "flops_paper", "peak_memory", "latency"))
        theirs = (ratio(p[k]) if p else "-" for k in ("params_m", "gflops", "memory_mb", "time_ms"))
        rows.append([c.head, *mine, row_name or "-", *theirs])
    return rows


def paper_table_text() -> str:
    ratios = cx.paper_ratios_to_ocr()
    rows = [[name, f"{r.params_m}M", f"{r.memory_mb:.0f} MB", f"{r.gflops:.0f}", f"{r.time_ms:.0f} ms",
             *(ratio(ratios[name][k]) for k in ("params_m", "gflops", "memory_mb", "time_ms"))]
            for name, r in cx.PAPER_TABLE.items()]
    header = ["paper row", "params", "memory", "GFLOPs", "time", "params/OCR", "FLOPs/OCR", "mem/OCR", "time/OCR"]
    return table(header, rows)


def attention_note(setting: cx.Setting) -> str:
    n = setting.counted_size[0] * setting.counted_size[1]
    block = CHUNK_FLOATS * 4 / 2**20
    return (f"Attention heads ({', '.join(ATTENTION_HEADS)}): the n x n attention at {size_text(setting.counted_size)} "
            f"(n = {n}) would take {megabytes(cx.attention_matrix_bytes(n))} if held whole, as a naive implementation "
            f"(and the paper's Self-Attention row) does; ours computes it in blocks of at most {block:.0f} MiB "
            f"(heads/attention.py), so its memory stops growing with n^2 once n^2 exceeds one block.")


def setting_text(setting: cx.Setting, costs: list[cx.HeadCost]) -> str:
    c = costs[0]
    excluded = "; ".join(f"{h}.{m}" for h, ms in cx.PAPER_EXCLUDED_MODULES.items() for m in ms)
    lines = [f"Input features {' x '.join(map(str, c.counted_shape))}, {setting.num_classes} classes.",
             "Widths: " + " | ".join(f"{c.head}: {widths_text(c.widths)}" for c in costs) + ".",
             f"Params and FLOPs counted at {size_text(setting.counted_size)} (meta tensors: exact, no arithmetic run); "
             f"* = paper-style, without {excluded}."]
    where = f"on {c.device} (torch threads: {c.threads}; median after 1 warm-up)"
    if setting.timed_size != setting.counted_size:
        share = setting.timed_size[0] * setting.timed_size[1] / (setting.counted_size[0] * setting.counted_size[1])
        counted, timed = size_text(setting.counted_size), size_text(setting.timed_size)
        lines.append(f"Memory and time MEASURED AT {timed} ({share:.3g} of the pixels) {where}; "
                     f"est. time = median time x FLOPs({counted}) / FLOPs({timed}).")
    else:
        lines.append(f"Memory and time measured at the same size {where}.")
    return "\n".join(lines)


def cost_table(setting: cx.Setting, costs: list[cx.HeadCost]) -> str:
    extrapolated = setting.timed_size != setting.counted_size
    t = size_text(setting.timed_size).replace(" ", "")
    header = ["head", "params", "params*", "GFLOPs", "GFLOPs*", f"mem@{t}", f"RSS@{t}", f"time@{t}", "(min)"]
    if extrapolated:
        header.append(f"est.time@{size_text(setting.counted_size).replace(' ', '')}")
    return table(header, cost_rows(costs, extrapolated))


def print_setting(title: str, setting: cx.Setting, costs: list[cx.HeadCost]) -> None:
    print(f"{title}\n{setting_text(setting, costs)}\n")
    print(cost_table(setting, costs))
    if not any(c.head == "ocr" for c in costs):
        print()
        return
    print("\nRatios to OCR (ours: params*, GFLOPs*, memory, time; paper: its table's matching row / its OCR row):")
    print(table(["head", "params", "FLOPs", "memory", "time", "paper row", "params", "FLOPs", "memory", "time"],
                ratio_rows(costs)))
    print()


def run_complexity(args: argparse.Namespace) -> dict:
    """Both settings, every head."""
    paper = cx.paper_setting(parse_size(args.paper_timed_size))
    app = cx.app_setting(parse_size(args.app_input)[::-1])
    return {"paper": (paper, cx.measure_setting(paper, args.heads, args.repeats, args.device)),
            "app": (app, cx.measure_setting(app, args.heads, args.repeats, args.device))}


def print_complexity(results: dict) -> None:
    paper, paper_costs = results["paper"]
    print_setting("(a) THE PAPER'S SETTING", paper, paper_costs)
    if any(c.head in ATTENTION_HEADS for c in paper_costs):
        print(attention_note(paper) + "\n")
    print(f"The paper's table ({cx.PAPER_TABLE_SETTING}), a claim shown beside ours, not a measurement of ours:")
    print(paper_table_text())
    print("Our heads -> the paper's rows:")
    print("\n".join(f"  {h} -> {row or '-'}: {note}" for h, (row, note) in cx.PAPER_ROW_FOR_HEAD.items()) + "\n")
    app, app_costs = results["app"]
    print_setting("(b) THE APP'S SETTING (shipped widths, fused EfficientNet-Lite0 features)", app, app_costs)


def complexity_json(results: dict) -> dict:
    return {
        name: {"setting": asdict(setting), "heads": [c.as_dict() for c in costs],
               "ratios_to_ocr": cx.ratios_to(costs) if any(c.head == "ocr" for c in costs) else None}
        for name, (setting, costs) in results.items()
    } | {"paper_table": {k: asdict(v) for k, v in cx.PAPER_TABLE.items()},
         "paper_table_setting": cx.PAPER_TABLE_SETTING,
         "paper_row_for_head": cx.PAPER_ROW_FOR_HEAD}


# ---------------------------------------------------------------------------------------
# scaling


def run_scaling(args: argparse.Namespace) -> dict:
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    points = cx.scaling(args.heads, sizes, repeats=args.repeats, device=args.device, timed=not args.flops_only)
    return {"setting": asdict(cx.app_setting()), "points": [asdict(p) for p in points],
            "loglog_slopes": cx.scaling_exponents(points), "loglog_slopes_last3": cx.scaling_exponents(points, 3),
            "threads": torch.get_num_threads()}


def print_scaling(report: dict) -> None:
    s = report["setting"]
    print(f"Cost vs number of pixels: app widths, {s['in_channels']} input channels, {s['num_classes']} classes, "
          f"torch threads: {report['threads']}.\n")
    rows = [[p["head"], size_text(p["size"]), p["pixels"], f"{p['flops'] / 1e9:.2f}",
             "-" if p["latency"] is None else millis(p["latency"]), megabytes(p["peak_memory"])]
            for p in report["points"]]
    print(table(["head", "h x w", "pixels", "GFLOPs", "time", "peak mem"], rows))
    slope = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    print("\nLog-log slopes against pixels (1 = linear, 2 = quadratic), over all sizes | over the last three:")
    print(table(["head", "FLOPs", "time", "memory", "FLOPs", "time", "memory"],
                [[h, *map(slope, s.values()), *map(slope, report["loglog_slopes_last3"][h].values())]
                 for h, s in report["loglog_slopes"].items()]))


# ---------------------------------------------------------------------------------------
# Command line.

QUICK = {"paper_timed_size": "8x8", "app_input": "160x120", "repeats": 1, "sizes": "8,11,16"}
DEFAULTS = {"trace": {"repeats": 5}, "click": {"repeats": 50}, "relation-click": {"repeats": 40},
            "complexity": {"repeats": 3, "paper_timed_size": "64x64", "app_input": "640x480"},
            "scaling": {"repeats": 3, "sizes": ",".join(map(str, cx.SCALING_SIZES))}}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ocr_viz.bench", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    for name, text in [("trace", "time and memory of model.trace on a 480 x 360 image"),
                       ("click", "server-side time of one click (w_i and its bar chart)"),
                       ("relation-click", "CPU time of the figures one click on the relation page builds"),
                       ("complexity", "every head at the paper's and at the app's setting"),
                       ("scaling", "FLOPs, time, memory vs pixels for the attention heads and OCR")]:
        s = sub.add_parser(name, help=text, description=text)
        s.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
        s.add_argument("--repeats", type=int, help=f"timed runs (default {DEFAULTS[name]['repeats']})")
        s.add_argument("--device", default=str(default_device()))
        s.add_argument("--json", metavar="PATH", help="also write the results as JSON")
        if name in ("trace", "click", "relation-click"):
            s.add_argument("--model", default="ocr", help="a shipped model name or checkpoint path")
            s.add_argument("--image", help="an image file (default: a synthetic 480 x 360 image; for "
                           "relation-click a CamVid frame of assets/samples)")
        if name == "relation-click":
            s.add_argument("--graph-objects", action="store_true",
                           help="build the figures as validated plotly graph objects (map_figure, class_bars)")
        if name == "trace":
            s.add_argument("--input-sizes", help="W x H model inputs, comma-separated, e.g. 1024x512,2048x1024 "
                           "(default: long sides 640 and 480; for a converted release 1024x512 and its eval size)")
        if name == "click":
            s.add_argument("--figure", default="app", help="bar chart builder: 'app' (ocr_viz.figures.class_bars_spec, "
                           "as the relation page calls it), 'plotly' (plain plotly), or module:function taking "
                           "(values, labels, palette)")
        if name in ("complexity", "scaling"):
            s.add_argument("--quick", action="store_true", help="tiny sizes, one repeat: a smoke test")
            s.add_argument("--heads", help="comma-separated heads")
        if name == "complexity":
            s.add_argument("--paper-timed-size", help="h x w at which the paper-setting heads are timed "
                           "(default 64x64; 128x128 is the paper's own size, and slow)")
            s.add_argument("--app-input", help="W x H of the app's model input (default 640x480 -> 60 x 80 features)")
        if name == "scaling":
            s.add_argument("--sizes", help="comma-separated feature-map sizes, e.g. 16,32,48x64")
            s.add_argument("--flops-only", action="store_true", help="count FLOPs only (instant), no timing")
    return p


def with_defaults(args: argparse.Namespace) -> argparse.Namespace:
    """Fill unset options from DEFAULTS, or from QUICK under --quick."""
    fill = {**DEFAULTS[args.command], **(QUICK if getattr(args, "quick", False) else {})}
    for key, value in fill.items():
        if hasattr(args, key) and getattr(args, key) is None:
            setattr(args, key, value)
    if hasattr(args, "heads"):
        default = SCALING_HEADS if args.command == "scaling" else COMPLEXITY_HEADS
        args.heads = tuple(args.heads.split(",")) if args.heads else default
    return args


COMMANDS = {
    "trace": (run_trace, print_trace, lambda r: r),
    "click": (run_click, print_click, lambda r: r),
    "relation-click": (run_relation_click, print_relation_click, lambda r: r),
    "complexity": (run_complexity, print_complexity, complexity_json),
    "scaling": (run_scaling, print_scaling, lambda r: r),
}


def run_info(args: argparse.Namespace, argv: list[str], load_before: tuple[float, ...]) -> dict:
    """How a JSON report was produced, stored in it: the command, --quick, the machine and its load."""
    return {"command": "python -m ocr_viz.bench " + " ".join(argv), "quick": bool(getattr(args, "quick", False)),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "device": str(args.device), "cpus": os.cpu_count(),
            "load_average_before": load_before, "load_average_after": os.getloadavg()}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = with_defaults(parser().parse_args(argv))
    if args.threads:
        torch.set_num_threads(args.threads)
    run, show, to_json = COMMANDS[args.command]
    load_before = os.getloadavg()
    results = run(args)
    show(results)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(to_json(results) | {"run": run_info(args, argv, load_before)}, out, indent=1, default=str)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
