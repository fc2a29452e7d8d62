"""Two CPU processes (gloo) launched by torchrun, as in `torchrun --nproc_per_node N -m ocr_viz.train`:
the run completes and both replicas end with the same weights, those of final.safetensors.
`--device cpu --backend gloo` keeps this on the CPU on a GPU machine too; the device choice
itself is pinned with a faked CUDA below.

Evaluation and the relation analysis under torchrun: two processes share three images and
write the JSON one process writes (counts exactly, float statistics up to summation order)."""
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from test_training import make_dataset, tiny_run

from conftest import SAMPLES, structured_model, tiny_arch

from ocr_viz.analysis import relation
from ocr_viz.model import checkpoints
from ocr_viz.model.api import untrained_meta
from ocr_viz.training import distributed, train

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
               str(launcher), str(dumps), *tiny_run(data, out, "--iters", "3", "--backend", "gloo",
                                                    "--time-budget", "1e9")]  # the ranks agree on stopping each step
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


# ---- evaluation and analysis sharded over ranks ---------------------------------------------

RUN_SPECIFIC = {"seconds_per_image", "machine", "processes", "command"}  # what may differ between the runs


@pytest.fixture(scope="module")
def shared_set(tmp_path_factory):
    """Three shipped CamVid frames with their labels as images/ + masks/, and tiny OCR and FCN
    checkpoints on the ImageNet backbone whose predictions vary over the image."""
    root = tmp_path_factory.mktemp("sharded")
    (root / "data" / "images").mkdir(parents=True)
    (root / "data" / "masks").mkdir()
    for image in sorted((SAMPLES / "camvid").glob("*.jpg"))[:3]:
        (root / "data" / "images" / image.name).symlink_to(image)
        (root / "data" / "masks" / f"{image.stem}.png").symlink_to(image.with_suffix(".png"))
    for head in ("ocr", "fcn"):
        checkpoints.save(structured_model(head), root / f"{head}.safetensors", untrained_meta(tiny_arch(head)))
    return root


def run(tmp_path, processes: int, *command) -> None:
    """`python -m ...` in one process, or under torchrun in `processes`, one torch thread each (the
    same arithmetic in every process, so the same predictions)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    launcher = [sys.executable] if processes == 1 else \
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
    done = subprocess.run([*launcher, *command], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def assert_same(a, b, path="", rel=0.0):
    """Equal JSON values: integers, strings and the structure exactly, floats within `rel`."""
    assert type(a) is type(b) or {type(a), type(b)} <= {int, float}, (path, a, b)
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            assert_same(a[key], b[key], f"{path}/{key}", rel)
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]", rel)
    elif isinstance(a, float) and not (math.isnan(a) and math.isnan(b)):
        assert a == pytest.approx(b, rel=rel, abs=rel * 1e-3), path
    else:
        assert a == b, path


def without(result: dict, keys=RUN_SPECIFIC) -> dict:
    return {k: v for k, v in result.items() if k not in keys}


def test_two_processes_evaluate_like_one(shared_set, tmp_path):
    outputs = {}
    for processes in (1, 2):
        outputs[processes] = tmp_path / f"eval{processes}.json"
        run(tmp_path, processes, "-m", "ocr_viz.evaluate", str(shared_set / "ocr.safetensors"), "--data",
            str(shared_set / "data"), "--scale", "0.5", "--device", "cpu", "--backend", "gloo", "--threads", "1",
            "--no-progress", "--out", str(outputs[processes]))
    one, two = (json.loads(outputs[n].read_text()) for n in (1, 2))
    assert one["processes"] == 1 and two["processes"] == 2 and one["images"] == two["images"] == 3
    confusion = np.array(one["confusion"])
    assert confusion.sum() > 0 and (confusion.sum(0) > 0).sum() >= 3  # several classes predicted: not a trivial match
    assert_same(without(one), without(two))  # exactly: every number comes from the same integer counts


def test_two_processes_analyse_the_relation_like_one(shared_set, tmp_path):
    outputs = {}
    for processes in (1, 2):
        outputs[processes] = tmp_path / f"relation{processes}.json"
        run(tmp_path, processes, "-m", "ocr_viz.analyze", "relation", str(shared_set / "ocr.safetensors"),
            "--fcn", str(shared_set / "fcn.safetensors"), "--data", str(shared_set / "data"), "--long-side", "160",
            "--device", "cpu", "--backend", "gloo", "--threads", "1", "--no-progress", "--out", str(outputs[processes]))
    one, two = (json.loads(outputs[n].read_text()) for n in (1, 2))
    assert one["processes"] == 1 and two["processes"] == 2 and one["relation"]["images"] == two["relation"]["images"] == 3
    h, w = one["grid"]
    assert one["relation"]["cells"] == 3 * h * w and len(one["ablations"]["rows"]) == 6
    assert 0 < one["relation"]["entropy"]["mean"] < one["relation"]["entropy"]["log_k"]  # not a uniform relation
    for key in ("cells", "labelled_cells", "images"):
        assert one["relation"][key] == two["relation"][key]
    for view in relation.VIEWS:  # integer counts: exactly
        for key in ("versus_truth", "versus_pred", "rank_histogram"):
            assert one["relation"][view][key] == two["relation"][view][key], (view, key)
    assert one["relation"]["entropy"]["histogram"] == two["relation"]["entropy"]["histogram"]
    assert [row["miou"] for row in one["ablations"]["rows"]] == [row["miou"] for row in two["ablations"]["rows"]]
    # float sums (entropy, ranks, correlations) differ only in the order of additions
    assert_same(without(one), without(two), rel=1e-9)
    assert two["command"].startswith("python -m ocr_viz.analyze relation")


def test_the_shares_of_the_ranks_cover_the_set_once():
    items = list(range(7))
    shares = [distributed.shard(items, distributed.Ranks(r, 3, torch.device("cpu"))) for r in range(3)]
    assert shares == [[0, 3, 6], [1, 4], [2, 5]]
    assert distributed.gather("x", distributed.Ranks(0, 1, torch.device("cpu"))) == ["x"]


def test_counts_of_two_parts_merge_into_the_counts_of_the_whole(shared_set):
    """In one process: the set counted in two parts (as two ranks would) and merged equals the set
    counted at once; the merged grid is that of the set's last image."""
    model, meta = checkpoints.load(shared_set / "ocr.safetensors", device="cpu")
    fcn, _ = checkpoints.load(shared_set / "fcn.safetensors", device="cpu")
    pairs = relation.labelled_pairs(shared_set / "data")[0]
    whole = relation.count_set(model, meta, pairs, fcn, long_side=96)
    second = relation.count_set(model, meta, pairs[1:], fcn, long_side=96, indices=[1, 2])
    first = relation.count_set(model, meta, pairs[:1], fcn, long_side=96, indices=[0])
    second.merge(first)  # the later part first: the last image is still the set's last
    classes = list(meta["classes"])
    merged = relation.set_results(second, classes, 96, "x")
    assert_same(without(merged), without(relation.set_results(whole, classes, 96, "x")), rel=1e-12)
    assert merged["grid"] == whole.last[1] and whole.last[0] == 2
