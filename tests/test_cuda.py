"""The CUDA path: a trace on the GPU equals the CPU's within float32 error, a training step runs
there (float32 and bf16 autocast), and the app says which device it uses. Skipped where torch
sees no GPU; `scripts/gpu_check.sh` runs this file on one."""
import copy

import pytest
import torch
from conftest import ROOT, SAMPLES
from test_training import make_dataset, read_log, tiny_run

from ocr_viz.model import checkpoints
from ocr_viz.model.api import load_model
from ocr_viz.model.images import open_image, preprocess
from ocr_viz.training import train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs CUDA (torch.cuda.is_available() is False here); "
                                       "scripts/gpu_check.sh runs these tests on a GPU")

STAGES = ("x", "M", "m_tilde", "f", "kappa", "w", "y", "z", "logits")


@pytest.fixture
def exact_float32():
    """cuDNN and cuBLAS may use TF32 (10-bit mantissa) for float32 work; the comparison is with float32."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@torch.no_grad()
def test_the_cuda_trace_equals_the_cpu_trace_within_float32_error(exact_float32):
    """The tolerance of each stage is fitted to float32 on this input: 10 x the CPU float32 trace's
    distance from the float64 trace (two float32 computations that sum in different orders each sit
    about that far from the exact values), plus 1e-6 of the stage's largest value."""
    model, _ = load_model("ocr", "cpu")
    images = preprocess(open_image(SAMPLES / "camvid" / "0001TP_008550.jpg"))
    cpu = model.trace(images)
    exact = copy.deepcopy(model).double().trace(images.double())
    cuda = copy.deepcopy(model).to("cuda").trace(images.to("cuda"))
    assert cuda.logits.device.type == "cuda"
    for stage in STAGES:
        ref, got, exact_values = getattr(cpu.head, stage), getattr(cuda.head, stage).cpu(), getattr(exact.head, stage)
        float32_error = (ref.double() - exact_values).abs().max().item()
        scale = exact_values.abs().max().item()
        difference = (got.double() - ref.double()).abs().max().item()
        assert difference <= 10 * float32_error + 1e-6 * scale, (stage, difference, float32_error, scale)
    # labels flip only where two classes' logits are within float32 error of each other
    assert (cuda.pred.cpu() == cpu.pred).double().mean().item() > 0.999


@pytest.mark.parametrize("amp", [False, True], ids=["float32", "bf16"])
def test_training_steps_on_cuda(tmp_path, amp):
    """Two steps from the shipped backbone (no ImageNet package needed) on the GPU: finite losses,
    weights that moved, and the checkpoint records the device."""
    data = make_dataset(tmp_path / "data")
    out = tmp_path / "run"
    init = str(ROOT / "assets" / "weights" / "ocr.safetensors")
    train.main(tiny_run(data, out, "--iters", "2", "--device", "cuda", "--init", init, *(["--amp"] if amp else [])))
    losses = [entry["loss"] for entry in read_log(out)]
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses)))
    model, meta = checkpoints.load(out / "final.safetensors", device="cpu")
    assert meta["training"]["device"].startswith("cuda") and meta["recipe"]["amp"] is amp
    donor, _ = checkpoints.load(init, device="cpu")
    moved = [not torch.equal(a, b) for a, b in zip(model.backbone.parameters(), donor.backbone.parameters())]
    assert any(moved)


def test_the_app_says_it_runs_on_cuda():
    pytest.importorskip("streamlit", reason="the app needs streamlit (not installed here)")
    from app_helpers import problems, start

    at = start()
    assert not problems(at)
    assert any("device: **cuda" in c.value for c in at.sidebar.caption), [c.value for c in at.sidebar.caption]
