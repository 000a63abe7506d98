"""Edit directions and report cards on a tiny style generator judged by a stand-in classifier whose reading is known
(attribute A = the image is red, B = the image is bright): directions built from its readings must flip A."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from gan.conditions import LabelDistribution
from gan.edits import attribute_direction, edit_report, report_all, sample_faces
from gan.models import ModelConfig, build_generator

NAMES = ("A", "B")


class ColourReader:
    """P(A) rises with red minus green, P(B) with overall brightness; features are the channel means."""

    attribute_names = NAMES

    def __init__(self, red0: float = 0.0, bright0: float = 0.0):
        self.red0, self.bright0 = red0, bright0

    def predict_proba(self, img: torch.Tensor) -> torch.Tensor:
        red = img[:, 0].mean((1, 2)) - img[:, 1].mean((1, 2))
        bright = img.mean((1, 2, 3))
        return torch.sigmoid(torch.stack([(red - self.red0) * 40, (bright - self.bright0) * 40], 1))

    def features(self, img: torch.Tensor) -> torch.Tensor:
        return img.mean((2, 3)) + 1


@pytest.fixture(scope="module")
def loaded():
    torch.manual_seed(0)
    G = build_generator(ModelConfig(arch="style", img_resolution=32, z_dim=16, c_dim=2, ngf=8, w_dim=16)).eval()
    labels = LabelDistribution(np.array([[0, 0], [1, 0], [0, 1], [1, 1]], np.uint8), np.array([4, 3, 2, 1]), NAMES)
    return SimpleNamespace(G=G, z_dim=16, attribute_names=NAMES, labels=labels, spaces=("w", "w+", "z", "c"))


def _centred_reader(loaded) -> ColourReader:
    """Thresholds at the sample's medians, so half the faces read A and half B."""
    faces = sample_faces(loaded, 200, 0)
    with torch.no_grad():
        img = loaded.G(faces.z, faces.c)
    red = (img[:, 0].mean((1, 2)) - img[:, 1].mean((1, 2))).median().item()
    return ColourReader(red, img.mean((1, 2, 3)).median().item())


@pytest.mark.parametrize("method", ["mean", "conditional"])
def test_direction_from_readings_flips_the_reading(loaded, method):
    clf = _centred_reader(loaded)
    d = attribute_direction(loaded, clf, "A", "w", n=200, seed=0, method=method)
    assert d.vector.shape == (16,) and abs(np.linalg.norm(d.vector) - 1) < 1e-5 and d.sigma > 0
    assert d.n_with > 20 and d.n_without > 20
    card = edit_report(loaded, clf, d, n=60, seed=1, strengths=(0.0, 1.0, 3.0))
    assert card["flip_rate"][0] == 0.0 and card["pixel_change"][0] == 0.0  # strength 0 changes nothing
    assert card["flip_rate"][2] > 0.5 and card["flip_rate"][2] >= card["flip_rate"][1]
    assert set(card["off_target"]) == {"B"} and len(card["off_target"]["B"]) == 3
    assert card["n"] == 60 and card["method"] == method


def test_a_random_direction_does_not_flip(loaded):
    clf = _centred_reader(loaded)
    d = attribute_direction(loaded, clf, "A", "w", n=200, seed=0)
    rng = np.random.default_rng(0)
    noise = rng.normal(size=16).astype(np.float32)
    noise -= (noise @ d.vector) * d.vector  # orthogonal to the real direction
    d.vector = noise / np.linalg.norm(noise)
    card = edit_report(loaded, clf, d, n=60, seed=1, strengths=(1.0,))
    real = edit_report(loaded, clf, attribute_direction(loaded, clf, "A", "w", n=200, seed=0), n=60, seed=1,
                       strengths=(1.0,))
    assert card["flip_rate"][0] < real["flip_rate"][0]


def test_condition_axis_and_condition_response(loaded):
    clf = _centred_reader(loaded)
    axis = attribute_direction(loaded, clf, "B", "c", n=50)
    assert axis.vector.tolist() == [0.0, 1.0] and axis.method == "axis"
    response = attribute_direction(loaded, clf, "A", "w", n=50, method="condition")
    assert response.vector.shape == (16,)
    with pytest.raises(ValueError, match="W space"):
        attribute_direction(loaded, clf, "A", "z", n=50, method="condition")
    summary = report_all(loaded, clf, "w", n_direction=100, n=30)
    assert summary["attributes"] == 2 and 0 <= summary["attributes_meeting_target"] <= 2


def test_edit_strip_and_median_split(loaded):
    from gan.edits import edit_strip
    clf = _centred_reader(loaded)
    clf.red0 -= 0.1  # now it reads A in every face (unsaturated): the direction falls back to a median split
    d = attribute_direction(loaded, clf, "A", "w", n=100)
    assert d.split == "median" and d.n_with == d.n_without == 50
    strip = edit_strip(loaded, d, 3, 0, (0.0, 2.0))
    assert strip.shape == (3, 2, 32, 32, 3) and strip.dtype == np.uint8
    assert not np.array_equal(strip[:, 0], strip[:, 1])


def _groups_differing_in_a(loaded, clf):
    """W of faces the reader reads with A and without it, both without B: two groups that differ in A only."""
    from gan.edits import _read, render
    faces = sample_faces(loaded, 400, 5)
    probs, _ = _read(clf, [0, 1], render(loaded.G, faces, "w", faces.w))
    read = probs >= 0.5
    return faces.w[read[:, 0] & ~read[:, 1]].numpy(), faces.w[~read[:, 0] & ~read[:, 1]].numpy()


def test_a_minus_b_delta_flips_the_attribute_a_and_b_differ_in(loaded):
    from gan.edits import delta_report
    clf = _centred_reader(loaded)
    with_a, without_a = _groups_differing_in_a(loaded, clf)
    assert len(with_a) > 20 and len(without_a) > 20
    delta = with_a.mean(0) - without_a.mean(0)
    cards = delta_report(loaded, clf, "w", delta, {"A": True}, n=80, seed=1, n_with=len(with_a),
                         n_without=len(without_a))
    same = delta_report(loaded, clf, "w", with_a.mean(0) - with_a.mean(0), {"A": True}, n=80, seed=1)
    card, none = cards["A"], same["A"]
    assert card["chosen_strength"] == 1.0 and card["method"] == "arithmetic" and card["direction_n_with"] == len(with_a)
    assert 0 < card["n_can_flip"] < 80                               # faces already reading A cannot flip toward it
    i = card["strengths"].index(1.0)
    assert none["flip_rate"][i] == 0.0 and none["pixel_change"][i] == 0.0   # A − A moves nothing
    assert card["flip_rate"][i] > 0.3 and card["flip_rate"][-1] >= card["flip_rate"][0]
    assert card["p_target_after"][i] > card["p_target_before"]
    assert set(card["off_target"]) == {"B"}
    both = delta_report(loaded, clf, "w", delta, {"A": True, "B": False}, n=80, seed=1)
    assert set(both) == {"A", "B"} and both["A"]["off_target"] == {} and both["A"]["flip_rate"] == card["flip_rate"]
    with pytest.raises(ValueError, match="1.0"):
        delta_report(loaded, clf, "w", delta, {"A": True}, n=10, strengths=(0.5, 2.0))


def test_delta_in_z_and_c_together(loaded):
    from gan.edits import delta_report
    clf = _centred_reader(loaded)
    delta = np.zeros(16 + 2, np.float32)
    delta[16] = 1.0                                                   # c_A += 1, z unchanged
    card = delta_report(loaded, clf, "zc", delta, {"A": True}, n=40, seed=1, strengths=(1.0,))["A"]
    faces = sample_faces(loaded, 40, 1)
    moved = faces.c.clone()
    moved[:, 0] += 1
    from gan.edits import render
    assert card["pixel_change"][0] == pytest.approx(
        np.abs(render(loaded.G, faces, "c", moved).astype(np.int16) - render(loaded.G, faces, "c", faces.c)).mean() / 255)
