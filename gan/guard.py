"""Collapse guard: snapshot the networks while training is healthy, roll one back when its loss leaves its band.

Used from the periodic tick of `gan.train.train` with window-averaged losses, so it costs no per-step host sync:
    guard.check(step, {"D": mean D loss, "G": mean G loss}, nets) -> list of actions (for events.jsonl)
A network whose loss is NaN/inf or outside its band (or whose weights are no longer finite) is restored
from its last healthy snapshot (weights, optimiser state and its EMA copy); too many restores within a
window of steps raise GuardStop.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch


class GuardStop(RuntimeError):
    """Training kept collapsing; the message says what happened and what to try."""


@dataclass
class GuardConfig:
    enabled: bool = True
    d_band: tuple[float, float] = (0.05, 6.0)     # healthy range of D's adversarial loss (real + fake)
    g_band: tuple[float, float] = (-50.0, 15.0)   # healthy range of G's adversarial loss
    max_restores: int = 5                         # this many restores ...
    window: int = 2000                            # ... within this many steps stops the run


def all_finite(modules) -> bool:
    """True when every parameter and buffer of the given modules is finite (one host sync)."""
    flags = [torch.isfinite(t).all() for m in modules for t in m.state_dict().values() if t.is_floating_point()]
    return bool(torch.stack(flags).all()) if flags else True


def _cpu_copy(state):
    """Deep copy of a (possibly nested) state dict with tensors on CPU."""
    if isinstance(state, torch.Tensor):
        return state.detach().to("cpu", copy=True)
    if isinstance(state, dict):
        return {k: _cpu_copy(v) for k, v in state.items()}
    if isinstance(state, list):
        return [_cpu_copy(v) for v in state]
    return copy.deepcopy(state)


class CollapseGuard:
    """Holds the last healthy snapshot of each network group and the history of restores."""

    def __init__(self, cfg: GuardConfig):
        self.cfg = cfg
        self.snapshots: dict[str, dict] = {}
        self.snapshot_step: dict[str, int] = {}
        self.restores: list[int] = []

    def _healthy(self, name: str, loss: float) -> bool:
        lo, hi = self.cfg.d_band if name == "D" else self.cfg.g_band
        return math.isfinite(loss) and lo <= loss <= hi

    def check(self, step: int, losses: dict[str, float], nets: dict[str, dict]) -> list[dict]:
        """losses: {"D": x, "G": y}; nets: {"D": {"D": module, "opt_D": optimizer}, "G": {"G": …, "G_ema": …, "opt_G": …}}.

        Snapshots every group when all are healthy; otherwise restores the unhealthy groups.
        Returns the actions taken (empty when all is well)."""
        if not self.cfg.enabled:
            return []
        bad = [n for n in nets if not self._healthy(n, losses.get(n, 0.0)) or not all_finite(
            [m for m in nets[n].values() if isinstance(m, torch.nn.Module)])]
        if not bad:
            for name, group in nets.items():
                self.snapshots[name] = {k: _cpu_copy(m.state_dict()) for k, m in group.items()}
                self.snapshot_step[name] = step
            return []
        actions = []
        for name in bad:
            if name not in self.snapshots:
                loss = losses.get(name, float("nan"))
                if not math.isfinite(loss) or not all_finite([m for m in nets[name].values() if isinstance(m, torch.nn.Module)]):
                    raise GuardStop(f"collapse guard: {name} became non-finite at step {step} before any healthy "
                                    f"snapshot existed; try lower learning rates or the default recipe")
                actions.append({"guard": "out_of_band", "network": name, "loss": loss, "note": "no healthy snapshot yet"})
                continue
            for key, module in nets[name].items():
                # A fresh copy each time: Optimizer.load_state_dict keeps the given tensors (no copy), so restoring the
                # snapshot itself would let the next step's in-place Adam update (NaN again) corrupt the snapshot.
                module.load_state_dict(_cpu_copy(self.snapshots[name][key]))
            actions.append({"guard": "restore", "network": name, "loss": losses.get(name),
                            "restored_from_step": self.snapshot_step[name]})
        if not any(a["guard"] == "restore" for a in actions):
            return actions
        self.restores = [s for s in self.restores if s > step - self.cfg.window] + [step]
        if len(self.restores) > self.cfg.max_restores:
            raise GuardStop(f"collapse guard: {len(self.restores)} restores within {self.cfg.window} steps "
                            f"(last at step {step}, {', '.join(bad)} out of band); training is unstable — "
                            f"try lower learning rates, --loss nonsat, or more data")
        return actions
