"""FID cost: recomputing the real side every time vs cached real statistics; Inception images/s.

    python -m bench.bench_fid --n 200            # writes the "fid" section of BENCHMARKS.md
    python -m bench.bench_fid --n 2000 --no-write

Run 1 recomputes the real statistics (refresh) and the generated side; run 2 loads the cached real
statistics and computes only the generated side. Both use the same n generated faces.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from bench.report import machine_line, write_section
from gan import paths
from gan.generate import generate_images, sample_z
from gan.metrics import fid


def _generator(ckpt: str):
    """The checkpoint's G_ema, or (when there is none) a randomly initialised one — timing does not depend on weights."""
    from gan.checkpoint import load_generator
    from gan.conditions import LabelDistribution
    from gan.data.synthetic import SYNTHETIC_ATTRIBUTES
    from gan.models import ModelConfig, build_generator

    try:
        return load_generator(ckpt), f"`{ckpt}`"
    except Exception as e:  # noqa: BLE001
        names = tuple(SYNTHETIC_ATTRIBUTES)
        torch.manual_seed(0)
        G = build_generator(ModelConfig(c_dim=len(names))).eval()
        labels = LabelDistribution(np.eye(len(names), dtype=np.uint8), np.ones(len(names), np.int64), names)

        class Stand:  # minimal LoadedGenerator for timing
            pass

        s = Stand()
        s.G, s.z_dim, s.labels, s.dataset = G, G.z_dim, labels, {"source": "synthetic:20000", "size": 64}
        return s, f"randomly initialised 64×64 generator ({type(e).__name__}: no usable `{ckpt}`)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="generated and real images (default: %(default)s)")
    ap.add_argument("--ckpt", default=str(paths.DEFAULT_CHECKPOINT))
    ap.add_argument("--data", default=None, help="real images (default: the checkpoint's dataset source)")
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    ap.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from gan.data.prepare import open_source

    loaded, gen_desc = _generator(args.ckpt)
    cache = open_source(args.data or loaded.dataset.get("source") or "synthetic:20000", size=int(loaded.dataset.get("size") or 64))
    ext = fid.load_inception()
    ext(torch.zeros(2, 3, 64, 64))  # warm-up (TorchScript profiling runs)

    def gen_side():
        t = time.perf_counter()
        c = loaded.labels.sample(args.n, np.random.default_rng(0))
        imgs = generate_images(loaded.G, sample_z(args.n, loaded.z_dim, 0), c)
        t_gen = time.perf_counter() - t
        t = time.perf_counter()
        feats = fid.extract_features(ext, imgs, batch=args.batch)
        return feats, t_gen, time.perf_counter() - t

    # Run 1: recompute the real statistics, then the generated side.
    t0 = time.perf_counter()
    real = fid.real_statistics(cache, args.n, ext, batch=args.batch, refresh=True)
    t_real = time.perf_counter() - t0
    feats, t_gen1, t_inc1 = gen_side()
    t = time.perf_counter()
    fid1 = fid.frechet_distance(*fid.feature_stats(feats), real.mu, real.sigma)
    t_fd = time.perf_counter() - t
    total_recompute = time.perf_counter() - t0

    # Run 2: cached real statistics.
    t0 = time.perf_counter()
    cached = fid.real_statistics(cache, args.n, ext, batch=args.batch)
    t_load = time.perf_counter() - t0
    assert cached.from_cache, "real statistics were not cached"
    feats2, t_gen2, t_inc2 = gen_side()
    fid2 = fid.frechet_distance(*fid.feature_stats(feats2), cached.mu, cached.sigma)
    total_cached = time.perf_counter() - t0

    ips = args.n / t_inc2
    label = fid.fid_label(args.n, real.n)
    cmd = f"python -m bench.bench_fid --n {args.n}" + (f" --threads {args.threads}" if args.threads else "")
    md = f"""## FID: cached real statistics vs recomputing the real side (`{cmd}`)

{machine_line()}, torch threads {torch.get_num_threads()} (CPU shared with other jobs while measured).
Generator: {gen_desc}. Real images: `{cache.manifest.get('source')}` (fingerprint {cache.fingerprint}).
Features: {ext.description}; resize: {fid.RESIZE_NOTE}. **n = {args.n}** generated and {real.n} real images.

| | recompute real side | cached real statistics |
|---|---|---|
| real statistics | {t_real:.1f} s (Inception on {real.n} images) | {t_load:.2f} s (load `{cached.path.name}`, {cached.path.stat().st_size / 1e6:.1f} MB) |
| generate {args.n} faces | {t_gen1:.2f} s | {t_gen2:.2f} s |
| Inception on generated | {t_inc1:.1f} s | {t_inc2:.1f} s |
| Fréchet distance (2048-d) | {t_fd:.2f} s | ≈ same |
| **total** | **{total_recompute:.1f} s** | **{total_cached:.1f} s** |
| {label} | {fid1:.2f} | {fid2:.2f} |

Time ratio recompute / cached: **{total_recompute / total_cached:.2f}×**. Inception throughput: **{ips:.1f} images/s**
(batch {args.batch}, 64→299 resize included); at that rate 2 000 images take ≈ {2000 / ips / 60:.1f} min per side.
"""
    print(md)
    if not args.no_write:
        write_section("fid", md)


if __name__ == "__main__":
    main()
