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


def test_percentile_among_counts_the_share_below_with_ties_halved():
    from gan.edits import percentile_among
    sample = np.arange(10) / 10 + 0.05                               # 0.05, 0.15, …, 0.95
    assert percentile_among(sample, 0.5) == 50.0                      # five below
    assert percentile_among(sample, sample[1]) == pytest.approx(15.0)  # one below, one tie
    assert percentile_among(sample, 2.0) == 100.0 and percentile_among(sample, -1.0) == 0.0
    assert np.isnan(percentile_among(sample[:0], 0.5)) and np.isnan(percentile_among(sample, float("nan")))


def test_report_card_places_p_target_among_real_faces(loaded):
    """Real readings P(A) = 0.00, 0.01, …, 0.99 with A's label on for the top half: a mean P of v sits at the
    ceil(100 v)-th percentile of all of them and at 2 (ceil(100 v) − 50) of the faces with A."""
    from gan.edits import RealReadings, delta_report
    clf = _centred_reader(loaded)
    probs = np.stack([np.arange(100) / 100, np.full(100, 0.5)], 1)
    labels = np.stack([np.arange(100) >= 50, np.zeros(100, bool)], 1).astype(np.uint8)
    real = RealReadings(probs, labels, "stand-in")
    d = attribute_direction(loaded, clf, "A", "w", n=200, seed=0)
    card = edit_report(loaded, clf, d, n=60, seed=1, strengths=(0.0, 3.0), real=real)
    r = card["real"]
    assert (r["n"], r["n_group"], r["group_has"], r["source"]) == (100, 50, True, "stand-in")
    before, after = card["p_target_before"], card["p_target_after"][1]
    assert after > before                                             # the edit raised P(A) …
    assert r["before"] == pytest.approx(np.ceil(100 * before), abs=0.5)
    assert r["after"][1] == pytest.approx(np.ceil(100 * after), abs=0.5)  # … and its standing among real faces
    assert r["after"][0] == r["before"]                               # strength 0 moves nothing
    assert r["after_group"][1] == pytest.approx(np.clip(2 * (np.ceil(100 * after) - 50), 0, 100), abs=1)
    # a removal (A − B should turn A off) is compared with the real faces without A
    removal = delta_report(loaded, clf, "w", -3 * d.sigma * d.vector, {"A": False}, n=60, seed=1,
                           strengths=(1.0,), real=real)["A"]["real"]
    assert removal["group_has"] is False and removal["n_group"] == 50
    assert "real" not in edit_report(loaded, clf, d, n=20, seed=1, strengths=(1.0,))


def test_real_readings_reads_the_chosen_real_faces(loaded, monkeypatch):
    """real_readings reads the faces real_faces_for chooses, with their labels, through the classifier."""
    from gan import edits
    from gan.metrics import evaluate
    from gan.metrics.diversity import RealFacesByLabel

    grey = np.full((3, 32, 32, 3), 128, np.uint8)
    grey[0, ..., 0] = 255                                             # a red face: the reader reads A
    fake = SimpleNamespace(labelled_faces=lambda n, rng: (grey[:n], np.eye(3, 2, dtype=np.uint8)[:n]), rendered=False)
    monkeypatch.setattr(evaluate, "real_faces_for", lambda gen: fake)
    real = edits.real_readings(loaded, ColourReader(), n=3)
    assert real.probs.shape == (3, 2) and real.probs[0, 0] > 0.99 and real.probs[1, 0] == pytest.approx(0.5, abs=0.01)
    assert real.labels.tolist() == [[1, 0], [0, 1], [0, 0]] and real.source == "the dataset cache"
    # the renderer's real faces come with the labels they were drawn with, and any_faces is unchanged by them
    from gan.data.synthetic import SYNTHETIC_ATTRIBUTES, render_item
    rendered = RealFacesByLabel(SYNTHETIC_ATTRIBUTES, 32)
    images, labels = rendered.labelled_faces(4, np.random.default_rng(3))
    seeds = np.random.default_rng(3).integers(2**31, size=4)
    assert np.array_equal(labels[2], render_item(int(seeds[2]), 0, 32)[1])
    assert np.array_equal(images, rendered.any_faces(4, np.random.default_rng(3)))
