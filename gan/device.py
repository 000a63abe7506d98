"""The one place that chooses the compute device and seeds random number generators."""
from __future__ import annotations

import os
import random

import numpy as np
import torch


def pick_device(preference: str = "auto") -> torch.device:
    """'auto' → CUDA if available, else MPS, else CPU; or an explicit 'cpu' / 'cuda' / 'cuda:1'."""
    preference = (preference or "auto").lower()
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if preference.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"Device {preference!r} requested but CUDA is not available on this machine; use --device cpu")
    return torch.device(preference)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def configure_threads(n: int | None = None) -> None:
    """Limit intra-op threads (e.g. GAN_THREADS=1 in tests running side by side)."""
    n = n or int(os.environ.get("GAN_THREADS", "0") or 0)
    if n > 0:
        torch.set_num_threads(n)
