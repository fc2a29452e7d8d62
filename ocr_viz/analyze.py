"""Command: measure what a model does over a labelled set (the code is in ocr_viz.analysis).

    python -m ocr_viz.analyze relation ocr                        # shipped model, CamVid test, 233 images
    python -m ocr_viz.analyze relation ocr --every 12 --out /tmp/relation.json
    python -m ocr_viz.analyze relation converted.safetensors --data cityscapes_val --no-fcn
    torchrun --nproc_per_node 8 -m ocr_viz.analyze relation converted.safetensors --data ade20k_val --no-fcn

relation: the statistics of w_ik (Eq. 5) over every image (entropy against log K, alignment of
argmax_k w_ik with the ground truth and the prediction, the rank of the own class, the same for
w_ik divided by its image mean, w against m~) and the paper's ablations over the whole set
(OCR, soft regions alone, uniform w, GT regions with the model's w, GT-OCR, no context = the
FCN head). --data is a CamVid-layout root (test/ + testannot/) or a folder with images/ and
masks/ (single-channel PNGs of class indices in the model's class table; others are ignored).
Writes JSON (default assets/analysis/relation_<model name>.json), which the app's page
"What the relation really does" reads for the checkpoint with the same weights. Under torchrun
(--device, --backend as in training) each process takes every world-th image and rank 0 sums
the counts and writes the JSON: counts equal to one process's, float sums up to their order.

The JSON: kind ("relation"), command, model {name, source, head, trained, weights_digest
(sha256 of the file, 16 hex digits)}, data {root, layout, every, limit}, classes, images,
input_long_side, grid [h, w] (of the set's last image), seconds_per_image (process seconds),
processes, torch, machine, and
  relation: images, cells, labelled_cells, chance_top1 (1/K), chance_mean_rank ((K+1)/2),
    entropy {mean, log_k, histogram (counts of cells), edges, per_class {class: mean}},
    m_tilde {top1_m_tilde, top1_soft_region, spatial_correlation, spatial_correlation_per_class},
    absolute and relative (w_ik, and w_ik / its image mean) each {top1_truth, top1_pred,
      mean_rank, rank_histogram (cells with rank 1..K), argmax_share (K), per_class {class:
      {cells, top1_truth, mean_rank, top1_pred}}, versus_truth and versus_pred (K x K counts;
      rows: true / predicted class, columns: argmax_k)};
  ablations: scored_at, no_context (what it is, or null), rows [{key, name, meaning, miou,
    pixel_accuracy, per_class_iou}] in the order no_context, soft_regions, uniform, ocr,
    gt_regions, gt_ocr.
Shares are fractions (0-1). Statistics are per feature cell; a cell's ground-truth class is
the class of at least half of its pixels. Labels are class indices of the model's table
(for Cityscapes: train IDs, 255 ignored).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
from pathlib import Path

import torch

from ocr_viz.analysis import relation
from ocr_viz.data.class_maps import ground_truth_map, no_map_reason
from ocr_viz.data.classes import truth_mismatch
from ocr_viz.model.api import load_model
from ocr_viz.training import distributed


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m ocr_viz.analyze", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="analysis", required=True)
    r = sub.add_parser("relation", help="statistics of the relation w_ik and the ablations over a labelled set")
    r.add_argument("model", help="a shipped model name (ocr) or a .safetensors checkpoint with an OCR head")
    r.add_argument("--data", default=os.environ.get("OCR_VIZ_DATA", "../shared/data/camvid"),
                   help="CamVid root (test/ + testannot/) or a folder with images/ and masks/")
    r.add_argument("--split", default="test", help="the CamVid-layout split (default test)")
    r.add_argument("--every", type=int, default=1, help="only every N-th pair (sorted by name)")
    r.add_argument("--limit", type=int, help="only the first N pairs (after --every)")
    r.add_argument("--fcn", default="fcn", help="the no-context model (default: the shipped FCN head)")
    r.add_argument("--no-fcn", action="store_true", help="leave out the no-context row")
    r.add_argument("--long-side", type=int, default=relation.DEFAULT_LONG_SIDE, help="the app's input size (default 640)")
    r.add_argument("--out", help="JSON file (default assets/analysis/relation_<model name>.json)")
    r.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    r.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="auto: CUDA when available (under torchrun: this process's GPU), else the CPU")
    r.add_argument("--backend", default="auto", choices=("auto", "gloo", "nccl"),
                   help="process group backend under torchrun (auto: nccl on CUDA, gloo on the CPU)")
    r.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def run_relation(args: argparse.Namespace, command: str) -> dict | None:
    """The results (on rank 0; None on the other ranks under torchrun)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    pairs, layout = relation.labelled_pairs(args.data, args.split)
    pairs = pairs[:: max(args.every, 1)][: args.limit]
    ranks = distributed.start(args.device, args.backend)
    model, meta = load_model(args.model, ranks.device)
    relation.check_ocr(meta)
    # an images/ + masks/ folder is taken to be labelled with the model's own classes; CamVid's labels
    # go through the one path to ground truth (class_maps): as they are, through a table, or refused
    class_map = ground_truth_map(meta["classes"]) if layout.startswith("CamVid") else None
    if layout.startswith("CamVid") and class_map is None:
        raise SystemExit(f"error: {args.data} has CamVid's labels: {no_map_reason(meta['classes'])}. Give an "
                         "images/ + masks/ folder labelled with the model's classes.")
    if class_map is not None and not class_map.exact and ranks.main:
        print(class_map.note() + " The relation's own-class counts use the classes that are one model class each: "
              + ", ".join(class_map.one_to_one()) + "; GT regions and GT-OCR are left out.", file=sys.stderr)
    fcn = None
    if not args.no_fcn:
        fcn, fcn_meta = load_model(args.fcn, device=ranks.device)
        if truth_mismatch(fcn_meta["classes"], meta["classes"]):
            if ranks.main:
                print(f"no-context row left out: {args.fcn!r} has other classes than the model", file=sys.stderr)
            fcn = None
    indices = distributed.shard(list(range(len(pairs))), ranks)
    counts = relation.count_set(model, meta, [pairs[i] for i in indices], fcn, progress=ranks.main and not args.no_progress,
                                long_side=args.long_side, indices=indices, class_map=class_map)
    parts = distributed.gather(counts, ranks)
    distributed.finish(ranks)
    if not ranks.main:
        return None
    for part in parts[1:]:
        counts.merge(part)
    result = {
        "kind": "relation", "command": command,
        "model": {"name": meta.get("name", Path(args.model).stem), "source": str(args.model), "head": meta["arch"]["head"],
                  "trained": bool(meta.get("trained")), "weights_digest": relation.model_digest(model)},
        "data": {"root": str(args.data), "layout": layout, "every": args.every, "limit": args.limit},
    }
    result |= relation.set_results(counts, list(meta["classes"]), args.long_side, relation.no_context_text(model, fcn),
                                   class_map)
    result["processes"] = ranks.world
    result["torch"] = torch.__version__
    result["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, {ranks.device}"
    out = Path(args.out) if args.out else relation.default_out(result["model"]["name"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(relation.format_report(result), flush=True)
    print(f"wrote {out}", flush=True)
    return result


def main(argv=None) -> dict:
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    return run_relation(parse_args(argv), "python -m ocr_viz.analyze " + shlex.join(argv))


if __name__ == "__main__":
    main()
