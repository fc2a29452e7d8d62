"""What each context head costs: parameters, FLOPs, peak memory and latency of one forward.

Shapes: b batch, c input channels, h, w feature-map size, n = h*w pixels.
Every measurement is of one forward in eval mode under no_grad (inference, as the app runs).

- Parameters: every distinct parameter tensor, counted once.
- FLOPs: torch.utils.flop_counter.FlopCounterMode. It counts 2 FLOPs per multiply-add of
  the matrix products only: convolutions, mm/addmm, bmm/baddbmm (einsum lowers to these)
  and scaled-dot-product attention. It omits everything else: softmax, BatchNorm,
  ReLU, residual adds, bias adds, pooling, concatenation, interpolation. The paper counts
  the same way (its OCR row, 340G, is 2 x the multiply-adds of the OCR module's convs and
  products). Counting works on "meta" tensors, which carry shapes but no data, so the
  paper's 128 x 128 setting is counted exactly without running any arithmetic.
- Peak memory (CPU): the highest total of tensor bytes that PyTorch's CPU allocator has
  handed out during the call, above what was live when it started (so the weights and
  the input are excluded, the output is included), replayed from torch.profiler's
  allocation events. It does not see memory that kernels obtain outside PyTorch's
  allocator (oneDNN scratch space) or allocator slack; peak_rss_increase is the
  process-level cross-check that does (Linux). tracemalloc would see neither: PyTorch's
  buffers are not Python allocations. On CUDA: torch.cuda.max_memory_allocated.
- Latency: median wall-clock time over repeated calls after warm-up calls.
"""
from __future__ import annotations

import contextlib
import ctypes
import gc
import math
import os
import re
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Callable, Iterable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ocr_viz.model import build
from ocr_viz.model.heads import table
from ocr_viz.model.backbones.efficientnet_lite import FEATURE_CHANNELS

MB = 1e6  # the paper's "M" of memory; parameters and FLOPs use 1e6 and 1e9 too

# ---------------------------------------------------------------------------------------
# The paper's efficiency table (input features 1 x 2048 x 128 x 128, 19 classes, one P40).


@dataclass(frozen=True)
class PaperRow:
    """One row of the paper's efficiency table: params (M), GPU memory (MB), GFLOPs, time (ms)."""

    params_m: float
    memory_mb: float
    gflops: float
    time_ms: float


PAPER_TABLE_SETTING = "input features 1 x 2048 x 128 x 128, 19 classes, one NVIDIA P40 GPU"
PAPER_TABLE = {
    "PPM": PaperRow(23.1, 792, 619, 99),
    "ASPP": PaperRow(15.5, 284, 492, 97),
    "DANet": PaperRow(10.6, 2339, 1110, 121),
    "CC-Attention": PaperRow(10.6, 427, 804, 131),
    "Self-Attention": PaperRow(10.5, 2168, 619, 96),
    "Double Attention": PaperRow(10.2, 209, 338, 46),
    "OCR": PaperRow(10.5, 202, 340, 45),
}

# Our head -> (the paper's row it corresponds to, or None; how close the match is), the submodules
# left out of the "paper-style" totals (so that our heads count what the table counts), and the heads
# at the paper's widths (the official code and mmsegmentation's defaults for a 2048-channel
# ResNet-101 input), all from the heads' table. These widths reproduce the table: OCR 10.5M / 338G,
# ASPP 15.5M / 492G, base-OC 10.4M / 612G (paper-style counts).
PAPER_ROW_FOR_HEAD = {h.name: (h.paper_row, h.paper_note) for h in table.HEADS}
PAPER_EXCLUDED_MODULES = {h.name: h.paper_excluded for h in table.HEADS if h.paper_excluded}
PAPER_WIDTHS = {h.name: h.paper_widths for h in table.HEADS}


def paper_ratios_to_ocr() -> dict[str, dict[str, float]]:
    """Every paper row divided by the OCR row, field by field."""
    ocr = asdict(PAPER_TABLE["OCR"])
    return {name: {k: v / ocr[k] for k, v in asdict(row).items()} for name, row in PAPER_TABLE.items()}


# ---------------------------------------------------------------------------------------
# Settings: which input the heads see and at which widths.


@dataclass(frozen=True)
class Setting:
    """Head input (channels, classes), widths per head, the size counted and the size timed."""

    name: str
    in_channels: int
    num_classes: int
    widths: dict
    counted_size: tuple[int, int]  # (h, w) at which params and FLOPs are counted
    timed_size: tuple[int, int]  # (h, w) at which memory and time are measured

    def shape(self, size: tuple[int, int]) -> tuple[int, int, int, int]:
        """The head's input shape (1, c, h, w) at feature-map size (h, w)."""
        return (1, self.in_channels, *size)


def paper_setting(timed_size: tuple[int, int] = (64, 64)) -> Setting:
    """The paper's table: 2048 x 128 x 128 features, 19 classes; timed smaller on a CPU."""
    return Setting("paper", 2048, 19, PAPER_WIDTHS, (128, 128), timed_size)


def app_widths() -> dict:
    """The shipped heads' widths (build.DEFAULT_ARCH and COMPARISON_HEAD_KWARGS)."""
    return {name: build.arch_for(name)["head_kwargs"] for name in build.HEADS}


def app_setting(input_size: tuple[int, int] = (480, 640)) -> Setting:
    """The app: fused stride-8 features of an (H, W) input (480 x 640 -> 60 x 80), 11 classes."""
    arch = build.DEFAULT_ARCH
    size = (math.ceil(input_size[0] / 8), math.ceil(input_size[1] / 8))
    channels = sum(FEATURE_CHANNELS[n] for n in arch["feature_names"])
    return Setting("app", channels, arch["num_classes"], app_widths(), size, size)


def build_head(name: str, setting: Setting, device: str | torch.device = "cpu") -> nn.Module:
    """Head `name` at the setting's widths, in eval mode, on `device` ("meta": shapes only)."""
    with torch.device(device):
        head = build.build_head(name, setting.in_channels, setting.num_classes, **setting.widths[name])
    return head.eval()


# ---------------------------------------------------------------------------------------
# Parameters.


def parameter_count(module: nn.Module) -> int:
    """Number of parameters, each shared tensor counted once."""
    return sum(p.numel() for p in module.parameters())


def leaf_parameter_counts(module: nn.Module) -> dict[str, int]:
    """Each leaf module's own parameter count, by name ("" for a module with no children)."""
    return {
        name: sum(p.numel() for p in m.parameters(recurse=False))
        for name, m in module.named_modules() if not any(True for _ in m.children())
    }


def check_parameter_count(module: nn.Module) -> int:
    """The parameter count, after checking it equals the sum over leaf modules; raises if not."""
    total, leaves = parameter_count(module), sum(leaf_parameter_counts(module).values())
    if total != leaves:
        owners = [n or "(root)" for n, m in module.named_modules()
                  if any(True for _ in m.children()) and any(True for _ in m.parameters(recurse=False))]
        raise ValueError(f"{total} parameters but leaf modules hold {leaves}; non-leaf owners: {owners}")
    return total


def excluded_parameters(module: nn.Module, excluded: Iterable[str]) -> int:
    """Parameters inside the named submodules."""
    return sum(parameter_count(module.get_submodule(name)) for name in excluded)


# ---------------------------------------------------------------------------------------
# FLOPs.


def example_input(module: nn.Module, shape: tuple[int, ...]) -> torch.Tensor:
    """A random input of `shape` on the module's device (empty on meta)."""
    device = next(module.parameters()).device
    return torch.empty(shape, device=device) if device.type == "meta" else torch.randn(shape, device=device)


def flop_counts(head: nn.Module, shape: tuple[int, ...]) -> dict[str, int]:
    """FLOPs of one forward by module path ("OCRHead", "OCRHead.aux_head", ...), each including its children."""
    x = example_input(head, shape)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        head(x)
    return {name: sum(ops.values()) for name, ops in counter.get_flop_counts().items()}


def flops(head: nn.Module, shape: tuple[int, ...], excluded: Iterable[str] = ()) -> int:
    """FLOPs of one forward (see the module docstring for what is counted), minus the named submodules."""
    excluded = tuple(excluded)
    for name in excluded:
        head.get_submodule(name)  # raises on a misspelt name, which would otherwise subtract nothing
    counts = flop_counts(head, shape)
    root = type(head).__name__
    return counts.get(root, 0) - sum(counts.get(f"{root}.{name}", 0) for name in excluded)


def attention_matrix_bytes(pixels: int, batch: int = 1, bytes_per_float: int = 4) -> int:
    """Size of an n x n float32 attention matrix, were it held whole (attention.py never does)."""
    return batch * pixels * pixels * bytes_per_float


# ---------------------------------------------------------------------------------------
# Memory.


@contextlib.contextmanager
def native_stderr_silenced():
    """Hide what C++ code writes to file descriptor 2 (the profiler's start/stop lines)."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def allocator_peak(events: Iterable) -> int:
    """Highest running total of allocation (+) and free (-) byte counts, in time order."""
    total = peak = 0
    for _, nbytes in sorted(events, key=lambda e: e[0]):
        total += nbytes
        peak = max(peak, total)
    return peak


def cpu_peak_memory(run: Callable[[], object]) -> int:
    """Peak tensor bytes allocated during run() above what was live before, from the profiler."""
    from torch.profiler import ProfilerActivity, profile

    with native_stderr_silenced(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        result = run()
        del result  # the result's tensors count while they are live, as in the app
    events = [(e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events()
              if e.name() == "[memory]" and e.device_type() == torch.autograd.DeviceType.CPU]
    return allocator_peak(events)


def cuda_peak_memory(run: Callable[[], object], device: torch.device) -> int:
    """Peak CUDA bytes allocated during run() above what was allocated before."""
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    result = run()
    torch.cuda.synchronize(device)
    del result
    return torch.cuda.max_memory_allocated(device) - before


def peak_memory(run: Callable[[], object], device: str | torch.device = "cpu") -> int:
    """Peak bytes of one call of run(), beyond the memory live before it (see the module docstring)."""
    device = torch.device(device)
    with torch.no_grad():
        return cuda_peak_memory(run, device) if device.type == "cuda" else cpu_peak_memory(run)


def proc_status_bytes(field: str) -> int:
    """A /proc/self/status memory field (VmRSS, VmHWM) in bytes."""
    with open("/proc/self/status") as status:
        return int(re.search(rf"^{field}:\s+(\d+) kB", status.read(), re.M).group(1)) * 1024


def release_free_heap() -> None:
    """Collect garbage and return glibc's free heap pages, so that reuse of them cannot hide a peak."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def peak_rss_increase(run: Callable[[], object]) -> int | None:
    """Rise of the process's resident-set high-water mark during run() (Linux; None elsewhere).

    Resets the mark first (writing 5 to /proc/self/clear_refs), so no subprocess is needed.
    Unlike cpu_peak_memory it includes allocator slack, kernels' private buffers and any code
    pages first touched, so run a warm-up call before it.
    """
    try:
        release_free_heap()
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        before = proc_status_bytes("VmRSS")
    except (OSError, AttributeError):
        return None
    with torch.no_grad():
        result = run()
        del result
    return proc_status_bytes("VmHWM") - before


# ---------------------------------------------------------------------------------------
# Time.


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def latencies(run: Callable[[], object], repeats: int = 5, warmup: int = 1,
              device: str | torch.device = "cpu") -> list[float]:
    """Wall-clock seconds of `repeats` calls of run(), after `warmup` untimed calls."""
    device = torch.device(device)
    times = []
    with torch.no_grad():
        for i in range(warmup + repeats):
            synchronize(device)
            start = time.perf_counter()
            run()
            synchronize(device)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return times


def median_latency(run: Callable[[], object], repeats: int = 5, warmup: int = 1,
                   device: str | torch.device = "cpu") -> float:
    """Median wall-clock seconds of one call of run(), after warm-up calls."""
    return statistics.median(latencies(run, repeats, warmup, device))


# ---------------------------------------------------------------------------------------
# One head, all measures.


@dataclass
class HeadCost:
    """A head's costs: counts at counted_shape, measurements at timed_shape (bytes, seconds).

    latency is the median, latency_min the fastest run (the steadier figure on a busy machine).
    params_paper and flops_paper leave out PAPER_EXCLUDED_MODULES (what the paper counts).
    """

    head: str
    setting: str
    widths: dict
    counted_shape: tuple[int, ...]
    params: int
    params_paper: int
    flops: int
    flops_paper: int
    timed_shape: tuple[int, ...]
    flops_timed: int
    peak_memory: int
    peak_rss: int | None
    latency: float
    latency_min: float
    threads: int
    device: str

    @property
    def latency_at_counted(self) -> float:
        """Latency scaled by FLOPs from the timed to the counted size (an estimate if they differ)."""
        return self.latency * self.flops / self.flops_timed

    def as_dict(self) -> dict:
        return {**asdict(self), "latency_at_counted": self.latency_at_counted}


def paper_style_params(head: nn.Module, name: str) -> tuple[int, int]:
    """(all parameters, those the paper counts), after checking the total against the leaf modules."""
    params = check_parameter_count(head)
    return params, params - excluded_parameters(head, PAPER_EXCLUDED_MODULES.get(name, ()))


def measure_head(name: str, setting: Setting, repeats: int = 3, warmup: int = 1,
                 device: str | torch.device = "cpu") -> HeadCost:
    """Count at setting.counted_size on meta tensors, then time and measure memory at setting.timed_size."""
    meta = build_head(name, setting, "meta")
    counted_shape, timed_shape = setting.shape(setting.counted_size), setting.shape(setting.timed_size)
    excluded = PAPER_EXCLUDED_MODULES.get(name, ())
    head = build_head(name, setting, device)
    x = example_input(head, timed_shape)
    run = lambda: head(x)  # noqa: E731
    times = latencies(run, repeats, warmup, device)  # also the warm-up for the memory passes
    memory = peak_memory(run, device)
    rss = peak_rss_increase(run) if torch.device(device).type == "cpu" else None
    return HeadCost(
        name, setting.name, dict(setting.widths[name]), counted_shape, *paper_style_params(meta, name),
        flops(meta, counted_shape), flops(meta, counted_shape, excluded), timed_shape, flops(meta, timed_shape),
        memory, rss, statistics.median(times), min(times), torch.get_num_threads(), str(device),
    )


def measure_setting(setting: Setting, heads: Iterable[str] = build.HEADS, repeats: int = 3,
                    device: str | torch.device = "cpu") -> list[HeadCost]:
    """measure_head for every head, in order."""
    return [measure_head(name, setting, repeats, device=device) for name in heads]


def ratios_to(costs: list[HeadCost], reference: str = "ocr") -> dict[str, dict[str, float]]:
    """Paper-style params and FLOPs, memory and latency of each head divided by the reference head's."""
    ref = next(c for c in costs if c.head == reference)
    fields = ("params_paper", "flops_paper", "peak_memory", "latency")
    return {c.head: {f: getattr(c, f) / getattr(ref, f) for f in fields} for c in costs}


# ---------------------------------------------------------------------------------------
# Scaling with the number of pixels (the app's log-log plot).


@dataclass
class ScalingPoint:
    """One head at one feature-map size: FLOPs, and median seconds and peak bytes of a forward (None if not timed)."""

    head: str
    size: tuple[int, int]
    pixels: int
    flops: int
    latency: float | None
    peak_memory: int | None


def as_size(size: int | tuple[int, int]) -> tuple[int, int]:
    """A side length or an (h, w) pair -> (h, w)."""
    return (size, size) if isinstance(size, int) else tuple(size)


SCALING_SIZES = (16, 23, 32, 45, 64, 91, 128)  # the pixel count about doubles at each step, up to MAX_PIXELS


def scaling(head_names: Iterable[str] = ("nonlocal", "baseoc", "ocr"),
            sizes: Iterable[int | tuple[int, int]] = SCALING_SIZES, setting: Setting | None = None,
            repeats: int = 3, device: str | torch.device = "cpu", timed: bool = True) -> list[ScalingPoint]:
    """FLOPs, time and memory of each head vs number of pixels (default: the app's heads and widths).

    timed=False only counts FLOPs (on meta tensors, instantly, at any size up to MAX_PIXELS).
    """
    setting = setting or app_setting()
    points = []
    for name in head_names:
        meta_head = build_head(name, setting, "meta")
        head = build_head(name, setting, device) if timed else None
        for size in map(as_size, sizes):
            seconds = memory = None
            if timed:
                x = example_input(head, setting.shape(size))
                run = lambda: head(x)  # noqa: E731
                seconds, memory = median_latency(run, repeats, 1, device), peak_memory(run, device)
            count = flops(meta_head, setting.shape(size))
            points.append(ScalingPoint(name, size, size[0] * size[1], count, seconds, memory))
    return points


def loglog_slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log y against log x: the exponent p in y ~ x^p."""
    lx, ly = [math.log(v) for v in xs], [math.log(v) for v in ys]
    mx, my = statistics.fmean(lx), statistics.fmean(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


def scaling_exponents(points: list[ScalingPoint], last: int | None = None) -> dict[str, dict[str, float | None]]:
    """Per head, the log-log slope of FLOPs, latency and memory against pixels (2 = quadratic),
    over each head's `last` sizes (all by default); None where a measure was not taken."""
    heads = dict.fromkeys(p.head for p in points)
    slopes = {}
    for h in heads:
        mine = [p for p in points if p.head == h][-last if last else 0:]
        slopes[h] = {f: None if getattr(mine[0], f) is None else
                     loglog_slope([p.pixels for p in mine], [getattr(p, f) for p in mine])
                     for f in ("flops", "latency", "peak_memory")}
    return slopes

