"""The GPU recipe's parts, on the CPU: training's --amp and --time-budget, and scripts/gpu_check.sh
in its tiny mode (every step, in seconds), so the script is known to work before a GPU runs it."""
import json
import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import skip_unless_required
from test_training import make_dataset, read_log, tiny_run

from ocr_viz.model import checkpoints
from ocr_viz.training import train

ROOT = Path(__file__).resolve().parent.parent
KEYS = ROOT.parent / "shared" / "fixtures" / "hrnet_ocr" / "hrnet_ocr_w48_cityscapes_keys.txt"  # the script's default


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("tiny"))


def test_the_planned_total_is_what_fits_in_the_rest_of_the_budget():
    # 100 s budget, 10 s spent at step 12, 0.5 s a step: 0.95 x 90 / 0.5 = 171 more steps
    assert train.planned_steps(12, 10.0, 100.0, 0.5, 10_000) == 12 + 171
    assert train.planned_steps(12, 10.0, 100.0, 0.5, 50) == 50      # --iters stays the cap
    assert train.planned_steps(12, 120.0, 100.0, 0.5, 10_000) == 12  # over budget: no more steps


def test_amp_computes_the_forward_in_bfloat16_and_keeps_float32_weights(data, tmp_path):
    """The same first batch (same seeds) with and without --amp: the losses differ by bf16's rounding
    (8-bit mantissa: about 0.4% a value), not more; a no-op flag would give the same loss."""
    train.main(tiny_run(data, tmp_path / "fp32", "--iters", "1"))
    train.main(tiny_run(data, tmp_path / "amp", "--iters", "1", "--amp"))
    fp32, amp = read_log(tmp_path / "fp32")[0]["loss"], read_log(tmp_path / "amp")[0]["loss"]
    assert np.isfinite(amp) and fp32 != amp and abs(fp32 - amp) < 0.05 * fp32, (fp32, amp)
    model, meta = checkpoints.load(tmp_path / "amp" / "final.safetensors", device="cpu")
    assert meta["recipe"]["amp"] is True and meta["training"]["steps"] == 1
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_a_spent_budget_stops_at_once_with_final_weights(data, tmp_path):
    train.main(tiny_run(data, tmp_path, "--iters", "50", "--time-budget", "0"))
    _, meta = checkpoints.load(tmp_path / "final.safetensors", device="cpu")
    assert meta["training"]["steps"] == 0 and meta["training"]["stopped_by"] == "time budget"
    assert torch.load(tmp_path / "state.pt", weights_only=True)["step"] == 0


def test_an_ample_budget_plans_iters_and_a_resumed_run_keeps_the_plan(data, tmp_path):
    train.main(tiny_run(data, tmp_path, "--iters", "14", "--time-budget", "1e9"))
    _, meta = checkpoints.load(tmp_path / "final.safetensors", device="cpu")
    assert meta["training"]["planned_steps"] == 14 and meta["training"]["steps"] == 14
    assert meta["training"]["stopped_by"] == "planned steps"
    assert torch.load(tmp_path / "state.pt", weights_only=True)["planned_steps"] == 14
    train.main(tiny_run(data, tmp_path, "--iters", "20", "--time-budget", "1e9"))  # the plan, not --iters, ends it
    assert len(read_log(tmp_path)) == 14


def test_a_state_from_before_the_time_budget_resumes(data, tmp_path):
    """runs/ written by the earlier train.py have no planned_steps in state.pt."""
    train.main(tiny_run(data, tmp_path, "--iters", "2"))
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    del state["planned_steps"]
    torch.save(state, tmp_path / "state.pt")
    train.main(tiny_run(data, tmp_path, "--iters", "3"))
    assert [entry["step"] for entry in read_log(tmp_path)] == [1, 2, 3]


def test_the_gpu_check_script_runs_every_step_in_its_tiny_mode(tmp_path):
    """TINY=1: the same steps on the CPU with tiny sizes (W48 at 64 x 32, a few training steps on the
    shipped CamVid samples); each step passes and leaves its file in $OUT, and without CUDA the CUDA
    tests report themselves skipped with the reason."""
    if not KEYS.is_file():
        skip_unless_required(f"the W48 release's key list is not at {KEYS}", "OCR_VIZ_REQUIRE_DATA")
    out = tmp_path / "out"
    env = {**os.environ, "TINY": "1", "OUT": str(out), "WORK": str(tmp_path / "work")}
    done = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh")], env=env, capture_output=True, text=True,
                          timeout=1500)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert [s["step"] for s in summary["steps"]] == ["env", "cuda_tests", "w48", "train", "eval"]
    assert summary["passed"] and all(s["status"] == "passed" for s in summary["steps"]), summary["steps"]
    assert {p.name for p in out.iterdir()} == {"summary.json", "log.txt", "cuda_tests.xml", "bench_w48.json",
                                               "model.safetensors", "train_log.jsonl", "eval.json"}
    assert summary["training"]["amp"] is True and summary["training"]["time_budget"] == 20
    assert summary["w48_trace"][0]["input"] == [32, 64] and summary["w48_forward"]["bf16_autocast"]["median_seconds"] > 0
    assert summary["eval"]["images"] == 2
    _, meta = checkpoints.read(out / "model.safetensors")
    assert meta["precision"] == "fp16" and meta["training"]["steps"] == summary["training"]["steps"]
    report = ET.parse(out / "cuda_tests.xml").getroot().find("testsuite")
    if not torch.cuda.is_available():
        skipped = [case.find("skipped") for case in report.iter("testcase")]
        assert int(report.get("tests")) >= 3 and all(s is not None and "needs CUDA" in s.get("message") for s in skipped)
