"""Ground truth only where it means the same thing: CamVid's labels scored against a model of
CamVid's classes index by index, against a Cityscapes model through the explicit table by name (only
the mapped classes scored, and the page says which), and not at all for a dataset without a table."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from ocr_viz.data import class_maps
from ocr_viz.data.classes import CAMVID_CLASSES, IGNORE_INDEX, dataset_table

CITYSCAPES = dataset_table("cityscapes")["classes"]
W18S = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "hrnet_ocr" / "hrnet_ocr_w18s_seed0.pth"
NEEDS_FIXTURE = pytest.mark.skipif(not W18S.is_file() and os.environ.get("OCR_VIZ_REQUIRE_DATA") != "1",
                                   reason="official HRNet-OCR fixture missing")


def test_the_camvid_cityscapes_table_names_real_classes_once_each():
    table = class_maps.CAMVID_CITYSCAPES
    assert set(table) <= set(CAMVID_CLASSES)
    covered = [c for classes in table.values() for c in classes]
    assert sorted(covered) == sorted(set(covered)), "a Cityscapes class mapped to two CamVid classes"
    assert set(covered) <= set(CITYSCAPES)
    # the decisions the README states: these merges, and no class of either dataset left without a counterpart
    assert table["Bicyclist"] == ("rider", "bicycle", "motorcycle") and table["SignSymbol"] == ("traffic sign", "traffic light")
    assert table["Building"] == ("building", "wall") and table["Car"] == ("car", "truck", "bus", "train")
    assert set(covered) == set(CITYSCAPES) and set(table) == set(CAMVID_CLASSES)


def test_labels_and_predictions_are_read_through_the_table_by_name():
    m = class_maps.ground_truth_map(CITYSCAPES)
    assert m is not None and not m.exact and m.scored == tuple(CAMVID_CLASSES)
    # by hand: CamVid Road (3), Pavement (4), Unlabelled (11), Car (8), Bicyclist (10)
    labels = np.array([[3, 4, IGNORE_INDEX], [8, 10, 10]])
    assert m.labels(labels).tolist() == [[3, 4, class_maps.NOT_SCORED], [8, 10, 10]]
    cs = {name: j for j, name in enumerate(CITYSCAPES)}
    pred = np.array([[cs["road"], cs["sidewalk"], cs["sky"]], [cs["truck"], cs["rider"], cs["bicycle"]]])
    assert m.predictions(pred).tolist() == [[3, 4, 0], [8, 10, 10]]
    # the model's own classes only where one CamVid class is one Cityscapes class (Road, Pavement); Car and
    # Bicyclist are merges: no single own region
    assert m.model_labels(labels).tolist() == [[cs["road"], cs["sidewalk"], -1], [-1, -1, -1]]
    assert set(m.one_to_one()) == {"Sky", "Pole", "Road", "Pavement", "Fence", "Pedestrian"}


def test_scores_count_a_prediction_without_counterpart_as_wrong():
    """Two scored classes; truth 0 0 1 1 (and one unscored pixel), prediction 0 9 1 0 (9: no counterpart)."""
    truth = np.array([0, 0, 1, 1, class_maps.NOT_SCORED])
    pred = np.array([0, 9, 1, 0, 1])
    s = class_maps.scores(pred, truth, 2)
    # class 0: TP 1, FN 1 (the 9) + 0, FP 1 (pixel 3) -> 1/3; class 1: TP 1, FN 1, FP 0 -> 1/2
    assert s["iou"].tolist() == pytest.approx([1 / 3, 1 / 2])
    assert s["mean_iou"] == pytest.approx((1 / 3 + 1 / 2) / 2) and s["pixel_accuracy"] == pytest.approx(2 / 4)


def test_the_same_classes_are_scored_index_by_index_as_before():
    from ocr_viz.analysis import stats

    rng = np.random.default_rng(0)
    truth = rng.integers(0, 12, (30, 40))  # 11: unlabelled
    pred = rng.integers(0, 11, (30, 40))
    ground, why = class_maps.ground_truth(truth, [c.lower() for c in CAMVID_CLASSES])
    assert why == "" and ground.map.exact
    ours, before = ground.score(pred), stats.accuracy(pred, truth, 11, IGNORE_INDEX)
    assert ours["pixel_accuracy"] == pytest.approx(before["pixel_accuracy"]) and ours["mean_iou"] == pytest.approx(before["mean_iou"])
    assert (ground.model_labels == np.where(truth == IGNORE_INDEX, -1, truth)).all()


def test_no_table_no_ground_truth_and_the_reason():
    ade = dataset_table("ade20k")["classes"]
    ground, why = class_maps.ground_truth(np.zeros((4, 4), dtype=np.int64), ade)
    assert ground is None and "150 classes" in why and "no table" in why and "CamVid <-> Cityscapes" in why
    assert class_maps.ground_truth(None, ade) == (None, "")


def test_became_right_is_counted_in_the_labels_classes():
    m = class_maps.ground_truth_map(CITYSCAPES)
    cs = {name: j for j, name in enumerate(CITYSCAPES)}
    truth = np.array([8, 8, 3, 3])  # Car, Car, Road, Road
    before = np.array([cs["truck"], cs["road"], cs["car"], cs["road"]])
    after = np.array([cs["car"], cs["car"], cs["road"], cs["sidewalk"]])
    changes = class_maps.GroundTruth(truth, m).changes(before, after)
    # truck -> car is no change in CamVid's classes (both Car); road -> car on a Car pixel and car -> road on a
    # Road pixel became right; road -> sidewalk on a Road pixel became wrong
    assert changes == {"fixed": 2, "broken": 1, "changed": 3}


# ---- in the app: a converted Cityscapes model on a CamVid frame -------------------------------------------

@pytest.fixture(scope="module")
def models_folder(tmp_path_factory):
    import ocr_viz.convert

    folder = tmp_path_factory.mktemp("models")
    assert ocr_viz.convert.main([str(W18S), "--out", str(folder / "w18s_cityscapes.safetensors")]) == 0
    return folder


@NEEDS_FIXTURE
def test_a_cityscapes_model_on_a_camvid_frame_scores_mapped_classes_only_and_says_so(models_folder, monkeypatch):
    from app_helpers import figure_titles, open_page, problems, start

    from ocr_viz.app import gallery, session

    monkeypatch.setenv("OCR_VIZ_MODELS", str(models_folder))
    at = start()
    at.radio(key="widget." + session.MODEL).set_value(session.CONVERTED + "w18s_cityscapes.safetensors").run()
    current = at.session_state[session.CURRENT]
    assert len(current.classes) == 19 and current.truth is None  # never CamVid's label k as Cityscapes' class k
    assert current.ground is not None and not current.ground.map.exact

    open_page(at, "segmentation")
    assert problems(at) == []
    titles = figure_titles(at)
    assert "ground truth (CamVid)" in titles and any("read in CamVid's classes" in t for t in titles)
    notes = " ".join(i.value for i in at.info)
    assert "Building = building + wall" in notes and "Bicyclist = rider + motorcycle + bicycle" in notes
    # the score, recomputed from the table's dict and the label file, independently of ClassMap
    labels = gallery.read_ground_truth(gallery.find(current.image_key).label_path, current.arrays.image.shape[1::-1])
    to_camvid = {CITYSCAPES.index(c): CAMVID_CLASSES.index(k) for k, cs in class_maps.CAMVID_CITYSCAPES.items() for c in cs}
    pred = np.vectorize(to_camvid.get)(current.arrays.pred)
    valid = labels != IGNORE_INDEX
    accuracy = (pred[valid] == labels[valid]).mean()
    shown = next(m.value for m in at.markdown if "pixel accuracy" in m.value)
    assert f"**{accuracy:.1%}**" in shown and "scored on CamVid's classes that map" in shown

    open_page(at, "context")
    assert problems(at) == []
    assert any("became right" in m.value and "in CamVid's classes" in m.value for m in at.markdown)
    open_page(at, "relation")
    assert problems(at) == [] and any("Own class: counted on the CamVid classes" in c.value for c in at.caption)
    open_page(at, "relation_truth")  # (the lecture runs on this model in test_official_app)
    assert problems(at) == []


@NEEDS_FIXTURE
def test_the_relation_counts_own_class_only_on_one_to_one_classes(models_folder):
    """Through the table, a CamVid Car cell has no own region (car, truck, bus, train): only the one-to-one
    classes get a truth row; a cell counts where its label is such a class."""
    import ocr_viz
    from ocr_viz.analysis import relation
    from ocr_viz.app import gallery
    from ocr_viz.model.arrays import run

    model, meta = ocr_viz.load_model(models_folder / "w18s_cityscapes.safetensors")
    entry = gallery.find(gallery.default_image())
    arrays = run(model, ocr_viz.open_image(entry.path), "ocr")
    labels = gallery.read_ground_truth(entry.label_path, arrays.image.shape[1::-1])
    ground, _ = class_maps.ground_truth(labels, meta["classes"])
    summary = relation.image_summary(arrays, meta["classes"], ground.model_labels)
    counted = {name for name, row in summary["absolute"]["per_class"].items() if row["top1_truth"] is not None}
    one_to_one = {class_maps.CAMVID_CITYSCAPES[k][0] for k in ground.map.one_to_one()}
    assert counted and counted <= one_to_one


@NEEDS_FIXTURE
def test_evaluate_scores_camvid_labels_for_a_cityscapes_model_through_the_table(models_folder, tmp_path):
    """`python -m ocr_viz.evaluate` on CamVid labels: per-class IoU in CamVid's classes, recomputed here
    from the model's own 19-class prediction collapsed by the table's dict in numpy."""
    import shutil

    import torch

    import ocr_viz
    from ocr_viz.data.datasets import read_pair
    from ocr_viz.training import evaluate

    samples = Path(__file__).resolve().parents[1] / "assets" / "samples" / "camvid"
    for folder in ("test", "testannot"):
        (tmp_path / folder).mkdir()
    shutil.copy(samples / "0001TP_008550.jpg", tmp_path / "test" / "a.jpg")
    shutil.copy(samples / "0001TP_008550.png", tmp_path / "testannot" / "a.png")
    path = models_folder / "w18s_cityscapes.safetensors"
    result = evaluate.main([str(path), "--data", str(tmp_path), "--no-progress", "--threads", "1"])
    assert list(result["per_class_iou"]) == list(CAMVID_CLASSES) and "Building" in result["class_map"]["scored"]

    model, _ = ocr_viz.load_model(path)
    image, label = read_pair(tmp_path / "test" / "a.jpg", tmp_path / "testannot" / "a.png")
    with torch.no_grad():
        probs, _ = evaluate.class_probabilities(model.eval(), evaluate.image_tensor(image, torch.device("cpu")))
    to_camvid = {CITYSCAPES.index(c): CAMVID_CLASSES.index(k) for k, cs in class_maps.CAMVID_CITYSCAPES.items() for c in cs}
    pred = np.vectorize(to_camvid.get)(probs.argmax(1)[0].numpy())
    valid = label != IGNORE_INDEX
    for k, name in enumerate(CAMVID_CLASSES):
        inter = ((pred == k) & (label == k) & valid).sum()
        union = (((pred == k) | (label == k)) & valid).sum()
        assert result["per_class_iou"][name] == (None if union == 0 else pytest.approx(inter / union, abs=1e-12)), name
    assert result["pixel_accuracy"] == pytest.approx((pred[valid] == label[valid]).mean(), abs=1e-12)


@NEEDS_FIXTURE
def test_analyze_relation_on_camvid_labels_for_a_cityscapes_model(models_folder, tmp_path):
    """The relation's own class only for one-to-one classes, the ablations in CamVid's classes, GT-OCR left out."""
    import shutil

    from ocr_viz import analyze

    samples = Path(__file__).resolve().parents[1] / "assets" / "samples" / "camvid"
    for folder in ("test", "testannot"):
        (tmp_path / "camvid" / folder).mkdir(parents=True)
    shutil.copy(samples / "0001TP_008550.jpg", tmp_path / "camvid" / "test" / "a.jpg")
    shutil.copy(samples / "0001TP_008550.png", tmp_path / "camvid" / "testannot" / "a.png")
    result = analyze.main(["relation", models_folder / "w18s_cityscapes.safetensors", "--data", tmp_path / "camvid",
                           "--no-fcn", "--no-progress", "--long-side", "320", "--out", tmp_path / "r.json"])
    one_to_one = {class_maps.CAMVID_CITYSCAPES[k][0] for k in result["class_map"]["relation_classes"]}
    rows = result["relation"]["absolute"]["per_class"]
    assert {c for c, row in rows.items() if row["top1_truth"] is not None} <= one_to_one
    assert {"building", "car", "rider"}.isdisjoint(c for c, row in rows.items() if row["top1_truth"] is not None)
    keys = [r["key"] for r in result["ablations"]["rows"]]
    assert "ocr" in keys and "uniform" in keys and not {"gt_regions", "gt_ocr"} & set(keys)
    ocr = next(r for r in result["ablations"]["rows"] if r["key"] == "ocr")
    assert list(ocr["per_class_iou"]) == list(CAMVID_CLASSES)
    defined = [v for v in ocr["per_class_iou"].values() if v is not None]
    assert ocr["miou"] == pytest.approx(sum(defined) / len(defined))  # the no-counterpart column has no IoU of its own
