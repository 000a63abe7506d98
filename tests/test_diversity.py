"""Variety metrics on cases whose answer is known: a collapsed stand-in generator scores ~0 diversity and ~0
recall; a stand-in that draws real faces (the renderer) scores ~1; improved precision/recall on point clouds."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gan.conditions import LabelDistribution
from gan.data.synthetic import SYNTHETIC_ATTRIBUTES, render_face, sample_identity
from gan.metrics.diversity import (RealFacesByLabel, diversity_ratio, face_box, intra_condition_diversity,
                                   pixel_spread, precision_recall)


class RendererAsGenerator(torch.nn.Module):
    """A stand-in G(z, c) that draws real faces: z picks the identity, c the attributes; collapsed=True ignores z."""

    def __init__(self, collapsed: bool):
        super().__init__()
        self.z_dim, self.img_resolution, self.collapsed = 8, 64, collapsed
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        out = []
        for zi, ci in zip(z, c):
            seed = 0 if self.collapsed else abs(hash(zi.numpy().tobytes())) % 2**32
            img = render_face(sample_identity(np.random.default_rng(seed)), ci.numpy().astype(np.uint8), 64)
            out.append(torch.from_numpy(img).permute(2, 0, 1).float() / 127.5 - 1)
        return torch.stack(out)


@pytest.fixture(scope="module")
def labels() -> LabelDistribution:
    from gan.data.synthetic import render_batch
    _, attrs = render_batch(0, 0, 300)
    return LabelDistribution.from_labels(attrs, SYNTHETIC_ATTRIBUTES)


def test_collapsed_generator_scores_near_zero_and_real_faces_near_one(labels):
    real = RealFacesByLabel(SYNTHETIC_ATTRIBUTES, 64)
    collapsed = intra_condition_diversity(RendererAsGenerator(True), labels, real, k=3, n=24)
    varied = intra_condition_diversity(RendererAsGenerator(False), labels, real, k=3, n=24)
    assert collapsed["intra_condition_diversity_ratio"] < 0.05
    assert 0.8 < varied["intra_condition_diversity_ratio"] < 1.25
    assert collapsed["intra_condition_n"] == 24 and collapsed["intra_condition_conditions"] == 3


def test_background_only_variety_is_caught_in_the_face_region():
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (16, 64, 64, 3), dtype=np.uint8)
    bg_only = np.repeat(faces[:1], 16, axis=0)
    bg_only[:, :8] = faces[:, :8]  # only the top rows (background) vary
    rows, cols = face_box(64)
    assert (rows.start, rows.stop, cols.start, cols.stop) == (18, 50, 20, 44)
    r = diversity_ratio([bg_only], [faces])
    assert r["intra_condition_diversity_ratio"] < 1e-5 < 0.05 < r["intra_condition_diversity_ratio_overall"]
    assert pixel_spread(faces)[0] > 0.25  # uniform noise: std ≈ 0.29


def test_precision_recall_on_known_clouds():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(400, 8))
    same = rng.normal(size=(400, 8))
    collapsed = np.repeat(rng.normal(size=(1, 8)) * 0.1, 400, axis=0) + rng.normal(size=(400, 8)) * 1e-3
    far = rng.normal(size=(400, 8)) + 10
    pr_same, pr_collapsed, pr_far = (precision_recall(real, g) for g in (same, collapsed, far))
    assert pr_same["precision"] > 0.7 and pr_same["recall"] > 0.7
    assert pr_collapsed["precision"] > 0.9 and pr_collapsed["recall"] < 0.05  # all realistic, no variety
    assert pr_far["precision"] < 0.05
    assert pr_same["pr_k"] == 3 and pr_same["pr_n_gen"] == 400
    with pytest.raises(ValueError, match="more than k"):
        precision_recall(real[:3], same)


def test_cache_source_uses_faces_with_identical_labels(tmp_path):
    class Cache:  # the FaceCache surface RealFacesByLabel uses
        size = 64
        attribute_names = ("A", "B")
        attrs = np.array([[1, 0]] * 10 + [[0, 1]] * 3, np.uint8)
        images = np.stack([np.full((64, 64, 3), i, np.uint8) for i in range(13)])

    real = RealFacesByLabel(("A", "B"), 64, Cache(), Cache.attribute_names)
    rng = np.random.default_rng(0)
    conds = real.conditions(None, 4, 5, rng)
    assert (conds == [1, 0]).all()  # only [1, 0] has ≥ 5 faces
    faces = real.faces(np.array([1, 0]), 5, rng)
    assert faces.shape == (5, 64, 64, 3) and faces[:, 0, 0, 0].max() < 10
    with pytest.raises(ValueError, match="no label vector"):
        real.conditions(None, 2, 50, rng)
    with pytest.raises(ValueError, match="need the dataset cache"):
        RealFacesByLabel(("A", "B"), 64)


def test_space_effect_says_when_a_space_does_nothing(labels):
    from gan.metrics.diversity import space_effect
    real = RealFacesByLabel(SYNTHETIC_ATTRIBUTES, 64)
    collapsed = RendererAsGenerator(True)
    assert space_effect(collapsed, labels, real, "z", k=2, n=8)["ratio"] < 0.05      # z does nothing at fixed c
    c_effect = space_effect(collapsed, labels, real, "c", k=2, n=8)
    assert c_effect["ratio"] > 0.2 and c_effect["versus"] == "real faces of any labels"  # c still changes the face
    with pytest.raises(ValueError, match="unknown space"):
        space_effect(collapsed, labels, real, "q")
