"""Cheap metrics measured during training (into metrics.jsonl), so collapse shows while it happens: intra-condition
diversity, balanced accuracy and classifier-feature precision/recall on a few hundred samples, and a 2-D PCA of
the run's fixed latent samples for the Trainer page's live map."""
from __future__ import annotations

import sys
from types import SimpleNamespace

import numpy as np
import torch

from gan.generate import generate_images, sample_z
from gan.metrics.conditioning import classifier_columns, attribute_scores, classify_uint8
from gan.metrics.diversity import RealFacesByLabel, intra_condition_diversity, precision_recall

LIVE_SEED = 12345  # fixed samples, so successive ticks are comparable
MIN_PER_CONDITION = 4  # fewer real faces per label vector than this: no diversity ratio


class LiveMetrics:
    """Measures G_ema with fixed seeds; never touches the training RNG streams."""

    def __init__(self, cache, names: tuple[str, ...], labels, train_index: np.ndarray, n: int = 256,
                 k: int = 8, per_condition: int = 32, classifier_path=None):
        self.names, self.labels, self.n, self.k, self.per = tuple(names), labels, n, k, per_condition
        self.real = RealFacesByLabel(self.names, cache.size, cache, tuple(cache.attribute_names))
        if not self.real.rendered:  # a cache: at most as many faces per condition as its largest label group holds
            self.per = int(min(per_condition, np.unique(self.real.labels, axis=0, return_counts=True)[1].max()))
        rng = np.random.default_rng(LIVE_SEED)
        pick = np.sort(rng.choice(train_index, size=min(n, len(train_index)), replace=False))
        self.real_images = np.asarray(cache.images[pick])                   # (n, R, R, 3) uint8
        self.classifier, self.cols = None, None
        if classifier_path is None:
            from gan.metrics.classifier import default_classifier_for
            classifier_path = default_classifier_for(SimpleNamespace(attribute_names=self.names,
                                                                     dataset={"fingerprint": cache.fingerprint}))
        if classifier_path is not None:
            from gan.metrics.classifier import load_classifier
            self.classifier = load_classifier(classifier_path)
            self.cols = classifier_columns(self.classifier, self.names)
            _, self.real_feats = classify_uint8(self.classifier, self.real_images, self.cols, want_features=True)
        else:
            print("live metrics: no attribute classifier reads these attributes; measuring diversity only",
                  file=sys.stderr)

    @torch.no_grad()
    def measure(self, G: torch.nn.Module) -> dict:
        """One record: diversity ratio (pixels, and classifier features when there is a classifier), balanced
        accuracy, precision/recall on classifier features, and `pca` (2-D coordinates of the fixed samples)."""
        feats_fn = None
        if self.classifier is not None:
            feats_fn = lambda imgs: classify_uint8(self.classifier, imgs, self.cols, want_features=True)[1]  # noqa: E731
        out = {"kind": "live", "live_n": self.n}
        if self.per >= MIN_PER_CONDITION:
            out.update(intra_condition_diversity(G, self.labels, self.real, k=self.k, n=self.per, seed=LIVE_SEED,
                                                 features=feats_fn))
        c = self.labels.sample(self.n, np.random.default_rng(LIVE_SEED))    # (n, C)
        z = sample_z(self.n, G.z_dim, LIVE_SEED)
        images = generate_images(G, z, c)
        if self.classifier is not None:
            probs, feats = classify_uint8(self.classifier, images, self.cols, want_features=True)
            s = attribute_scores(probs >= 0.5, c)
            out["attr_balanced_accuracy_mean"] = float(np.nanmean(s["balanced_accuracy"]))
            pr = precision_recall(self.real_feats, feats)
            out.update({"precision_classifier": pr["precision"], "recall_classifier": pr["recall"]})
        out["pca"] = latent_pca(G, z, torch.as_tensor(c))
        return out


def latent_pca(G: torch.nn.Module, z: torch.Tensor, c: torch.Tensor, n_points: int = 128) -> dict:
    """2-D PCA of the run's fixed latent samples (w for a style G, z otherwise) with explained variance ratios."""
    with torch.no_grad():
        x = G.mapping(z[:n_points], c[:n_points]) if hasattr(G, "mapping") else z[:n_points]
    x = x.double() - x.double().mean(0)
    _, s, v = torch.linalg.svd(x, full_matrices=False)
    var = s ** 2
    xy = (x @ v[:2].T).float().numpy()
    return {"space": "w" if hasattr(G, "mapping") else "z", "xy": np.round(xy.astype(np.float64), 3).tolist(),
            "explained": [float(e) for e in (var[:2] / var.sum()).tolist()]}
