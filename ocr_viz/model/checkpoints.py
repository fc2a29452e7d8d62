"""Checkpoints: safetensors (tensors only, nothing executed on load) plus JSON metadata
under the key "ocr_viz": the architecture, classes and palette, normalisation,
training recipe and metrics.

A head trained on another checkpoint's frozen backbone may be saved without the
backbone: its metadata then names that file ("backbone_from", looked up beside it) and
the SHA-256 of its backbone tensors, so the comparison heads ship once, not five times."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_bytes
from safetensors.torch import safe_open, save_file
from torch import nn

from . import build
from .segmentor import Segmentor

META_KEY = "ocr_viz"


class CheckpointError(ValueError):
    """A file that is not a usable ocr_viz checkpoint; the message says why."""


def storable(state: dict[str, torch.Tensor], half: bool) -> dict[str, torch.Tensor]:
    """CPU, contiguous, and fp16 if `half` (BatchNorm statistics stay fp32)."""
    out = {}
    for k, v in state.items():
        v = v.detach().cpu().contiguous()
        out[k] = v.half() if half and v.is_floating_point() and "running_" not in k else v
    return out


def backbone_digest(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 over the backbone tensors' names and fp32 values."""
    h = hashlib.sha256()
    for k in sorted(k for k in tensors if k.startswith("backbone.")):
        v = tensors[k]
        h.update(k.encode())
        h.update((v.float() if v.is_floating_point() else v).numpy().tobytes())
    return h.hexdigest()


def save(model: Segmentor, path: str | Path, meta: dict, half: bool = False, backbone_from: str | Path | None = None) -> None:
    """Write weights and metadata; with `backbone_from` (a checkpoint holding this very
    backbone), only the head's tensors are written and the metadata points there."""
    state = storable(model.state_dict(), half)
    if backbone_from is not None:
        donor, _ = read(backbone_from)
        if backbone_digest(donor) != backbone_digest(state):
            raise CheckpointError(f"the model's backbone differs from the one in {backbone_from}")
        meta = {**meta, "backbone_from": Path(backbone_from).name, "backbone_sha256": backbone_digest(donor)}
        state = {k: v for k, v in state.items() if not k.startswith("backbone.")}
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
            "save checkpoints with ocr_viz.model.checkpoints.save"
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


def with_shared_backbone(tensors: dict, meta: dict, folder: Path) -> dict[str, torch.Tensor]:
    """Add the backbone tensors of the checkpoint named by meta["backbone_from"] in `folder`."""
    name = Path(meta["backbone_from"]).name  # a bare file name: never a path out of `folder`
    donor_path = folder / name
    if not donor_path.is_file():
        raise CheckpointError(f"this head's backbone is stored in {name}, which is not in {folder}")
    donor, _ = read(donor_path)
    if backbone_digest(donor) != meta.get("backbone_sha256"):
        raise CheckpointError(f"the backbone in {donor_path} is not the one this head was trained on (SHA-256 differs)")
    return {**{k: v for k, v in donor.items() if k.startswith("backbone.")}, **tensors}


def load(source: str | Path | bytes, device: str | torch.device = "cpu", shared_folder: str | Path | None = None) -> tuple[Segmentor, dict]:
    """Build the architecture named in the metadata and load the weights into it (fp32).
    A head-only checkpoint takes its backbone from `shared_folder` (default: its own folder)."""
    tensors, meta = read(source)
    if "backbone_from" in meta:
        if shared_folder is None and isinstance(source, (bytes, bytearray)):
            raise CheckpointError("an uploaded head-only checkpoint needs its backbone file; upload a full checkpoint")
        tensors = with_shared_backbone(tensors, meta, Path(shared_folder or Path(source).parent))
    try:
        with torch.device("meta"):  # shapes only: a file cannot make us allocate a huge model
            skeleton = build.build(meta["arch"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"the checkpoint's architecture cannot be built: {e}") from e
    check_compatible(skeleton, tensors)
    model = build.build(meta["arch"])
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in tensors.items()})
    return model.to(device).eval(), meta
