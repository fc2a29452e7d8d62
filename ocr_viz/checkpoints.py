"""Checkpoints: safetensors (tensors only, nothing executed on load) plus JSON metadata
under the key "ocr_viz": the architecture, classes and palette, normalisation,
training recipe and metrics."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_bytes
from safetensors.torch import safe_open, save_file
from torch import nn

from . import models
from .segmentor import Segmentor

META_KEY = "ocr_viz"


class CheckpointError(ValueError):
    """A file that is not a usable ocr_viz checkpoint; the message says why."""


def save(model: Segmentor, path: str | Path, meta: dict, half: bool = False) -> None:
    """Write weights (fp16 if `half`; BatchNorm statistics stay fp32) and metadata."""
    state = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu().contiguous()
        if half and v.is_floating_point() and "running_" not in k:
            v = v.half()
        state[k] = v
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata={META_KEY: json.dumps(meta)})


def read(source: str | Path | bytes) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors, metadata) from a path or the bytes of an upload; never unpickles."""
    try:
        if isinstance(source, (bytes, bytearray)):
            tensors = load_bytes(bytes(source))
            header_len = int.from_bytes(source[:8], "little")
            header = json.loads(source[8 : 8 + header_len])
            raw_meta = header.get("__metadata__", {})
        else:
            with safe_open(str(source), framework="pt") as fh:
                raw_meta = fh.metadata() or {}
                tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except (SafetensorError, ValueError, OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"not a readable safetensors file ({e})") from e
    if META_KEY not in raw_meta:
        raise CheckpointError(
            f"safetensors file has no '{META_KEY}' metadata, so its architecture is unknown; "
            "save checkpoints with ocr_viz.checkpoints.save"
        )
    try:
        meta = json.loads(raw_meta[META_KEY])
    except json.JSONDecodeError as e:
        raise CheckpointError(f"the '{META_KEY}' metadata is not valid JSON ({e})") from e
    if not isinstance(meta, dict) or "arch" not in meta:
        raise CheckpointError("the checkpoint metadata has no 'arch' entry")
    return tensors, meta


def check_compatible(model: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Raise a CheckpointError naming every missing, unexpected and mis-shaped tensor."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    shapes = [
        f"{k}: file {tuple(tensors[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in tensors and tensors[k].shape != v.shape
    ]
    if missing or unexpected or shapes:
        def show(items):
            return ", ".join(items[:8]) + (f" (+{len(items) - 8} more)" if len(items) > 8 else "")

        parts = [f"{len(missing)} missing: {show(missing)}" if missing else "",
                 f"{len(unexpected)} unexpected: {show(unexpected)}" if unexpected else "",
                 f"{len(shapes)} with other shapes: {show(shapes)}" if shapes else ""]
        raise CheckpointError("checkpoint does not match its architecture; " + "; ".join(p for p in parts if p))


def load(source: str | Path | bytes, device: str | torch.device = "cpu") -> tuple[Segmentor, dict]:
    """Build the architecture named in the metadata and load the weights into it (fp32)."""
    tensors, meta = read(source)
    try:
        model = models.build(meta["arch"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"the checkpoint's architecture cannot be built: {e}") from e
    check_compatible(model, tensors)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in tensors.items()})
    return model.to(device).eval(), meta
