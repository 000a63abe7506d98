"""Measuring half of bench/gpu_check.sh: a timed DDP training run, FLOPs of one step, checkpoint comparison, report.

    torchrun --nproc_per_node=N -m bench.gpu_check train --size 64 --steps 500 --batch 256 --out DIR
    python -m bench.gpu_check flops --size 64 --batch 64            # one step on cuda:0, counted by FlopCounterMode
    python -m bench.gpu_check compare A/checkpoint.pt B/checkpoint.pt  # exit 1 unless G, G_ema, D, optimisers match
    python -m bench.gpu_check report --work DIR                     # the section of BENCHMARKS.md for this device

`train` is `gan.train.train` with an on_tick hook that timestamps every log tick (each tick already syncs the
host, so tick-to-tick time is real step time); the first --warmup steps (cuDNN autotuning, compilation) are left
out. Each rank writes its peak CUDA memory next to the run. Achieved FLOP/s = FLOPs of one global step (aten
conv/matmul counts of forward + backward, D and G updates) / median step time, against the datasheet dense peak
of the device for the precision used (bf16, else TF32) times the number of GPUs.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

# Datasheet dense peaks in TFLOP/s (no sparsity): (bf16 tensor core, TF32 tensor core). Matched by substring of
# torch.cuda.get_device_name(); an unknown device reports no utilisation unless --peak-tflops is given.
PEAK_TFLOPS = {
    "H200": (989.0, 494.0), "H100 PCIe": (756.0, 378.0), "H100": (989.0, 494.0), "GH200": (989.0, 494.0),
    "A100": (312.0, 156.0), "A10G": (70.0, 35.0), "A10": (125.0, 62.5), "L40S": (362.0, 183.0),
    "L4": (121.0, 60.0), "RTX 4090": (165.0, 82.6), "RTX 3090": (71.0, 35.6),
}


STATUS = """## GPU check (`bench/gpu_check.sh`)

On every visible GPU the script (1) trains 500 steps at 64×64 and at 128×128 on synthetic data with DDP under
torchrun (NCCL, bf16 autocast where supported, channels-last, pinned batches); (2) reports images/s, median step
time, peak CUDA memory and achieved FLOP/s against the device's datasheet peak (FLOPs of one step counted with
`torch.utils.flop_counter.FlopCounterMode`); (3) trains 250 + resume to 500 with `--deterministic` and checks the
checkpoint matches a straight 500-step run bit for bit; (4) loads the result on the CPU and draws a grid; (5) runs
`python -m gan evaluate --device cuda --fid`; then the CUDA-only tests (`tests/test_cuda.py`). It refuses (exit 2)
when no GPU is visible. `torch.compile` (`--compile`) stays off by default until this check shows it faster."""


def peak_flops(device_name: str, bf16: bool, override_tflops: float | None = None) -> float | None:
    """Dense peak FLOP/s of one device for bf16 (else TF32) work, or None when the device is not in the table."""
    if override_tflops:
        return override_tflops * 1e12
    for key in sorted(PEAK_TFLOPS, key=len, reverse=True):  # "H100 PCIe" before "H100"
        if key in device_name:
            return PEAK_TFLOPS[key][0 if bf16 else 1] * 1e12
    return None


def step_flops(cfg, device: torch.device, images: np.ndarray, attrs: np.ndarray) -> int:
    """FLOPs of one gan.train.train_step (cfg.d_steps D updates + one G update, forward and backward) on `images`
    (N, H, W, 3) uint8 with `attrs` (N, K), counted by torch.utils.flop_counter.FlopCounterMode; also on a CPU."""
    from torch.utils.flop_counter import FlopCounterMode

    from gan.batches import Batches
    from gan.train import build_training_networks, train_step

    cfg = replace(cfg, model=replace(cfg.model, c_dim=attrs.shape[1], img_resolution=images.shape[1]))
    G, D, G_ema, opt_G, opt_D = build_training_networks(cfg, device)
    batches = Batches(images, attrs, np.arange(len(images)), cfg.batch, cfg.seed, device)
    with FlopCounterMode(display=False) as counter:  # train_step autocasts by itself per cfg.precision
        train_step(G, D, G_ema, opt_G, opt_D, batches, cfg, 0)
    batches.close()
    return int(counter.get_total_flops())


def synthetic_batch(size: int, n: int, k: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random uint8 faces-to-be and labels: FLOPs and speed do not depend on pixel content."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8), rng.integers(0, 2, (n, k), dtype=np.uint8)


def cmd_train(args) -> int:
    from gan.train import TrainConfig, train

    cfg = TrainConfig(data=args.data, size=args.size, steps=args.steps, batch=args.batch, out=args.out,
                      sample_every=args.steps, ckpt_every=args.steps, log_every=args.log_every, metrics_every=0,
                      precision=args.precision, compile=args.compile, deterministic=args.deterministic,
                      progress=False, device="cuda")
    ticks: list[tuple[int, float]] = []
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    result = train(cfg, on_tick=lambda info: ticks.append((info["step"], time.perf_counter())) and None)
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    peak = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else 0
    out = Path(args.out)
    (out / f"gpu_check_rank{rank}.json").write_text(json.dumps({"rank": rank, "peak_memory_bytes": peak}))
    if rank == 0:
        kept = [(s, t) for s, t in ticks if s > args.warmup]
        step_s = [(t1 - t0) / (s1 - s0) for (s0, t0), (s1, t1) in zip(kept, kept[1:])]
        record = {"size": args.size, "batch": args.batch, "world": world, "steps": result["step"],
                  "state": result["state"], "precision": args.precision, "compile": args.compile,
                  "warmup_steps": args.warmup, "step_s_median": statistics.median(step_s) if step_s else None,
                  "device_name": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
                  "bf16": bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported() and args.precision != "fp32")}
        if record["step_s_median"]:
            record["images_per_s"] = args.batch / record["step_s_median"]
        (out / "gpu_check.json").write_text(json.dumps(record, indent=2))
        print(json.dumps(record))
    return 0 if result["state"] == "finished" else 1


def cmd_flops(args) -> int:
    from gan.train import TrainConfig

    device = torch.device(args.device)
    images, attrs = synthetic_batch(args.size, max(args.batch, 64))
    cfg = TrainConfig(batch=args.batch, size=args.size, precision=args.precision)
    flops = step_flops(cfg, device, images, attrs)
    print(json.dumps({"size": args.size, "batch": args.batch, "flops_per_step": flops}))
    if args.out:
        Path(args.out).write_text(json.dumps({"size": args.size, "batch": args.batch, "flops_per_step": flops}))
    return 0


def compare_checkpoints(a: str | Path, b: str | Path) -> list[str]:
    """Names of the tensors (G, G_ema, D weights and buffers, optimiser states) that differ between a and b."""
    from gan.checkpoint import load_checkpoint

    ca, cb = load_checkpoint(a), load_checkpoint(b)
    bad = [] if ca["step"] == cb["step"] else [f"step {ca['step']} vs {cb['step']}"]
    for net in ("G", "G_ema", "D"):
        for k, v in ca[net].items():
            if k not in cb[net] or not torch.equal(v, cb[net][k]):
                bad.append(f"{net}.{k}")
    for opt in ("opt_G", "opt_D"):
        for pid, st in ca[opt]["state"].items():
            for k, v in st.items():
                if torch.is_tensor(v) and not torch.equal(v, cb[opt]["state"][pid][k]):
                    bad.append(f"{opt}.{pid}.{k}")
    return bad


def cmd_compare(args) -> int:
    bad = compare_checkpoints(args.a, args.b)
    print("resumed checkpoint matches the straight run bit for bit" if not bad else
          f"MISMATCH in {len(bad)} tensors, e.g. {', '.join(bad[:5])}")
    return 0 if not bad else 1


def cmd_report(args) -> int:
    from bench.report import machine_line, write_section

    work = Path(args.work)
    rows, name = [], "unknown"
    for size in args.sizes:
        run = work / f"run{size}"
        rec = json.loads((run / "gpu_check.json").read_text())
        flops = json.loads((work / f"flops{size}.json").read_text())["flops_per_step"] * rec["world"]
        peak_mem = max(json.loads(p.read_text())["peak_memory_bytes"] for p in run.glob("gpu_check_rank*.json"))
        name = rec["device_name"]
        peak = peak_flops(name, rec["bf16"], args.peak_tflops)
        achieved = flops / rec["step_s_median"] if rec.get("step_s_median") else None
        util = f"{100 * achieved / (peak * rec['world']):.2f} %" if achieved and peak else "n/a (peak unknown)"
        rows.append(f"| {size}×{size} | {rec['world']} | {rec['batch']} | {rec['precision']}{' bf16' if rec['bf16'] else ' fp32'} "
                    f"| {rec.get('images_per_s', 0):.0f} | {1000 * (rec.get('step_s_median') or 0):.1f} "
                    f"| {peak_mem / 2 ** 30:.2f} | {flops / 1e9:.1f} | {(achieved or 0) / 1e12:.2f} | {util} |")
    checks = "\n".join(f"- {line}" for line in (Path(work / "checks.txt").read_text().splitlines()
                                                if (work / "checks.txt").exists() else []))
    slug = "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-")
    write_section(f"gpu-{slug}", f"""## GPU check on {name} (`bench/gpu_check.sh`)

{machine_line()}. Synthetic data, DDP under torchrun over every visible GPU, {args.steps} steps per size, the
first {args.warmup} left out of the timing. FLOPs: one global step (D + G updates, forward and backward) counted
by `torch.utils.flop_counter.FlopCounterMode`; peak: datasheet dense bf16 (or TF32) × GPUs.

| size | GPUs | global batch | precision | images/s | step ms | peak memory GiB (max rank) | GFLOP/step | achieved TFLOP/s | of peak |
|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

{checks}
""")
    write_section("gpu-check", STATUS + f"\n\nLast run: {machine_line()}; results in the section \"GPU check on {name}\".")
    print(f"wrote the gpu-{slug} and gpu-check sections of BENCHMARKS.md")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--data", default="synthetic:4096")
    t.add_argument("--size", type=int, default=64)
    t.add_argument("--steps", type=int, default=500)
    t.add_argument("--batch", type=int, default=64)
    t.add_argument("--log-every", type=int, default=25)
    t.add_argument("--warmup", type=int, default=100)
    t.add_argument("--precision", default="auto")
    t.add_argument("--compile", action="store_true")
    t.add_argument("--deterministic", action="store_true")
    t.add_argument("--out", required=True)
    f = sub.add_parser("flops")
    f.add_argument("--size", type=int, default=64)
    f.add_argument("--batch", type=int, default=64)
    f.add_argument("--precision", default="auto")
    f.add_argument("--device", default="cuda")
    f.add_argument("--out", default="")
    c = sub.add_parser("compare")
    c.add_argument("a")
    c.add_argument("b")
    r = sub.add_parser("report")
    r.add_argument("--work", required=True)
    r.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    r.add_argument("--steps", type=int, default=500)
    r.add_argument("--warmup", type=int, default=100)
    r.add_argument("--peak-tflops", type=float, default=None, help="per-GPU dense peak, for a device not in the table")
    args = p.parse_args(argv)
    return {"train": cmd_train, "flops": cmd_flops, "compare": cmd_compare, "report": cmd_report}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
