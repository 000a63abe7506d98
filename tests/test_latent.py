"""Latent maths: interpolation endpoints, arithmetic, planted directions recovered, scoring."""
from __future__ import annotations

import numpy as np
import pytest

from gan import latent as L

D = 32


def _cos(a, b) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def _planted(n=400, seed=0, shift=1.5):
    """Gaussian latents whose label is set by the sign of a hidden unit direction (plus a mean shift)."""
    rng = np.random.default_rng(seed)
    d = rng.standard_normal(D)
    d /= np.linalg.norm(d)
    z = rng.standard_normal((n, D))
    y = (z @ d > 0).astype(int)
    z += np.where(y[:, None] == 1, shift / 2, -shift / 2) * d  # separate the classes along d
    return z.astype(np.float32), y, d


def test_lerp_slerp_endpoints_and_norm():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(D), rng.standard_normal(D)
    for f in (L.lerp, L.slerp):
        np.testing.assert_allclose(f(a, b, 0.0), a, atol=1e-12)
        np.testing.assert_allclose(f(a, b, 1.0), b, atol=1e-12)
    path = L.interpolation_path(a, b, 9, "spherical")  # (9, D)
    assert path.shape == (9, D) and path.dtype == np.float32
    norms = np.linalg.norm(path, axis=1)
    np.testing.assert_allclose(norms, np.linspace(np.linalg.norm(a), np.linalg.norm(b), 9), rtol=1e-5)
    # Linear path through near-orthogonal Gaussians dips in norm; the spherical one does not.
    lin = L.interpolation_path(a, b, 9, "linear")
    assert np.linalg.norm(lin[4]) < norms[4]
    with pytest.raises(ValueError):
        L.interpolation_path(a, b, 5, "cubic")


def test_slerp_parallel_and_antiparallel():
    a = np.ones(D)
    out = L.slerp(a, 3 * a, np.linspace(0, 1, 5))  # parallel → straight line, no NaN
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, L.lerp(a, 3 * a, np.linspace(0, 1, 5)))
    anti = L.slerp(a, -a, np.linspace(0, 1, 5))  # anti-parallel: finite, norm kept
    assert np.all(np.isfinite(anti))
    np.testing.assert_allclose(np.linalg.norm(anti, axis=1), np.linalg.norm(a), rtol=1e-6)
    np.testing.assert_allclose(L.slerp(np.zeros(D), a, 0.5), 0.5 * a)


def test_condition_path_is_linear():
    c0, c1 = np.array([0, 1, 0], np.float32), np.array([1, 1, 1], np.float32)
    np.testing.assert_allclose(L.interpolation_path(c0, c1, 3)[1], [0.5, 1, 0.5])


def test_latent_and_condition_arithmetic():
    A = np.array([[1.0, 2.0], [3.0, 4.0]])  # mean (2, 3)
    B = np.array([[1.0, 1.0]])
    C = np.array([[0.0, 0.0], [2.0, 2.0], [4.0, 4.0]])  # mean (2, 2)
    np.testing.assert_allclose(L.latent_arithmetic(A, B, C), [3.0, 4.0])
    cA, cB, cC = np.array([[1, 1, 0]]), np.array([[1, 0, 0]]), np.array([[0, 0, 1]])
    np.testing.assert_allclose(L.condition_arithmetic(cA, cB, cC, "apply"), [0, 1, 1])
    np.testing.assert_allclose(L.condition_arithmetic(np.array([[1, 0]]), np.array([[0, 1]]), np.array([[1, 1]])), [1, 0])
    np.testing.assert_allclose(L.condition_arithmetic(cA, cB, cC, "hold", hold=np.array([0, 1, 0])), [0, 1, 0])
    with pytest.raises(ValueError):
        L.latent_arithmetic(A, B, np.full((1, 2), np.nan))


@pytest.mark.parametrize("method", ["mean", "svm", "logistic"])
def test_directions_recover_planted_axis(method):
    z, y, d = _planted()
    if method == "mean":
        found = L.direction_mean_difference(z[y == 1], z[y == 0])
    else:
        found = L.direction_linear_boundary(z, y, method=method)
    assert found.shape == (D,) and abs(np.linalg.norm(found) - 1) < 1e-5
    assert _cos(found, d) > 0.9  # right axis and sign points to label 1


def test_pca_finds_dominant_axis():
    rng = np.random.default_rng(3)
    axis = rng.standard_normal(D)
    axis /= np.linalg.norm(axis)
    z = rng.standard_normal((500, D)) + rng.standard_normal((500, 1)) * 5.0 * axis
    comps, ratio = L.pca_directions(z, 3)
    assert comps.shape == (3, D) and ratio.shape == (3,)
    assert abs(_cos(comps[0], axis)) > 0.99 and ratio[0] > 0.3 and ratio[0] > ratio[1]


def test_orthogonalize_and_cosines():
    rng = np.random.default_rng(4)
    d, o1, o2 = rng.standard_normal((3, D))
    out = L.orthogonalize(d, [o1, o2, o1 + o2])  # dependent third vector is harmless
    assert abs(out @ o1) < 1e-5 and abs(out @ o2) < 1e-5 and abs(np.linalg.norm(out) - 1) < 1e-5
    M = L.cosine_similarity_matrix([d, -d, o1])
    np.testing.assert_allclose(np.diag(M), 1, atol=1e-6)
    assert M[0, 1] == pytest.approx(-1, abs=1e-6) and M.shape == (3, 3)


def test_apply_direction_units():
    z = np.zeros(D)
    d = np.zeros(D)
    d[0] = 5.0  # not unit: strength must still be in units of one latent std
    out = L.apply_direction(z, d, [-2, 0, 2])
    assert out.shape == (3, D)
    np.testing.assert_allclose(out[:, 0], [-2, 0, 2])


def test_score_direction_slopes_and_leakage():
    s = np.linspace(-3, 3, 7)
    probs = np.stack([0.5 + 0.1 * s, 0.5 + 0.02 * s, np.full(7, 0.3), 0.4 - 0.05 * s], 1)  # (7, 4)
    out = L.score_direction(probs, s, target_index=0, names=["A", "B", "C", "D"])
    assert out["target_slope"] == pytest.approx(0.1)
    assert out["target_change"] == pytest.approx(0.6)
    assert out["leakage_mean"] == pytest.approx((0.02 + 0 + 0.05) / 3)
    assert out["leakage_max"] == pytest.approx(0.05) and out["leakage_max_attribute"] == "D"


def test_direction_effect_averages_faces():
    d = np.zeros(D)
    d[0] = 1.0

    def probs_fn(zb, cb):  # P(attr) = sigmoid(z[0]); second attribute reads c
        return np.stack([1 / (1 + np.exp(-zb[:, 0])), cb[:, 0]], 1)

    z = np.zeros((3, D))
    c = np.array([[1.0], [0.0], [1.0]])
    P = L.direction_effect(probs_fn, z, c, d, [-1, 0, 1])  # (3, 2)
    assert P.shape == (3, 2)
    np.testing.assert_allclose(P[1], [0.5, 2 / 3], rtol=1e-6)
    assert P[2, 0] > P[1, 0] > P[0, 0]
    assert L.score_direction(P, [-1, 0, 1], 0)["leakage_max"] == pytest.approx(0, abs=1e-7)


def test_pca_map_shapes():
    rng = np.random.default_rng(5)
    coords, ratio, pca = L.pca_map({"a": rng.standard_normal((10, D)), "b": rng.standard_normal((5, D))}, 3)
    assert coords["a"].shape == (10, 3) and coords["b"].shape == (5, 3) and ratio.shape == (3,)
    with pytest.raises(ValueError):
        L.pca_map({"a": rng.standard_normal((10, D))}, 4)
