"""Per-image scores of the shipped OCR model on the CamVid test split, measured the way the app
shows them (the app's trace at the model's input size, ground truth resized nearest, mean IoU over
the classes present, unlabelled pixels ignored): the basis for choosing assets/samples/camvid/.

    python scripts/choose_samples.py [CAMVID_ROOT] [--every N] [--out scores.json]

Each image's line is printed as soon as it is scored; --every N scores every N-th test image.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ocr_viz  # noqa: E402
from ocr_viz.analysis import stats  # noqa: E402
from ocr_viz.app import gallery  # noqa: E402
from ocr_viz.model import arrays  # noqa: E402
from ocr_viz.data.classes import IGNORE_INDEX  # noqa: E402
from ocr_viz.data.datasets import camvid_pairs  # noqa: E402


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", nargs="?", default=str(gallery.DEFAULT_DATA_ROOT))
    parser.add_argument("--out", help="write the rows as JSON here")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--every", type=int, default=1, help="score every N-th image of the sorted test split")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, meta = ocr_viz.load_model("ocr")
    classes = list(meta["classes"])
    rows = []
    start = time.time()
    for image_path, label_path in camvid_pairs(args.root, "test")[::args.every]:
        traced = arrays.run(model, ocr_viz.open_image(image_path), "ocr")
        truth = gallery.read_ground_truth(label_path, traced.image.shape[1::-1])
        score = stats.accuracy(traced.pred, truth, len(classes), IGNORE_INDEX)
        present = [classes[k] for k in np.unique(truth) if k < len(classes)]
        rows.append({"stem": image_path.stem, "mean_iou": round(100 * score["mean_iou"], 1),
                     "pixel_accuracy": round(100 * score["pixel_accuracy"], 1), "classes": present,
                     "iou": {classes[k]: round(100 * float(v), 1) for k, v in enumerate(score["iou"]) if v == v}})
        print(f"{image_path.stem:22s} mIoU {rows[-1]['mean_iou']:5.1f}  ({time.time() - start:.0f} s)", flush=True)
    rows.sort(key=lambda r: r["mean_iou"])
    print("sorted:")
    for r in rows:
        print(f"{r['stem']:22s} mIoU {r['mean_iou']:5.1f}  acc {r['pixel_accuracy']:5.1f}  {len(r['classes'])} classes")
    print(f"{len(rows)} images in {time.time() - start:.0f} s; median mIoU {np.median([r['mean_iou'] for r in rows]):.1f}")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
