"""The heads, one row each. Every list of heads in the library reads this table: the constructors
(model/build.py), the comparison and its page (analysis/compare.py), the result tables
(training/results.py), the cost benchmarks (cost/), the plot colours (figures/compare.py).
Adding a head is one class in this folder, one row here, and its trained weights.

Pure data (no torch): the class is named by module and attribute and imported by build_head, so
that figure and page code can read titles and colours without loading any model code.
Rows are in the order the app shows them, OCR last (the reference of every ratio).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Head:
    """One head: how it is named, drawn, built, compared with the paper and looked into for one pixel."""

    name: str                # the key in checkpoints, file names and on the command line
    title: str               # short, for figures and tables ("base-OC")
    long_title: str          # for the result tables ("OCNet base-OC")
    colour: str              # its line in the cost plots
    module: str              # the module under ocr_viz.model.heads that defines it
    cls: str                 # its nn.Module class there
    widths: dict             # the shipped widths (the app's setting: 472 input channels, 11 classes)
    paper_widths: dict       # at the OCR paper's efficiency setting (2048 input channels, 19 classes)
    paper_row: str | None    # the row of that table it is compared with (None: the table has none)
    paper_note: str          # how close that match is
    paper_excluded: tuple[str, ...] = ()  # submodules the paper's counts leave out
    view: str = ""           # what the compare page shows for one pixel ("" nothing per pixel)
    attends_all_pixels: bool = False      # an n x n attention: refuses more than MAX_PIXELS, n^2 cost
    scaled: bool = False     # in the cost-vs-pixels plot


HEADS: tuple[Head, ...] = (
    Head("fcn", "FCN", "FCN (no context)", "#7f7f7f", "fcn", "FCNHead",
         {"mid_channels": 256}, {"mid_channels": 512},
         None, "no context module; the paper's table has no baseline row"),
    Head("aspp", "ASPP", "ASPP", "#2ca02c", "aspp", "ASPPHead",
         {"mid_channels": 256, "rates": [12, 24, 36]}, {"mid_channels": 256, "rates": (12, 24, 36)},
         "ASPP", "DeepLabv3 ASPP, 256 channels; ours adds torchvision's 3x3 conv after the projection",
         paper_excluded=("conv3x3",),  # DeepLabv3's ASPP ends at the 1x1 projection
         view="the cells each dilated branch reads, and each branch's share of the projection"),
    Head("nonlocal", "Non-local", "Non-local", "#d62728", "nonlocal_", "NonLocalHead",
         {"mid_channels": 256}, {"mid_channels": 512, "reduction": 2},
         "Self-Attention", "closest row (DANet's position attention is the other); ours is "
         "mmsegmentation's NLHead, with two more 3x3 convs around the block",
         view="attention row", attends_all_pixels=True, scaled=True),
    Head("baseoc", "base-OC", "OCNet base-OC", "#ff7f0e", "base_oc", "BaseOCHead",
         {"mid_channels": 256, "key_channels": 128}, {"mid_channels": 512, "key_channels": 256},
         "Self-Attention", "OCNet base-OC is the paper's self-attention baseline",
         view="attention row", attends_all_pixels=True, scaled=True),
    # OCNet's two pyramid variants, as OCNet.pytorch builds them, at OCNet's widths halved as base-OC's were.
    Head("pyramid_oc", "Pyramid-OC", "OCNet Pyramid-OC", "#9467bd", "pyramid_oc", "PyramidOCHead",
         {"mid_channels": 256, "key_channels": 128, "sizes": [1, 2, 3, 6]},
         {"mid_channels": 512, "key_channels": 256, "sizes": (1, 2, 3, 6)},
         None, "no row: the OCR paper's efficiency table has no Pyramid-OC, and OCNet reports no costs "
         "(OCNet.pytorch's resnet101_pyramid_oc.py widths: 512 mid, 256 key, 512 value)",
         view="attention inside the pixel's partition at each pyramid level",
         attends_all_pixels=True, scaled=True),  # level 1 is base-OC over the whole map
    Head("asp_oc", "ASP-OC", "OCNet ASP-OC", "#8c564b", "asp_oc", "ASPOCHead",
         {"mid_channels": 256, "rates": [12, 24, 36]}, {"mid_channels": 512, "rates": (12, 24, 36)},
         None, "no row: the OCR paper's efficiency table has no ASP-OC, and OCNet reports no costs "
         "(OCNet.pytorch's resnet101_asp_oc.py widths: 512 in front, 256 per branch, 512 out)",
         view="each branch's share of the projection, and the object context's attention",
         scaled=True),  # attends over the 2x2 max-pooled map: n/4 x n/4
    Head("ocr", "OCR", "OCR (shipped, end to end)", "#1f77b4", "ocr", "OCRHead",
         {"mid_channels": 256, "key_channels": 128, "dropout": 0.05}, {"mid_channels": 512, "key_channels": 256},
         "OCR", "same module; the paper's count leaves out the auxiliary (soft-region) head",
         paper_excluded=("aux_head",),  # the official code's auxiliary head is a separate DSN head on stage-3 features
         view="w_i, and the pixel attention sum_k w_ik m~_k", scaled=True),
)

BY_NAME = {h.name: h for h in HEADS}
NAMES = tuple(h.name for h in HEADS)
TITLES = {h.name: h.title for h in HEADS}
COLOURS = {h.name: h.colour for h in HEADS}
ATTENTION = tuple(h.name for h in HEADS if h.attends_all_pixels)
SCALED = tuple(h.name for h in HEADS if h.scaled)


def row(name: str) -> Head:
    """The table's row for `name`, or a ValueError that lists the known heads."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown head {name!r}; known heads: {', '.join(NAMES)}") from None
