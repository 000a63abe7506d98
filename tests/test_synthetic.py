"""Tests of the built-in synthetic face renderer: determinism, shapes, label rules, visibility, learnability."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from gan.attributes import CELEBA_ATTRIBUTES
from gan.data import synthetic as S
from gan.data.synthetic import ATTRIBUTE_TABLE, SYNTHETIC_ATTRIBUTES, render_face, render_item, sample_attributes, sample_identity

IX = {n: i for i, n in enumerate(SYNTHETIC_ATTRIBUTES)}
HAIR = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair"]


@pytest.fixture(scope="module")
def labels():
    return np.stack([sample_attributes(np.random.default_rng([7, i])) for i in range(4000)])  # (N, K)


def test_names_in_celeba_order():
    idx = [CELEBA_ATTRIBUTES.index(n) for n in SYNTHETIC_ATTRIBUTES]
    assert idx == sorted(idx) and len(SYNTHETIC_ATTRIBUTES) == 16
    assert [row[0] for row in ATTRIBUTE_TABLE] == list(SYNTHETIC_ATTRIBUTES)


def test_deterministic_and_varied():
    a, la = render_item(3, 11)
    b, lb = render_item(3, 11)
    c, _ = render_item(3, 12)
    assert a.tobytes() == b.tobytes() and np.array_equal(la, lb)
    assert np.abs(a.astype(int) - c.astype(int)).mean() > 10


@pytest.mark.parametrize("size", [64, 128])
def test_shapes(size):
    img, attrs = render_item(0, 0, size)
    assert img.shape == (size, size, 3) and img.dtype == np.uint8
    assert attrs.shape == (len(SYNTHETIC_ATTRIBUTES),) and attrs.dtype == np.uint8
    imgs, la = S.render_batch(0, 5, 3, size)
    assert imgs.shape == (3, size, size, 3) and la.shape == (3, len(SYNTHETIC_ATTRIBUTES))
    assert np.array_equal(imgs[0], render_item(0, 5, size)[0])


def test_correlation_rules(labels):
    L = {n: labels[:, i].astype(bool) for n, i in IX.items()}
    women = ~L["Male"]
    for n in ("Mustache", "Bald"):
        assert not (L[n] & women).any(), n
    assert not (~L["No_Beard"] & women).any()
    hair = labels[:, [IX[n] for n in HAIR]].sum(1)
    assert hair.max() == 1
    assert not (hair.astype(bool) & (L["Bald"] | L["Wearing_Hat"])).any()
    assert not (L["Bald"] & L["Wearing_Hat"]).any()
    assert not (L["Bangs"] & (L["Bald"] | L["Wearing_Hat"])).any()
    assert L["Gray_Hair"][~L["Young"]].mean() > 5 * L["Gray_Hair"][L["Young"]].mean()
    for n in ("Heavy_Makeup", "Wearing_Lipstick"):
        assert L[n][women].mean() > 20 * max(L[n][~women].mean(), 1e-3)


def test_frequencies_match_table(labels):
    freq = labels.mean(0)
    for name, _celeba, ours, _rule in ATTRIBUTE_TABLE:
        assert abs(freq[IX[name]] - ours) < 0.025, (name, freq[IX[name]], ours)
    for n in ("Bald", "Eyeglasses", "Wearing_Hat", "Mustache", "Gray_Hair", "Pale_Skin"):  # boosted rare ones
        assert 0.06 < freq[IX[n]] < 0.22, n


def test_same_attributes_different_people():
    rng = np.random.default_rng(0)
    attrs = sample_attributes(rng)
    a = render_face(sample_identity(rng), attrs).astype(int)
    b = render_face(sample_identity(rng), attrs).astype(int)
    assert np.abs(a - b).mean() > 10


@pytest.mark.parametrize("name", SYNTHETIC_ATTRIBUTES)
def test_attribute_visible(name):
    """Same person with the attribute on vs off: a meaningful number of pixels change, for several people."""
    for i in range(6):
        rng = np.random.default_rng([99, i])
        attrs, idt = sample_attributes(rng), sample_identity(rng)
        on = render_face(idt, S.set_attribute(attrs, name, 1)).astype(int)
        off = render_face(idt, S.set_attribute(attrs, name, 0)).astype(int)
        changed = (np.abs(on - off).max(-1) > 25).sum()
        assert changed >= 20, (name, i, changed)  # >= 20 of 4096 pixels change strongly


@pytest.mark.slow
def test_classifier_reads_every_attribute():
    """A small CNN trained for under a minute on rendered faces reads every attribute far above chance."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny convs: one thread is as fast and robust to a busy machine
    imgs, attrs = S.render_batch(1, 0, 3600, 64)
    x = torch.from_numpy(imgs).permute(0, 3, 1, 2).float().div(127.5).sub(1)  # (N, 3, 64, 64)
    x = torch.nn.functional.avg_pool2d(x, 2)  # (N, 3, 32, 32)
    y = torch.from_numpy(attrs).float()  # (N, K)
    n_train = 3000
    K = y.shape[1]
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(), torch.nn.MaxPool2d(2),   # 16 x 16 x 16
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.BatchNorm2d(32), torch.nn.ReLU(), torch.nn.MaxPool2d(2),  # 32 x 8 x 8
        torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.BatchNorm2d(64), torch.nn.ReLU(), torch.nn.MaxPool2d(2),  # 64 x 4 x 4
        torch.nn.Flatten(), torch.nn.Linear(64 * 16, 128), torch.nn.ReLU(), torch.nn.Linear(128, K))
    pos = y[:n_train].mean(0).clamp(0.02, 0.98)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=(1 - pos) / pos)  # balanced-accuracy objective
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    t0 = time.time()
    for epoch in range(12):  # a fixed budget of epochs, with a wall-clock cap for a loaded machine
        perm = torch.randperm(n_train)
        for b in range(0, n_train, 50):
            j = perm[b:b + 50]
            opt.zero_grad()
            loss_fn(net(x[j]), y[j]).backward()
            opt.step()
        if time.time() - t0 > 60:
            break
    torch.set_num_threads(threads)
    net.eval()
    with torch.no_grad():
        pred = (net(x[n_train:]) > 0).float()
    yt = y[n_train:]
    tpr = (pred * yt).sum(0) / yt.sum(0).clamp(min=1)
    tnr = ((1 - pred) * (1 - yt)).sum(0) / (1 - yt).sum(0).clamp(min=1)
    bal = ((tpr + tnr) / 2).tolist()
    report = {n: round(b, 3) for n, b in zip(SYNTHETIC_ATTRIBUTES, bal)}
    print("balanced accuracy", report, "epochs", epoch + 1, f"{time.time() - t0:.0f}s")
    assert min(bal) >= 0.8, report
