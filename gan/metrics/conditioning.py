"""Generator metrics as pure functions returning dicts: conditioning accuracy (with ceiling, floor and
chance beside it), flip response, conditional FID and the classifier-feature Fréchet proxy.

Vocabulary of the per-attribute scores (classifier reading thresholded at 0.5, vs the requested value):
  accuracy          fraction of images whose reading equals the request
  balanced_accuracy (TPR + TNR) / 2; a class absent from the requests is left out of the mean
  f1 (macro)        mean of the F1 of the "on" class and the F1 of the "off" class (binary macro-F1)
  f1_positive       F1 of the "on" class alone
Means are unweighted over attributes. `attr_accuracy_chance` is what always answering each attribute's
majority requested value would score, for context: accuracy alone flatters rare attributes.

Generators are used through the LoadedGenerator contract (`G`, `z_dim`, `attribute_names`, `labels`);
classifiers through `attribute_names`, `predict_proba(img)`, `features(img)`, `real_metrics`.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from gan.generate import generate_images, sample_z, truncation_split
from gan.metrics.fid import fid_from_features, frechet_distance_factored
from gan.pixels import images_to_tensor

Progress = Callable[[str, int, int], None]  # (stage, done, total)

SHUFFLED_FLOOR_METHOD = ("same generated images scored against a random permutation of the requested vectors "
                         "(equivalent in distribution to generating with shuffled conditions)")
PROXY_LABEL = "classifier-feature Fréchet distance (proxy, not FID)"


# ----------------------------------------------------------------------------- scores


def attribute_scores(pred: np.ndarray, target: np.ndarray) -> dict[str, np.ndarray]:
    """Per-attribute accuracy, balanced accuracy, macro-F1 and positive-class F1 of 0/1 arrays (N, K)."""
    p, t = np.asarray(pred).astype(bool), np.asarray(target).astype(bool)
    if p.shape != t.shape or p.ndim != 2:
        raise ValueError(f"pred {p.shape} and target {t.shape} must both be (N, K)")
    tp = (p & t).sum(0).astype(np.float64)
    tn = (~p & ~t).sum(0).astype(np.float64)
    fp = (p & ~t).sum(0).astype(np.float64)
    fn = (~p & t).sum(0).astype(np.float64)
    pos, neg = tp + fn, tn + fp
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = np.where(pos > 0, tp / pos, np.nan)
        tnr = np.where(neg > 0, tn / neg, np.nan)
        balanced = np.nanmean(np.stack([tpr, tnr]), axis=0)  # one class absent → the other's recall
        f1_pos = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 1.0)
        f1_neg = np.where(2 * tn + fn + fp > 0, 2 * tn / (2 * tn + fn + fp), 1.0)
    return {"accuracy": (tp + tn) / max(1, len(p)), "balanced_accuracy": balanced,
            "f1_macro": (f1_pos + f1_neg) / 2, "f1_positive": f1_pos}


def majority_chance(target: np.ndarray) -> np.ndarray:
    """Accuracy of always answering each attribute's majority value, (K,)."""
    rate = np.asarray(target, np.float64).mean(0)
    return np.maximum(rate, 1 - rate)


def _named(names: Sequence[str], values) -> dict[str, float]:
    return {n: float(v) for n, v in zip(names, values)}


def classifier_columns(classifier, names: Sequence[str]) -> list[int]:
    """Indices of `names` among the classifier's attributes; raises if it cannot read one of them."""
    have = list(classifier.attribute_names)
    missing = [n for n in names if n not in have]
    if missing:
        raise ValueError(f"the classifier does not read {', '.join(missing)} (it knows {', '.join(have)}); "
                         "train one on this dataset: python -m gan classifier train --data …")
    return [have.index(n) for n in names]


def classify_uint8(classifier, images: np.ndarray, columns: list[int], batch: int = 256,
                   want_features: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Classifier probabilities (N, len(columns)) of (N, H, W, 3) uint8 images, and optionally features (N, F)."""
    probs, feats = [], []
    for i in range(0, len(images), batch):
        x = images_to_tensor(images[i:i + batch])
        with torch.inference_mode():
            probs.append(classifier.predict_proba(x)[:, columns].float().cpu().numpy())
            if want_features:
                feats.append(classifier.features(x).float().cpu().numpy())
    probs_all = np.concatenate(probs) if probs else np.zeros((0, len(columns)), np.float32)
    return probs_all, (np.concatenate(feats) if want_features and feats else None)


def real_ceiling(classifier, names: Sequence[str]) -> dict:
    """The classifier's own held-out scores on real images (stored at training), for `names`."""
    rm = getattr(classifier, "real_metrics", None) or {}
    out: dict = {}
    for key, short in (("accuracy", "accuracy"), ("balanced_accuracy", "balanced_accuracy"), ("f1_macro", "f1_macro")):
        per = rm.get(key, {})
        vals = {n: float(per[n]) for n in names if n in per}
        if vals:
            out[f"classifier_real_{short}"] = vals
            out[f"classifier_real_{short}_mean"] = float(np.mean(list(vals.values())))
    blurred = rm.get("blurred") or {}
    per = blurred.get("balanced_accuracy", {})
    vals = {n: float(per[n]) for n in names if n in per}
    if vals:  # the ceiling on held-out real faces blurred like a generator's (sigma in pixels)
        out["classifier_real_blurred_balanced_accuracy"] = vals
        out["classifier_real_blurred_balanced_accuracy_mean"] = float(np.mean(list(vals.values())))
        out["classifier_real_blurred_sigma"] = blurred.get("sigma")
    if rm:
        out["classifier_real_split"] = rm.get("split")
        out["classifier_real_n"] = rm.get("n")
    return out


# ----------------------------------------------------------------------------- conditioning


def conditioning_report(loaded, classifier, n: int = 2000, seed: int = 0, batch: int = 100,
                        requests: Sequence | None = None, request_n: int = 100, truncation: float = 1.0,
                        progress: Progress | None = None, return_samples: bool = False) -> dict:
    """How well generated images show the attributes they were asked for.

    Requested vectors c are drawn from the dataset's joint label distribution (`loaded.labels.sample`);
    z from `sample_z(n, z_dim, seed)`. Reports accuracy / balanced accuracy / macro-F1 per attribute and
    their means, the classifier's real-image ceiling, the shuffled floor (SHUFFLED_FLOOR_METHOD) and the
    majority-value chance. `requests` (AttributeRequests) are scored on the attributes they fix, beside
    how often the generator shows them when not asked (floor). With return_samples the generated uint8
    images and c come back under "_images" / "_c" (not JSON; for FID reuse).
    """
    names = list(loaded.attribute_names)
    cols = classifier_columns(classifier, names)
    rng = np.random.default_rng(seed)
    c = loaded.labels.sample(n, rng)                                   # (n, K) float32 in {0, 1}
    z_scale, w_psi = truncation_split(loaded.G, truncation)            # ψ scales z (DCGAN) or acts in W (style)
    z = sample_z(n, loaded.z_dim, seed, z_scale)                        # (n, z_dim)
    images, probs = [], []
    for i in range(0, n, batch):
        img = generate_images(loaded.G, z[i:i + batch], c[i:i + batch], batch_size=batch, w_truncation=w_psi)  # uint8
        images.append(img)
        probs.append(classify_uint8(classifier, img, cols)[0])
        if progress:
            progress("conditioning", min(i + batch, n), n)
    images_all, probs_all = np.concatenate(images), np.concatenate(probs)
    pred = probs_all >= 0.5                                              # (n, K) classifier reading
    s = attribute_scores(pred, c)
    floor = attribute_scores(pred, c[rng.permutation(n)])
    chance = majority_chance(c)
    out = {
        "n": int(n), "seed": int(seed), "truncation": float(truncation), "attribute_names": names,
        "attr_accuracy_mean": float(s["accuracy"].mean()), "attr_accuracy": _named(names, s["accuracy"]),
        "attr_balanced_accuracy_mean": float(np.nanmean(s["balanced_accuracy"])),
        "attr_balanced_accuracy": _named(names, s["balanced_accuracy"]),
        "attr_f1_macro": float(s["f1_macro"].mean()), "attr_f1": _named(names, s["f1_macro"]),
        "attr_f1_positive_mean": float(s["f1_positive"].mean()), "attr_f1_positive": _named(names, s["f1_positive"]),
        "attr_accuracy_chance_mean": float(chance.mean()), "attr_accuracy_chance": _named(names, chance),
        "shuffled_floor_accuracy_mean": float(floor["accuracy"].mean()),
        "shuffled_floor_balanced_accuracy_mean": float(np.nanmean(floor["balanced_accuracy"])),
        "shuffled_floor_balanced_accuracy": _named(names, floor["balanced_accuracy"]),
        "shuffled_floor_f1_macro": float(floor["f1_macro"].mean()),
        "shuffled_floor_method": SHUFFLED_FLOOR_METHOD,
        "requested_rate": _named(names, c.mean(0)), "generated_rate": _named(names, pred.mean(0)),
    }
    out.update(real_ceiling(classifier, names))
    if requests:
        out["requests"] = [_request_report(loaded, classifier, cols, r, request_n, seed + 1 + k, truncation, pred)
                           for k, r in enumerate(requests)]
    if return_samples:
        out["_images"], out["_c"] = images_all, c
    return out


def _request_report(loaded, classifier, cols, request, m: int, seed: int, truncation: float,
                    unasked_pred: np.ndarray) -> dict:
    """One hand-picked request: per fixed attribute the hit rate, all-fixed-match rate, and its floor."""
    names = list(loaded.attribute_names)
    c, possible = loaded.labels.fill(request, m, np.random.default_rng(seed))
    z_scale, w_psi = truncation_split(loaded.G, truncation)
    img = generate_images(loaded.G, sample_z(m, loaded.z_dim, seed, z_scale), c, w_truncation=w_psi)
    pred = classify_uint8(classifier, img, cols)[0] >= 0.5
    fixed = np.flatnonzero(request.specified)
    want = request.values[fixed].astype(bool)
    hit = pred[:, fixed] == want                                          # (m, F)
    floor = unasked_pred[:, fixed] == want                                # images generated for random c
    return {"request": str(request), "n": int(m), "possible": bool(possible),
            "all_match": float(hit.all(1).mean()), "all_match_floor": float(floor.all(1).mean()),
            "per_attribute": {names[j]: float(hit[:, k].mean()) for k, j in enumerate(fixed)}}


def flip_response(loaded, classifier, n: int = 200, seed: int = 0, batch: int = 100,
                  progress: Progress | None = None) -> dict:
    """K×K matrix M[a][b]: with z and the other attributes fixed, setting a=0 vs a=1, the fraction of
    images where the classifier's reading of b changes. The diagonal should be high, the rest low.
    `flip_correct[a]`: fraction reading a=0 at a=0 and a=1 at a=1."""
    names = list(loaded.attribute_names)
    cols = classifier_columns(classifier, names)
    k = len(names)
    z = sample_z(n, loaded.z_dim, seed)
    base = loaded.labels.sample(n, np.random.default_rng(seed))
    matrix = np.zeros((k, k))
    correct = np.zeros(k)
    for a in range(k):
        reads = []
        for v in (0.0, 1.0):
            c = base.copy()
            c[:, a] = v
            img = generate_images(loaded.G, z, c, batch_size=batch)
            reads.append(classify_uint8(classifier, img, cols)[0] >= 0.5)  # (n, K)
        matrix[a] = (reads[0] != reads[1]).mean(0)
        correct[a] = (~reads[0][:, a] & reads[1][:, a]).mean()
        if progress:
            progress("flip", a + 1, k)
    off = matrix[~np.eye(k, dtype=bool)]
    return {"flip_matrix": matrix.tolist(), "flip_attribute_names": names, "flip_n": int(n),
            "flip_diagonal_mean": float(np.diag(matrix).mean()), "flip_offdiagonal_mean": float(off.mean()) if off.size else 0.0,
            "flip_correct": _named(names, correct), "flip_correct_mean": float(correct.mean())}


# ----------------------------------------------------------------------------- distances


def conditional_fid(gen_feats: np.ndarray, gen_c: np.ndarray, real_feats: np.ndarray, real_attrs: np.ndarray,
                    names: Sequence[str], min_count: int = 50) -> dict:
    """Conditional FID over binary attributes (within- and between-class, after Benny et al., "Evaluation
    metrics for conditional image generation", IJCV 2021), on the same features as the FID.

    For attribute a with classes k ∈ {on, off}: X_k = generated features requested with a = k,
    Y_k = real features labelled a = k.
      within_a  = ½ Σ_k FD(X_k, Y_k)                         (intra-class FID, averaged over the 2 classes)
      between_a = FD(N(μ̄_X, B_X), N(μ̄_Y, B_Y)),  μ̄ = Σ_k p_k μ_k,  B = Σ_k p_k (μ_k − μ̄)(μ_k − μ̄)ᵀ
                  (Fréchet distance of the class-mean distributions, p_k = class share of that side)
      cfid = cfid_within = mean_a within_a;  cfid_between = mean_a between_a
    FD(·,·) is the Fréchet distance of Gaussians fitted to the two feature sets. A class with fewer than
    `min_count` samples on either side is skipped and listed in `cfid_skipped` (few samples inflate FD).
    """
    gen_c, real_attrs = np.asarray(gen_c) > 0.5, np.asarray(real_attrs) > 0.5
    per, within, between, skipped = {}, [], [], []
    for j, name in enumerate(names):
        fds, means = {}, {"gen": [], "real": []}
        for label, flag in (("on", True), ("off", False)):
            xg, yr = gen_feats[gen_c[:, j] == flag], real_feats[real_attrs[:, j] == flag]
            if min(len(xg), len(yr)) < max(2, min_count):
                skipped.append(f"{name}={label} ({len(xg)} gen / {len(yr)} real)")
                continue
            fds[label] = fid_between(xg, yr)
            means["gen"].append((len(xg) / len(gen_feats), xg.astype(np.float64).mean(0)))
            means["real"].append((len(yr) / len(real_feats), yr.astype(np.float64).mean(0)))
        entry = {f"fd_{k}": v for k, v in fds.items()}
        if len(fds) == 2:
            mg, bg = _class_mean_gaussian(means["gen"])
            mr, br = _class_mean_gaussian(means["real"])
            entry["within"] = (fds["on"] + fds["off"]) / 2
            entry["between"] = frechet_distance_factored(mg, bg, mr, br)
            within.append(entry["within"])
            between.append(entry["between"])
        per[name] = entry
    return {"cfid": float(np.mean(within)) if within else float("nan"),
            "cfid_within": float(np.mean(within)) if within else float("nan"),
            "cfid_between": float(np.mean(between)) if between else float("nan"),
            "cfid_per_attribute": per, "cfid_attributes": len(within), "cfid_skipped": skipped,
            "cfid_min_count": int(min_count)}


def _class_mean_gaussian(weighted_means: list[tuple[float, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Mean μ̄ and a factor (C, F) of the weighted scatter B = factorᵀ factor of class means [(p_k, μ_k)],
    weights renormalised to sum 1: factor row k = √p_k (μ_k − μ̄)."""
    p = np.array([w for w, _ in weighted_means])
    p = p / p.sum()
    mus = np.stack([m for _, m in weighted_means])                       # (C, F)
    mbar = (p[:, None] * mus).sum(0)
    return mbar, np.sqrt(p)[:, None] * (mus - mbar)


def fid_between(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """Fréchet distance of Gaussians fitted to two feature sets."""
    return fid_from_features(feats_a, feats_b)


def frechet_proxy(gen_feats: np.ndarray, real_feats: np.ndarray) -> dict:
    """Fréchet distance in the attribute classifier's penultimate feature space — a cheap proxy, NOT FID."""
    return {"proxy_fd_classifier": fid_between(gen_feats, real_feats), "proxy_fd_classifier_label": PROXY_LABEL,
            "proxy_fd_n": int(len(gen_feats)), "proxy_fd_real_n": int(len(real_feats))}
