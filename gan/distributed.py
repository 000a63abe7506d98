"""Running the training step on several processes: the torchrun process group, G's step as one module call,
DistributedDataParallel / torch.compile wrappers, and batch-norm buffers averaged across ranks."""
from __future__ import annotations

import os
from contextlib import nullcontext
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist

from gan.device import pick_device

if TYPE_CHECKING:
    from gan.train import TrainConfig


def average_buffers(modules: list[torch.nn.Module], world: int) -> None:
    """Average the floating-point buffers (batch-norm running statistics) across ranks in one flat all-reduce, so
    every rank ends each step with the same G, D and G_ema. Counters (num_batches_tracked) already agree."""
    bufs = [b for m in modules for b in m.buffers() if b.is_floating_point()]
    if world == 1 or not bufs:
        return
    flat = torch.cat([b.detach().flatten().float() for b in bufs])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for b in bufs:
        b.copy_(flat[offset:offset + b.numel()].view_as(b))
        offset += b.numel()


def dist_setup(device_pref: str) -> tuple[int, int, torch.device]:
    """(rank, world, device) — a torchrun launch (WORLD_SIZE > 1) gets a gloo (CPU) or NCCL (GPU) group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, pick_device(device_pref)
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_pref)
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return rank, world, device


class GeneratorStep(torch.nn.Module):
    """G's training forward, style mixing included, as one module call: DDP reduces gradients only for what runs
    inside its wrapper's forward, and G.mapping / G.synthesis called from outside would bypass it.

    img = step(z, c)                      # plain G(z, c)
    img = step(z, c, (prob, u, z2, cut))  # style-mixing regularisation (draws made by the caller, see gan.train._generate)"""

    def __init__(self, G: torch.nn.Module):
        super().__init__()
        self.G = G

    def forward(self, z: torch.Tensor, c: torch.Tensor, mixing: tuple | None = None) -> torch.Tensor:
        if mixing is None:
            return self.G(z, c)
        from gan.style_generator import mixed_ws
        return self.G.synthesis(mixed_ws(self.G, z, c, *mixing))


def wrap_for_training(G: torch.nn.Module, D: torch.nn.Module, cfg: "TrainConfig", device: torch.device,
                      world: int = 1) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(G_step, D_step): what train_step calls. Under torchrun (world > 1) both are DistributedDataParallel, and with
    cfg.compile both are torch.compile'd (after DDP, as torch recommends). The plain G and D stay the owners of the
    weights: optimisers, G_ema, the guard and the checkpoint use them, so state_dict keys never change.

    broadcast_buffers=False: DDP would otherwise overwrite the buffers with rank 0's at every one of D's three
    forwards a step (and in place under spectral norm's power iteration); train_step averages them once instead."""
    G_step, D_step = GeneratorStep(G), D
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP
        ids = [device.index] if device.type == "cuda" else None
        G_step = DDP(G_step, device_ids=ids, broadcast_buffers=False)
        D_step = DDP(D_step, device_ids=ids, broadcast_buffers=False)
    if cfg.compile:
        G_step, D_step = torch.compile(G_step), torch.compile(D_step)
    return G_step, D_step


def no_sync(module: torch.nn.Module):
    """DDP's no_sync() (no gradient hooks armed for this forward), or a no-op for a plain module."""
    return module.no_sync() if hasattr(module, "no_sync") else nullcontext()
