"""64-face grid cost of the style-based generator against the DCGAN generator, measured in one run.

    python -m bench.bench_grid [--threads 1] [--reps 30] [--no-write]

Both generators have the shipped defaults' shapes (64×64, 16 attributes; DCGAN ngf 32, z 100 — the first shipped
model; style: the ModelConfig defaults); weights are random (the cost does not depend on their values). Each rep times
one `gan.generate.generate_images` call of 64 faces per generator, interleaved one call at a time; the ratio of
medians is the figure (target ≤ 1.5).
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from bench.report import machine_line, write_section
from gan.generate import generate_images, sample_z
from gan.models import ModelConfig, build_generator, count_params

TARGET = 1.5


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--no-write", action="store_true", help="print only; do not update BENCHMARKS.md")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    nets = {"dcgan": build_generator(ModelConfig(arch="dcgan", c_dim=16)).eval(),
            "style": build_generator(ModelConfig(arch="style", c_dim=16)).eval()}
    z = sample_z(64, 100, 0)
    c = (np.random.default_rng(0).random((64, 16)) < 0.3).astype(np.float32)
    times: dict[str, list[float]] = {k: [] for k in nets}
    for G in nets.values():
        generate_images(G, z, c)  # warm-up
    for _ in range(args.reps):
        for k, G in nets.items():
            t = time.perf_counter()
            generate_images(G, z, c)
            times[k].append((time.perf_counter() - t) * 1000)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["style"] / med["dcgan"]
    verdict = "met" if ratio <= TARGET else "**not met**"
    md = [f"## Grid cost: style generator vs DCGAN (`python -m bench.bench_grid --threads {args.threads} --reps {args.reps}`)", "",
          f"Machine: {machine_line()}; {args.threads} torch thread(s).", "",
          "| generator | parameters | 64-face grid, median ms | p90 ms |", "|---|---|---|---|"]
    for k, G in nets.items():
        p90 = float(np.percentile(times[k], 90))
        md.append(f"| {k} | {count_params(G):,} | {med[k]:.1f} | {p90:.1f} |")
    md += ["", f"Style ÷ DCGAN: **{ratio:.2f}×** (target ≤ {TARGET}×: {verdict}); interleaved calls in one run, "
               "so load affects both alike."]
    text = "\n".join(md)
    print(text)
    if not args.no_write:
        write_section("grid", text)


if __name__ == "__main__":
    main()
