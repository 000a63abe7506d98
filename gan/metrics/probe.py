"""The discriminator-feature probe: drop D's real/fake head, fit a linear (logistic-regression) classifier per attribute
on D's pooled features of real training faces, and score it on held-out real faces — beside the same probe on a
randomly initialised D of the same shape, so what D learned about faces is separated from what the architecture gives."""
from __future__ import annotations

import numpy as np
import torch

from gan.metrics.conditioning import attribute_scores
from gan.pixels import images_to_tensor
from gan.models import Discriminator, ModelConfig


@torch.inference_mode()
def d_features(D: Discriminator, images: np.ndarray, batch: int = 256) -> np.ndarray:
    """Sum-pooled last-block features (N, ndf·2^k) of D for (N, H, W, 3) uint8 images (eval mode)."""
    D.eval()
    out = [D.features(images_to_tensor(images[i:i + batch])).sum(dim=(2, 3)).float().numpy()
           for i in range(0, len(images), batch)]
    return np.concatenate(out)


def linear_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray) -> np.ndarray:
    """Per-attribute balanced accuracy (K,) of standardised logistic regressions (class-balanced); NaN where the
    training labels hold one class only."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(train_x)
    a, b = scaler.transform(train_x), scaler.transform(test_x)
    pred = np.zeros_like(test_y, dtype=bool)
    for k in range(train_y.shape[1]):
        if len(np.unique(train_y[:, k])) < 2:
            pred[:, k] = bool(train_y[0, k])
            continue
        clf = LogisticRegression(max_iter=2000, class_weight="balanced", C=0.1).fit(a, train_y[:, k])
        pred[:, k] = clf.predict(b).astype(bool)
    return attribute_scores(pred, test_y)["balanced_accuracy"]


def d_probe(ckpt: dict, cache, names, n_train: int = 2000, n_test: int = 1000, seed: int = 0) -> dict:
    """Probe balanced accuracy of the checkpoint's trained D and of a random-init D on held-out real faces."""
    if "D" not in ckpt:
        raise ValueError("this checkpoint carries no discriminator (a G-only export); the probe needs D")
    cfg = ModelConfig.from_dict(ckpt["model_config"])
    cols = [list(cache.attribute_names).index(n) for n in names]
    rng = np.random.default_rng(seed)
    train = cache.indices("train")
    test = cache.indices("test")
    test = test if len(test) else cache.indices("val")
    tr = np.sort(rng.choice(train, size=min(n_train, len(train)), replace=False))
    te = np.sort(rng.choice(test, size=min(n_test, len(test)), replace=False))
    x_tr, x_te = np.asarray(cache.images[tr]), np.asarray(cache.images[te])
    y_tr, y_te = np.asarray(cache.attrs)[tr][:, cols], np.asarray(cache.attrs)[te][:, cols]
    trained = Discriminator(cfg)
    trained.load_state_dict(ckpt["D"])
    torch.manual_seed(seed)
    random = Discriminator(cfg)
    out: dict = {"d_probe_n_train": len(tr), "d_probe_n_test": len(te)}
    for key, D in (("d_probe", trained), ("d_probe_random", random)):
        bal = linear_probe(d_features(D, x_tr), y_tr, d_features(D, x_te), y_te)
        out[f"{key}_balanced_accuracy"] = {n: float(v) for n, v in zip(names, bal)}
        out[f"{key}_balanced_accuracy_mean"] = float(np.nanmean(bal))
    return out
