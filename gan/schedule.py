"""Time-budgeted loops: a step count fixed from the measured pace, and the cosine learning-rate decay that the
classifier, the encoder and projection share (torch.optim.lr_scheduler.LambdaLR)."""
from __future__ import annotations

import math
import time
from typing import Callable

import torch


class StepBudget:
    """A fixed step count (`steps`), or one fixed from the pace of the first `measure_after` steps so that the
    run fills `share` of `seconds` (the rest is left for evaluation), at least `min_steps`. `total` is None until
    it is known; call `after_step(step)` after every optimiser step."""

    def __init__(self, steps: int | None = None, seconds: float | None = None, measure_after: int = 20,
                 share: float = 0.9, min_steps: int = 1):
        if steps is None and seconds is None:
            raise ValueError("a step budget needs steps or seconds")
        self.total, self.seconds, self.measure_after = steps, seconds, measure_after
        self.share, self.min_steps, self.rate = share, min_steps, None
        self.t0 = time.perf_counter()

    def after_step(self, step: int) -> bool:
        """Fix the total once `measure_after` steps are done; True on the step where that happens."""
        if self.total is None and step == self.measure_after:
            self.rate = step / (time.perf_counter() - self.t0)              # steps per second
            self.total = max(self.min_steps, int(self.rate * self.seconds * self.share))
            return True
        return False

    def done(self, step: int) -> bool:
        return self.total is not None and step >= self.total

    def fraction(self, step: int) -> float:
        """Share of the run done at `step`, in [0, 1]; 0 while the total is unknown."""
        return min(1.0, step / self.total) if self.total else 0.0

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0


def cosine_decay(opt: torch.optim.Optimizer, fraction: Callable[[int], float], floor: float) -> torch.optim.lr_scheduler.LambdaLR:
    """lr = base · (floor + (1 − floor) · ½(1 + cos(π · fraction(step)))): each group from its base lr down to
    floor · base. Call `.step()` after each optimiser step."""
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * fraction(step))))
