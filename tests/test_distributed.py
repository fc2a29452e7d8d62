"""Two CPU processes (gloo) launched by torchrun, as in `torchrun --nproc_per_node N -m ocr_viz.train`:
the run completes and both replicas end with the same weights, those of final.safetensors.
`--device cpu --backend gloo` keeps this on the CPU on a GPU machine too; the device choice
itself is pinned with a faked CUDA below."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from test_training import make_dataset, tiny_run

from ocr_viz.model import checkpoints
from ocr_viz.training import train

ROOT = Path(__file__).resolve().parent.parent

# train.main as torchrun would run it, plus a dump of this process's model once training is over.
LAUNCHER = textwrap.dedent("""
    import os, sys
    import torch
    from ocr_viz.model import build
    from ocr_viz.training import train

    built = []
    build_model = build.build
    build.build = lambda arch: built.append(build_model(arch)) or built[-1]
    train.main(sys.argv[2:])
    model = built[0]
    torch.save({"parameters": {k: v.detach() for k, v in model.named_parameters()},
                "buffers": dict(model.named_buffers()), "world": os.environ["WORLD_SIZE"]},
               os.path.join(sys.argv[1], f"rank{os.environ['RANK']}.pt"))
""")


def test_two_processes_agree_on_the_weights(tmp_path):
    data = make_dataset(tmp_path / "data")
    out, dumps = tmp_path / "run", tmp_path / "dumps"
    dumps.mkdir()
    launcher = tmp_path / "launch.py"
    launcher.write_text(LAUNCHER)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(launcher), str(dumps), *tiny_run(data, out, "--iters", "3", "--backend", "gloo")]
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]

    ranks = [torch.load(dumps / f"rank{r}.pt", map_location="cpu", weights_only=True) for r in (0, 1)]
    assert [r["world"] for r in ranks] == ["2", "2"]
    saved, meta = checkpoints.load(out / "final.safetensors", device="cpu")
    assert meta["training"]["processes"] == 2 and meta["training"]["steps"] == 3
    saved_parameters = dict(saved.named_parameters())
    assert ranks[0]["parameters"].keys() == ranks[1]["parameters"].keys() == saved_parameters.keys()
    for name, value in ranks[0]["parameters"].items():
        assert torch.equal(value, ranks[1]["parameters"][name]), name
        assert torch.equal(value, saved_parameters[name]), name
    for name, value in ranks[0]["buffers"].items():  # rank 0's BatchNorm statistics are the saved ones
        assert torch.equal(value, dict(saved.named_buffers())[name]), name
    assert meta["training"]["device"] == "cpu"


def fake_gpus(monkeypatch, count: int) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


def test_device_and_backend_follow_the_flags_not_just_cuda_availability(monkeypatch):
    fake_gpus(monkeypatch, 1)
    assert train.choose_device("cpu", 0) == torch.device("cpu")  # CPU (and gloo) even where CUDA exists
    assert train.choose_backend("auto", torch.device("cpu")) == "gloo"
    assert train.choose_device("auto", 0) == torch.device("cuda", 0)
    assert train.choose_backend("auto", torch.device("cuda", 0)) == "nccl"
    assert train.choose_backend("gloo", torch.device("cuda", 0)) == "gloo"
    with pytest.raises(SystemExit, match="LOCAL_RANK 1 but only 1 GPU"):  # 2 processes on 1 GPU
        train.choose_device("auto", 1)
    with pytest.raises(SystemExit, match="nccl needs --device cuda"):
        train.choose_backend("nccl", torch.device("cpu"))
    fake_gpus(monkeypatch, 0)
    assert train.choose_device("auto", 3) == torch.device("cpu")
    with pytest.raises(SystemExit, match="no GPU"):
        train.choose_device("cuda", 0)
