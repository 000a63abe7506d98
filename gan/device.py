"""The one place that chooses the compute device and seeds random number generators."""
from __future__ import annotations

import os
import random
import time

import numpy as np
import torch


DEFAULT_DEVICE = "auto"  # every CLI's --device default and every config's `device` field: CUDA, else MPS, else CPU


def pick_device(preference: str = DEFAULT_DEVICE) -> torch.device:
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


def busy_cores(interval: float = 0.1) -> float:
    """Cores kept busy by other work: the non-idle share of two /proc/stat readings `interval` seconds apart (this
    process sleeps in between, so it does not count itself) times the machine's CPU count; 0.0 without /proc/stat.
    Instantaneous, unlike the load average, which lags by a minute and counts this tool's own previous run."""
    def read() -> tuple[int, int]:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]    # user nice system idle iowait irq softirq steal …
        return sum(v[:8]) - v[3] - v[4], sum(v[:8])           # (busy, total) jiffies; niced work counts as busy
    try:
        b0, t0 = read()
        time.sleep(interval)
        b1, t1 = read()
    except (OSError, ValueError, IndexError):
        return 0.0
    return (b1 - b0) / max(t1 - t0, 1) * (os.cpu_count() or 1)


def default_threads(cores: int | None = None, busy: float | None = None) -> int:
    """Torch threads when GAN_THREADS is unset: the usable cores not already busy (at least 1). On a quiet 2-core
    machine that is 2; beside one CPU-bound process it is 1, since a 2-thread op waits for its descheduled thread
    (measured up to 16x slower than 1 thread; BENCHMARKS.md, thread defaults)."""
    cores = cores or len(os.sched_getaffinity(0))
    busy = busy_cores() if busy is None else busy
    return max(1, min(cores, round(cores - busy)))


def configure_threads(n: int | None = None) -> int:
    """Set torch's intra-op threads: `n`, else GAN_THREADS, else default_threads() (all idle cores); returns it."""
    n = n or int(os.environ.get("GAN_THREADS", "0") or 0) or default_threads()
    torch.set_num_threads(n)
    return n


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
