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


def app_device() -> torch.device:
    """The explorer's device for its cached generator and classifier: GAN_APP_DEVICE (auto | cpu | cuda | cuda:N),
    default auto, which is CUDA when present and otherwise the CPU (never MPS: the app's latent maths is CPU-tested)."""
    preference = os.environ.get("GAN_APP_DEVICE", "auto").strip() or "auto"
    if preference == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    return pick_device(preference)


PRECISIONS = ("auto", "fp32", "bf16")


def autocast_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """The autocast dtype for `precision` on `device`, or None for plain fp32.

    auto: bf16 on a CUDA device that supports it (Ampere and later), fp32 elsewhere (the CPU included);
    bf16: bf16 wherever torch can autocast to it (also the CPU, which is how the CPU tests reach this path),
    falling back to fp32 on a CUDA device without bf16; fp32: never autocast."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp32":
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return torch.bfloat16 if precision == "bf16" and device.type == "cpu" else None


def autocast(device: torch.device, dtype: torch.dtype | None):
    """torch.autocast for `dtype` on `device`'s kind; a no-op context when dtype is None (fp32 stays bit-identical)."""
    return torch.autocast(device.type if device.type in ("cuda", "cpu") else "cpu", dtype=dtype,
                          enabled=dtype is not None)


def configure_cuda(device: torch.device, deterministic: bool = False) -> None:
    """On a CUDA device: let cuDNN pick the fastest conv algorithms for the (fixed) training shapes, and allow TF32
    for the fp32 matmuls and convs that autocast leaves in fp32. deterministic: no autotuning and only deterministic
    kernels (what a bit-exact resume on a GPU needs). Nothing happens on other devices."""
    if device.type != "cuda":
        return
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = not deterministic
    torch.backends.cudnn.deterministic = deterministic
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS reads it at its first call
        torch.use_deterministic_algorithms(True)
