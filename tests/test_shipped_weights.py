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


MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])  # ImageNet's, as in training


def hand_probabilities(model, rgb: np.ndarray, scale: float) -> np.ndarray:
    """(K,H,W) float64 class probabilities of one (H,W,3) uint8 photo, written out from the evaluation's
    definition: normalise, resize by `scale` (bilinear), logits back to the photo's size, softmax."""
    h, w = rgb.shape[:2]
    x = torch.from_numpy(((rgb / 255.0 - MEAN) / STD).astype(np.float32)).permute(2, 0, 1)[None]
    x = torch.nn.functional.interpolate(x, size=(round(h * scale), round(w * scale)), mode="bilinear", align_corners=False)
    with torch.no_grad():
        logits = model(x)[0]
    logits = torch.nn.functional.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)[0].double().numpy()
    e = np.exp(logits - logits.max(0))
    return e / e.sum(0)


def test_flip_averaging_on_camvid_frames_equals_a_hand_computation(camvid_root):
    """evaluate(flip=True) with the shipped OCR model on three test frames, against a few lines that
    mirror the photo itself (not the normalised tensor), take its probabilities, mirror them back and
    average with the photo's own: (p(x) + mirror(p(mirror x))) / 2."""
    model, meta = ocr_viz.load_model("ocr", device="cpu")
    k, scale = len(meta["classes"]), load_results("subset20")["ocr"]["scale"]  # the model card's 1.3333
    pairs = regression_subset(camvid_root)[:3]
    flipped, plain = np.zeros((k, k), np.int64), np.zeros((k, k), np.int64)
    for pair in pairs:
        rgb, label = read_pair(*pair)
        p = hand_probabilities(model, rgb, scale)
        q = hand_probabilities(model, np.ascontiguousarray(rgb[:, ::-1]), scale)[:, :, ::-1]
        scored = label < k
        for confusion, pred in ((flipped, ((p + q) / 2).argmax(0)), (plain, p.argmax(0))):
            confusion += np.bincount(label[scored].astype(np.int64) * k + pred[scored], minlength=k * k).reshape(k, k)
    result = evaluate(model, pairs, scale=scale, flip=True)
    # on this machine the two agree pixel for pixel; another summation order (threads, BLAS) may move a
    # few near-ties, while flipping moves ~14,600 of the 485,000 scored pixels (3% of them)
    assert result["flip"] is True and np.abs(np.array(result["confusion"]) - flipped).sum() <= 10
    assert np.abs(flipped - plain).sum() > 5000  # so a --flip that changes nothing could not pass
    union = flipped.sum(0) + flipped.sum(1) - np.diag(flipped)
    present = union > 0
    assert result["miou"] == pytest.approx(np.mean(np.diag(flipped)[present] / union[present]), abs=1e-4)


def test_regression_pin_of_the_flip_average_on_five_frames(camvid_root):
    """A pin, not a proof of correctness (that is the test above): the shipped OCR model, averaged with
    the mirrored frames, still scores what the command line wrote in tests/fixtures/ocr_flip_first5.json
    (python -m ocr_viz.evaluate ocr --limit 5 --scale 1.3333 --flip --threads 1 --out ...):
    63.03 mIoU on the first five test frames, 61.77 without the flip. Every model card has flip: false."""
    import json
    from pathlib import Path

    pin = json.loads((Path(__file__).parent / "fixtures" / "ocr_flip_first5.json").read_text())
    assert pin["flip"] is True and pin["images"] == 5 and pin["checkpoint"] == "ocr"
    model, _ = ocr_viz.load_model("ocr", device="cpu")
    result = evaluate(model, regression_subset(camvid_root)[:5], scale=pin["scale"], flip=True)
    assert result["miou"] == pytest.approx(pin["miou"], abs=TOLERANCE)
    for cls, expected in pin["per_class_iou"].items():
        got = result["per_class_iou"][cls]
        assert (got is None) == (expected is None) and (got is None or got == pytest.approx(expected, abs=TOLERANCE)), cls
    assert result["pixel_accuracy"] == pytest.approx(pin["pixel_accuracy"], abs=TOLERANCE)


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
