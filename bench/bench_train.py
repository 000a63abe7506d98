"""Training throughput of this trainer's step against a plain pytorch/examples DCGAN loop, and 64-face grid latency.

    python -m bench.bench_train [--threads 1] [--rounds 15] [--steps 3] [--grid-reps 15] [--no-write]

One process, one run: the sides take turns in interleaved rounds (A B C, then C B A, …) so the load of a
shared machine falls on all of them alike. Reported per side: the median and best wall-clock rate and the rate
per CPU-second of this process (what an idle core would give; immune to time spent descheduled), and as ratios
the ratio of medians, the median of the per-round (paired) ratios and the CPU-time ratio, with the load average
before and after. The sides, all at 64x64, batch 64, ngf = ndf = 32 (the same conv stacks):
  trainer       `gan.train.train_step` with the shipped TrainConfig defaults, fed by `gan.batches.Batches`:
                D on real + fake with projection and attribute head (BCE with label smoothing + aux BCE), G step
                through D again (+ aux BCE), fused Adam, channels-last, G_ema update, logged scalars summed
                on the device (no host sync per step).
  trainer-old   the same step with the settings before the benchmark's issue (contiguous NCHW, per-tensor Adam).
  reference     the pytorch/examples dcgan/main.py loop: unconditional G and D (Sigmoid + BCELoss), Adam,
                `.item()` of five scalars every step for its log line, batches from an in-memory uint8 set.
Grid latency: a G_ema in eval mode (as `load_generator` returns it) turning 64 (z, c) into uint8 images via
`gan.generate.generate_images`, median of --grid-reps calls, with and without channels-last.
"""
from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
from dataclasses import replace

import numpy as np
import torch
import torch.nn as nn

from bench.report import machine_line, write_section
from gan.batches import Batches
from gan.generate import generate_images, sample_z
from gan.models import build_networks
from gan.train import TrainConfig, build_training_networks, train_step

N_IMAGES, K = 1024, 8  # in-memory training set: random pixels (speed does not depend on content), 8 attributes


def trainer_side(images: np.ndarray, attrs: np.ndarray, **overrides):
    """A closure running n steps of the real training step with TrainConfig defaults (plus overrides)."""
    cfg = TrainConfig(**overrides)
    cfg = replace(cfg, model=replace(cfg.model, c_dim=attrs.shape[1], img_resolution=images.shape[1]))
    device = torch.device("cpu")
    torch.manual_seed(0)
    G, D, G_ema, opt_G, opt_D = build_training_networks(cfg, device)
    batches = Batches(images, attrs, np.arange(len(images)), cfg.batch, cfg.seed, device)
    acc, step = torch.zeros(7), [0]

    def run(n: int) -> None:
        nonlocal acc
        for _ in range(n):
            acc += train_step(G, D, G_ema, opt_G, opt_D, batches, cfg, step[0])  # as the loop in train() does
            step[0] += 1

    return run, G_ema, cfg


def reference_side(images: np.ndarray, nz: int, ngf: int = 32, ndf: int = 32, batch: int = 64):
    """The pytorch/examples dcgan loop at our layer sizes (nz = our z_dim + c_embed_dim, so G's first conv matches)."""
    torch.manual_seed(0)
    netG = nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
        # state size. (ngf*8) x 4 x 4
        nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
        # state size. (ngf*4) x 8 x 8
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
        # state size. (ngf*2) x 16 x 16
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
        # state size. (ngf) x 32 x 32
        nn.ConvTranspose2d(ngf, 3, 4, 2, 1, bias=False), nn.Tanh())
        # state size. 3 x 64 x 64
    netD = nn.Sequential(
        nn.Conv2d(3, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid())
    for m in list(netG.modules()) + list(netD.modules()):  # the example's weights_init
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    criterion = nn.BCELoss()
    optimizerD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizerG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    data = torch.from_numpy(images)  # (N, H, W, 3) uint8, in memory
    real_label, fake_label = 1.0, 0.0
    log = []

    def run(n: int) -> None:
        for _ in range(n):
            idx = torch.randint(len(data), (batch,))
            real_cpu = data[idx].permute(0, 3, 1, 2).float().div(127.5).sub(1.0).contiguous()  # ToTensor + Normalize
            # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
            netD.zero_grad()
            label = torch.full((batch,), real_label, dtype=real_cpu.dtype)
            output = netD(real_cpu).view(-1)
            errD_real = criterion(output, label)
            errD_real.backward()
            D_x = output.mean().item()
            noise = torch.randn(batch, nz, 1, 1)
            fake = netG(noise)
            label.fill_(fake_label)
            output = netD(fake.detach()).view(-1)
            errD_fake = criterion(output, label)
            errD_fake.backward()
            D_G_z1 = output.mean().item()
            errD = errD_real + errD_fake
            optimizerD.step()
            # (2) Update G network: maximize log(D(G(z)))
            netG.zero_grad()
            label.fill_(real_label)
            output = netD(fake).view(-1)
            errG = criterion(output, label)
            errG.backward()
            D_G_z2 = output.mean().item()
            optimizerG.step()
            log.append("Loss_D: %.4f Loss_G: %.4f D(x): %.4f D(G(z)): %.4f / %.4f"
                       % (errD.item(), errG.item(), D_x, D_G_z1, D_G_z2))
        log.clear()

    return run


def timed(fn, *args) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call."""
    t, c = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - t, time.process_time() - c


def grid_ms(G_ema: nn.Module, c: np.ndarray) -> tuple[float, float]:
    """(wall ms, CPU ms) of one 64-face grid: G_ema forward + uint8 conversion (generate_images)."""
    z = sample_z(64, G_ema.z_dim, 0)
    wall, cpu = timed(generate_images, G_ema, z, c)
    return 1000 * wall, 1000 * cpu


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads (default 1: on a shared 2-core machine 2 threads run slower)")
    ap.add_argument("--rounds", type=int, default=15, help="interleaved rounds per side (default %(default)s)")
    ap.add_argument("--steps", type=int, default=3, help="training steps per side per round (default %(default)s)")
    ap.add_argument("--grid-reps", type=int, default=15, help="timed grids per variant (default %(default)s)")
    ap.add_argument("--no-write", action="store_true", help="print only; do not update BENCHMARKS.md")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (N_IMAGES, 64, 64, 3), dtype=np.uint8)  # (N, H, W, 3)
    attrs = rng.integers(0, 2, (N_IMAGES, K), dtype=np.uint8)            # (N, K)
    trainer, G_ema, cfg = trainer_side(images, attrs)
    trainer_old, _, _ = trainer_side(images, attrs, channels_last=False, fused_adam=False)
    sides = {"trainer": trainer, "trainer-old": trainer_old,
             "reference": reference_side(images, nz=cfg.model.z_dim + cfg.model.c_embed_dim)}

    # Training: warm up each side, then interleaved rounds in alternating order.
    for run in sides.values():
        run(2)
    rates: dict[str, list[float]] = {k: [] for k in sides}  # images/s (wall) per round
    cpu_s: dict[str, float] = dict.fromkeys(sides, 0.0)         # CPU seconds over all rounds
    for r in range(args.rounds):
        for name in (list(sides) if r % 2 == 0 else list(sides)[::-1]):
            wall, cpu = timed(sides[name], args.steps)
            rates[name].append(args.steps * cfg.batch / wall)
            cpu_s[name] += cpu
    med = {k: statistics.median(v) for k, v in rates.items()}
    best = {k: max(v) for k, v in rates.items()}
    per_cpu = {k: args.rounds * args.steps * cfg.batch / v for k, v in cpu_s.items()}  # images per CPU-second
    paired = {k: statistics.median(a / b for a, b in zip(rates[k], rates["reference"])) for k in ("trainer", "trainer-old")}

    # Generation: G_ema as load_generator hands it out (eval, contiguous), and the same in channels-last.
    G_plain = build_networks(cfg.model)[0].eval().requires_grad_(False)
    G_plain.load_state_dict(G_ema.state_dict())
    G_cl = copy.deepcopy(G_plain).to(memory_format=torch.channels_last)
    c = attrs[:64].astype(np.float32)
    grid_nets = {"contiguous (as load_generator)": G_plain, "channels-last": G_cl}
    for G in grid_nets.values():
        grid_ms(G, c)  # warm-up
    grid: dict[str, list[float]] = {k: [] for k in grid_nets}
    grid_cpu: dict[str, list[float]] = {k: [] for k in grid_nets}
    for _ in range(args.grid_reps):  # interleaved one call at a time
        for k, G in grid_nets.items():
            wall, cpu = grid_ms(G, c)
            grid[k].append(wall)
            grid_cpu[k].append(cpu)
    gmed = {k: statistics.median(v) for k, v in grid.items()}
    gcpu = {k: statistics.median(v) for k, v in grid_cpu.items()}
    load_after = os.getloadavg()

    ratio = {k: med[k] / med["reference"] for k in ("trainer", "trainer-old")}
    ratio_cpu = {k: per_cpu[k] / per_cpu["reference"] for k in ("trainer", "trainer-old")}
    app_grid = "contiguous (as load_generator)"
    fmt = lambda v: " ".join(f"{x:.0f}" for x in v)  # noqa: E731
    row = lambda k: f"{med[k]:.1f} | {best[k]:.1f} | {per_cpu[k]:.1f} | {fmt(rates[k])}"  # noqa: E731
    md = ["## Training throughput and grid latency (`python -m bench.bench_train`)", "",
          f"{args.threads} torch thread(s), {args.rounds} interleaved rounds × {args.steps} steps per side, batch "
          f"{cfg.batch}, 64×64, ngf = ndf = {cfg.model.ngf}; load average (1/5/15 min) before "
          f"{'/'.join(f'{x:.1f}' for x in load_before)}, after {'/'.join(f'{x:.1f}' for x in load_after)} on "
          f"{os.cpu_count()} cores (a shared machine: absolute numbers are low, the ratios are the finding).", "",
          "| side | what one step does | images/s median | best | per CPU-second | per round (wall) |",
          "|---|---|---|---|---|---|",
          f"| trainer | `gan.train.train_step`, shipped defaults: projection + attribute head, label smoothing, "
          f"fused Adam, channels-last, G_ema, no host sync | {row('trainer')} |",
          f"| trainer-old | same step, NCHW + per-tensor Adam (the settings before) | {row('trainer-old')} |",
          f"| reference | pytorch/examples dcgan loop, same conv stacks, unconditional, BCELoss, Adam, 5 `.item()` "
          f"per step | {row('reference')} |", "",
          "| vs reference | ratio of medians | median of paired rounds | CPU-time ratio |", "|---|---|---|---|"]
    md += [f"| {k} | {ratio[k]:.2f}× | {paired[k]:.2f}× | {ratio_cpu[k]:.2f}× |" for k in ("trainer", "trainer-old")]
    met = [m >= 1.2 for m in (ratio["trainer"], paired["trainer"], ratio_cpu["trainer"])]
    md += ["", f"Target trainer ≥ 1.2× reference: **{'met' if all(met) else 'not met' if not any(met) else 'mixed'}** "
               f"({sum(met)} of 3 measures).", "",
           "| 64-face grid (G_ema forward + uint8) | median ms (wall) | median ms (CPU) | all (wall) |",
           "|---|---|---|---|"]
    md += [f"| {k} | {gmed[k]:.1f} | {gcpu[k]:.1f} | {fmt(v)} |" for k, v in grid.items()]
    md += ["", f"Target grid ≤ 60 ms as the app loads G_ema: **{'met' if gmed[app_grid] <= 60 else 'not met'}** "
               f"(wall median {gmed[app_grid]:.1f} ms, CPU {gcpu[app_grid]:.1f} ms; channels-last "
               f"{gmed['channels-last']:.1f} ms).", "", f"Machine: {machine_line()}"]
    text = "\n".join(md)
    print(text)
    if not args.no_write:
        write_section("train", text)


if __name__ == "__main__":
    main()
