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
