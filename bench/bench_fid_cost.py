"""FID cost: the shipped real statistics for the default dataset, and Inception on both cores.

    nice -n 19 python -m bench.bench_fid_cost build [--n 2000] [--workers 2]   # (re)make stats/synthetic20000-64px.npz
    nice -n 19 python -m bench.bench_fid_cost measure [--images 48] [--no-write]

build: the real side of FID for `synthetic:20000` at 64 px exactly as `gan.metrics.fid.real_statistics` draws it (n rows
chosen by default_rng(0), sorted), Inception features computed in --workers processes of one torch thread each (a
2-process split keeps both cores busy even when another process competes, where 2 threads of one process stall), stored
as float16 features (what FID's mu/sigma, KID, conditional FID and precision/recall all need) with mu and the
cache fingerprint, extractor, resize and sample count. float16 keeps the file under 10 MB; mu and sigma are recomputed
from the stored features (tests/test_fid.py shows the FID difference against float32 features is negligible).
measure (one run): Inception images/s at 1 and 2 torch threads and with two 1-thread processes on --images real faces
(the speed-up from using both cores), then the real side of a first FID at the default 2000 real images: computed
(estimated from the measured 2-thread rate) against loading the shipped file (timed).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SPEC, DEFAULT_N = "synthetic:20000", 2000

WORKER = """
import sys, numpy as np, torch
torch.set_num_threads(1)
from gan.data.prepare import prepare
from gan.metrics.fid import extract_features, load_inception
rows = np.load(sys.argv[1])
cache = prepare(sys.argv[2], progress=False)
np.save(sys.argv[3], extract_features(load_inception(), cache.images[rows], batch=25))
"""


def split_features(spec: str, rows: np.ndarray, workers: int) -> tuple[np.ndarray, float]:
    """Inception features (len(rows), 2048) float32 of a cache's rows, computed by `workers` 1-thread processes."""
    with tempfile.TemporaryDirectory() as tmp:
        parts = np.array_split(rows, workers)
        procs = []
        t = time.perf_counter()
        for k, part in enumerate(parts):
            np.save(f"{tmp}/rows{k}.npy", part)
            procs.append(subprocess.Popen([sys.executable, "-c", WORKER, f"{tmp}/rows{k}.npy", spec, f"{tmp}/f{k}.npy"],
                                          cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO))))
        for p in procs:
            if p.wait():
                raise RuntimeError(f"feature worker failed ({p.returncode})")
        wall = time.perf_counter() - t
        return np.concatenate([np.load(f"{tmp}/f{k}.npy") for k in range(len(parts))]), wall


def build(n: int, workers: int) -> Path:
    from gan.data.prepare import prepare
    from gan.metrics import fid
    cache = prepare(DEFAULT_SPEC, progress=False)
    extractor = fid.load_inception()
    n = min(n, len(cache))
    rows = fid.real_sample_rows(len(cache), n)
    feats, wall = split_features(DEFAULT_SPEC, rows, workers)
    path = fid.shipped_stats_file(cache.fingerprint, extractor.key, n)
    fid.write_shipped_stats(path, feats, rows, cache, extractor, dataset=f"{DEFAULT_SPEC} at {cache.size} px")
    print(f"{path}: {path.stat().st_size / 2**20:.1f} MiB, {n} images in {wall:.0f} s ({n / wall:.2f} images/s, "
          f"{workers} processes)")
    return path


def measure(images: int, write: bool) -> None:
    import torch

    from bench.report import machine_line, write_section
    from gan.data.prepare import prepare
    from gan.device import busy_cores
    from gan.metrics import fid
    cache = prepare(DEFAULT_SPEC, progress=False)
    extractor = fid.load_inception()
    rows = np.arange(images)
    batch = np.asarray(cache.images[rows])
    busy0, load0 = busy_cores(0.5), os.getloadavg()[0]
    rates = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        fid.extract_features(extractor, batch[:8], batch=8)  # warm-up at this thread count
        t = time.perf_counter()
        fid.extract_features(extractor, batch, batch=25)
        rates[f"{threads} thread{'s' if threads > 1 else ''}"] = images / (time.perf_counter() - t)
    _, wall = split_features(DEFAULT_SPEC, rows, 2)
    rates["2 processes × 1 thread (incl. ~model load)"] = images / wall
    torch.set_num_threads(2)
    # The real side of a first FID at the default 2000 real images: shipped (timed) vs computed (at the 2-thread rate).
    shipped_path = fid.shipped_stats_file(cache.fingerprint, extractor.key, DEFAULT_N)
    # A float32 computation of the same sample in this workspace (if one was made here) against the shipped file.
    local = fid.stats_path(cache.fingerprint, extractor.key, DEFAULT_N)
    check = ""
    if local.is_file() and shipped_path.is_file():
        with np.load(local) as z:
            f32 = z["feats"].astype(np.float64)
        with np.load(shipped_path) as z:
            f16 = z["feats"].astype(np.float64)
        gen_like = f32[::2]  # any second set: the FID change the float16 rounding causes against it
        d = fid.fid_from_features(f32, f16)
        delta = abs(fid.fid_from_features(gen_like, f32) - fid.fid_from_features(gen_like, f16))
        check = (f" A float32 computation of the same {DEFAULT_N} images made independently on this machine "
                 f"(`workspace/fid_stats/`) is at Fréchet distance {d:.2e} from the shipped statistics (max feature "
                 f"difference {np.abs(f32 - f16).max():.1e}), and a FID against them changes by {delta:.1e}.")
    with tempfile.TemporaryDirectory() as ws:
        os.environ["GAN_WORKSPACE"] = ws  # an empty workspace: no cached statistics, as on a fresh clone
        t = time.perf_counter()
        real = fid.real_statistics(cache, DEFAULT_N, extractor)
        load_s = time.perf_counter() - t
        os.environ.pop("GAN_WORKSPACE")
    default_rate = max(rates["1 thread"], rates["2 threads"])  # configure_threads picks the faster for this load
    computed_s = DEFAULT_N / default_rate
    one = rates["1 thread"]
    lines = "\n".join(f"| {k} | {v:.2f} | {v / one:.2f}× |" for k, v in rates.items())
    md = f"""## FID cost (`python -m bench.bench_fid_cost measure --images {images}`)

{machine_line()}; niceness {os.nice(0)}; busy cores before: {busy0:.2f} (load average {load0:.1f}).
Inception ({extractor.description}, 64→299 bilinear) on {images} real faces of `{DEFAULT_SPEC}`:

| setting | images/s | vs 1 thread |
|---|---|---|
{lines}

The CLIs call `gan.device.configure_threads()`: both cores when they are idle, one when another process keeps a core
busy (where 2 threads run slower, as above when busy cores > 0.5), so `evaluate --fid` gets the faster of the two rows.

**Shipped real statistics** (`{shipped_path.relative_to(REPO) if shipped_path.is_file() else 'missing'}`,
{shipped_path.stat().st_size / 2**20 if shipped_path.is_file() else 0:.1f} MiB): the {DEFAULT_N} real images `real_statistics`
draws for `{DEFAULT_SPEC}` at 64 px (cache fingerprint `{cache.fingerprint}`), float16 Inception features plus mu,
with the sample count, resize and extractor recorded. On a fresh workspace the real side of the first FID
({DEFAULT_N} real images) took **{load_s:.2f} s** to load (`from_cache={real.from_cache}`, `shipped={real.shipped}`)
instead of ~{computed_s:.0f} s of Inception at the faster measured rate here (**{computed_s / max(load_s, 1e-9):.0f}×**), so the
first FID at 2000 gen / 2000 real runs only the generated side: about half the Inception work. The file holds the
features, not only mu and sigma, so KID, conditional FID and precision/recall are served too; they apply only to
this dataset, this extractor and exactly {DEFAULT_N} real images — any other count, dataset or extractor computes (and
caches under workspace/fid_stats/) as before.{check}
"""
    print(md)
    if write:
        write_section("fid-cost", md)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--n", type=int, default=DEFAULT_N)
    b.add_argument("--workers", type=int, default=2)
    m = sub.add_parser("measure")
    m.add_argument("--images", type=int, default=48)
    m.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    if args.cmd == "build":
        build(args.n, args.workers)
    else:
        measure(args.images, not args.no_write)


if __name__ == "__main__":
    main()
