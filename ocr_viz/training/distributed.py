"""Evaluation over many processes, as training runs under torchrun: every process takes every
world-th item of the same sorted list, and rank 0 sums what they counted.

    torchrun --nproc_per_node 8 -m ocr_viz.evaluate MODEL --data DIR            # 8 GPUs, nccl
    torchrun --nproc_per_node 2 -m ocr_viz.evaluate MODEL --device cpu --backend gloo

Sums of integer counts come out exactly as one process counts them; sums of floats differ
only in the order of the additions.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist

from .train import setup_distributed


@dataclass(frozen=True)
class Ranks:
    rank: int
    world: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def start(device: str = "auto", backend: str = "auto") -> Ranks:
    """This process's rank, the number of processes and its device (one process: 0, 1)."""
    return Ranks(*setup_distributed(device, backend))


def shard(items: list, ranks: Ranks) -> list:
    """This rank's items: every world-th from its rank on (balanced within one item)."""
    return items[ranks.rank :: ranks.world]


def gather(obj, ranks: Ranks) -> list:
    """[obj of rank 0, obj of rank 1, ...] on every rank (pickled; one process: [obj])."""
    if ranks.world == 1:
        return [obj]
    parts = [None] * ranks.world
    dist.all_gather_object(parts, obj)  # all_gather: a collective both gloo and nccl have
    return parts


def finish(ranks: Ranks) -> None:
    if ranks.world > 1 and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
