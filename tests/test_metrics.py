"""Conditioning metrics can fail: an unconditional stand-in scores at the floor, a perfect one near 1.

Stand-ins: images carry their labels as bright 4×4 patches (patch k lit ⇔ attribute k on); an oracle
"classifier" reads the patches. Generators are tiny nn.Modules over the LoadedGenerator contract.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from sklearn.metrics import balanced_accuracy_score, f1_score

from gan.attributes import parse_request
from gan.conditions import LabelDistribution
from gan.metrics import conditioning as metrics

NAMES = ("Eyeglasses", "Male", "Smiling", "Young")
FREQ = np.array([0.15, 0.4, 0.5, 0.8])
SIZE = 16


def paint(c: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
    """(B, K) labels → (B, 3, 16, 16) images in [-1, 1]; patch k (row 0, columns 4k…4k+3) lit when on."""
    img = torch.full((len(c), 3, SIZE, SIZE), -0.8)
    for k in range(c.shape[1]):
        img[:, :, :4, 4 * k:4 * k + 4] = torch.where(c[:, k:k + 1] > 0.5, 0.8, -0.8)[:, :, None, None]
    if noise is not None:
        img[:, :, 8:, :] = noise[:, :1, None, None].tanh()  # z shows up elsewhere in the image
    return img


class OracleClassifier:
    attribute_names = NAMES
    real_metrics = {"split": "test", "n": 100, "accuracy": dict.fromkeys(NAMES, 0.99),
                    "balanced_accuracy": dict.fromkeys(NAMES, 0.98), "f1_macro": dict.fromkeys(NAMES, 0.97)}

    def predict_proba(self, img):
        patches = torch.stack([img[:, :, :4, 4 * k:4 * k + 4].mean((1, 2, 3)) for k in range(len(NAMES))], 1)
        return (patches > 0).float() * 0.9 + 0.05

    def features(self, img):
        return torch.nn.functional.adaptive_avg_pool2d(img, 4).flatten(1)


class PerfectG(torch.nn.Module):
    """Shows exactly the requested attributes."""

    z_dim, img_resolution = 8, SIZE

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, z, c):
        return paint(c, z)


class UnconditionalG(PerfectG):
    """Ignores c: returns a real image drawn at random (chosen by z) from the label distribution."""

    def __init__(self, bank: np.ndarray):
        super().__init__()
        self.bank = torch.from_numpy(bank).float()

    def forward(self, z, c):
        pick = (z[:, 0].abs() * 1e6).long() % len(self.bank)
        return paint(self.bank[pick], z)


def _labels(n=4000, seed=0):
    return (np.random.default_rng(seed).random((n, len(NAMES))) < FREQ).astype(np.uint8)


def _loaded(G):
    bank = _labels()
    return SimpleNamespace(G=G, z_dim=G.z_dim, img_resolution=SIZE, attribute_names=NAMES,
                           labels=LabelDistribution.from_labels(bank, NAMES), dataset={})


def test_attribute_scores_match_sklearn():
    rng = np.random.default_rng(1)
    target = (rng.random((300, 4)) < FREQ).astype(int)
    pred = np.where(rng.random((300, 4)) < 0.8, target, 1 - target)
    s = metrics.attribute_scores(pred, target)
    for k in range(4):
        assert s["balanced_accuracy"][k] == pytest.approx(balanced_accuracy_score(target[:, k], pred[:, k]))
        assert s["f1_macro"][k] == pytest.approx(f1_score(target[:, k], pred[:, k], average="macro"))
        assert s["f1_positive"][k] == pytest.approx(f1_score(target[:, k], pred[:, k]))
        assert s["accuracy"][k] == pytest.approx((target[:, k] == pred[:, k]).mean())
    assert metrics.majority_chance(target) == pytest.approx(np.maximum(target.mean(0), 1 - target.mean(0)))


def test_unconditional_generator_scores_at_the_floor():
    loaded = _loaded(UnconditionalG(_labels(seed=9)))
    r = metrics.conditioning_report(loaded, OracleClassifier(), n=1500, seed=0, batch=500)
    assert 0.44 < r["attr_balanced_accuracy_mean"] < 0.56                      # the metric can fail
    assert abs(r["attr_balanced_accuracy_mean"] - r["shuffled_floor_balanced_accuracy_mean"]) < 0.05
    # Accuracy of independent guesses is p² + (1 − p)², i.e. it still "looks" decent for skewed attributes.
    p = np.array([r["requested_rate"][n] for n in NAMES])
    assert r["attr_accuracy_mean"] == pytest.approx(float((p ** 2 + (1 - p) ** 2).mean()), abs=0.03)
    assert r["attr_accuracy_mean"] <= r["attr_accuracy_chance_mean"] + 0.02
    assert 0.4 < r["attr_f1_macro"] < 0.6
    assert r["classifier_real_balanced_accuracy_mean"] == pytest.approx(0.98)


def test_perfect_generator_scores_high_and_floor_stays_low():
    r = metrics.conditioning_report(_loaded(PerfectG()), OracleClassifier(), n=800, seed=0, batch=400,
                                    requests=[parse_request("Eyeglasses, Male=0", NAMES)], request_n=50)
    assert r["attr_balanced_accuracy_mean"] == 1.0 and r["attr_f1_macro"] == 1.0 and r["attr_accuracy_mean"] == 1.0
    assert 0.44 < r["shuffled_floor_balanced_accuracy_mean"] < 0.56
    assert r["shuffled_floor_method"].startswith("same generated images")
    req = r["requests"][0]
    assert req["all_match"] == 1.0 and req["per_attribute"] == {"Eyeglasses": 1.0, "Male": 1.0}
    assert req["all_match_floor"] < 0.2                                          # ≈ P(Eyeglasses, not Male) = 0.09
    for key in ("attr_accuracy", "attr_balanced_accuracy", "attr_f1", "attr_accuracy_chance"):
        assert set(r[key]) == set(NAMES)


def test_flip_response_diagonal():
    good = metrics.flip_response(_loaded(PerfectG()), OracleClassifier(), n=60, seed=1)
    m = np.array(good["flip_matrix"])
    assert m.shape == (4, 4) and np.allclose(np.diag(m), 1) and good["flip_offdiagonal_mean"] == 0
    assert good["flip_correct_mean"] == 1.0
    bad = metrics.flip_response(_loaded(UnconditionalG(_labels(seed=9))), OracleClassifier(), n=60, seed=1)
    assert bad["flip_diagonal_mean"] == 0.0


def test_conditional_fid_sees_what_fid_misses():
    rng = np.random.default_rng(0)
    labels = (rng.random((1200, 2)) < [0.5, 0.3]).astype(np.uint8)
    feats = rng.normal(size=(1200, 6)) + 2.0 * labels @ np.eye(2, 6)         # attribute k shifts dimension k
    real = metrics.conditional_fid(feats, labels, feats, labels, ["A", "B"])
    assert real["cfid"] == pytest.approx(0, abs=1e-8) and real["cfid_between"] == pytest.approx(0, abs=1e-8)
    shuffled = labels[rng.permutation(1200)]                                    # right images, wrong conditions
    bad = metrics.conditional_fid(feats, shuffled, feats, labels, ["A", "B"])
    assert metrics.fid_between(feats, feats) == pytest.approx(0, abs=1e-8)    # plain FID cannot tell
    assert bad["cfid"] > 0.5 and bad["cfid_between"] > 0.5
    few = metrics.conditional_fid(feats[:60], labels[:60], feats, labels, ["A", "B"], min_count=50)
    assert few["cfid_skipped"]


def test_proxy_is_labelled_as_a_proxy():
    rng = np.random.default_rng(0)
    r = metrics.frechet_proxy(rng.normal(size=(100, 5)), rng.normal(size=(80, 5)))
    assert set(r) >= {"proxy_fd_classifier", "proxy_fd_classifier_label", "proxy_fd_n", "proxy_fd_real_n"}
    assert "proxy, not FID" in r["proxy_fd_classifier_label"]
