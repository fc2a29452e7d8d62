"""Complexity measures at tiny sizes: parameter bookkeeping, FLOP growth with pixels, the paper's counts, the CLI."""
import json

import pytest
import torch
from torch import nn

from ocr_viz.cost import bench, complexity
from ocr_viz.model import build

# Tiny channels and many pixels, so non-local's n^2 attention term dominates its FLOPs.
TINY = complexity.Setting(
    "tiny", 8, 3,
    {"fcn": {"mid_channels": 8}, "aspp": {"mid_channels": 8}, "nonlocal": {"mid_channels": 8},
     "baseoc": {"mid_channels": 8, "key_channels": 4}, "ocr": {"mid_channels": 8, "key_channels": 4},
     "pyramid_oc": {"mid_channels": 8, "key_channels": 4}, "asp_oc": {"mid_channels": 8}},
    (48, 48), (48, 48),
)


@pytest.mark.parametrize("name", build.HEADS)
def test_parameter_count_equals_sum_over_leaf_modules(name):
    head = complexity.build_head(name, TINY)
    total = complexity.check_parameter_count(head)
    assert total == sum(p.numel() for p in head.parameters()) == sum(complexity.leaf_parameter_counts(head).values())


def test_parameter_check_catches_parameters_held_by_a_non_leaf_module():
    head = complexity.build_head("fcn", TINY)
    head.extra = nn.Parameter(torch.zeros(3))
    with pytest.raises(ValueError, match="root"):
        complexity.check_parameter_count(head)


def flops_at(name: str, size: tuple[int, int], device: str = "cpu") -> int:
    return complexity.flops(complexity.build_head(name, TINY, device), TINY.shape(size))


def nonlocal_flops_by_hand(C: int, c: int, d: int, K: int, n: int) -> int:
    """2 FLOPs per multiply-add: per pixel the 3x3 conv_in C->c, theta, phi, g (c->d each), W_z (d->c),
    the 3x3 conv_out c->c and conv_cat (C+c)->c, the classifier c->K; then the n x n attention,
    theta^T phi and its weighted sum of g, n^2 d each."""
    return 2 * (n * (9 * C * c + 3 * c * d + d * c + 9 * c * c + 9 * (C + c) * c + c * K) + 2 * n * n * d)


def ocr_flops_by_hand(C: int, c: int, d: int, K: int, n: int, aux: bool = True) -> int:
    """The same for OCR: the aux head (1x1 C->C, C->K; the paper's count leaves it out), the 3x3 conv
    C->c, Eq. 4's m~ x (K c), phi (c d + d d), kappa and Eq. 3's sum (K d each), rho (d c), g on [x; y]
    (2c c), the classifier (c K) per pixel; psi (c d + d d) and delta (c d) per region."""
    per_pixel = (C * C + C * K if aux else 0) + 9 * C * c + K * c + (c * d + d * d) + 2 * K * d + d * c + 2 * c * c + c * K
    return 2 * (n * per_pixel + K * ((c * d + d * d) + c * d))


def test_nonlocal_flops_grow_quadratically_and_ocr_linearly():
    # TINY: C = 8 in, c = 8 mid, d = 4 (non-local: c / 2; OCR: key 4), K = 3
    for size in ((48, 48), (48, 96)):
        n = size[0] * size[1]
        assert flops_at("nonlocal", size) == nonlocal_flops_by_hand(8, 8, 4, 3, n), size
        assert flops_at("ocr", size) == ocr_flops_by_hand(8, 8, 4, 3, n), size
    # doubling the pixels: non-local's n^2 term (88% of it at 48 x 48) nearly quadruples it (2 x 0.12 + 4 x 0.88), OCR's doubles
    assert flops_at("nonlocal", (48, 96)) / flops_at("nonlocal", (48, 48)) == pytest.approx(3.76, abs=0.01)
    assert flops_at("ocr", (48, 96)) / flops_at("ocr", (48, 48)) == pytest.approx(2.0, abs=0.001)


@pytest.mark.parametrize("name", build.HEADS)
def test_meta_tensors_count_the_same_flops_as_a_real_run(name):
    assert flops_at(name, (9, 13), "meta") == flops_at(name, (9, 13), "cpu") > 0


@pytest.mark.parametrize("name, row", [("ocr", "OCR"), ("aspp", "ASPP"), ("baseoc", "Self-Attention")])
def test_paper_style_counts_match_the_papers_table(name, row):
    setting = complexity.paper_setting()
    head = complexity.build_head(name, setting, "meta")
    params = complexity.paper_style_params(head, name)[1]
    excluded = complexity.PAPER_EXCLUDED_MODULES.get(name, ())
    gflops = complexity.flops(head, setting.shape(setting.counted_size), excluded) / 1e9
    paper = complexity.PAPER_TABLE[row]
    assert params / 1e6 == pytest.approx(paper.params_m, rel=0.03)
    assert gflops == pytest.approx(paper.gflops, rel=0.02)


def test_allocator_peak_replays_events_in_time_order():
    assert complexity.allocator_peak([(3, -100), (1, 100), (2, 50), (4, 30)]) == 150


def test_peak_memory_sees_a_temporary_tensor():
    peak = complexity.peak_memory(lambda: torch.ones(1000, 1000).sum())
    assert 4_000_000 <= peak <= 4_100_000


def test_scaling_reports_every_head_and_size():
    points = complexity.scaling(("nonlocal", "ocr"), (8, (8, 16)), setting=TINY, repeats=1)
    assert [(p.head, p.pixels) for p in points] == [("nonlocal", 64), ("nonlocal", 128), ("ocr", 64), ("ocr", 128)]
    assert all(p.flops > 0 and p.latency > 0 and p.peak_memory > 0 for p in points)


def test_complexity_cli_prints_every_head(capsys, tmp_path):
    out = tmp_path / "c.json"
    assert bench.main(["complexity", "--quick", "--threads", "1", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    for section in ("(a) THE PAPER'S SETTING", "(b) THE APP'S SETTING"):
        table = text.split(section)[1]
        assert all(f"\n{h} " in table for h in build.HEADS)
    results = json.loads(out.read_text())
    assert sorted(h["head"] for h in results["app"]["heads"]) == sorted(build.HEADS)
    flops = {h["head"]: h["flops_paper"] for h in results["app"]["heads"]}
    for head, ratio in results["app"]["ratios_to_ocr"].items():  # each head's count over OCR's
        assert ratio["flops_paper"] == pytest.approx(flops[head] / flops["ocr"], rel=1e-6), head
    # --quick counts the app's heads (472 channels in, mid 256, key / non-local d 128, 11 classes) on 15 x 20:
    # non-local over OCR (paper-style: without its aux head) is 2.72, from the hand counts alone
    n = 15 * 20
    assert flops["nonlocal"] == nonlocal_flops_by_hand(472, 256, 128, 11, n)
    assert flops["ocr"] == ocr_flops_by_hand(472, 256, 128, 11, n, aux=False)
    assert results["app"]["ratios_to_ocr"]["nonlocal"]["flops_paper"] == pytest.approx(
        nonlocal_flops_by_hand(472, 256, 128, 11, n) / ocr_flops_by_hand(472, 256, 128, 11, n, aux=False), rel=1e-9)
