"""The attribute classifier: checkpoint round trip, any-resolution input, and real accuracy on synthetic faces."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from gan.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from gan.data.cache import FaceCache, write_cache
from gan.data.synthetic import SYNTHETIC_ATTRIBUTES, render_batch
from gan.metrics import classifier as clf


def _synthetic_cache(path, n, size):
    images, attrs = render_batch(0, 0, n, size)
    split = np.zeros(n, np.uint8)
    split[int(n * 0.8):int(n * 0.9)] = 1
    split[int(n * 0.9):] = 2
    write_cache(path, images, attrs, split, [f"synthetic:0:{i}" for i in range(n)],
                {"source": f"synthetic:{n}", "attribute_names": list(SYNTHETIC_ATTRIBUTES), "crop": "none"})
    return FaceCache.open(path)


def test_checkpoint_round_trip_and_any_resolution(tmp_path, monkeypatch):
    cache = _synthetic_cache(tmp_path / "c", 80, 32)
    ckpt = clf.train_classifier(cache, clf.ClassifierTrainConfig(epochs=1, batch=32), clf.ClassifierConfig(input_size=32, width=8),
                                log=lambda s: None)
    path = save_checkpoint(tmp_path / "tiny_classifier.pt", ckpt)
    raw = load_checkpoint(path, expected_kind="classifier")
    assert raw["dataset"]["fingerprint"] == cache.fingerprint and raw["attribute_names"] == list(SYNTHETIC_ATTRIBUTES)
    rm = raw["real_metrics"]
    assert rm["split"] == "test" and rm["n"] == 8
    assert set(rm["balanced_accuracy"]) == set(SYNTHETIC_ATTRIBUTES) and 0 <= rm["f1_macro_mean"] <= 1

    c = clf.load_classifier(path)
    for res in (32, 64, 20):
        p = c.predict_proba(torch.rand(3, 3, res, res) * 2 - 1)
        assert p.shape == (3, len(SYNTHETIC_ATTRIBUTES)) and ((p >= 0) & (p <= 1)).all()
    assert c.features(torch.zeros(2, 3, 64, 64)).shape == (2, 64)
    with pytest.raises(CheckpointError, match="does not exist"):
        clf.load_classifier(tmp_path / "missing.pt")
    save_checkpoint(tmp_path / "enc.pt", {"format_version": 1, "kind": "encoder"})
    with pytest.raises(CheckpointError, match="expected 'classifier'"):
        clf.load_classifier(tmp_path / "enc.pt")

    # default_classifier_for: finds a classifier whose attributes cover the generator's.
    monkeypatch.setattr(clf.paths, "DEFAULT_CLASSIFIER", tmp_path / "no_default_classifier.pt")
    gen = SimpleNamespace(attribute_names=("Male", "Smiling"), dataset={"fingerprint": cache.fingerprint})
    assert clf.default_classifier_for(gen, search=[tmp_path]) == path
    other = SimpleNamespace(attribute_names=("Male", "Attractive"), dataset={})
    assert clf.default_classifier_for(other, search=[tmp_path]) is None


@pytest.fixture
def one_thread():
    """On a shared 2-core machine two threads oversubscribe badly (measured ~10x slower); one is steady."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
def test_classifier_reaches_high_held_out_accuracy_on_synthetic_faces(tmp_path, one_thread):
    cache = _synthetic_cache(tmp_path / "c", 2000, 32)
    ckpt = clf.train_classifier(cache, clf.ClassifierTrainConfig(epochs=5, batch=64, lr=3e-3),
                                clf.ClassifierConfig(input_size=32), log=lambda s: None)
    rm = ckpt["real_metrics"]
    assert rm["split"] == "test" and rm["n"] == 200
    assert rm["balanced_accuracy_mean"] >= 0.9, rm["balanced_accuracy"]
    assert rm["f1_macro_mean"] >= 0.88


def test_cli_train_writes_a_classifier_checkpoint(tmp_path, capsys):
    from gan.__main__ import main

    _synthetic_cache(tmp_path / "c", 60, 32)
    out = tmp_path / "cli_classifier.pt"
    rc = main(["classifier", "train", "--data", f"cache:{tmp_path / 'c'}", "--out", str(out), "--epochs", "1",
               "--input-size", "32", "--batch", "16"])
    assert rc == 0 and "held-out real test" in capsys.readouterr().out
    c = clf.load_classifier(out)
    assert c.input_size == 32 and c.attribute_names == SYNTHETIC_ATTRIBUTES and c.real_metrics["n"] == 6
