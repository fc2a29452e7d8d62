"""CamVid's 11 classes (SegNet split) and the colours of the original CamVid palette."""

CAMVID_CLASSES = (
    "Sky", "Building", "Pole", "Road", "Pavement", "Tree",
    "SignSymbol", "Fence", "Car", "Pedestrian", "Bicyclist",
)
CAMVID_PALETTE = (
    (128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (60, 40, 222), (128, 128, 0),
    (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0), (0, 128, 192),
)
IGNORE_INDEX = 11  # "Unlabelled" in the label PNGs: ignored in the loss and the metrics

# The class names and colours of the datasets the released OCR models were trained on, as data
# files (ocr_viz/data/tables/NAME.json): dataset name -> its number of classes.
DATASETS = {"cityscapes": 19, "ade20k": 150, "lip": 20, "pascal_context_59": 59, "pascal_context_60": 60,
            "cocostuff": 171, "voc": 21, "camvid": 11}


def dataset_table(name: str) -> dict:
    """{"name", "title", "classes", "palette", "source"} of one dataset."""
    import json
    from pathlib import Path

    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return json.loads((Path(__file__).with_name("tables") / f"{name}.json").read_text())


def datasets_with(num_classes: int) -> list[str]:
    """The datasets whose class count is `num_classes`."""
    return [name for name, k in DATASETS.items() if k == num_classes]


def truth_mismatch(model_classes, truth_classes=CAMVID_CLASSES, truth_name: str = "CamVid") -> str | None:
    """Why labels of `truth_classes` cannot score or be drawn for a model of `model_classes`, or None
    when they can: label k means class k, so both must name the same classes in the same order
    (letter case aside). Every page and command that compares with ground truth asks this first."""
    model_classes, truth_classes = [str(c) for c in model_classes], [str(c) for c in truth_classes]
    if [c.casefold() for c in model_classes] == [c.casefold() for c in truth_classes]:
        return None
    if len(model_classes) != len(truth_classes):
        return (f"the model predicts {len(model_classes)} classes and the {truth_name} ground truth has "
                f"{len(truth_classes)}, so its labels cannot be compared with the model's")
    k, ours, theirs = next((k, a, b) for k, (a, b) in enumerate(zip(model_classes, truth_classes))
                           if a.casefold() != b.casefold())
    return (f"the model's classes are not those of the {truth_name} ground truth (class {k} is {ours!r} for the "
            f"model, {theirs!r} in the labels), so its labels cannot be compared with the model's")
