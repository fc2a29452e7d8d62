import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(min(2, torch.get_num_threads()))

ROOT = Path(__file__).resolve().parent.parent
CAMVID = Path(os.environ.get("OCR_VIZ_CAMVID", ROOT.parent / "shared" / "data" / "camvid"))
SAMPLES = ROOT / "assets" / "samples"


@pytest.fixture(scope="session")
def camvid_root() -> Path:
    if not (CAMVID / "test").is_dir():
        pytest.skip(f"CamVid not found at {CAMVID} (set OCR_VIZ_CAMVID)")
    return CAMVID


def tiny_arch(head: str = "ocr") -> dict:
    """The shipped architecture with small head widths, for fast unit tests."""
    from ocr_viz.model import build as models

    widths = {"ocr": {"mid_channels": 16, "key_channels": 8}, "baseoc": {"mid_channels": 16, "key_channels": 8}}
    return models.arch_for(head, head_kwargs=widths.get(head, {"mid_channels": 16}))
