"""Copy a trained checkpoint into the product: fp16 weights (BatchNorm statistics stay
fp32) and, for heads trained on a frozen shipped backbone, the head's tensors only.

    python -m ocr_viz.ship runs/ocr/final.safetensors assets/weights/ocr.safetensors
    python -m ocr_viz.ship runs/fcn/final.safetensors assets/weights/fcn.safetensors \\
        --backbone-from assets/weights/ocr.safetensors
    python -m ocr_viz.ship runs/ocr_long/final.safetensors assets/weights/ocr.safetensors --name ocr \\
        --ancestors runs/ocr/final.safetensors runs/ocr_paper_widths/final.safetensors

--ancestors: the checkpoints this run was fine-tuned from, oldest first; their recipes and training
records go into the metadata (key "lineage"), since a fine-tune's own recipe names only its parent.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ocr_viz.model import checkpoints


def lineage_entry(path: str) -> dict:
    """What a fine-tune's ancestor was and how it was trained (its own lineage first, if it has one)."""
    _, meta = checkpoints.read(path)
    return {"name": meta.get("name"), "file": Path(path).name, "recipe": meta.get("recipe"),
            "training": meta.get("training"), "lineage": meta.get("lineage", [])}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source")
    p.add_argument("target")
    p.add_argument("--fp32", action="store_true", help="keep fp32 weights")
    p.add_argument("--backbone-from", help="a shipped checkpoint holding this model's (frozen) backbone")
    p.add_argument("--name", help="the name recorded in the metadata (default: the source's)")
    p.add_argument("--ancestors", nargs="+", default=[], help="checkpoints this one was fine-tuned from, oldest first")
    args = p.parse_args(argv)
    model, meta = checkpoints.load(args.source)
    meta = {**meta, "precision": "fp32" if args.fp32 else "fp16"}
    if args.name:
        meta["name"] = args.name
    if args.ancestors:
        meta["lineage"] = [lineage_entry(a) for a in args.ancestors]
    checkpoints.save(model, args.target, meta, half=not args.fp32, backbone_from=args.backbone_from)
    print(f"wrote {args.target}")


if __name__ == "__main__":
    main()
