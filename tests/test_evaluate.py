"""Metrics on hand-made label maps with known answers, and the evaluation loop and CLI on two CamVid test images."""
import json
import math

import numpy as np
import pytest
import torch
from conftest import structured_model, tiny_arch
from PIL import Image

from ocr_viz.data.classes import CAMVID_CLASSES, IGNORE_INDEX
from ocr_viz.data.datasets import read_pair
from ocr_viz.model import build, checkpoints
from ocr_viz.model.api import untrained_meta
from ocr_viz.training.evaluate import class_probabilities, evaluate, image_tensor, main, regression_subset
from ocr_viz.training.metrics import ConfusionMatrix, mean_iou, per_class_iou, pixel_accuracy, summary

X = IGNORE_INDEX
LABEL = np.array([
    [0, 0, 1, 1],
    [0, 0, 1, 1],
    [2, 2, X, X],
    [2, 2, X, X],
])
PRED = np.array([
    [0, 0, 1, 1],
    [1, 1, 1, 1],
    [2, 2, 0, 0],  # the last two columns fall on ignored pixels
    [2, 2, 2, 2],
])
# class 0: TP 2, FN 2, FP 0 -> 1/2; class 1: TP 4, FP 2 -> 2/3; class 2: TP 4 -> 1; 10 of 12 pixels right.


def confusion_of(pred, label, num_classes=3):
    cm = ConfusionMatrix(num_classes)
    cm.update(pred, label)
    return cm.counts


def test_iou_and_accuracy_of_a_known_pair():
    cm = confusion_of(PRED, LABEL)
    assert cm.dtype == torch.int64 and cm.sum() == 12
    assert per_class_iou(cm).tolist() == pytest.approx([1 / 2, 2 / 3, 1.0], abs=1e-12)
    assert mean_iou(cm) == pytest.approx((1 / 2 + 2 / 3 + 1) / 3, abs=1e-12)
    assert pixel_accuracy(cm) == pytest.approx(10 / 12, abs=1e-12)


def test_ignored_and_out_of_range_labels_are_not_counted():
    label = LABEL.copy()
    label[3, 3] = 255
    cm = confusion_of(torch.from_numpy(PRED), torch.from_numpy(label))
    assert cm.tolist() == [[2, 2, 0], [0, 4, 0], [0, 0, 4]]  # rows: true class, columns: predicted
    assert confusion_of(PRED, np.full_like(LABEL, X)).sum() == 0


def test_absent_class_has_no_iou_and_is_left_out_of_the_mean():
    cm = confusion_of(PRED, LABEL, num_classes=4)
    assert math.isnan(per_class_iou(cm)[3])
    assert mean_iou(cm) == pytest.approx((1 / 2 + 2 / 3 + 1) / 3, abs=1e-12)
    result = summary(cm, ["a", "b", "c", "d"])
    assert result["per_class_iou"]["d"] is None and result["confusion"][1] == [0, 4, 0, 0]
    json.dumps(result, allow_nan=False)


def test_accumulating_is_summing_and_bad_input_is_refused():
    cm = ConfusionMatrix(3)
    cm.update(PRED, LABEL)
    cm.update(PRED, LABEL)
    assert torch.equal(cm.counts, 2 * confusion_of(PRED, LABEL))
    with pytest.raises(ValueError, match="shape"):
        cm.update(PRED[:2], LABEL)
    with pytest.raises(ValueError, match="0..2"):
        cm.update(np.full_like(LABEL, 3), LABEL)


@pytest.fixture(scope="module")
def tiny_model():
    """A tiny OCR model whose predictions vary across the image (see conftest.structured_model)."""
    return structured_model("ocr")


def test_evaluate_matches_the_trace(camvid_root, tiny_model):
    """scale 1, no flip: the confusion matrices are those of Trace.pred and Trace.aux_pred, pixel for pixel."""
    pair = regression_subset(camvid_root)[0]
    image, label = read_pair(*pair)
    trace = tiny_model.trace(image_tensor(image, torch.device("cpu")))
    assert trace.pred.unique().numel() >= 3 and trace.aux_pred.unique().numel() >= 3
    result = evaluate(tiny_model, [pair])
    assert result["confusion"] == confusion_of(trace.pred[0], label, 11).tolist()
    assert result["aux"]["confusion"] == confusion_of(trace.aux_pred[0], label, 11).tolist()
    # a flipped or transposed-and-resized label map would count other pixels: the check above would see it
    assert result["confusion"] != confusion_of(trace.pred[0].flip(-1), label, 11).tolist()
    assert result["confusion"] != confusion_of(trace.pred[0].flip(-2), label, 11).tolist()


def test_regression_subset_is_the_first_20_sorted_test_pairs(camvid_root):
    subset = regression_subset(camvid_root)
    assert len(subset) == 20 and [i.name for i, _ in subset] == sorted(p.name for p in (camvid_root / "test").iterdir())[:20]
    assert all(i.stem == m.stem and m.parent.name == "testannot" for i, m in subset)


def test_cli_writes_well_formed_json(camvid_root, tiny_model, tmp_path, capsys):
    path = tmp_path / "tiny.safetensors"
    checkpoints.save(tiny_model, path, untrained_meta(tiny_arch("ocr")))
    out = tmp_path / "results.json"
    main([str(path), "--data", str(camvid_root), "--limit", "2", "--scale", "0.5", "--flip",
          "--out", str(out), "--threads", "1", "--no-progress"])
    result = json.loads(out.read_text())
    assert result["checkpoint"] == str(path) and result["split"] == "test" and result["images"] == 2
    assert result["scale"] == 0.5 and result["flip"] is True and result["trained"] is False
    assert list(result["per_class_iou"]) == list(CAMVID_CLASSES)
    counted = sum(int((read_pair(*p)[1] < IGNORE_INDEX).sum()) for p in regression_subset(camvid_root)[:2])
    assert np.array(result["confusion"]).shape == (11, 11) and np.sum(result["confusion"]) == counted
    confusion = np.array(result["confusion"])  # rows: true class; scores from the counts, by hand
    union = confusion.sum(0) + confusion.sum(1) - np.diag(confusion)
    assert result["miou"] == pytest.approx(np.mean(np.diag(confusion)[union > 0] / union[union > 0]), abs=1e-12)
    assert result["pixel_accuracy"] == pytest.approx(np.trace(confusion) / counted, abs=1e-12)
    assert result["seconds_per_image"] > 0
    assert set(result["aux"]) == {"miou", "pixel_accuracy", "per_class_iou", "confusion"}
    assert {"torch", "machine"} <= set(result)
    assert "mIoU" in capsys.readouterr().out


def test_heads_without_aux_report_none(camvid_root):
    torch.manual_seed(0)
    model = build.build(tiny_arch("fcn"))
    assert evaluate(model, regression_subset(camvid_root)[:1], scale=0.25)["aux"] is None


def test_the_cli_refuses_camvid_labels_for_a_model_of_other_classes(tmp_path):
    from PIL import Image

    arch = tiny_arch() | {"num_classes": 5}
    meta = untrained_meta(arch) | {"classes": ["road", "wall", "sky", "tree", "person"], "palette": [[0, 0, 0]] * 5}
    checkpoints.save(build.build(arch).eval(), tmp_path / "five.safetensors", meta)
    for folder in ("test", "testannot"):
        (tmp_path / "camvid" / folder).mkdir(parents=True)
    Image.new("RGB", (32, 24)).save(tmp_path / "camvid" / "test" / "a.png")
    Image.new("L", (32, 24)).save(tmp_path / "camvid" / "testannot" / "a.png")
    with pytest.raises(SystemExit, match="CamVid's: the model predicts 5 classes"):
        main([str(tmp_path / "five.safetensors"), "--data", str(tmp_path / "camvid"), "--out", str(tmp_path / "r.json"),
              "--no-progress"])
    assert not (tmp_path / "r.json").exists()


# ---- flip averaging: a stub model whose logits are not mirror-symmetric -------------------------

class RampModel(torch.nn.Module):
    """logits_c(x) = sum_ch a_c,ch x_ch + b_c * column: the column term does not move when the image
    is mirrored, so softmax(L(flip x)) flipped back differs from softmax(L(x))."""

    def __init__(self, classes: int = 11):
        super().__init__()
        g = torch.Generator().manual_seed(3)
        self.a = torch.nn.Parameter(torch.randn(classes, 3, generator=g))
        self.b = torch.nn.Parameter(torch.linspace(-0.6, 0.6, classes))

    def forward(self, x):
        column = torch.arange(x.shape[-1], dtype=x.dtype)
        logits = torch.einsum("kc,bchw->bkhw", self.a, x) + self.b[:, None, None] * column
        return logits, -logits  # an aux head that ranks the classes the other way


def hand_flip_probabilities(model: RampModel, images: torch.Tensor) -> np.ndarray:
    """Eq. of the docstring written out in numpy: (softmax(L(x)) + mirror(softmax(L(mirror x)))) / 2."""
    x = images[0].numpy().astype(np.float64)
    a, b = model.a.detach().numpy().astype(np.float64), model.b.detach().numpy().astype(np.float64)

    def logits(img):
        return np.einsum("kc,chw->khw", a, img) + b[:, None, None] * np.arange(img.shape[-1])

    def softmax(z):
        e = np.exp(z - z.max(0))
        return e / e.sum(0)

    return (softmax(logits(x)) + softmax(logits(x[..., ::-1]))[..., ::-1]) / 2


def test_flip_averages_with_the_mirrored_images_softmax_mirrored_back(tmp_path):
    model = RampModel().eval()
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (6, 10, 3), dtype=np.uint8)
    images = image_tensor(image, torch.device("cpu"))
    expected = hand_flip_probabilities(model, images)
    probs, aux = class_probabilities(model, images, flip=True)
    np.testing.assert_allclose(probs[0].numpy(), expected, atol=1e-5)
    plain, _ = class_probabilities(model, images, flip=False)
    assert np.abs(plain[0].numpy() - expected).max() > 1e-2  # flipping matters for this model
    # evaluate() scores the averaged prediction: its confusion matrix from the hand computation
    label = rng.integers(0, 11, (6, 10), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "a.png")
    Image.fromarray(label).save(tmp_path / "a_L.png")
    result = evaluate(model, [(tmp_path / "a.png", tmp_path / "a_L.png")], flip=True)
    hand = np.zeros((11, 11), np.int64)
    np.add.at(hand, (label.astype(np.int64), expected.argmax(0)), 1)
    assert result["flip"] is True and result["confusion"] == hand.tolist()
