"""Image/label folder pairs: CamVid's layout (train/ + trainannot/, ...) and a generic
images/ + masks/ pair. Labels are single-channel PNGs of class indices."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def pairs(images_dir: str | Path, masks_dir: str | Path) -> list[tuple[Path, Path]]:
    """(image, label) paths with the same stem, sorted; images may be .png or .jpg."""
    images_dir, masks_dir = Path(images_dir), Path(masks_dir)
    if not images_dir.is_dir() or not masks_dir.is_dir():
        raise FileNotFoundError(f"expected image and label folders {images_dir} and {masks_dir}")
    labels = {p.stem: p for p in masks_dir.iterdir() if p.suffix.lower() == ".png"}
    found = [(p, labels[p.stem]) for p in sorted(images_dir.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES and p.stem in labels]
    if not found:
        raise FileNotFoundError(f"no image/label pairs with matching names in {images_dir} and {masks_dir}")
    return found


def camvid_pairs(root: str | Path, split: str) -> list[tuple[Path, Path]]:
    """CamVid (SegNet layout): `split` is train, val, test or a '+'-joined list like train+val."""
    root = Path(root)
    return [p for s in split.split("+") for p in pairs(root / s, root / f"{s}annot")]


def folder_pairs(root: str | Path) -> list[tuple[Path, Path]]:
    """A generic dataset: root/images/*.{png,jpg} and root/masks/*.png."""
    return pairs(Path(root) / "images", Path(root) / "masks")


def read_pair(image_path: Path, label_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(H,W,3) uint8 RGB image and (H,W) uint8 label."""
    image = np.array(Image.open(image_path).convert("RGB"))
    label = np.array(Image.open(label_path))
    if label.ndim != 2 or label.shape != image.shape[:2]:
        raise ValueError(f"{label_path}: label must be single-channel and the image's size {image.shape[:2]}")
    return image, label


class SegmentationDataset(torch.utils.data.Dataset):
    """Holds the decoded pairs in memory (CamVid train+val is about 250 MB) and applies `transform`."""

    def __init__(self, pair_paths: list[tuple[Path, Path]], transform=None):
        self.paths = pair_paths
        self.items = [read_pair(i, m) for i, m in pair_paths]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, label = self.items[index]
        image = torch.from_numpy(image).permute(2, 0, 1).float() / 255.0
        label = torch.from_numpy(label.astype(np.int64))
        if self.transform is not None:
            image, label = self.transform(image, label)
        return image, label
