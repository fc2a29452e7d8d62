"""Checks on what users upload, before anything is built from it.

A checkpoint's metadata names the architecture to build, so a hostile or broken file could ask
for an enormous model. The architecture is therefore built on PyTorch's "meta" device (shapes
only, no memory) and compared with the file's tensors first; only a file whose tensors match
it is loaded for real, and its size is bounded by the upload limit. Safetensors files hold
tensors and JSON only: nothing in them is executed.
"""
from __future__ import annotations

import torch

from . import checkpoints, models
from .checkpoints import CheckpointError


def check_checkpoint(data: bytes) -> dict:
    """The checkpoint's metadata if its tensors match the architecture it names; else CheckpointError."""
    tensors, meta = checkpoints.read(data)
    if "backbone_from" in meta:  # a head saved without its backbone: the upload alone is not a model
        raise CheckpointError(f"this head-only checkpoint takes its backbone from {meta['backbone_from']!r}; "
                              "upload a full checkpoint")
    try:
        with torch.device("meta"):
            skeleton = models.build(meta["arch"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"the checkpoint's architecture cannot be built: {e}") from e
    checkpoints.check_compatible(skeleton, tensors)
    return meta
