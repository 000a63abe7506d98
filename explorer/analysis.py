"""App-side analysis glue: classifier readings of generated faces, auto-labelled samples, direction building and scoring."""
from __future__ import annotations

import numpy as np

from explorer.faces import render

DIRECTION_METHODS = ("mean difference", "linear boundary (SVM)", "linear boundary (logistic)", "PCA component")


def classifier_names(clf) -> tuple[str, ...]:
    """Attribute names the classifier reads."""
    return tuple(clf.attribute_names)


def classify(clf, images: np.ndarray, batch: int = 256) -> np.ndarray:
    """P(attribute) (N, K_clf) float32 for (N, H, W, 3) uint8 images."""
    from gan.metrics.conditioning import classify_uint8

    cols = list(range(len(classifier_names(clf))))
    return classify_uint8(clf, np.asarray(images, np.uint8), cols, batch=batch)[0].astype(np.float32)


def labelled_sample(gen, clf, n: int, seed: int, hold: tuple[tuple[int, float], ...] = ()) -> dict:
    """n random faces: z ~ N(0, I), c from the label distribution, and the classifier's probabilities.

    hold: (attribute index, value) pairs fixed in every c — holding the target attribute's input constant
    leaves z as the only thing that can change the classifier's reading of it.
    Returns {z (n, D), c (n, K), probs (n, K_clf), names (K_clf,)}.
    """
    from gan.generate import sample_z

    z = np.asarray(sample_z(n, gen.z_dim, seed, 1.0), np.float32)
    c = gen.labels.sample(n, np.random.default_rng(seed))
    for k, v in hold:
        c[:, k] = v
    probs = classify(clf, render(gen.G, z, c))
    return dict(z=z, c=c, probs=probs, names=classifier_names(clf))


def split_by_label(z: np.ndarray, probs: np.ndarray, j: int) -> tuple[np.ndarray, np.ndarray, str | None]:
    """(z_with, z_without, fallback): faces the classifier reads as having attribute j (p > 0.5) or not.

    When one side is empty the split falls back to the top vs bottom half of P(attribute), so a direction
    towards "more of it" still exists; fallback then says which side was empty ("all" / "none" read it).
    """
    p = probs[:, j]
    on = p > 0.5
    if on.all() or not on.any():
        fallback = "all" if on.all() else "none"
        on = p > np.median(p)
        return z[on], z[~on], fallback
    return z[on], z[~on], None


def build_direction(method: str, z_with: np.ndarray, z_without: np.ndarray, pca_z: np.ndarray | None = None,
                    pca_index: int = 0) -> np.ndarray:
    """A unit direction (D,) from two groups of latents by one of DIRECTION_METHODS.

    PCA components have no sign of their own: they are flipped to point from `without` to `with`.
    """
    from gan.latent import direction_linear_boundary, direction_mean_difference, pca_directions

    if method == "mean difference":
        return direction_mean_difference(z_with, z_without)
    if method.startswith("linear boundary"):
        z = np.concatenate([z_with, z_without])
        y = np.r_[np.ones(len(z_with)), np.zeros(len(z_without))]
        return direction_linear_boundary(z, y, method="svm" if "SVM" in method else "logistic")
    if method == "PCA component":
        X = pca_z if pca_z is not None else np.concatenate([z_with, z_without])
        comps, _ = pca_directions(X, pca_index + 1)
        d = comps[pca_index]
        if len(z_with) and len(z_without) and (np.mean(z_with, 0) - np.mean(z_without, 0)) @ d < 0:
            d = -d
        return d.astype(np.float32)
    raise ValueError(f"unknown direction method {method!r}: use one of {', '.join(DIRECTION_METHODS)}")


def fmt_signed(v: float, digits: int = 3) -> str:
    """'+0.123' / '−0.045', and '0.000' (no sign) for a value that rounds to zero: '−0.000' reads as an effect."""
    text = f"{float(v):+.{digits}f}"
    return text[1:] if float(text) == 0 else text.replace("-", "−")


SELECTIVITY = "selectivity (target ÷ leakage)"
SELECTIVITY_HELP = ("selectivity = |Δ target per unit α| ÷ mean |Δ other attributes per unit α|: how many times more "
                    "the direction moves its target than it moves the rest (higher is cleaner; ~1 means it changes "
                    "everything alike).")


def target_index(target: str, names: tuple[str, ...]) -> int | None:
    """Index of `target` among the classifier's attributes, or None if it does not read it."""
    return list(names).index(target) if target in names else None


def score_row(name: str, method: str, target: str | None, probs: np.ndarray | None, strengths, clf_names) -> dict:
    """One row of the directions comparison table: gan.latent.score_direction of the target attribute."""
    from gan.latent import score_direction

    row = {"name": name, "method": method, "target": target or "—"}
    j = target_index(target or "", tuple(clf_names))
    if probs is None or j is None:
        return row
    s = score_direction(probs, strengths, j, clf_names)
    row.update({"Δ target / unit α": fmt_signed(s["target_slope"], 4), "target change": fmt_signed(s["target_change"]),
                "leakage mean": round(s["leakage_mean"], 4),
                "worst leak": f"{s['leakage_max_attribute']} {s['leakage_max']:.3f}", SELECTIVITY: round(s["selectivity"], 2)})
    return row
