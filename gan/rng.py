"""Saving and restoring every random number generator (Python, NumPy, torch CPU and this rank's GPU) as tensors and
plain values, so a checkpoint resumes bit for bit and still loads with `torch.load(weights_only=True)`."""
from __future__ import annotations

import random

import numpy as np
import torch


def rng_state(device: torch.device | None = None) -> dict:
    """Python, NumPy and torch RNG states as tensors and plain values (weights_only-loadable). On a CUDA `device`,
    its generator only: each DDP rank draws on its own GPU, and rank 0 cannot see the others' generators."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    cuda = [torch.cuda.get_rng_state(device)] if device is not None and device.type == "cuda" else []
    return {"torch": torch.get_rng_state(), "cuda": cuda,
            "numpy": torch.from_numpy(np_state[1].astype(np.int64)), "numpy_pos": int(np_state[2]),
            "numpy_gauss": [int(np_state[3]), float(np_state[4])],
            "python": torch.tensor(py_state[1], dtype=torch.int64), "python_version": int(py_state[0]),
            "python_gauss": py_state[2]}


def set_rng_state(state: dict, device: torch.device | None = None) -> None:
    """Restore rng_state(); a single CUDA state goes to `device` (this rank's GPU), a per-GPU list (older) to all."""
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        if len(state["cuda"]) == 1 and device is not None and device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda"][0], device)
        else:
            torch.cuda.set_rng_state_all(state["cuda"])
    np.random.set_state(("MT19937", state["numpy"].numpy().astype(np.uint32), state["numpy_pos"],
                         state["numpy_gauss"][0], state["numpy_gauss"][1]))
    random.setstate((state["python_version"], tuple(int(v) for v in state["python"].tolist()), state["python_gauss"]))
