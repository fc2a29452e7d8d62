"""Shared test setup: CamVid's location, required-or-skipped resources, and the tiny test models.

One data variable for the app and the tests: OCR_VIZ_DATA (OCR_VIZ_CAMVID is still read, as an
older alias). OCR_VIZ_REQUIRE_DATA=1 turns a missing CamVid into a failure instead of a skip, and
OCR_VIZ_REQUIRE_BROWSER=1 does the same for Chromium (the browser test and static PNG/SVG export);
.ci/run sets both.
"""
import os
from pathlib import Path

import numpy as np
import pytest
import torch

torch.set_num_threads(min(2, torch.get_num_threads()))
# The app's idle-time comparison would run six heads behind every AppTest (and every test server);
# tests/test_prefetch.py turns it on where it is the subject.
os.environ.setdefault("OCR_VIZ_PREFETCH_COMPARISON", "0")

ROOT = Path(__file__).resolve().parent.parent
CAMVID = Path(os.environ.get("OCR_VIZ_DATA") or os.environ.get("OCR_VIZ_CAMVID") or ROOT.parent / "shared" / "data" / "camvid")
SAMPLES = ROOT / "assets" / "samples"


def skip_unless_required(reason: str, variable: str) -> None:
    """Skip, or fail when `variable`=1 says the resource must be there (as in CI)."""
    if os.environ.get(variable) == "1":
        pytest.fail(f"{variable}=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def camvid_root() -> Path:
    if not (CAMVID / "test").is_dir():
        skip_unless_required(f"CamVid not found at {CAMVID} (set OCR_VIZ_DATA)", "OCR_VIZ_REQUIRE_DATA")
    return CAMVID


def tiny_arch(head: str = "ocr") -> dict:
    """The shipped architecture with small head widths, for fast unit tests."""
    from ocr_viz.model import build

    widths = {"ocr": {"mid_channels": 16, "key_channels": 8}, "baseoc": {"mid_channels": 16, "key_channels": 8}}
    return build.arch_for(head, head_kwargs=widths.get(head, {"mid_channels": 16}))


# ---- tiny models whose maps have structure --------------------------------------------------
# An untrained head on an untrained backbone is degenerate: features ~1e-3, w = 1/K everywhere,
# one label for the whole image, so a test of "this pixel's value" or "this label map" passes
# whatever the code does. The test models below put the ImageNet backbone under a tiny head
# whose BatchNorm statistics look trained (a spread of means and variances, chosen so that w
# ranges from near one-hot to near uniform across pixels), and the test inputs are a real photo.

def trained_looking_batchnorm(module: torch.nn.Module, seed: int = 1) -> None:
    """Random BN statistics and affine terms of the size a trained head has (var in [0.15, 0.3])."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for bn in (m for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            n = bn.num_features
            bn.running_mean.copy_(torch.randn(n, generator=g))
            bn.running_var.copy_(0.15 + 0.15 * torch.rand(n, generator=g))
            bn.weight.copy_(0.5 + torch.rand(n, generator=g))
            bn.bias.copy_(torch.randn(n, generator=g))


def structured_model(head: str = "ocr", seed: int = 0):
    """A tiny-head segmentor (eval mode) on the ImageNet backbone with trained-looking head statistics."""
    from ocr_viz.model import build
    from ocr_viz.model.backbones.efficientnet_lite import load_imagenet_weights

    torch.manual_seed(seed)
    model = build.build(tiny_arch(head))
    load_imagenet_weights(model.backbone)
    trained_looking_batchnorm(model.head, seed + 1)
    return model.eval()


def sample_image(size: tuple[int, int] = (96, 128), name: str = "leuvenA.jpg") -> np.ndarray:
    """A street photo as uint8 (height, width, 3), resized to `size`."""
    from PIL import Image

    image = Image.open(SAMPLES / name).convert("RGB").resize((size[1], size[0]), Image.BILINEAR)
    return np.array(image)  # a writable copy


def sample_batch(size: tuple[int, int] = (96, 128), name: str = "leuvenA.jpg") -> torch.Tensor:
    """sample_image normalised as the model expects, (1, 3, height, width)."""
    from ocr_viz.data.transforms import MEAN, STD

    x = torch.from_numpy(sample_image(size, name)).permute(2, 0, 1).float().div(255)
    return ((x - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None])[None]


def assert_structured(trace) -> None:
    """The test model's maps are not uniform: several labels, w far from 1/K and varying across pixels."""
    labels = trace.pred.unique().numel()
    assert labels >= 3, f"the test model predicts {labels} label(s): tests on it could not see a misplaced pixel"
    head = getattr(trace, "head", None)
    if head is not None and hasattr(head, "w"):
        w = head.w[0]
        k = w.shape[-1]
        assert (w - 1 / k).abs().max() > 0.2, "w is about 1/K everywhere"
        assert w.std(0).max() > 0.05, "w_i is the same for every pixel"


def structured_ocr(size: tuple[int, int], **head_kwargs):
    """(model, TraceArrays): a tiny OCR head (with `head_kwargs`) on the ImageNet backbone, batch
    statistics that look trained, eval mode, traced on a sample photo of `size`; its maps checked
    to be structured (not uniform), so a misread pixel or region shows."""
    from ocr_viz.model import build
    from ocr_viz.model.arrays import trace_arrays
    from ocr_viz.model.backbones.efficientnet_lite import load_imagenet_weights

    torch.manual_seed(3)
    arch = tiny_arch()
    arch["head_kwargs"] = {**arch["head_kwargs"], **head_kwargs}
    model = build.build(arch)
    load_imagenet_weights(model.backbone)
    trained_looking_batchnorm(model.head, 4)
    model.eval()
    trace = model.trace(sample_batch(size))
    assert_structured(trace)
    return model, trace_arrays(trace, sample_image(size), "ocr")
