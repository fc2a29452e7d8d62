"""What a lecturer sees first: the shipped CamVid frames with ground truth (without any dataset
configured), every page from pages/, readable class colours, and figures that line up."""
from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest
from PIL import Image

from app_helpers import ROOT, open_page, problems, start
from ocr_viz.analysis import stats
from ocr_viz.app import gallery, session
from ocr_viz.data.classes import CAMVID_CLASSES, CAMVID_PALETTE, IGNORE_INDEX
from ocr_viz.figures import class_bars, label_figure, map_figure, rgb_figure
from ocr_viz.figures.palettes import DATASET, display_palette, min_distance
from ocr_viz.figures.presentation import large_type
from ocr_viz.figures.scales import Scale, shared_limits
from ocr_viz.figures.titles import plain

PAGE_FILES = sorted(p.stem for p in (ROOT / "pages").glob("*.py") if not p.stem.startswith("_"))


@pytest.fixture
def no_dataset(monkeypatch, tmp_path):
    """A fresh clone: no CamVid folder anywhere the app looks."""
    monkeypatch.setenv(gallery.DATA_ENV, str(tmp_path / "no-such-folder"))
    assert gallery.data_root() is None and gallery.dataset_images() == []


def test_the_shipped_frames_are_camvid_test_pairs_small_enough_to_ship():
    frames = gallery.frames()
    assert 6 <= len(frames) <= 10
    total = 0
    for frame in frames:
        image, label = Image.open(frame.path), Image.open(frame.label_path)
        assert image.format == "JPEG" and label.format == "PNG" and label.mode in ("L", "P")
        assert image.size == label.size == (480, 360)
        assert set(np.unique(np.asarray(label))) <= set(range(len(CAMVID_CLASSES))) | {IGNORE_INDEX}
        total += frame.path.stat().st_size + frame.label_path.stat().st_size
        assert frame.note  # what the frame shows about the model, for its caption
    assert total < 800_000  # a few hundred KB
    assert gallery.photos() and all(p.label_path is None for p in gallery.photos())  # the photos stay, without truth
    assert session.DEFAULT_IMAGE == frames[0].key


def test_a_fresh_clone_opens_on_a_camvid_frame_with_ground_truth(no_dataset):
    at = start()
    assert problems(at) == []
    current = at.session_state[session.CURRENT]
    assert current.image_key == gallery.frames()[0].key
    assert current.truth is not None and current.truth.shape == current.arrays.image.shape[:2]
    labelled = current.truth[current.truth != IGNORE_INDEX]
    assert labelled.size > 0.5 * current.truth.size  # a real label map, at the model's input size
    score = stats.accuracy(current.arrays.pred, current.truth, len(current.classes), IGNORE_INDEX)
    pred, truth = current.arrays.pred[current.truth != IGNORE_INDEX], labelled  # IoU per class present, by hand
    ious = [((pred == c) & (truth == c)).sum() / ((pred == c) | (truth == c)).sum()
            for c in range(len(current.classes)) if ((pred == c) | (truth == c)).any()]
    assert score["mean_iou"] == pytest.approx(np.mean(ious), abs=1e-9)
    assert score["mean_iou"] > 3 / len(current.classes)  # the shipped model on a test frame: far above chance
    assert "CamVid test set (with ground truth)" not in [o for r in at.sidebar.radio for o in r.options]

    open_page(at, "segmentation")
    assert problems(at) == []
    assert any("mean IoU over the classes present" in m.value for m in at.markdown)
    open_page(at, "ablations")  # GT-OCR needs the ground truth: it runs, no "needs the ground truth" notice
    assert problems(at) == []
    assert not any("need the ground truth" in i.value for i in at.info)


def test_every_page_renders_from_pages(no_dataset):
    at = start()
    listed = re.findall(r'st\.Page\("pages/(\w+)\.py"', (ROOT / "app.py").read_text())
    assert sorted(listed) == PAGE_FILES  # every page file is in the navigation, and nothing else
    for page in PAGE_FILES:
        open_page(at, page)
        assert problems(at) == [], page
        assert at.title, page


def test_the_large_type_toggle_enlarges_figure_text():
    figure = label_figure(np.zeros((48, 64, 3), np.uint8), np.zeros((48, 64), int), ["a"], [(255, 0, 0)], "t")
    big = large_type(figure, size=20)
    assert big.layout.font.size == 20 and big.layout.legend.font.size == 20
    assert big.layout.xaxis.title.font.size == 20
    assert big.layout.margin.r > figure.layout.margin.r  # room for the larger legend
    below = label_figure(np.zeros((48, 64, 3), np.uint8), np.arange(11).repeat(64 * 48 // 11 + 1)[:48 * 64]
                         .reshape(48, 64), list(CAMVID_CLASSES), display_palette(CAMVID_PALETTE), "t", legend_below=True)
    big_below = large_type(below, size=20)  # a legend under the map: two entries a line, room for six lines
    # entries as wide as the longest class name, grown with the type; room for two a line
    assert big_below.layout.legend.entrywidth > below.layout.legend.entrywidth >= 6 * len("SignSymbol")
    assert big_below.layout.margin.b == 30 + 30 * 6
    bars = class_bars(np.full(11, 1 / 11), list(CAMVID_CLASSES), display_palette(CAMVID_PALETTE), "w_i", height=380)
    assert large_type(bars, size=20).layout.height > 1.5 * 380  # a taller chart for the larger row labels


def cielab(rgb) -> tuple[float, float, float]:
    """sRGB 0-255 -> CIELAB under D65, one colour at a time, from IEC 61966-2-1 and CIE 15 (the
    sRGB matrix to seven digits, the white point from the matrix's row sums)."""
    lin = [v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4 for v in (c / 255 for c in rgb)]
    rows = ((0.4124564, 0.3575761, 0.1804375), (0.2126729, 0.7151522, 0.0721750), (0.0193339, 0.1191920, 0.9503041))
    x, y, z = (sum(m * v for m, v in zip(row, lin)) / sum(row) for row in rows)
    f = [t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116 for t in (x, y, z)]
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])


def delta_e76(a, b) -> float:
    return math.dist(cielab(a), cielab(b))


def test_the_default_palette_is_far_more_distinct_than_camvids():
    contrast = display_palette(CAMVID_PALETTE)
    assert len(set(contrast)) == len(CAMVID_CLASSES)
    # CamVid's closest pair, found by brute force with a second CIELAB conversion written from the
    # definitions: Road (128,64,128) and Fence (64,64,128) differ only in red, Delta E 23.5
    closest, pair = min((delta_e76(a, b), (CAMVID_CLASSES[i], CAMVID_CLASSES[j]))
                        for (i, a), (j, b) in itertools.combinations(enumerate(CAMVID_PALETTE), 2))
    assert pair == ("Road", "Fence") and closest == pytest.approx(23.5, abs=0.05)
    assert min_distance(CAMVID_PALETTE) == pytest.approx(closest, abs=0.05)  # matrix constants' rounding differs
    assert min_distance(contrast) > 1.4 * min_distance(CAMVID_PALETTE)
    assert display_palette(CAMVID_PALETTE, DATASET) == list(CAMVID_PALETTE)


@pytest.mark.parametrize("count", [2, 19, 20, 150])
def test_the_palette_works_for_any_number_of_classes(count):
    rng = np.random.default_rng(count)
    dataset = [tuple(int(v) for v in c) for c in rng.integers(0, 256, (count, 3))]
    colours = display_palette(dataset)
    assert len(colours) == count and len(set(colours)) == count
    assert min_distance(colours) > 14  # Kelly's closest pair (purple, violet) is 15.1 apart
    assert all(max(c) <= 255 and min(c) >= 0 for c in colours)


def test_bars_for_many_classes_show_the_largest_and_sum_the_rest():
    rng = np.random.default_rng(0)
    w = rng.dirichlet(np.full(150, 50.0))
    names = [f"class {k}" for k in range(150)]
    fig = class_bars(w, names, display_palette([(0, 0, 0)] * 150), "w_i", value_name="w_ik", reference=1 / 150,
                     reference_name="1/K", zoom=True)
    shown, others = fig.data
    assert list(shown.y) == [names[k] for k in np.argsort(-w)[:15]]
    assert others.x[0] == pytest.approx(np.sort(w)[:-15].sum(), rel=1e-9)
    assert "the other 135 summed" in plain(fig.layout.title.text)


def test_the_bar_caption_says_zoomed_only_when_the_axis_leaves_out_zero():
    names = [f"c{k}" for k in range(11)]
    palette = display_palette(CAMVID_PALETTE)
    near_uniform = np.full(11, 1 / 11) + np.linspace(-1e-3, 1e-3, 11)
    zoomed = class_bars(near_uniform, names, palette, "w", reference=1 / 11, reference_name="1/K", zoom=True)
    assert "ZOOMED" in plain(zoomed.layout.title.text) and zoomed.layout.xaxis.range[0] > 0
    spread = class_bars(np.linspace(0.0, 0.2, 11), names, palette, "w", reference=1 / 11, zoom=True)
    assert "ZOOMED" not in plain(spread.layout.title.text) and "from 0" in plain(spread.layout.title.text)
    # the values sit right of the plot area, clear of the bars and the 1/K line
    values = [a for a in zoomed.layout.annotations if a.xref == "paper"]
    assert len(values) == 11 and all(a.x == 1.0 and a.xanchor == "left" for a in values)


def test_maps_side_by_side_have_the_same_plot_area():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (480, 640, 3)).astype(np.uint8)
    figures = [map_figure(rng.random((60, 80)), "a map", image=image),
               label_figure(image, rng.integers(0, 11, (480, 640)), list(CAMVID_CLASSES),
                            display_palette(CAMVID_PALETTE), "labels"),
               rgb_figure(rng.random((60, 80, 3)), "a PCA")]
    margins = {(f.layout.margin.l, f.layout.margin.r, f.layout.margin.t, f.layout.margin.b) for f in figures}
    assert len(margins) == 1 and figures[0].layout.margin.autoexpand is False
    assert all(f.layout.xaxis.title.text and f.layout.yaxis.title.text for f in figures)
    # narrow columns: the legend goes under the map, its room set by K, not by the classes present
    few, many = (label_figure(image, labels, list(CAMVID_CLASSES), display_palette(CAMVID_PALETTE), "t",
                              legend_below=True) for labels in (np.zeros((480, 640), int),
                                                                 rng.integers(0, 11, (480, 640))))
    assert few.layout.margin == many.layout.margin and few.layout.legend.orientation == "h" and few.layout.yaxis.title.text
    assert len(few.data) == 2 and len(many.data) == 12  # the photo, then one legend entry per class present
    none = label_figure(image, np.zeros((480, 640), int), ["a"], [(255, 0, 0)], "t", mask=np.zeros((480, 640), bool))
    assert [t.name for t in none.data[1:]] == ["(no pixels)"]  # an empty mask still gives plotly a trace


def test_before_and_after_maps_can_share_one_colour_range():
    before, after = np.full((6, 8), 1e-2), np.full((6, 8), 1e-8)
    before[0, 0], after[0, 0] = 0.5, 0.9
    limits = shared_limits(before, after)
    one, two = (map_figure(m, "m", Scale("log"), limits=limits) for m in (before, after))
    assert (one.data[0].zmin, one.data[0].zmax) == (two.data[0].zmin, two.data[0].zmax)
    assert one.data[0].zmin == pytest.approx(-8) and one.data[0].zmax == pytest.approx(np.log10(0.9))
    after[1, 1] = 0.0  # a weight that underflowed: the log range starts at the smallest positive value
    low, _ = shared_limits(before, after, positive=True)
    zero = map_figure(after, "m", Scale("log"), limits=(low, 0.9))
    assert low == pytest.approx(1e-8) and "log10" in plain(zero.layout.title.text) and np.isfinite(zero.data[0].z).all()

