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
