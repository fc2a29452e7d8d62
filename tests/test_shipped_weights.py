"""The shipped weights, end to end: they load, they score what the model card says on
a fixed subset, and the soft object region for "Car" lies on the cars."""
import numpy as np
import pytest
import torch

import ocr_viz
from ocr_viz.data.datasets import camvid_pairs, read_pair
from ocr_viz.model.paths import shipped_path
from ocr_viz.training.evaluate import evaluate, image_tensor, regression_subset
from ocr_viz.training.results import load_results

SHIPPED = ("ocr", "fcn", "aspp", "nonlocal", "baseoc", "pyramid_oc", "asp_oc")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_exist_and_are_trained(name):
    assert shipped_path(name).is_file(), f"{shipped_path(name)} is missing"
    _, meta = ocr_viz.load_model(name, device="cpu")
    assert meta["trained"] is True and meta["arch"]["head"] == name


# The evaluation is deterministic on the CPU up to the order of float sums: a rerun with another
# thread count moved 1 pixel of 20 x 172,800 (FCN: per-class IoU by 2.7e-6, mIoU by 3.6e-7).
# A tolerance of 1e-4 per class leaves ~35 times that; any real change to the model, the
# preprocessing or the metric moves hundreds of pixels and several classes by more.
TOLERANCE = 1e-4


@pytest.mark.parametrize("name", sorted(load_results("subset20")))
def test_regression_pin_on_the_fixed_subset(name, camvid_root):
    """A pin, not a proof of correctness: the shipped weights still score what evaluate() wrote in
    assets/weights/eval/NAME_subset20.json (per class, both ways). Correctness of the scoring is
    checked beside it (test_evaluate_scores_the_models_own_predictions) and in test_evaluate.py."""
    card = load_results("subset20")[name]
    model, _ = ocr_viz.load_model(card["checkpoint"], device="cpu")
    result = evaluate(model, regression_subset(camvid_root), scale=card["scale"], flip=card["flip"])
    assert result["miou"] == pytest.approx(card["miou"], abs=TOLERANCE), name
    for cls, expected in card["per_class_iou"].items():
        got = result["per_class_iou"][cls]
        assert (got is None) == (expected is None), (name, cls)
        if expected is not None:
            assert got == pytest.approx(expected, abs=TOLERANCE), (name, cls)
    assert result["pixel_accuracy"] == pytest.approx(card["pixel_accuracy"], abs=TOLERANCE), name


def test_evaluate_scores_the_models_own_predictions(camvid_root):
    """The shipped OCR model on three subset images: evaluate()'s mIoU and pixel accuracy equal a count
    written out here with numpy over its traced predictions (IoU = TP / (TP + FP + FN) per class present)."""
    model, meta = ocr_viz.load_model("ocr", device="cpu")
    k = len(meta["classes"])
    pairs = regression_subset(camvid_root)[:3]
    confusion = np.zeros((k, k), np.int64)
    for pair in pairs:
        image, label = read_pair(*pair)
        pred = model.trace(image_tensor(image, torch.device("cpu"))).pred[0].numpy()
        scored = label < k
        confusion += np.bincount(label[scored].astype(np.int64) * k + pred[scored], minlength=k * k).reshape(k, k)
    union = confusion.sum(0) + confusion.sum(1) - np.diag(confusion)
    present = union > 0
    result = evaluate(model, pairs)
    assert result["miou"] == pytest.approx(np.mean(np.diag(confusion)[present] / union[present]), abs=1e-6)
    assert result["pixel_accuracy"] == pytest.approx(np.trace(confusion) / confusion.sum(), abs=1e-9)


def test_every_shipped_model_has_a_regression_figure():
    assert set(SHIPPED) <= set(load_results("subset20"))


def test_car_region_lies_on_the_cars(camvid_root):
    """Most of the spatial-softmax mass of M_Car falls on ground-truth car pixels."""
    model, meta = ocr_viz.load_model("ocr", device="cpu")
    car = meta["classes"].index("Car")
    image, label = read_pair(*camvid_pairs(camvid_root, "test")[0])  # a street with parked cars
    t = model.trace(image_tensor(image, torch.device("cpu")))
    h, w = t.features.shape[-2:]
    car_fraction = torch.nn.functional.adaptive_avg_pool2d(torch.from_numpy(label == car).float()[None, None], (h, w))
    mass_on_cars = (t.head.m_tilde[0, car] * car_fraction.flatten()).sum().item()
    assert car_fraction.mean() < 0.2  # cars are a small part of the image...
    assert mass_on_cars > 0.6  # ...yet they hold most of m~_Car's weight
