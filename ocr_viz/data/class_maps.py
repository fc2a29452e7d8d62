"""Ground truth of one dataset for a model of another: which label classes mean the same as which
model classes, by name, in explicit tables.

A labelled image carries its dataset's classes (the gallery's and CamVid's labels: CamVid's 11), a
model carries its own (a converted Cityscapes release: 19). Label k means class k only when both
name the same classes in the same order. Otherwise the labels are read through a table below, and
only the classes it maps are scored; without a table there is no ground truth for that model.
Every page and command that uses ground truth asks `ground_truth_map` (through `ground_truth`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .classes import CAMVID_CLASSES, DATASETS, IGNORE_INDEX, dataset_table

# CamVid's 11 classes (SegNet's split) are groups of the 32 classes CamVid was labelled with; the
# grouping usually given for them (e.g. MathWorks' CamVid example; SegNet's authors did not publish
# theirs) decides the merges: Building = Building, Wall, Bridge, Tunnel, Archway; Tree = Tree,
# VegetationMisc (grass, bushes); SignSymbol = SignSymbol, Misc_Text, TrafficLight; Car = Car,
# SUVPickupTruck, Truck_Bus, Train, OtherMoving; Pedestrian = Pedestrian, Child, CartLuggagePram,
# Animal; Bicyclist = Bicyclist, MotorcycleScooter (the rider and the bicycle labelled as one).
# Cityscapes draws its lines elsewhere (wall apart from building, rider apart from bicycle), so
# several of its classes map to one CamVid class. Terrain (grass, soil, sand) goes to Tree: CamVid
# labels grass VegetationMisc; soil at a road's side (CamVid's RoadShoulder, in Pavement) is the part
# this table scores wrong. Every class of both datasets has a counterpart here.
CAMVID_CITYSCAPES = {
    "Sky": ("sky",),
    "Building": ("building", "wall"),
    "Pole": ("pole",),
    "Road": ("road",),
    "Pavement": ("sidewalk",),
    "Tree": ("vegetation", "terrain"),
    "SignSymbol": ("traffic sign", "traffic light"),
    "Fence": ("fence",),
    "Car": ("car", "truck", "bus", "train"),
    "Pedestrian": ("person",),
    "Bicyclist": ("rider", "bicycle", "motorcycle"),
}

# (labels' dataset, model's dataset) -> {label class: the model classes it covers}. A label class
# missing from a table is not scored; a model class in no entry has no counterpart (a pixel it
# predicts is wrong wherever the labels name a scored class).
TABLES = {("camvid", "cityscapes"): CAMVID_CITYSCAPES}

NOT_SCORED = 255  # a label pixel outside the scored classes (unlabelled, or a class the table leaves out)


def dataset_of(classes) -> str | None:
    """The dataset (ocr_viz/data/tables) whose class names these are, in this order (letter case aside)."""
    names = [str(c).casefold() for c in classes]
    for name, k in DATASETS.items():
        if k == len(names) and [c.casefold() for c in dataset_table(name)["classes"]] == names:
            return name
    return None


@dataclass(frozen=True)
class ClassMap:
    """How labels of one dataset score a model of another (or of the same: `exact`).

    Scored classes are named as in the labels; `from_labels[k]` is label class k's scored index (-1:
    not scored), `from_model[j]` model class j's (-1: no counterpart)."""

    labels_title: str
    model_title: str
    scored: tuple[str, ...]
    from_labels: tuple[int, ...]
    from_model: tuple[int, ...]
    model_classes: tuple[str, ...]
    exact: bool
    palette: tuple = ()  # the scored classes' colours in the labels' dataset (a table's map; exact: the model's)

    @property
    def other(self) -> int:
        """The scored-space value of a prediction with no counterpart: never a label's value."""
        return len(self.scored)

    def labels(self, truth: np.ndarray) -> np.ndarray:
        """(H,W) labels -> scored indices; unlabelled pixels and unscored classes -> NOT_SCORED."""
        lut = np.full(256, NOT_SCORED, dtype=np.int64)
        lut[: len(self.from_labels)] = [NOT_SCORED if s < 0 else s for s in self.from_labels]
        return lut[np.clip(np.asarray(truth, dtype=np.int64), 0, 255)]

    def predictions(self, pred: np.ndarray) -> np.ndarray:
        """(H,W) model classes -> scored indices; a class without counterpart -> `other`."""
        lut = np.array([self.other if s < 0 else s for s in self.from_model], dtype=np.int64)
        return lut[np.asarray(pred, dtype=np.int64)]

    def model_labels(self, truth: np.ndarray) -> np.ndarray:
        """(H,W) labels -> the model's class indices where a label class and a model class map only to
        each other; elsewhere -1. What statistics per model class (the relation's own region) can use."""
        lut = np.full(256, -1, dtype=np.int64)
        for k, s in enumerate(self.from_labels):
            models = [j for j, t in enumerate(self.from_model) if t == s] if s >= 0 else []
            if len(models) == 1 and self.from_labels.count(s) == 1:
                lut[k] = models[0]
        return lut[np.clip(np.asarray(truth, dtype=np.int64), 0, 255)]

    def groups(self) -> list[tuple[str, list[str]]]:
        """(scored class, the model classes mapped to it), in the scored order."""
        return [(name, [self.model_classes[j] for j, s in enumerate(self.from_model) if s == i])
                for i, name in enumerate(self.scored)]

    def one_to_one(self) -> list[str]:
        """The scored classes that are one model class each (the ones `model_labels` keeps)."""
        return [name for name, models in self.groups() if len(models) == 1]

    def no_counterpart(self) -> list[str]:
        return [self.model_classes[j] for j, s in enumerate(self.from_model) if s < 0]

    def note(self) -> str:
        """What is scored, in words for the page: the merges and the classes left out."""
        if self.exact:
            return ""
        merged = [f"{name} = {' + '.join(models)}" for name, models in self.groups() if len(models) > 1]
        same = [f"{name} = {models[0]}" for name, models in self.groups() if len(models) == 1]
        unscored = [name for name, models in self.groups() if not models]
        text = (f"The {self.labels_title} labels are read in the model's {self.model_title} classes by name "
                f"(ocr_viz/data/class_maps.py), and only the {len(self.scored) - len(unscored)} classes that map are "
                f"scored: {', '.join(same)}; merged: {', '.join(merged) or 'none'}.")
        if unscored:
            text += f" {self.labels_title} classes with no counterpart, not scored: {', '.join(unscored)}."
        missing = self.no_counterpart()
        text += (f" {self.model_title} classes with no {self.labels_title} counterpart (counted wrong where predicted "
                 f"on a scored pixel): {', '.join(missing)}." if missing else
                 f" Every {self.model_title} class has a counterpart.")
        return text


def identity(classes, title: str) -> ClassMap:
    k = tuple(range(len(classes)))
    return ClassMap(title, title, tuple(str(c) for c in classes), k, k, tuple(str(c) for c in classes), True)


def ground_truth_map(model_classes, truth_classes=CAMVID_CLASSES) -> ClassMap | None:
    """How labels of `truth_classes` score a model of `model_classes`: identity when both name the same
    classes in the same order, the table by name when both are known datasets with one, else None."""
    model_classes, truth_classes = [str(c) for c in model_classes], [str(c) for c in truth_classes]
    truth_name = dataset_of(truth_classes)
    if [c.casefold() for c in model_classes] == [c.casefold() for c in truth_classes]:
        return identity(model_classes, title(truth_name))
    model_name = dataset_of(model_classes)
    table = TABLES.get((truth_name, model_name))
    if table is None:
        return None
    scored = tuple(name for name in truth_classes if name in table)
    model_index = {c.casefold(): j for j, c in enumerate(model_classes)}
    from_model = [-1] * len(model_classes)
    for i, name in enumerate(scored):
        for c in table[name]:
            from_model[model_index[c.casefold()]] = i
    from_labels = tuple(scored.index(name) if name in scored else -1 for name in truth_classes)
    colours = dict(zip(dataset_table(truth_name)["classes"], map(tuple, dataset_table(truth_name)["palette"])))
    return ClassMap(title(truth_name), title(model_name), scored, from_labels, tuple(from_model),
                    tuple(model_classes), False, tuple(colours[name] for name in scored))


def title(dataset: str | None) -> str:
    """A dataset's short name for sentences ("CamVid", "Cityscapes")."""
    if dataset is None:
        return "another dataset"
    return dataset_table(dataset)["title"].split(" (")[0]


def no_map_reason(model_classes, truth_classes=CAMVID_CLASSES) -> str:
    """Why labels of `truth_classes` cannot score a model of `model_classes` (ground_truth_map gave None)."""
    from .classes import truth_mismatch

    truth, model = dataset_of(truth_classes), dataset_of(model_classes)
    tables = ", ".join(f"{title(a)} <-> {title(b)}" for a, b in TABLES)
    return (f"{truth_mismatch(model_classes, truth_classes, title(truth))}; and there is no table that maps "
            f"{title(truth)} classes to {title(model) if model else 'these'} classes by name (tables: {tables})")


@dataclass(frozen=True)
class GroundTruth:
    """An image's labels (its dataset's class indices, IGNORE_INDEX unlabelled) read for one model."""

    labels: np.ndarray
    map: ClassMap

    @property
    def classes(self) -> list[str]:
        """The scored classes, named as in the labels."""
        return list(self.map.scored)

    @property
    def scored_labels(self) -> np.ndarray:
        return self.map.labels(self.labels)

    @property
    def drawn_labels(self) -> np.ndarray:
        """scored_labels with the unscored pixels as len(classes): a label figure's last, "unlabelled" entry."""
        labels = self.scored_labels
        return np.where(labels == NOT_SCORED, len(self.map.scored), labels)

    @property
    def model_labels(self) -> np.ndarray:
        """The labels as the model's class indices (exact: all; through a table: the one-to-one classes), -1 elsewhere."""
        if self.map.exact:
            return np.where(self.labels < len(self.map.scored), self.labels, -1)
        return self.map.model_labels(self.labels)

    def score(self, pred: np.ndarray) -> dict:
        """Pixel accuracy, mean IoU over the scored classes present, per-class IoU, of a model prediction."""
        return scores(self.map.predictions(pred), self.scored_labels, len(self.map.scored))

    def changes(self, before: np.ndarray, after: np.ndarray) -> dict:
        """Of the pixels whose scored class changed from `before` to `after` (model predictions), how many
        became right and how many became wrong; unscored pixels left out."""
        b, a, t = self.map.predictions(before), self.map.predictions(after), self.scored_labels
        valid = (b != a) & (t != NOT_SCORED)
        return {"fixed": int((valid & (a == t)).sum()), "broken": int((valid & (b == t)).sum()),
                "changed": int((b != a).sum())}


def scores(pred: np.ndarray, truth: np.ndarray, num_classes: int) -> dict:
    """Pixel accuracy and IoU over classes 0..num_classes-1 of predictions that may hold other values
    (a class without counterpart: wrong for every labelled pixel); truth NOT_SCORED pixels ignored."""
    valid = truth != NOT_SCORED
    p, t = np.asarray(pred, dtype=np.int64)[valid], np.asarray(truth, dtype=np.int64)[valid]  # uint8 labels: no wrap
    p = np.where((p >= 0) & (p < num_classes), p, num_classes)  # every other value: one "no counterpart" column
    k = num_classes + 1
    confusion = np.bincount(t * k + p, minlength=k * k).reshape(k, k)[:num_classes]
    intersection = confusion[:, :num_classes].diagonal()
    union = confusion.sum(1) + confusion[:, :num_classes].sum(0) - intersection
    present = union > 0
    iou = np.where(present, intersection / np.maximum(union, 1), np.nan)
    return {"pixel_accuracy": float((p == t).mean()) if t.size else float("nan"),
            "mean_iou": float(np.nanmean(iou)) if present.any() else float("nan"), "iou": iou}


def ground_truth(labels: np.ndarray | None, model_classes, truth_classes=CAMVID_CLASSES) -> tuple[GroundTruth | None, str]:
    """(the labels read for the model, "") or (None, why not): the one path to ground truth."""
    if labels is None:
        return None, ""
    table = ground_truth_map(model_classes, truth_classes)
    if table is None:
        return None, no_map_reason(model_classes, truth_classes)
    return GroundTruth(np.asarray(labels), table), ""


__all__ = ["CAMVID_CITYSCAPES", "TABLES", "ClassMap", "GroundTruth", "ground_truth", "ground_truth_map",
           "no_map_reason", "dataset_of", "scores", "IGNORE_INDEX"]
