"""Where models live: the shipped weights in assets/weights/, converted checkpoints in $OCR_VIZ_MODELS
(default models/ beside app.py), and the suffixes of released PyTorch checkpoints."""
from __future__ import annotations

import os
from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "assets" / "weights"
OFFICIAL_SUFFIXES = (".pth", ".pt", ".tar")  # released PyTorch checkpoints: converted in memory on load


def models_dir() -> Path:
    """Where converted checkpoints live: $OCR_VIZ_MODELS, default models/ beside app.py."""
    return Path(os.environ.get("OCR_VIZ_MODELS") or Path(__file__).resolve().parents[2] / "models")


def converted_models() -> list[Path]:
    """Every .safetensors file in models_dir(), by name."""
    folder = models_dir()
    return sorted(folder.glob("*.safetensors")) if folder.is_dir() else []


def shipped_path(name: str) -> Path:
    return WEIGHTS_DIR / f"{name}.safetensors"
