"""Thread defaults: GAN_THREADS wins; otherwise the usable cores not already busy, at least one."""
from __future__ import annotations

import torch

from gan.device import busy_cores, configure_threads, default_threads


def test_default_threads_leaves_busy_cores_alone():
    assert default_threads(cores=2, busy=0.1) == 2      # quiet machine: every core
    assert default_threads(cores=2, busy=1.0) == 1      # one CPU-bound neighbour: one thread
    assert default_threads(cores=2, busy=3.7) == 1      # never below one
    assert default_threads(cores=8, busy=2.2) == 6
    assert 0.0 <= busy_cores(0.02) <= (torch.get_num_threads() or 1) * 64


def test_configure_threads_honours_gan_threads(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("GAN_THREADS", "1")
        assert configure_threads() == 1 and torch.get_num_threads() == 1
        monkeypatch.delenv("GAN_THREADS")
        assert 1 <= configure_threads() <= len(__import__("os").sched_getaffinity(0))
    finally:
        torch.set_num_threads(before)
