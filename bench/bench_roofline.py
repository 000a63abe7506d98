"""The trainer against the roofline: achieved FLOP/s per core of one training step against a measured single-core
sgemm peak, beside the ratio against the plain pytorch/examples DCGAN loop, measured in one run.

    nice -n 19 python -m bench.bench_roofline [--rounds 7] [--steps 3] [--no-write]

One torch thread throughout (per core). Peaks: `torch.mm` of two 2048×2048 float32 matrices (2·n³ FLOPs; MKL), and a
large 3×3 convolution (oneDNN, the library the trainer's convolutions run in).
FLOPs of one step of each side counted by `torch.utils.flop_counter.FlopCounterMode` (matmuls and convolutions,
forward and backward: what the hardware's multiply-add units do; element-wise work and the optimiser are not counted,
as is usual for a roofline). The sides are bench/bench_train.py's `trainer` (gan.train.train_step, shipped defaults) and
`reference` (the pytorch/examples dcgan loop with the same conv stacks), timed in interleaved rounds; achieved
FLOP/s = counted FLOPs ÷ seconds per step, by wall clock and per CPU-second of this process (what one core delivered
while it ran, immune to time spent descheduled on a shared machine).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.bench_train import K, N_IMAGES, reference_side, timed, trainer_side
from bench.report import machine_line, write_section

GEMM_N = 2048


def sgemm_peak(n: int = GEMM_N, reps: int = 10) -> tuple[float, float]:
    """Best FLOP/s of an n×n float32 matrix product at one thread: (by wall clock, per CPU-second of this process)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    out = torch.empty(n, n)
    torch.mm(a, b, out=out)  # warm-up
    best_wall = best_cpu = float("inf")
    for _ in range(reps):
        w, c = timed(torch.mm, a, b)
        best_wall, best_cpu = min(best_wall, w), min(best_cpu, c)
    return 2 * n ** 3 / best_wall, 2 * n ** 3 / best_cpu


def conv_peak(reps: int = 3) -> tuple[float, float]:
    """Best FLOP/s of a large 3×3 convolution (32 × 256 → 256 channels, 32×32, oneDNN) at one thread: (wall, CPU).
    torch.mm goes to MKL, which on AMD CPUs may run its AVX2 path; oneDNN's convolutions use AVX-512 where the CPU
    has it, so this is the roofline the trainer's convolutions can actually reach."""
    x, w = torch.randn(32, 256, 32, 32), torch.randn(256, 256, 3, 3)
    torch.nn.functional.conv2d(x, w, padding=1)  # warm-up
    flops = 2 * 32 * 256 * 256 * 9 * 32 * 32
    best_wall = best_cpu = float("inf")
    for _ in range(reps):
        wl, c = timed(torch.nn.functional.conv2d, x, w, None, 1, 1)
        best_wall, best_cpu = min(best_wall, wl), min(best_cpu, c)
    return flops / best_wall, flops / best_cpu


def counted(run) -> int:
    """FLOPs of one call of run(1) (one training step)."""
    with FlopCounterMode(display=False) as counter:
        run(1)
    return int(counter.get_total_flops())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    load0 = os.getloadavg()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (N_IMAGES, 64, 64, 3), dtype=np.uint8)  # (N, H, W, 3)
    attrs = rng.integers(0, 2, (N_IMAGES, K), dtype=np.uint8)            # (N, K)
    trainer, _, cfg = trainer_side(images, attrs)
    sides = {"trainer": trainer, "reference": reference_side(images, nz=cfg.model.z_dim + cfg.model.c_embed_dim)}
    for run in sides.values():
        run(2)  # warm-up
    flops = {k: counted(run) for k, run in sides.items()}
    peaks, conv_peaks = [sgemm_peak()], [conv_peak()]
    wall: dict[str, list[float]] = {k: [] for k in sides}  # seconds per step, per round
    cpu: dict[str, float] = dict.fromkeys(sides, 0.0)
    for r in range(args.rounds):
        for name in (list(sides) if r % 2 == 0 else list(sides)[::-1]):
            w, c = timed(sides[name], args.steps)
            wall[name].append(w / args.steps)
            cpu[name] += c
        peaks.append(sgemm_peak(reps=3))  # peaks sampled between rounds too: the best one is the machine's
        conv_peaks.append(conv_peak(reps=1))
    peak = max(p[0] for p in peaks)          # by wall clock
    peak_cpu = max(p[1] for p in peaks)      # per CPU-second
    conv_cpu = max(p[1] for p in conv_peaks)
    load1 = os.getloadavg()
    step = {k: statistics.median(v) for k, v in wall.items()}
    step_cpu = {k: cpu[k] / (args.rounds * args.steps) for k in sides}
    ach = {k: flops[k] / step[k] for k in sides}
    ach_cpu = {k: flops[k] / step_cpu[k] for k in sides}
    paired = statistics.median(b / a for a, b in zip(wall["trainer"], wall["reference"]))  # >1: trainer faster
    frac = ach_cpu["trainer"] / conv_cpu
    verdict = ("So the step's time is in the convolutions, running near the convolution roofline: a faster step needs "
               "fewer FLOPs (smaller nets, fewer D passes), not better kernels." if frac >= 0.7 else
               "The rest of the gap is the step's small convolutions (3 input channels, 4×4 maps, batch 64), which run "
               "below the large convolution's rate, and the uncounted element-wise work between them (batch norm, "
               "activations, Adam, EMA).")
    rows = "\n".join(
        f"| {k} | {flops[k] / 1e9:.2f} | {1000 * step[k]:.0f} | {1000 * step_cpu[k]:.0f} | {ach_cpu[k] / 1e9:.1f} | "
        f"**{ach_cpu[k] / peak_cpu:.0%}** | **{ach_cpu[k] / conv_cpu:.0%}** |" for k in sides)
    md = f"""## Trainer against the roofline (`python -m bench.bench_roofline --rounds {args.rounds} --steps {args.steps}`)

{machine_line()}; 1 torch thread; niceness {os.nice(0)}; load average {load0[0]:.1f} before, {load1[0]:.1f} after.
Peaks on one core, per CPU-second (best of {len(peaks)} samples through the run): **sgemm (`torch.mm`, {GEMM_N}×{GEMM_N}
float32, MKL) {peak_cpu / 1e9:.1f} GFLOP/s** ({peak / 1e9:.1f} by wall clock); a large 3×3 convolution through oneDNN
(32 × 256 → 256 channels, 32×32) {conv_cpu / 1e9:.1f} GFLOP/s. The two differ because MKL's sgemm runs a 256-bit path on
this AMD CPU while oneDNN uses AVX-512; the convolution figure is the roofline the trainer's convolutions can reach.
One step = one D update + one G update (+ G_ema), batch {cfg.batch}, 64×64, ngf = ndf = {cfg.model.ngf}; FLOPs counted
by `FlopCounterMode` (convolutions and matmuls, forward + backward); achieved = FLOPs ÷ CPU seconds per step of this
process (one thread: per core, immune to time spent descheduled).

| side | GFLOP per step | ms per step (wall, median) | ms per step (CPU) | GFLOP/s per core | of sgemm peak | of conv peak |
|---|---|---|---|---|---|---|
{rows}

Trainer vs the plain DCGAN loop (images/s, median of paired rounds): **{paired:.2f}×**; per CPU-second
{step_cpu['reference'] / step_cpu['trainer']:.2f}×. The trainer does {flops['trainer'] / flops['reference']:.2f}× the
reference's counted FLOPs per step and reaches **{ach_cpu['trainer'] / peak_cpu:.0%} of the single-core sgemm peak** and
**{frac:.0%} of the oneDNN convolution peak** (the reference: {ach_cpu['reference'] / peak_cpu:.0%} and
{ach_cpu['reference'] / conv_cpu:.0%}). {verdict}
"""
    print(md)
    if not args.no_write:
        write_section("roofline", md)


if __name__ == "__main__":
    main()
