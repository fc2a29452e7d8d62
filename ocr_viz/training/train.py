"""Train a segmentor on CamVid (or an images/ + masks/ folder).

    python -m ocr_viz.train --head ocr --out runs/ocr                     # one CPU process
    torchrun --nproc_per_node 4 -m ocr_viz.train --head ocr --out runs/ocr  # many GPUs (or CPU + gloo)
    python -m ocr_viz.train --head aspp --init runs/ocr/final.safetensors --freeze-backbone --out runs/aspp

Loss: cross-entropy on the logits + aux_weight x cross-entropy on the soft regions M
(OCR only), both with optional median-frequency class weights and, with --ohem, over the hard
pixels only (the official code's OHEM). SGD with momentum,
linear warm-up, then poly decay. `--out` holds `state.pt` (resumable, written every
`--checkpoint-every` steps), `log.jsonl` (one {"step", "loss"} line per step, rank 0's
batch loss; appended to on resume) and, at the end, `final.safetensors` with its metadata.

--amp runs the forward pass under torch.autocast in bfloat16 (the weights, the loss and the
optimizer stay float32; bf16 has float32's range, so no loss scaling), on CUDA or, when asked,
on the CPU. --time-budget SECONDS fits the run to a wall-clock budget: the poly schedule is
defined over steps, and its total is set once from the measured rate of steps 3-12
(0.95 x the remaining budget / seconds per step, at most --iters; rank 0's, the same on every
rank) and kept in state.pt, so a resumed run keeps it; if the budget runs out before that
total, the run stops there (the learning rate then not quite at zero). Either way it saves
state.pt and final.safetensors as at the end of --iters.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm import tqdm

from ocr_viz.data.classes import CAMVID_CLASSES, CAMVID_PALETTE, IGNORE_INDEX
from ocr_viz.data.datasets import SegmentationDataset, camvid_pairs, folder_pairs
from ocr_viz.data.transforms import MEAN, STD, TrainTransform
from ocr_viz.model import build, checkpoints
from ocr_viz.model.backbones.efficientnet_lite import load_imagenet_weights


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="JSON file of option values (flags given on the command line win)")
    p.add_argument("--head", default="ocr", choices=build.HEADS)
    p.add_argument("--mid-channels", type=int, default=None, help="head width (default: the shipped one)")
    p.add_argument("--key-channels", type=int, default=None, help="OCR / base-OC key width")
    p.add_argument("--output-stride", type=int, default=16, choices=(8, 16, 32))
    p.add_argument("--data", default="../shared/data/camvid", help="CamVid root, or a folder with images/ and masks/")
    p.add_argument("--split", default="train+val", help="CamVid splits joined by '+'")
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--scale", type=float, nargs=2, default=(0.5, 2.0))
    p.add_argument("--batch", type=int, default=8, help="per process")
    p.add_argument("--iters", type=int, default=2200)
    p.add_argument("--lr-backbone", type=float, default=0.01)
    p.add_argument("--lr-head", type=float, default=0.1)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--poly-power", type=float, default=0.9)
    p.add_argument("--aux-weight", type=float, default=0.4)
    p.add_argument("--class-weights", choices=("none", "median", "sqrt-median"), default="sqrt-median",
                   help="median-frequency weights (SegNet), or their square root (milder)")
    p.add_argument("--ohem", type=float, default=None, metavar="THRESH",
                   help="online hard example mining: train on pixels whose true-class probability < THRESH (official: 0.7)")
    p.add_argument("--ohem-min-kept", type=int, default=100_000, help="with --ohem, at least this many pixels per batch")
    p.add_argument("--init", help="checkpoint whose backbone starts this run (default: ImageNet)")
    p.add_argument("--init-head", action="store_true",
                   help="start the head from --init too (same head and widths): fine-tune a trained model")
    p.add_argument("--freeze-backbone", action="store_true", help="train the head only; backbone in eval mode")
    p.add_argument("--out", required=True)
    p.add_argument("--checkpoint-every", type=int, default=100)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="auto: CUDA when available, else the CPU")
    p.add_argument("--backend", default="auto", choices=("auto", "gloo", "nccl"),
                   help="process group backend under torchrun (auto: nccl on CUDA, gloo on the CPU)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--amp", action="store_true", help="bfloat16 autocast of the forward pass, on CUDA or the CPU (off unless given)")
    p.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                   help="stop after this many seconds of training, with the poly schedule fitted to the steps that fit")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes (0: load in this process)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if args.config:
        defaults = {a.dest: a.default for a in p._actions}
        given = {k for k, v in vars(args).items() if v != defaults.get(k)}
        for k, v in json.loads(Path(args.config).read_text()).items():
            k = k.replace("-", "_")
            if k not in vars(args):
                raise SystemExit(f"{args.config}: unknown option {k!r}")
            if k not in given:
                setattr(args, k, v)
    return args


def median_frequency_weights(labels: list[np.ndarray], num_classes: int) -> torch.Tensor:
    """SegNet's weights: median(freq) / freq_c, freq_c = pixels of c / pixels of images containing c."""
    pixels, present = np.zeros(num_classes), np.zeros(num_classes)
    for label in labels:
        counts = np.bincount(label.ravel(), minlength=num_classes + 1)[:num_classes]
        pixels += counts
        present += (counts > 0) * (label != IGNORE_INDEX).sum()
    freq = pixels / np.maximum(present, 1)
    seen = freq > 0  # the median over the classes that occur; absent classes (no pixels to weigh) get 1
    median = np.median(freq[seen]) if seen.any() else 1.0
    return torch.tensor(np.where(seen, median / np.maximum(freq, 1e-12), 1.0), dtype=torch.float32)


def learning_rate_factor(step: int, total: int, warmup: int, power: float) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return (1 - (step - warmup) / max(1, total - warmup)) ** power


PROBE = (2, 12)  # the steps after which the rate is measured: from the end of step 2 to the end of step 12
HEADROOM = 0.95  # of the remaining budget: later steps may be slower, and the final save takes time


def planned_steps(step: int, elapsed: float, budget: float, seconds_per_step: float, iters: int) -> int:
    """The total of the poly schedule under a time budget: the steps done, plus those that fit in
    HEADROOM x the rest of the budget at the measured rate, at most `iters` and at least `step`."""
    fit = int(HEADROOM * max(0.0, budget - elapsed) / max(seconds_per_step, 1e-9))
    return max(step, min(iters, step + fit))


def agree(value: float, world: int, device: torch.device) -> float:
    """Rank 0's value on every rank (DDP needs every rank to take the same number of steps)."""
    if world == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.broadcast(t, src=0)
    return float(t.item())


def ohem_cross_entropy(logits, labels, weight, thresh: float, min_kept: int):
    """Cross-entropy over the hard pixels only (OHEM, as the official OCR code trains): those whose
    true-class probability is below `thresh`, or, if fewer, the `min_kept` least confident."""
    pixel_loss = F.cross_entropy(logits, labels, weight=weight, ignore_index=IGNORE_INDEX, reduction="none")
    valid = labels != IGNORE_INDEX
    if not valid.any():
        return pixel_loss.sum()  # zero, and still part of the graph
    with torch.no_grad():
        p_true = logits.softmax(1).gather(1, labels.masked_fill(~valid, 0).unsqueeze(1)).squeeze(1)
        ranked = p_true[valid].sort().values
        threshold = max(thresh, ranked[min(min_kept, ranked.numel()) - 1].item())
        hard = valid & (p_true <= threshold)
    return pixel_loss[hard].mean()


def loss_fn(logits, aux, labels, weight, aux_weight, ohem=None):
    """ohem: None for plain (class-weighted) cross-entropy, else (thresh, min_kept)."""
    size = labels.shape[-2:]

    def ce(x):
        x = F.interpolate(x, size, mode="bilinear", align_corners=False)
        if ohem is None:
            return F.cross_entropy(x, labels, weight=weight, ignore_index=IGNORE_INDEX)
        return ohem_cross_entropy(x, labels, weight, *ohem)

    loss = ce(logits)
    return loss + aux_weight * ce(aux) if aux is not None and aux_weight > 0 else loss


def architecture(args) -> dict:
    arch = build.arch_for(args.head, output_stride=args.output_stride)
    for k in ("mid_channels", "key_channels"):
        if getattr(args, k) is not None and k in arch["head_kwargs"]:
            arch["head_kwargs"][k] = getattr(args, k)
    return arch


def choose_device(requested: str, local_rank: int) -> torch.device:
    """The device of this process: --device, with "auto" meaning this process's GPU when there is one."""
    use_cuda = requested == "cuda" or (requested == "auto" and torch.cuda.is_available())
    if not use_cuda:
        return torch.device("cpu")
    gpus = torch.cuda.device_count()
    if gpus == 0:
        raise SystemExit("--device cuda, but torch sees no GPU")
    if local_rank >= gpus:  # set_device would fail with an opaque CUDA error
        raise SystemExit(f"LOCAL_RANK {local_rank} but only {gpus} GPU(s): run at most {gpus} processes per node "
                         "with --device cuda, or use --device cpu")
    return torch.device("cuda", local_rank)


def choose_backend(requested: str, device: torch.device) -> str:
    """nccl needs CUDA tensors; gloo runs anywhere (and is the only choice on the CPU)."""
    backend = requested if requested != "auto" else ("nccl" if device.type == "cuda" else "gloo")
    if backend == "nccl" and device.type != "cuda":
        raise SystemExit("--backend nccl needs --device cuda; use gloo on the CPU")
    return backend


def setup_distributed(device: str = "auto", backend: str = "auto") -> tuple[int, int, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    chosen = choose_device(device, local)
    if chosen.type == "cuda":
        torch.cuda.set_device(chosen)
    if world > 1:
        dist.init_process_group(choose_backend(backend, chosen))
    rank = dist.get_rank() if world > 1 else 0
    return rank, world, chosen


def main(argv=None) -> Path:
    args = parse_args(argv)
    rank, world, device = setup_distributed(args.device, args.backend)
    if args.threads:
        torch.set_num_threads(args.threads)
    random.seed(args.seed + rank)
    np.random.seed(args.seed + rank)
    torch.manual_seed(args.seed)  # the same initial weights in every process
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    data = Path(args.data)
    paths = folder_pairs(data) if (data / "images").is_dir() else camvid_pairs(data, args.split)
    dataset = SegmentationDataset(paths, TrainTransform(args.crop, tuple(args.scale)))
    num_classes = len(CAMVID_CLASSES)
    weight = None
    if args.class_weights != "none":
        weight = median_frequency_weights([lab for _, lab in dataset.items], num_classes)
        weight = weight.sqrt() if args.class_weights == "sqrt-median" else weight

    arch = architecture(args)
    model = build.build(arch)
    if args.init:
        donor, _ = checkpoints.load(args.init)
        model.backbone.load_state_dict(donor.backbone.state_dict())
        if args.init_head:
            model.head.load_state_dict(donor.head.state_dict())  # strict: a different head or width fails here
    else:
        load_imagenet_weights(model.backbone)
    if "head" not in arch["feature_names"]:  # the backbone's 1x1 conv to 1280 channels feeds no loss: DDP refuses unused parameters
        model.backbone._conv_head.requires_grad_(False)
        model.backbone._bn1.requires_grad_(False)
    if args.freeze_backbone:
        model.backbone.requires_grad_(False)
    model.to(device, memory_format=torch.channels_last)  # about 25% faster convolutions on CPU here

    groups = [{"params": [p for p in model.head.parameters()], "lr": args.lr_head}]
    if not args.freeze_backbone:
        groups.append({"params": list(model.backbone.parameters()), "lr": args.lr_backbone})
    base_lrs = [g["lr"] for g in groups]
    optimizer = torch.optim.SGD(groups, lr=base_lrs[0], momentum=args.momentum, weight_decay=args.weight_decay)

    step, prior_seconds, total = 0, 0.0, args.iters
    planned = None  # the step total fitted to --time-budget, once measured
    state_path = out / "state.pt"
    if state_path.exists():  # resume
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, prior_seconds = state["step"], state.get("seconds", 0.0)
        planned = state.get("planned_steps") if args.time_budget else None
        total = planned or args.iters
        if rank == 0:
            print(f"resumed from {state_path} at step {step}", flush=True)

    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    sampler = torch.utils.data.DistributedSampler(dataset, world, rank, seed=args.seed) if world > 1 else None
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=args.batch, shuffle=sampler is None, sampler=sampler, drop_last=len(dataset) >= args.batch * world,
        num_workers=args.workers, persistent_workers=args.workers > 0, pin_memory=device.type == "cuda",
    )
    if weight is not None:
        weight = weight.to(device)

    def save_state():
        if rank == 0:
            tmp = out / "state.pt.tmp"
            seconds = prior_seconds + time.time() - started
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step, "seconds": seconds,
                        "planned_steps": planned}, tmp)
            tmp.replace(state_path)

    started = time.time()
    elapsed = lambda: prior_seconds + time.time() - started  # noqa: E731
    bar = tqdm(total=total, initial=step, disable=rank != 0 or args.no_progress, dynamic_ncols=True, mininterval=5)
    running, first, probe_started, stopped = None, step, None, None
    epoch = step // max(1, len(loader))
    ohem = None if args.ohem is None else (args.ohem, args.ohem_min_kept)
    while step < total and stopped is None:
        if sampler is not None:
            sampler.set_epoch(epoch)
        for images, labels in loader:
            if step >= total:
                break
            if args.time_budget is not None and agree(float(elapsed() >= args.time_budget), world, device):
                stopped = "time budget"
                break
            factor = learning_rate_factor(step, total, args.warmup, args.poly_power)
            for g, lr in zip(optimizer.param_groups, base_lrs):
                g["lr"] = lr * factor
            model.train()
            if args.freeze_backbone:
                model.backbone.eval()  # frozen BatchNorm statistics too
            images, labels = images.to(device, memory_format=torch.channels_last), labels.to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.amp):
                logits, aux = net(images)
            loss = loss_fn(logits.float(), None if aux is None else aux.float(), labels, weight, args.aux_weight, ohem)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
            if rank == 0:
                with (out / "log.jsonl").open("a") as log:
                    log.write(json.dumps({"step": step, "loss": loss.item()}) + "\n")
            # after loss.item(), which waits for the GPU: the rate counts whole steps
            if args.time_budget is not None and planned is None:
                if step == first + PROBE[0]:
                    probe_started = time.time()
                elif step == first + PROBE[1]:
                    rate = (time.time() - probe_started) / (PROBE[1] - PROBE[0])
                    planned = int(agree(planned_steps(step, elapsed(), args.time_budget, rate, args.iters), world, device))
                    total = bar.total = planned
            bar.update(1)
            bar.set_postfix(loss=f"{running:.3f}", lr=f"{base_lrs[0] * factor:.4f}")
            if step % args.checkpoint_every == 0:
                save_state()
        epoch += 1
    bar.close()
    stopped = stopped or ("planned steps" if planned is not None and step >= planned else "iters")
    save_state()

    final = out / "final.safetensors"
    if rank == 0:
        meta = {
            "name": args.head,
            "arch": arch,
            "classes": list(CAMVID_CLASSES),
            "palette": [list(c) for c in CAMVID_PALETTE],
            "normalization": {"mean": list(MEAN), "std": list(STD), "input": "RGB / 255"},
            "trained": True,
            "recipe": {k: v for k, v in vars(args).items() if k not in ("out", "no_progress")},
            "training": {
                "steps": step,
                "wall_seconds": round(prior_seconds + time.time() - started, 1),
                "processes": world,
                "device": str(device),
                "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
                "final_running_loss": running,
                "stopped_by": stopped,
                "planned_steps": planned,
                "class_weights": None if weight is None else [round(float(x), 4) for x in weight],
            },
        }
        checkpoints.save(model, final, meta)
        print(f"saved {final}", flush=True)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return final


if __name__ == "__main__":
    main()
