"""`python -m gan evaluate`: JSON keys, labelled FID, metrics_history appended atomically."""
from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest
import torch

from gan.__main__ import main
from gan.checkpoint import load_checkpoint, save_checkpoint
from gan.conditions import LabelDistribution
from gan.data.cache import FaceCache, write_cache
from gan.metrics import fid
from gan.metrics.classifier import ClassifierConfig, ClassifierNet
from gan.metrics.evaluate import evaluate_checkpoint
from gan.models import ModelConfig, build_generator

NAMES = ["Male", "Smiling"]
REQUIRED = {"attr_accuracy_mean", "attr_accuracy", "attr_balanced_accuracy_mean", "attr_balanced_accuracy",
            "attr_f1_macro", "attr_f1", "classifier_real_accuracy_mean", "classifier_real_balanced_accuracy_mean",
            "shuffled_floor_balanced_accuracy_mean", "n", "attr_accuracy_chance", "proxy_fd_classifier"}
FID_KEYS = {"fid", "fid_n", "fid_real_n", "fid_features", "fid_resize", "fid_label", "kid", "kid_std", "cfid",
            "cfid_between", "flip_matrix"}


class FakeInception(torch.nn.Module):
    num_features, key, source, description = 12, "fake", "fake pooling", "fake-12 (test stand-in)"

    def forward(self, img):
        return torch.nn.functional.adaptive_avg_pool2d(img, 2).flatten(1)


@pytest.fixture
def setup(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    n = 120
    attrs = (rng.random((n, 2)) < [0.4, 0.5]).astype(np.uint8)
    split = np.zeros(n, np.uint8)
    split[100:] = 2
    write_cache(tmp_path / "data", rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), attrs, split,
                [f"x{i}" for i in range(n)], {"source": "test-images", "attribute_names": NAMES, "crop": "none"})
    cache = FaceCache.open(tmp_path / "data")
    torch.manual_seed(0)
    cfg = ModelConfig(img_resolution=32, z_dim=8, c_dim=2, ngf=8, ndf=8)
    G = build_generator(cfg).eval()
    labels = LabelDistribution.from_labels(attrs, tuple(NAMES))
    ckpt = {"format_version": 1, "kind": "generator", "model_config": cfg.to_dict(),
            "train_config": {"data": f"cache:{tmp_path / 'data'}"}, "attribute_names": NAMES,
            "dataset": {"fingerprint": cache.fingerprint, "source": "test-images", "crop": "none", "size": 32},
            "label_rows": torch.from_numpy(labels.rows), "label_counts": torch.from_numpy(labels.counts),
            "G": G.state_dict(), "G_ema": G.state_dict(), "step": 5, "metrics_history": [], "created": "now"}
    run = tmp_path / "runs" / "r1"
    gpath = save_checkpoint(run / "checkpoint.pt", ckpt)
    (run / "status.json").write_text('{"state": "finished"}')
    ccfg = ClassifierConfig(input_size=32, width=4, c_dim=3)
    names3 = ["Young", "Smiling", "Male"]  # a superset in another order: columns are matched by name
    real = {"split": "test", "n": 20, "accuracy": dict.fromkeys(names3, 0.9),
            "balanced_accuracy": dict.fromkeys(names3, 0.85), "f1_macro": dict.fromkeys(names3, 0.8)}
    cpath = save_checkpoint(tmp_path / "cls.pt", {"format_version": 1, "kind": "classifier", "model_config": asdict(ccfg),
                                                   "attribute_names": names3, "model": ClassifierNet(ccfg).state_dict(),
                                                   "real_metrics": real, "dataset": {}})
    monkeypatch.setattr(fid, "load_inception", lambda device="cpu": FakeInception())
    return gpath, cpath


def test_cli_json_has_the_convention_keys(setup, capsys):
    gpath, cpath = setup
    rc = main(["evaluate", "--ckpt", str(gpath), "--classifier", str(cpath), "--n", "40", "--fid", "--kid", "--cfid",
               "--flip", "--flip-n", "4", "--request", "Male, Smiling=0", "--diversity-k", "2", "--diversity-n", "12",
               "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    assert rc == 0
    r = json.loads(out[-1])
    assert REQUIRED | FID_KEYS <= set(r)
    # Variety beside FID: diversity against real faces with identical labels, precision/recall on both features.
    assert r["intra_condition_conditions"] == 2 and r["intra_condition_n"] == 12
    assert r["intra_condition_real_source"].startswith("dataset cache")
    assert 0 <= r["precision"] <= 1 and 0 <= r["recall"] <= 1 and r["pr_n_gen"] == 40 and r["pr_k"] == 3
    assert 0 <= r["recall_classifier"] <= 1
    assert set(r["attr_accuracy"]) == set(NAMES) and r["n"] == 40 and r["fid_n"] == 40 and r["fid_real_n"] == 40
    assert r["classifier_real_balanced_accuracy_mean"] == pytest.approx(0.85)
    assert r["fid_label"] == "FID(Inception-2048, 40 gen / 40 real)" and r["fid_features"].startswith("fake")
    assert "bilinear 299" in r["fid_resize"]
    assert r["cfid"] is None and r["cfid_skipped"]   # 40 images cannot fill a class of 50: skipped, said so
    table = "\n".join(out[:-1])
    assert "FID(Inception-2048, 40 gen / 40 real) =" in table and "proxy, not FID" in table
    assert r["requests"][0]["request"] == "Male, Smiling=0"


def test_metrics_history_is_appended_atomically(setup, monkeypatch):
    gpath, cpath = setup
    before = load_checkpoint(gpath)
    evaluate_checkpoint(gpath, classifier=cpath, n=20, fid=True, fid_n=20)
    r = evaluate_checkpoint(gpath, classifier=cpath, n=24)
    after = load_checkpoint(gpath)
    hist = after["metrics_history"]
    assert len(hist) == 2 and hist[1]["metrics"]["n"] == 24 and hist[0]["settings"]["fid"] is True
    assert hist[0]["date"] and "fid" in hist[0]["metrics"] and "fid" not in r
    for k, v in before["G_ema"].items():
        assert torch.equal(v, after["G_ema"][k])
    lines = (gpath.parent / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["metrics"]["n"] == 24

    # A crash while writing leaves the previous file intact and no temp file behind.
    raw = gpath.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("gan.checkpoint.torch.save", boom)
    with pytest.raises(OSError):
        evaluate_checkpoint(gpath, classifier=cpath, n=8)
    assert gpath.read_bytes() == raw
    assert sorted(p.name for p in gpath.parent.iterdir()) == ["checkpoint.pt", "metrics.jsonl", "status.json"]


def test_progress_callback_reports_stages(setup):
    gpath, cpath = setup
    seen = []
    evaluate_checkpoint(gpath, classifier=cpath, n=20, fid=True, append=False, progress=lambda s, d, t: seen.append((s, d, t)))
    stages = {s for s, _, _ in seen}
    assert {"conditioning", "fid real", "fid generated"} <= stages
    assert ("conditioning", 20, 20) in seen
