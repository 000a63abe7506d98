"""Latent maths: interpolation, arithmetic, semantic directions (mean, linear boundary, PCA) and their scoring."""
from __future__ import annotations

from typing import Callable, Literal

import numpy as np
from sklearn.decomposition import PCA

_EPS = 1e-8


def _as_2d(x: np.ndarray, name: str) -> np.ndarray:
    """Float64 (n, D) view of a latent array; a single (D,) vector becomes (1, D)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty (n, D) array, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def _unit(d: np.ndarray, name: str = "direction") -> np.ndarray:
    """d / |d|; refuses a zero vector (it has no direction)."""
    d = np.asarray(d, dtype=np.float64).reshape(-1)
    n = np.linalg.norm(d)
    if not np.isfinite(n) or n < _EPS:
        raise ValueError(f"{name} has zero (or non-finite) length")
    return d / n


# ----------------------------------------------------------------------------- interpolation

def lerp(a: np.ndarray, b: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """Linear interpolation (1 - t)·a + t·b; t may be a scalar or (S,) giving (S, D)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    if t.ndim == 0:
        return (1.0 - t) * a + t * b
    return (1.0 - t)[:, None] * a[None] + t[:, None] * b[None]  # (S, D)


def slerp(a: np.ndarray, b: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """Spherical interpolation between a and b (D,), angle and norm interpolated together.

    Walks the great circle between the directions while the norm goes linearly from |a| to |b|, so
    the endpoints are exact and intermediate points keep a Gaussian-like norm. Falls back to lerp
    when a ∥ b (the angle is ~0 and the circle is undefined) or either vector is ~0; for
    anti-parallel vectors it picks a deterministic perpendicular to turn through.
    """
    a, b = np.asarray(a, dtype=np.float64).reshape(-1), np.asarray(b, dtype=np.float64).reshape(-1)
    t_arr = np.atleast_1d(np.asarray(t, dtype=np.float64))  # (S,)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na < _EPS or nb < _EPS:
        out = lerp(a, b, t_arr)
    else:
        ua, ub = a / na, b / nb
        cos = float(np.clip(ua @ ub, -1.0, 1.0))
        omega = np.arccos(cos)
        if omega < 1e-6:  # parallel: the path is the straight line
            out = lerp(a, b, t_arr)
        else:
            if np.pi - omega < 1e-6:  # anti-parallel: any perpendicular works; choose one reproducibly
                perp = np.zeros_like(ua)
                perp[int(np.argmin(np.abs(ua)))] = 1.0
                perp = _unit(perp - (perp @ ua) * ua)
                dirs = np.cos(np.pi * t_arr)[:, None] * ua + np.sin(np.pi * t_arr)[:, None] * perp
            else:
                so = np.sin(omega)
                dirs = (np.sin((1 - t_arr) * omega) / so)[:, None] * ua + (np.sin(t_arr * omega) / so)[:, None] * ub
            norms = (1 - t_arr) * na + t_arr * nb  # (S,)
            out = dirs * norms[:, None]  # (S, D)
            out[t_arr == 0] = a  # exact endpoints
            out[t_arr == 1] = b
    return out[0] if np.ndim(t) == 0 else out


def interpolation_path(a: np.ndarray, b: np.ndarray, steps: int,
                       method: Literal["linear", "spherical"] = "linear") -> np.ndarray:
    """`steps` points from a to b inclusive, shape (steps, D). Use "linear" for condition vectors."""
    if steps < 2:
        raise ValueError(f"steps must be >= 2, got {steps}")
    a, b = np.asarray(a, dtype=np.float64).reshape(-1), np.asarray(b, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"endpoints differ in shape: {a.shape} vs {b.shape}")
    t = np.linspace(0.0, 1.0, steps)
    if method == "linear":
        out = lerp(a, b, t)
    elif method == "spherical":
        out = slerp(a, b, t)
    else:
        raise ValueError(f"unknown interpolation method {method!r}: use 'linear' or 'spherical'")
    return out.astype(np.float32)


# ----------------------------------------------------------------------------- arithmetic

def latent_arithmetic(A: np.ndarray, B: np.ndarray, C: np.ndarray) -> np.ndarray:
    """mean(A) − mean(B) + mean(C) over groups of latents (n_i, D) → (D,) ("man with glasses" − man + woman)."""
    A, B, C = _as_2d(A, "A"), _as_2d(B, "B"), _as_2d(C, "C")
    if not (A.shape[1] == B.shape[1] == C.shape[1]):
        raise ValueError(f"groups differ in dimension: {A.shape[1]}, {B.shape[1]}, {C.shape[1]}")
    return (A.mean(0) - B.mean(0) + C.mean(0)).astype(np.float32)


def condition_arithmetic(cA: np.ndarray, cB: np.ndarray, cC: np.ndarray,
                         mode: Literal["apply", "hold"] = "apply", hold: np.ndarray | None = None) -> np.ndarray:
    """Condition vector for an arithmetic result, (K,) float32.

    "apply": the same sum on c, clipped to [0, 1] (so "+ glasses" turns the Eyeglasses input on).
    "hold": keep `hold` (e.g. C's condition) unchanged, so only z carries the edit.
    """
    if mode == "hold":
        if hold is None:
            raise ValueError("mode='hold' needs the condition vector to hold")
        return np.asarray(hold, dtype=np.float32).reshape(-1).copy()
    if mode != "apply":
        raise ValueError(f"unknown condition mode {mode!r}: use 'apply' or 'hold'")
    return np.clip(latent_arithmetic(cA, cB, cC), 0.0, 1.0).astype(np.float32)


# ----------------------------------------------------------------------------- directions

def direction_mean_difference(z_with: np.ndarray, z_without: np.ndarray) -> np.ndarray:
    """Unit vector mean(z_with) − mean(z_without), (D,) float32."""
    z1, z0 = _as_2d(z_with, "z_with"), _as_2d(z_without, "z_without")
    if z1.shape[1] != z0.shape[1]:
        raise ValueError(f"groups differ in dimension: {z1.shape[1]} vs {z0.shape[1]}")
    return _unit(z1.mean(0) - z0.mean(0), "mean difference (the groups have the same mean)").astype(np.float32)


def direction_linear_boundary(z: np.ndarray, labels: np.ndarray,
                              method: Literal["svm", "logistic"] = "svm", C: float = 1.0,
                              seed: int = 0) -> np.ndarray:
    """InterFaceGAN-style direction: unit normal of a linear boundary separating labels 0/1, pointing to 1.

    z (n, D), labels (n,) in {0, 1} with both classes present. Returns (D,) float32.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    z = _as_2d(z, "z")
    y = np.asarray(labels).reshape(-1)
    if len(y) != len(z):
        raise ValueError(f"{len(z)} latents but {len(y)} labels")
    y = (y > 0.5).astype(np.int64)
    if y.min() == y.max():
        raise ValueError("both classes (label 0 and label 1) need at least one latent")
    if method == "svm":
        clf = LinearSVC(C=C, dual="auto", max_iter=10000, random_state=seed)
    elif method == "logistic":
        clf = LogisticRegression(C=C, max_iter=2000)
    else:
        raise ValueError(f"unknown boundary method {method!r}: use 'svm' or 'logistic'")
    clf.fit(z, y)
    # coef_ points towards the positive class (label 1) by construction of the decision function.
    return _unit(clf.coef_.reshape(-1), "boundary normal").astype(np.float32)


def pca_directions(z: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """GANSpace-style principal axes of a latent sample: (components (k, D) unit rows, explained_variance_ratio (k,))."""
    z = _as_2d(z, "z")
    k = int(k)
    if not 1 <= k <= min(z.shape):
        raise ValueError(f"k must be in 1..{min(z.shape)} for {z.shape[0]} latents of dimension {z.shape[1]}")
    pca = PCA(n_components=k, svd_solver="full").fit(z)
    return pca.components_.astype(np.float32), pca.explained_variance_ratio_.astype(np.float32)


def orthogonalize(d: np.ndarray, others: np.ndarray | list[np.ndarray]) -> np.ndarray:
    """Unit d with its components along `others` (m, D) removed (Gram–Schmidt), (D,) float32.

    Used to edit one attribute while holding others fixed ("smile, but not age").
    """
    d = np.asarray(d, dtype=np.float64).reshape(-1)
    others = np.asarray(others, dtype=np.float64)
    if others.size == 0:
        return _unit(d).astype(np.float32)
    others = others.reshape(-1, d.shape[0])
    # Orthonormal basis of span(others) first, so correlated `others` are handled correctly.
    basis: list[np.ndarray] = []
    for o in others:
        for q in basis:
            o = o - (o @ q) * q
        n = np.linalg.norm(o)
        if n > 1e-6:
            basis.append(o / n)
    for q in basis:
        d = d - (d @ q) * q
    return _unit(d, "direction after removing the others (it lies in their span)").astype(np.float32)


def apply_direction(z: np.ndarray, d: np.ndarray, strengths: np.ndarray | list[float]) -> np.ndarray:
    """z + α·d̂ for each α in strengths: z (D,) → (S, D) float32. d̂ is unit length, so α is in latent std units."""
    z = np.asarray(z, dtype=np.float64).reshape(-1)
    u = _unit(d)
    if u.shape != z.shape:
        raise ValueError(f"direction has dimension {u.shape[0]}, latent has {z.shape[0]}")
    s = np.asarray(strengths, dtype=np.float64).reshape(-1)  # (S,)
    return (z[None] + s[:, None] * u[None]).astype(np.float32)


def cosine_similarity_matrix(dirs: np.ndarray | list[np.ndarray]) -> np.ndarray:
    """Pairwise cosines between directions (m, D) → (m, m) float32."""
    X = np.asarray(dirs, dtype=np.float64)
    X = X.reshape(len(X), -1)
    U = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), _EPS)
    return np.clip(U @ U.T, -1.0, 1.0).astype(np.float32)


# ----------------------------------------------------------------------------- scoring

def score_direction(probs_along_path: np.ndarray, strengths: np.ndarray | list[float],
                    target_index: int, names: list[str] | tuple[str, ...] | None = None) -> dict:
    """How well a direction moves one attribute and how much it moves the others.

    probs_along_path (S, K): classifier P(attribute) at each strength. The effect of each attribute is
    the slope of a least-squares line through (strength, prob) — change in probability per unit step.
    Returns {"target_slope", "target_change" (end − start), "leakage_mean" (mean |slope| over the other
    attributes), "leakage_max", "leakage_max_attribute" (index or name), "selectivity"
    (|target| / (leakage_mean + 1e-6)), "slopes" (K,) list}.
    """
    P = np.asarray(probs_along_path, dtype=np.float64)
    s = np.asarray(strengths, dtype=np.float64).reshape(-1)
    if P.ndim != 2 or P.shape[0] != len(s):
        raise ValueError(f"probs_along_path must be (S, K) with S={len(s)} strengths, got {P.shape}")
    if len(s) < 2 or np.ptp(s) == 0:
        raise ValueError("need at least two different strengths to fit a slope")
    K = P.shape[1]
    if not 0 <= target_index < K:
        raise ValueError(f"target_index {target_index} outside 0..{K - 1}")
    sc = s - s.mean()
    slopes = (sc @ (P - P.mean(0))) / (sc @ sc)  # (K,) least-squares slope per attribute
    others = np.delete(np.abs(slopes), target_index)
    if others.size:
        j = int(np.argmax(others))
        j = j + (j >= target_index)  # back to an index into all K attributes
        leak_mean, leak_max = float(others.mean()), float(others.max())
        worst: int | str | None = names[j] if names is not None else j
    else:
        leak_mean, leak_max, worst = 0.0, 0.0, None
    order = np.argsort(s)
    return {
        "target_slope": float(slopes[target_index]),
        "target_change": float(P[order[-1], target_index] - P[order[0], target_index]),
        "leakage_mean": leak_mean,
        "leakage_max": leak_max,
        "leakage_max_attribute": worst,
        "selectivity": float(abs(slopes[target_index]) / (leak_mean + 1e-6)),
        "slopes": slopes.tolist(),
    }


def direction_effect(probs_fn: Callable[[np.ndarray, np.ndarray], np.ndarray], z: np.ndarray, c: np.ndarray,
                     d: np.ndarray, strengths: np.ndarray | list[float]) -> np.ndarray:
    """Classifier probabilities along the slider, averaged over picked faces: (S, K).

    probs_fn(z_batch (B, D), c_batch (B, K)) -> (B, K') probabilities (e.g. classifier(G(z, c))).
    z (F, D) faces, c (F, K) their conditions (held fixed while z moves along d).
    """
    z = _as_2d(z, "z")
    c = np.asarray(c, dtype=np.float32)
    c = c[None] if c.ndim == 1 else c
    if len(c) != len(z):
        raise ValueError(f"{len(z)} latents but {len(c)} condition vectors")
    s = np.asarray(strengths, dtype=np.float64).reshape(-1)
    S, F = len(s), len(z)
    zs = np.concatenate([apply_direction(zi, d, s) for zi in z])  # (F·S, D), face-major
    cs = np.repeat(c, S, axis=0)  # (F·S, K)
    probs = np.asarray(probs_fn(zs, cs), dtype=np.float64)  # (F·S, K')
    if probs.ndim != 2 or probs.shape[0] != F * S:
        raise ValueError(f"probs_fn returned shape {probs.shape}, expected ({F * S}, K)")
    return probs.reshape(F, S, -1).mean(0).astype(np.float32)  # (S, K')


# ----------------------------------------------------------------------------- map

def pca_map(z_groups: dict[str, np.ndarray], n_components: int = 2) -> tuple[dict[str, np.ndarray], np.ndarray, PCA]:
    """Project named latent groups into a shared 2-D/3-D PCA space for the latent map.

    Returns ({name: coords (n_i, n_components) float32}, explained_variance_ratio (n_components,), fitted PCA).
    """
    if n_components not in (2, 3):
        raise ValueError(f"n_components must be 2 or 3, got {n_components}")
    groups = {k: _as_2d(v, f"group {k!r}") for k, v in z_groups.items()}
    if not groups:
        raise ValueError("no latent groups to map")
    dims = {v.shape[1] for v in groups.values()}
    if len(dims) != 1:
        raise ValueError(f"groups differ in dimension: {sorted(dims)}")
    X = np.concatenate(list(groups.values()))  # (N, D)
    if len(X) < n_components:
        raise ValueError(f"need at least {n_components} latents for a {n_components}-D map, got {len(X)}")
    pca = PCA(n_components=n_components, svd_solver="full").fit(X)
    coords = {k: pca.transform(v).astype(np.float32) for k, v in groups.items()}
    return coords, pca.explained_variance_ratio_.astype(np.float32), pca
