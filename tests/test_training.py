"""Training smoke tests on a tiny synthetic images/ + masks/ folder: the loss falls, a run
resumes where its state was saved, and a frozen backbone stays as --init gave it."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from ocr_viz.data.classes import CAMVID_PALETTE, IGNORE_INDEX
from ocr_viz.model import checkpoints
from ocr_viz.training import train
from ocr_viz.training.train import median_frequency_weights

SIZE, TILE = 64, 16
CLASSES = (1, 4, 5, 10)  # Building, Pavement, Tree, Bicyclist: distinct colours


def make_dataset(root, images=4, seed=0):
    """images/ + masks/ of SIZE x SIZE pictures whose TILE x TILE squares have the colour
    of their class (plus noise), so colour alone decides the label; one ignored corner.
    Only 4 of the 11 classes occur, which the median-frequency weights must cope with."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    palette = np.array(CAMVID_PALETTE + ((0, 0, 0),), dtype=np.float64)  # index 11: ignored, black
    for n in range(images):
        tiles = rng.choice(CLASSES, (SIZE // TILE, SIZE // TILE))
        label = np.kron(tiles, np.ones((TILE, TILE), dtype=np.int64))
        label[:TILE // 2, :TILE // 2] = IGNORE_INDEX
        image = np.clip(palette[label] + rng.normal(0, 8, (SIZE, SIZE, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(image).save(root / "images" / f"{n:03d}.png")
        Image.fromarray(label.astype(np.uint8)).save(root / "masks" / f"{n:03d}.png")
    return root


def tiny_run(data, out, *extra):
    """Arguments for a fast run: small OCR head, whole 64 x 64 images, no warm-up, on the CPU
    (also on a GPU machine, so that the numbers below do not depend on the hardware)."""
    return ["--data", str(data), "--out", str(out), "--mid-channels", "16", "--key-channels", "8",
            "--crop", str(SIZE), "--scale", "1", "1", "--batch", "2", "--warmup", "1",
            "--threads", "1", "--no-progress", "--device", "cpu", *extra]


def read_log(out):
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    train.main(tiny_run(data, out, "--iters", "12"))
    return out


def test_loss_goes_down(trained):
    losses = [entry["loss"] for entry in read_log(trained)]
    assert len(losses) == 12 and all(np.isfinite(losses))
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:3]), losses  # about 0.6 in practice


def test_final_checkpoint_loads_with_its_recipe(trained):
    model, meta = checkpoints.load(trained / "final.safetensors")
    assert meta["trained"] and meta["training"]["steps"] == 12
    assert meta["arch"]["head_kwargs"]["mid_channels"] == 16 and meta["recipe"]["crop"] == SIZE
    assert not model.training


def test_resume_continues_from_the_saved_step(data, tmp_path, capsys):
    train.main(tiny_run(data, tmp_path, "--iters", "4", "--checkpoint-every", "2"))
    first = torch.load(tmp_path / "state.pt", map_location="cpu", weights_only=True)
    assert first["step"] == 4
    train.main(tiny_run(data, tmp_path, "--iters", "6", "--checkpoint-every", "2"))
    assert "resumed from" in capsys.readouterr().out
    assert [entry["step"] for entry in read_log(tmp_path)] == [1, 2, 3, 4, 5, 6]
    assert torch.load(tmp_path / "state.pt", map_location="cpu", weights_only=True)["step"] == 6
    _, meta = checkpoints.load(tmp_path / "final.safetensors")
    assert meta["training"]["steps"] == 6


def test_frozen_backbone_keeps_the_init_weights(data, trained, tmp_path):
    donor, _ = checkpoints.load(trained / "final.safetensors")
    train.main(tiny_run(data, tmp_path, "--iters", "2", "--head", "fcn", "--mid-channels", "16",
                        "--init", str(trained / "final.safetensors"), "--freeze-backbone"))
    model, meta = checkpoints.load(tmp_path / "final.safetensors")
    assert meta["arch"]["head"] == "fcn"
    before, after = donor.backbone.state_dict(), model.backbone.state_dict()
    assert before.keys() == after.keys()
    for key in before:  # weights and BatchNorm statistics alike
        assert torch.equal(before[key], after[key]), key


def test_median_weights_with_few_classes_present_are_finite():
    label = np.full((8, 8), 1, dtype=np.uint8)
    label[:4] = 0
    label[:2, :2] = IGNORE_INDEX
    weights = median_frequency_weights([label], 11)
    assert torch.isfinite(weights).all() and weights[0] > 0 and weights[1] > 0
    assert weights[0] > weights[1]  # class 0 is the rarer


def test_ohem_trains_on_the_hard_pixels_only():
    # four pixels of class 0, true-class probabilities ~0.98, 0.88, 0.5 and 0.27; one ignored
    logits = torch.tensor([[4.0, 2.0, 0.0, -1.0, 0.0]]).reshape(1, 1, 1, 5)
    logits = torch.cat([logits, torch.zeros_like(logits)], 1)
    labels = torch.tensor([[[0, 0, 0, 0, IGNORE_INDEX]]])
    per_pixel = torch.nn.functional.cross_entropy(logits, labels.clamp(max=1), reduction="none")[0, 0]
    hard = train.ohem_cross_entropy(logits, labels, None, thresh=0.7, min_kept=1)
    assert hard.item() == pytest.approx(per_pixel[2:4].mean().item(), rel=1e-5)  # p < 0.7: the last two
    more = train.ohem_cross_entropy(logits, labels, None, thresh=0.7, min_kept=3)
    assert more.item() == pytest.approx(per_pixel[1:4].mean().item(), rel=1e-5)  # the 3 least confident
    everything = train.ohem_cross_entropy(logits, labels, None, thresh=1.0, min_kept=1)
    assert everything.item() == pytest.approx(per_pixel[:4].mean().item(), rel=1e-5)
    ignored = train.ohem_cross_entropy(logits, torch.full_like(labels, IGNORE_INDEX), None, 0.7, 1)
    assert ignored.item() == 0.0


def test_a_run_with_ohem_learns(data, tmp_path):
    train.main(tiny_run(data, tmp_path, "--iters", "12", "--ohem", "0.7", "--ohem-min-kept", "500"))
    losses = [entry["loss"] for entry in read_log(tmp_path)]
    assert all(np.isfinite(losses)) and np.mean(losses[-3:]) < np.mean(losses[:3])


def test_resume_restores_the_weights_and_the_optimizer_state(data, tmp_path):
    """A run resumed at the step it saved trains no further step, so what it writes is exactly what it
    restored: the final weights are the saved ones (not a fresh initialisation), and the momentum
    buffers it saves again are the saved ones (not an optimizer started afresh)."""
    train.main(tiny_run(data, tmp_path, "--iters", "3", "--checkpoint-every", "3"))
    saved = torch.load(tmp_path / "state.pt", map_location="cpu", weights_only=True)
    assert saved["step"] == 3 and saved["optimizer"]["state"]  # momentum buffers exist after 3 steps
    train.main(tiny_run(data, tmp_path, "--iters", "3", "--checkpoint-every", "3"))
    model, meta = checkpoints.load(tmp_path / "final.safetensors")
    assert meta["training"]["steps"] == 3
    restored = model.state_dict()
    for key, value in saved["model"].items():
        assert torch.equal(restored[key].cpu(), value), key
    again = torch.load(tmp_path / "state.pt", map_location="cpu", weights_only=True)
    assert again["optimizer"]["state"].keys() == saved["optimizer"]["state"].keys()
    for index, state in saved["optimizer"]["state"].items():
        assert torch.equal(again["optimizer"]["state"][index]["momentum_buffer"], state["momentum_buffer"]), index
