"""Tiny stand-in checkpoints (untrained, seconds to build) for the app's tests, benchmarks and a first look."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

DEMO_ATTRIBUTES = ("Eyeglasses", "Male", "Smiling", "Young")


def make_tiny_generator(path: str | Path, names: tuple[str, ...] = DEMO_ATTRIBUTES, size: int = 32, z_dim: int = 16,
                        ngf: int = 8, seed: int = 0) -> Path:
    """Write a freshly initialised generator checkpoint (format of gan.checkpoint) with a made-up label table."""
    from gan.checkpoint import code_version, save_checkpoint
    from gan.records import now_iso
    from gan.models import ModelConfig, build_networks

    torch.manual_seed(seed)
    cfg = ModelConfig(img_resolution=size, z_dim=z_dim, c_dim=len(names), c_embed_dim=8, ngf=ngf, ndf=ngf)
    G, D = build_networks(cfg)
    rng = np.random.default_rng(seed)
    attrs = (rng.random((200, len(names))) < np.linspace(0.2, 0.7, len(names))).astype(np.uint8)  # (200, K)
    rows, counts = np.unique(attrs, axis=0, return_counts=True)
    payload = {
        "format_version": 1, "kind": "generator", "model_config": cfg.to_dict(),
        "train_config": {"data": "synthetic:200", "steps": 0}, "attribute_names": list(names),
        "dataset": {"fingerprint": "demo", "source": "synthetic:200", "crop": "none", "size": size, "count": 200,
                    "label_frequencies": {n: float(f) for n, f in zip(names, attrs.mean(0))}},
        "label_rows": torch.from_numpy(rows), "label_counts": torch.from_numpy(counts.astype(np.int64)),
        "G": G.state_dict(), "G_ema": G.state_dict(), "D": D.state_dict(), "step": 0, "rng": {},
        "metrics_history": [  # two made-up evaluations in gan.metrics.evaluate's entry format, so history charts draw
            {"date": now_iso(), "kind": "evaluate", "settings": {"n": 200},
             "metrics": {"step": s, "attr_balanced_accuracy_mean": b, "attr_f1_macro": b - 0.05, "fid": f, "fid_n": 200,
                         "fid_real_n": 200, "proxy_fd_classifier": f / 100, "intra_condition_diversity_ratio": d,
                         "recall": d / 2, "precision": b}}
            for s, b, f, d in ((0, 0.5, 300.0, 0.3), (100, 0.55, 250.0, 0.5))],
        "created": now_iso(), "code_version": code_version(),
    }
    return save_checkpoint(path, payload)


def make_tiny_classifier(path: str | Path, names: tuple[str, ...] = DEMO_ATTRIBUTES, input_size: int = 32,
                         width: int = 4, seed: int = 0) -> Path:
    """Write a freshly initialised attribute classifier checkpoint (format of gan.metrics.classifier)."""
    from dataclasses import asdict

    from gan.checkpoint import code_version, save_checkpoint
    from gan.records import now_iso
    from gan.metrics.classifier import ClassifierConfig, ClassifierNet

    torch.manual_seed(seed)
    cfg = ClassifierConfig(input_size=input_size, width=width, c_dim=len(names))
    net = ClassifierNet(cfg)
    real = {"split": "test", "n": 40}
    for key in ("accuracy", "balanced_accuracy", "f1_macro"):
        real[key] = {n: 0.9 for n in names}
        real[f"{key}_mean"] = 0.9
    payload = {"format_version": 1, "kind": "classifier", "model_config": asdict(cfg), "train_config": {"epochs": 0},
               "attribute_names": list(names), "model": net.state_dict(), "real_metrics": real,
               "dataset": {"fingerprint": "demo", "source": "synthetic:200", "size": input_size, "count": 200,
                           "label_frequencies": {n: 0.4 for n in names}},
               "created": now_iso(), "code_version": code_version()}
    return save_checkpoint(path, payload)
