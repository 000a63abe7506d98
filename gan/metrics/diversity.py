"""Variety metrics that catch collapse: intra-condition diversity (generated vs real faces with the same labels,
in pixels and in classifier features) and improved precision / recall (Kynkäänniemi et al. 2019).

Conditioning accuracy cannot see a generator whose z only changes the background: the attributes live in c.
These can: a generator that draws one face per condition scores ~0 diversity and ~0 recall.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from gan.generate import generate_images, sample_z, truncation_split

# The central face box of a 64x64 face (rows 18–50, cols 20–44), scaled with the resolution.
FACE_BOX_64 = (18, 50, 20, 44)


def face_box(resolution: int) -> tuple[slice, slice]:
    """(rows, cols) slices of the central face region at this resolution."""
    r0, r1, c0, c1 = (round(v * resolution / 64) for v in FACE_BOX_64)
    return slice(r0, r1), slice(c0, c1)


def pixel_spread(images: np.ndarray) -> tuple[float, float]:
    """Per-pixel standard deviation over N images (N, H, W, 3) uint8, in /255 units, averaged over the face box
    and over the whole image: (face, overall)."""
    x = images.astype(np.float32) / 255.0
    std = x.std(axis=0)                                          # (H, W, 3)
    rows, cols = face_box(images.shape[1])
    return float(std[rows, cols].mean()), float(std.mean())


def feature_spread(feats: np.ndarray) -> float:
    """Root of the mean per-dimension variance of features (N, F) over N: one number for their spread."""
    return float(np.sqrt(np.asarray(feats, np.float64).var(axis=0).mean()))


def diversity_ratio(gen_groups: list[np.ndarray], real_groups: list[np.ndarray],
                    gen_feats: list[np.ndarray] | None = None, real_feats: list[np.ndarray] | None = None) -> dict:
    """Intra-condition diversity: for each condition k, the spread of N generated faces over the spread of N real
    faces with the same labels, averaged over conditions (ratio of means). 1 = as varied as real faces, 0 = one face.
    gen_groups / real_groups: K arrays (N, H, W, 3) uint8; optional (N, F) classifier features per group."""
    if not gen_groups or len(gen_groups) != len(real_groups):
        raise ValueError("need the same number (> 0) of generated and real groups")
    g = np.array([pixel_spread(x) for x in gen_groups])          # (K, 2): face, overall
    r = np.array([pixel_spread(x) for x in real_groups])
    out = {"intra_condition_diversity_ratio": float(g[:, 0].mean() / max(r[:, 0].mean(), 1e-12)),
           "intra_condition_diversity_ratio_overall": float(g[:, 1].mean() / max(r[:, 1].mean(), 1e-12)),
           "intra_condition_std_face_gen": float(g[:, 0].mean()), "intra_condition_std_face_real": float(r[:, 0].mean()),
           "intra_condition_conditions": len(gen_groups), "intra_condition_n": int(min(len(x) for x in gen_groups))}
    if gen_feats is not None and real_feats is not None:
        gf = np.mean([feature_spread(f) for f in gen_feats])
        rf = np.mean([feature_spread(f) for f in real_feats])
        out["intra_condition_diversity_ratio_features"] = float(gf / max(rf, 1e-12))
    return out


# ----------------------------------------------------------------------------- precision / recall


def _kth_neighbour_radii(feats: torch.Tensor, k: int, chunk: int = 1024) -> torch.Tensor:
    """Distance of each row to its k-th nearest other row (N,)."""
    radii = []
    for i in range(0, len(feats), chunk):
        d = torch.cdist(feats[i:i + chunk], feats)               # (b, N)
        radii.append(d.kthvalue(k + 1, dim=1).values)            # +1: the row itself is at distance 0
    return torch.cat(radii)


def _coverage(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk: int = 1024) -> float:
    """Share of points inside at least one ball (centre, radius)."""
    inside = []
    for i in range(0, len(points), chunk):
        d = torch.cdist(points[i:i + chunk], centres)            # (b, M)
        inside.append((d <= radii[None, :]).any(dim=1))
    return float(torch.cat(inside).float().mean())


def precision_recall(real_feats: np.ndarray, gen_feats: np.ndarray, k: int = 3) -> dict:
    """Improved precision and recall (Kynkäänniemi et al. 2019): each set's manifold is the union of balls
    reaching each sample's k-th nearest neighbour; precision = share of generated samples inside the real
    manifold, recall = share of real samples inside the generated one."""
    real = torch.as_tensor(np.asarray(real_feats, np.float32))
    gen = torch.as_tensor(np.asarray(gen_feats, np.float32))
    if len(real) <= k or len(gen) <= k:
        raise ValueError(f"precision/recall need more than k={k} samples on each side (got {len(real)} real, {len(gen)} generated)")
    with torch.inference_mode():
        precision = _coverage(gen, real, _kth_neighbour_radii(real, k))
        recall = _coverage(real, gen, _kth_neighbour_radii(gen, k))
    return {"precision": precision, "recall": recall, "pr_k": k, "pr_n_real": len(real), "pr_n_gen": len(gen)}


# ----------------------------------------------------------------------------- real faces with given labels


class RealFacesByLabel:
    """Real faces that share a label vector: drawn by the synthetic renderer (any labels, fresh identities) when the
    model's attributes are the renderer's, otherwise taken from a dataset cache (rows with exactly those labels)."""

    def __init__(self, names: tuple[str, ...], resolution: int, cache=None, cache_names: tuple[str, ...] | None = None):
        from gan.data.synthetic import SYNTHETIC_ATTRIBUTES
        self.names, self.resolution = tuple(names), resolution
        self.rendered = self.names == SYNTHETIC_ATTRIBUTES
        self.cache = cache
        if not self.rendered:
            if cache is None:
                raise ValueError("real faces for these attributes need the dataset cache (the renderer only draws "
                                 "the 16 synthetic attributes)")
            cols = [list(cache_names or cache.attribute_names).index(n) for n in self.names]
            self.labels = np.asarray(cache.attrs, np.uint8)[:, cols]

    @property
    def source(self) -> str:
        return "renderer (fresh identities)" if self.rendered else "dataset cache (faces with identical labels)"

    def conditions(self, labels, k: int, n: int, rng: np.random.Generator) -> np.ndarray:
        """K label vectors (K, C) drawn from the label distribution; from a cache only vectors with ≥ n faces."""
        if self.rendered:
            return labels.sample(k, rng)
        rows, counts = np.unique(self.labels, axis=0, return_counts=True)
        ok = counts >= n
        if not ok.any():
            raise ValueError(f"no label vector has {n} real faces in the dataset; lower the faces per condition")
        rows, counts = rows[ok], counts[ok]
        pick = rng.choice(len(rows), size=k, p=counts / counts.sum())
        return rows[pick].astype(np.float32)

    def faces(self, row: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, R, R, 3) uint8 real faces whose labels equal `row`."""
        if self.rendered:
            from gan.data.synthetic import render_face, sample_identity
            attrs = np.asarray(row, np.uint8)
            return np.stack([render_face(sample_identity(rng), attrs, self.resolution) for _ in range(n)])
        idx = np.flatnonzero((self.labels == np.asarray(row, np.uint8)).all(axis=1))
        pick = np.sort(rng.choice(idx, size=n, replace=False))
        return np.asarray(self.cache.images[pick])

    def any_faces(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, R, R, 3) uint8 real faces with labels from the data's own distribution."""
        return self.labelled_faces(n, rng)[0]

    def labelled_faces(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """any_faces with their true labels: images (m, R, R, 3) uint8 and labels (m, C) uint8 over `names`, where
        m = n for the renderer and min(n, faces in the cache) for a dataset cache."""
        if self.rendered:
            from gan.data.synthetic import render_item
            items = [render_item(int(rng.integers(2**31)), 0, self.resolution) for _ in range(n)]
            return np.stack([im for im, _ in items]), np.stack([a for _, a in items]).astype(np.uint8)
        pick = np.sort(rng.choice(len(self.labels), size=min(n, len(self.labels)), replace=False))
        return np.asarray(self.cache.images[pick]), self.labels[pick]


def space_effect(G: torch.nn.Module, labels, real: RealFacesByLabel, space: str, k: int = 4, n: int = 16,
                 seed: int = 0) -> dict:
    """How much moving in one latent space changes the face, as a share of real variety (face region):
    z or w (w follows z through the mapping) at a fixed condition vs real faces with that condition; c at a fixed z
    (conditions from the label distribution) vs real faces of any labels. Near 0 = the space does nothing."""
    if space in ("z", "w", "w+"):
        r = intra_condition_diversity(G, labels, real, k=k, n=n, seed=seed)
        return {"space": space, "ratio": r["intra_condition_diversity_ratio"], "versus": "real faces with the same labels",
                "n": r["intra_condition_n"], "k": r["intra_condition_conditions"]}
    if space != "c":
        raise ValueError(f"unknown space {space!r}")
    rng = np.random.default_rng(seed)
    gen_face = []
    for j in range(k):  # one z, n conditions
        z = sample_z(1, G.z_dim, seed * 1000 + j).repeat(n, 1)
        gen_face.append(pixel_spread(generate_images(G, z, labels.sample(n, rng)))[0])
    real_face = pixel_spread(real.any_faces(max(n * k, 32), rng))[0]
    return {"space": space, "ratio": float(np.mean(gen_face) / max(real_face, 1e-12)), "versus": "real faces of any labels",
            "n": n, "k": k}


def intra_condition_diversity(G: torch.nn.Module, labels, real: RealFacesByLabel, k: int = 8, n: int = 64,
                              seed: int = 0, features: Callable[[np.ndarray], np.ndarray] | None = None,
                              truncation: float = 1.0) -> dict:
    """`intra_condition_diversity_ratio` of generator G (eval mode) over k conditions × n faces, with the real faces'
    source named; `features(images) -> (N, F)` adds the same ratio in that feature space."""
    rng = np.random.default_rng(seed)
    z_scale, w_psi = truncation_split(G, truncation)
    conds = real.conditions(labels, k, n, rng)                                   # (k, C)
    gen, rl, gf, rf = [], [], [], []
    for j, row in enumerate(conds):
        z = sample_z(n, G.z_dim, seed * 1000 + j, z_scale)
        gen.append(generate_images(G, z, np.repeat(row[None], n, axis=0), w_truncation=w_psi))  # (n, R, R, 3)
        rl.append(real.faces(row, n, rng))
        if features is not None:
            gf.append(features(gen[-1]))
            rf.append(features(rl[-1]))
    out = diversity_ratio(gen, rl, gf or None, rf or None)
    out["intra_condition_real_source"] = real.source
    return out
