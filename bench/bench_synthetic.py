"""Benchmark the synthetic face renderer on one core and write its contact sheet and sample grid to docs/."""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bench.report import machine_line, write_section
from gan.data.synthetic import contact_sheet, render_batch

DOCS = Path(__file__).resolve().parent.parent / "docs"


def faces_per_s(size: int, count: int) -> tuple[float, float]:
    """(faces per wall-clock second, faces per CPU second of this single-threaded process)."""
    render_batch(0, 0, 8, size)  # warm-up (grid caches)
    t, c = time.perf_counter(), time.process_time()
    render_batch(0, 1000, count, size)
    return count / (time.perf_counter() - t), count / (time.process_time() - c)


def main() -> None:
    # One core: the renderer is pure PIL/NumPy, so pin the thread pools.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    rows = [(size, faces_per_s(size, n)) for size, n in ((64, 1000), (128, 300))]
    contact_sheet(DOCS / "synthetic_contact_sheet.png", seed=0, size=64, people=4)
    imgs, _ = render_batch(0, 0, 64, 64)  # (64, 64, 64, 3)
    grid = imgs.reshape(8, 8, 64, 64, 3).transpose(0, 2, 1, 3, 4).reshape(512, 512, 3)
    Image.fromarray(grid).save(DOCS / "synthetic_samples.png")
    md = ["## Synthetic face renderer (`python -m bench.bench_synthetic`)", "",
          "One core, `render_batch` (draw at 3x, box-downscale, shading + noise).", "",
          "CPU-time rate = the rate on one otherwise idle core; wall rate is lower on a busy machine.", "",
          "| size | faces/s (wall) | faces/s (CPU time, one core) |", "|---|---|---|"]
    md += [f"| {s}x{s} | {w:.0f} | {c:.0f} |" for s, (w, c) in rows]
    md += ["", f"Machine: {machine_line()}"]
    write_section("synthetic", "\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
