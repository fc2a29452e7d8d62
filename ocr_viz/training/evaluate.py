"""Evaluate a segmentor on CamVid at full resolution (480x360): per-class IoU, mIoU,
pixel accuracy, for the final prediction and (OCR) the soft-region head's.

    python -m ocr_viz.evaluate ocr                                    # shipped weights, 233 test images
    python -m ocr_viz.evaluate runs/ocr/final.safetensors --flip --out results.json
    python -m ocr_viz.evaluate ocr --subset first20 --threads 2       # the regression subset
    torchrun --nproc_per_node 8 -m ocr_viz.evaluate MODEL.safetensors --data cityscapes_val   # 8 GPUs
    torchrun --nproc_per_node 2 -m ocr_viz.evaluate ocr --device cpu --backend gloo

--data is a CamVid root (SegNet layout; --split) or a folder with images/ and masks/ (label PNGs
of class indices in the model's table). Under torchrun each process scores every world-th pair
and rank 0 sums the confusion matrices and writes the JSON: the same counts as one process.

Each image is normalised as in training (RGB / 255, ImageNet mean and std), optionally
resized by --scale for the forward pass; the logits are upsampled bilinearly to the
label's size before the softmax (--flip averages it with the mirrored image's).
"""
from __future__ import annotations

import argparse
import functools
import json
import operator
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ocr_viz.data.class_maps import ClassMap, ground_truth_map, no_map_reason
from ocr_viz.data.classes import CAMVID_CLASSES
from ocr_viz.data.datasets import camvid_pairs, folder_pairs, read_pair
from ocr_viz.data.transforms import normalize
from ocr_viz.model.api import load_model
from ocr_viz.model.segmentor import upsample
from . import distributed
from .metrics import ConfusionMatrix, scored_summary, summary

REGRESSION_SUBSET_SIZE = 20


def regression_subset(root: str | Path) -> list[tuple[Path, Path]]:
    """The fixed subset of the shipped-weights regression test: the first 20 test pairs, sorted by name."""
    return camvid_pairs(root, "test")[:REGRESSION_SUBSET_SIZE]


def image_tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    """(H,W,3) uint8 RGB -> (1,3,H,W) normalised, as in training."""
    return normalize(torch.from_numpy(image).permute(2, 0, 1).float().div(255.0)).unsqueeze(0).to(device)


def resized(images: torch.Tensor, scale: float) -> torch.Tensor:
    if scale == 1.0:
        return images
    h, w = images.shape[-2:]
    return F.interpolate(images, size=(max(8, round(h * scale)), max(8, round(w * scale))), mode="bilinear", align_corners=False)


def softmax_at(logits: torch.Tensor | None, size: tuple[int, int]) -> torch.Tensor | None:
    return None if logits is None else torch.softmax(upsample(logits, size), dim=1)


@torch.no_grad()
def class_probabilities(model, images: torch.Tensor, scale: float = 1.0, flip: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Softmax of the logits and of the aux logits (None if the head has none) at the input's size."""
    size = images.shape[-2:]
    x = resized(images, scale)
    logits, aux = model(x)
    probs, aux_probs = softmax_at(logits, size), softmax_at(aux, size)
    if flip:
        logits, aux = model(x.flip(-1))
        probs = (probs + softmax_at(logits, size).flip(-1)) / 2
        aux_probs = None if aux_probs is None else (aux_probs + softmax_at(aux, size).flip(-1)) / 2
    return probs, aux_probs


@dataclass
class Counts:
    """What scoring counts over some pairs: sums, so the counts of disjoint sets add up."""

    final: torch.Tensor                # (K,K) int64 confusion of the final prediction
    aux: torch.Tensor | None = None    # (K,K) of the soft regions' prediction; None: the head has none
    images: int = 0
    seconds: float = 0.0

    def __add__(self, other: "Counts") -> "Counts":
        aux = self.aux if other.aux is None else other.aux if self.aux is None else self.aux + other.aux
        return Counts(self.final + other.final, aux, self.images + other.images, self.seconds + other.seconds)


def count(model, pairs: list[tuple[Path, Path]], num_classes: int, scale: float = 1.0, flip: bool = False,
          progress: bool = False, class_map: ClassMap | None = None) -> Counts:
    """The confusion matrices of `model` (put in eval mode) over (image, label) paths; seconds
    counts the model's work (forward passes, upsampling, softmax), not file decoding. With a
    class_map that is not exact (labels of another dataset, class_maps.ground_truth_map), labels and
    predictions are read in its scored classes, num_classes = len(scored) + 1: the last column holds
    predictions of classes without counterpart."""
    if class_map is not None and not class_map.exact:
        mapped = lambda pred, label: (torch.as_tensor(class_map.predictions(np.asarray(pred))),  # noqa: E731
                                      torch.as_tensor(class_map.labels(np.asarray(label))))
    else:
        mapped = lambda pred, label: (pred, label)  # noqa: E731
    model.eval()
    device = next(model.parameters()).device
    final, aux = ConfusionMatrix(num_classes), ConfusionMatrix(num_classes)
    has_aux, seconds = False, 0.0
    for image_path, label_path in tqdm(pairs, disable=not progress, dynamic_ncols=True):
        image, label = read_pair(image_path, label_path)
        images = image_tensor(image, device)
        started = time.perf_counter()
        probs, aux_probs = class_probabilities(model, images, scale, flip)
        pred = probs.argmax(1)[0].cpu()
        seconds += time.perf_counter() - started
        final.update(*mapped(pred, label))
        if aux_probs is not None:
            has_aux = True
            aux.update(*mapped(aux_probs.argmax(1)[0].cpu(), label))
    return Counts(final.counts, aux.counts if has_aux else None, len(pairs), seconds)


def results(counts: Counts, scale: float, flip: bool, class_names) -> dict:
    """mIoU, pixel accuracy and per-class IoU (and the soft regions') from the summed counts."""
    result = {"images": counts.images, "scale": scale, "flip": flip, **scored_summary(counts.final, class_names)}
    result["aux"] = scored_summary(counts.aux, class_names) if counts.aux is not None else None
    result["seconds_per_image"] = counts.seconds / max(1, counts.images)
    return result


def evaluate(model, pairs: list[tuple[Path, Path]], scale: float = 1.0, flip: bool = False,
             class_names=CAMVID_CLASSES, progress: bool = False) -> dict:
    """Metrics of `model` (put in eval mode) over (image, label) paths, in this process;
    seconds_per_image counts the model's work, not file decoding."""
    return results(count(model, pairs, len(class_names), scale, flip, progress), scale, flip, class_names)


def format_table(result: dict) -> str:
    """Per-class IoU (and the soft regions' IoU when present), then the totals."""
    aux = result.get("aux")

    def pct(v):
        return "   -  " if v is None else f"{100 * v:6.2f}"

    lines = [f"{'class':<12}{'IoU %':>8}" + (f"{'aux IoU %':>11}" if aux else "")]
    for name, v in result["per_class_iou"].items():
        lines.append(f"{name:<12}{pct(v):>8}" + (f"{pct(aux['per_class_iou'][name]):>11}" if aux else ""))
    lines.append(f"{'mIoU':<12}{pct(result['miou']):>8}" + (f"{pct(aux['miou']):>11}" if aux else ""))
    lines.append(f"{'pixel acc.':<12}{pct(result['pixel_accuracy']):>8}" + (f"{pct(aux['pixel_accuracy']):>11}" if aux else ""))
    lines.append(f"{result['images']} images, scale {result['scale']}, flip {result['flip']}, "
                 f"{result['seconds_per_image']:.3f} s per image")
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="a shipped model name (ocr, fcn, aspp, nonlocal, baseoc) or a .safetensors path")
    p.add_argument("--data", default="../shared/data/camvid", help="CamVid root (SegNet layout), or a folder with images/ and masks/")
    p.add_argument("--split", default="test")
    p.add_argument("--scale", type=float, default=1.0, help="resize factor for the forward pass")
    p.add_argument("--flip", action="store_true", help="average with the horizontally flipped image's softmax")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--limit", type=int, help="only the first N pairs (sorted by name)")
    which.add_argument("--subset", choices=("first20",), help="first20: the regression subset (first 20 test pairs)")
    p.add_argument("--out", help="write the results as JSON here")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="auto: CUDA when available (under torchrun: this process's GPU), else the CPU")
    p.add_argument("--backend", default="auto", choices=("auto", "gloo", "nccl"),
                   help="process group backend under torchrun (auto: nccl on CUDA, gloo on the CPU)")
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def is_folder(root: str | Path) -> bool:
    """Whether root is an images/ + masks/ folder (else a CamVid root)."""
    return (Path(root) / "images").is_dir() and (Path(root) / "masks").is_dir()


def data_pairs(root: str | Path, split: str) -> list[tuple[Path, Path]]:
    """(image, label) paths sorted by name: root/images + root/masks when root has them, else CamVid's split."""
    return folder_pairs(root) if is_folder(root) else camvid_pairs(root, split)


def main(argv=None) -> dict | None:
    """The results (on rank 0; None on the other ranks under torchrun)."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.subset == "first20":
        args.split, pairs = "test", regression_subset(args.data)
    else:
        pairs = data_pairs(args.data, args.split)[: args.limit]
    ranks = distributed.start(args.device, args.backend)
    model, meta = load_model(args.checkpoint, ranks.device)
    classes = meta.get("classes", CAMVID_CLASSES)
    # an images/ + masks/ folder is taken to be labelled with the model's own classes; CamVid's labels
    # go through the one path to ground truth (class_maps): as they are, through a table, or refused
    class_map = None if args.subset is None and is_folder(args.data) else ground_truth_map(classes)
    if class_map is None and not (args.subset is None and is_folder(args.data)):
        raise SystemExit(f"error: the labels in {args.data} are CamVid's: {no_map_reason(classes)}.")
    mapped = class_map is not None and not class_map.exact
    if mapped and ranks.main:
        print(class_map.note(), flush=True)
    mine = count(model, distributed.shard(pairs, ranks), len(class_map.scored) + 1 if mapped else len(classes),
                 args.scale, args.flip, progress=ranks.main and not args.no_progress, class_map=class_map)
    total = functools.reduce(operator.add, distributed.gather(mine, ranks))
    distributed.finish(ranks)
    if not ranks.main:
        return None
    result = {"checkpoint": str(args.checkpoint), "split": args.split, "trained": meta.get("trained")}
    result |= results(total, args.scale, args.flip, list(class_map.scored) if mapped else classes)
    if mapped:
        result["class_map"] = {"labels": class_map.labels_title, "model": class_map.model_title,
                               "scored": dict(class_map.groups()), "note": class_map.note()}
    result["processes"] = ranks.world
    result["torch"] = torch.__version__
    result["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, {ranks.device}"
    if any(image.suffix.lower() in (".jpg", ".jpeg") for image, _ in pairs):
        result["note"] = "images decoded from JPEG files, not CamVid's original PNGs"
    print(format_table(result), flush=True)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.out}", flush=True)
    return result


if __name__ == "__main__":
    main()
