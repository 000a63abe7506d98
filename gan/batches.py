"""Training batches: an endless, resumable stream of (img, c) drawn from a prepared cache's memory-mapped images."""
from __future__ import annotations

import numpy as np
import torch

from gan.pixels import to_unit


class Batches:
    """Endless (img, c) batches: per-epoch permutation drawn from a generator seeded by (seed, epoch).

    `state()` / `load_state()` hold (epoch, pos), so a resumed run sees the same data order. Under DDP each
    rank takes its slice of the same global batch."""

    def __init__(self, images: np.ndarray, attrs: np.ndarray, index: np.ndarray, batch: int, seed: int,
                 device: torch.device, rank: int = 0, world: int = 1, workers: int = 0):
        if len(index) < batch:
            raise ValueError(f"training split has {len(index)} images, fewer than one batch of {batch}; use a smaller --batch")
        if batch % world:
            raise ValueError(f"--batch {batch} is not divisible by the {world} DDP processes")
        self.images, self.attrs, self.index = images, attrs, index
        self.batch, self.seed, self.device, self.rank, self.per = batch, seed, device, rank, batch // world
        self.pin = torch.device(device).type == "cuda"  # pinned host memory + non_blocking copies on CUDA
        self.epoch, self.pos = 0, 0
        self._perm_epoch, self._perm = -1, None
        self._pool = None
        self._pending = None
        self._state: dict | None = None
        if workers > 0:
            from concurrent.futures import ThreadPoolExecutor
            self._pool = ThreadPoolExecutor(max_workers=1)

    def state(self) -> dict:
        """Position after the last batch handed out (a prefetched batch does not count)."""
        return dict(self._state) if self._state is not None else {"epoch": self.epoch, "pos": self.pos}

    def load_state(self, state: dict) -> None:
        self.epoch, self.pos, self._pending = int(state["epoch"]), int(state["pos"]), None
        self._state = None

    def _next_indices(self) -> np.ndarray:
        if self.pos + self.batch > len(self.index):  # drop the incomplete last batch of an epoch
            self.epoch, self.pos = self.epoch + 1, 0
        if self._perm_epoch != self.epoch:
            self._perm = np.random.default_rng([self.seed, self.epoch]).permutation(self.index)
            self._perm_epoch = self.epoch
        idx = self._perm[self.pos:self.pos + self.batch]
        self.pos += self.batch
        return np.sort(idx[self.rank * self.per:(self.rank + 1) * self.per])  # sorted: sequential memmap reads

    def _load(self, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(b, H, W, 3) uint8 pixels and (b, K) float32 labels on the host; page-locked when bound for a GPU, so the
        copy to the device can run without blocking (pinned in the loader thread when there is one)."""
        x = torch.from_numpy(np.ascontiguousarray(self.images[idx]))
        a = torch.from_numpy(self.attrs[idx].astype(np.float32))
        if self.pin:  # the caching host allocator reuses a block only after its copy has finished
            x, a = x.pin_memory(), a.pin_memory()
        return x, a

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(img (b, 3, H, W) float32 in [-1, 1], c (b, K) float32), on the device."""
        if self._pool is None:
            x, a = self._load(self._next_indices())
            self._state = {"epoch": self.epoch, "pos": self.pos}
        else:  # prefetch: the next batch's uint8 pixels are read while this step computes
            if self._pending is None:
                self._pending = self._pool.submit(self._load, self._next_indices())
            x, a = self._pending.result()
            self._state = {"epoch": self.epoch, "pos": self.pos}
            self._pending = self._pool.submit(self._load, self._next_indices())
        img = x.to(self.device, non_blocking=True).permute(0, 3, 1, 2)  # (b, 3, H, W) uint8, NHWC strides
        img = to_unit(img)
        c = a.to(self.device, non_blocking=True)
        return img, c

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
