"""Where the app's images come from: the shipped samples (CamVid test frames with their label
maps, and photos without ground truth) and, when configured, a CamVid-layout dataset folder
whose test images come with ground truth.

Each image has a key that fits in a URL ("sample:leuvenA.jpg", "camvid:0001TP_008550"), so a
copied link names the same image. Keys are looked up in these lists, never turned into paths,
so a link cannot point the app at an arbitrary file.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from ocr_viz.data.datasets import camvid_pairs

ROOT = Path(__file__).resolve().parents[2]
SAMPLES_DIR = ROOT / "assets" / "samples"  # photos without ground truth (OpenCV samples)
FRAMES_DIR = SAMPLES_DIR / "camvid"  # CamVid test frames STEM.jpg with label maps STEM.png
FRAMES_INDEX = FRAMES_DIR / "frames.json"  # their order (the first is the default image) and notes
DATA_ENV = "OCR_VIZ_DATA"  # a CamVid root with test/ and testannot/
DEFAULT_DATA_ROOT = ROOT.parent / "shared" / "data" / "camvid"
DATASET_SPLIT = "test"  # the images the shipped model was not trained on


@dataclass(frozen=True)
class GalleryImage:
    key: str
    label: str
    path: Path
    label_path: Path | None = None  # ground-truth class indices, for dataset images
    note: str = ""  # what the image shows about the model, for the gallery's captions


@lru_cache(maxsize=1)
def _frames() -> tuple[GalleryImage, ...]:
    index = json.loads(FRAMES_INDEX.read_text()) if FRAMES_INDEX.is_file() else []
    return tuple(GalleryImage(f"sample:{item['stem']}.jpg", f"CamVid {item['stem']}", FRAMES_DIR / f"{item['stem']}.jpg",
                              FRAMES_DIR / f"{item['stem']}.png", item.get("note", ""))
                 for item in index if (FRAMES_DIR / f"{item['stem']}.jpg").is_file())


def frames() -> list[GalleryImage]:
    """The shipped CamVid test frames, each with its label map: ground truth on a fresh install."""
    return list(_frames())


def photos() -> list[GalleryImage]:
    """The shipped photos without ground truth."""
    return [GalleryImage(f"sample:{p.name}", f"photo {p.stem}", p) for p in sorted(SAMPLES_DIR.glob("*.jpg"))]


def samples() -> list[GalleryImage]:
    """Everything shipped: the CamVid frames (with ground truth) first, then the photos."""
    return frames() + photos()


def default_image() -> str:
    """The key of the image a fresh session shows: the first CamVid frame, so ground truth, the
    ablations and per-image IoU work without a dataset; a photo if the frames are missing."""
    shipped = samples()
    return shipped[0].key if shipped else "sample:leuvenA.jpg"


def with_ground_truth() -> list[GalleryImage]:
    """Images that have ground truth: the shipped frames, then the configured dataset's."""
    return frames() + dataset_images()


def data_root() -> Path | None:
    """The configured dataset folder, or None when there is none with a test split."""
    root = Path(os.environ.get(DATA_ENV, DEFAULT_DATA_ROOT))
    return root if (root / DATASET_SPLIT).is_dir() and (root / f"{DATASET_SPLIT}annot").is_dir() else None


@lru_cache(maxsize=4)
def _dataset_images(root: Path) -> tuple[GalleryImage, ...]:
    try:
        found = camvid_pairs(root, DATASET_SPLIT)
    except FileNotFoundError:
        return ()
    return tuple(GalleryImage(f"camvid:{image.stem}", image.stem, image, label) for image, label in found)


def dataset_images() -> list[GalleryImage]:
    root = data_root()
    return list(_dataset_images(root)) if root is not None else []


def find(key: str) -> GalleryImage | None:
    """The gallery image with this key, or None (for unknown keys, e.g. from an edited link)."""
    choices = samples() if key.startswith("sample:") else dataset_images() if key.startswith("camvid:") else []
    return next((c for c in choices if c.key == key), None)


def read_ground_truth(label_path: Path, size: tuple[int, int]) -> np.ndarray:
    """(H,W) class indices at the model's input size (width, height); nearest keeps them integers."""
    label = Image.open(label_path)
    return np.asarray(label.resize(size, Image.NEAREST) if label.size != size else label, dtype=np.int64)
