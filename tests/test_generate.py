"""Generation: deterministic latents, uint8 images, grids, the latents .npz, and `python -m gan generate`."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gan.__main__ import main
from gan.checkpoint import load_generator
from gan.generate import generate_images, image_grid, sample_z
from gan.latents_file import load_latents_npz, save_latents_npz
from test_checkpoint import NAMES, make_checkpoint


def test_sample_z_is_deterministic():
    a, b = sample_z(4, 100, seed=3), sample_z(4, 100, seed=3)
    assert a.shape == (4, 100) and a.dtype == torch.float32 and torch.equal(a, b)
    assert not torch.equal(a, sample_z(4, 100, seed=4))
    assert torch.allclose(sample_z(4, 100, seed=3, truncation=0.5), 0.5 * a)
    assert torch.equal(sample_z(8, 100, seed=3)[:4], a)  # row i of a seed's stream does not depend on n


def test_generate_images_and_grid(tmp_path):
    path, _ = make_checkpoint(tmp_path / "g.pt")
    gen = load_generator(path)
    z, c = sample_z(5, gen.z_dim, 0), np.ones((5, 3), np.float32)
    images = generate_images(gen.G, z, c, batch_size=2)
    assert images.shape == (5, 32, 32, 3) and images.dtype == np.uint8
    assert np.array_equal(images, generate_images(gen.G, z, c, batch_size=5))
    grid = image_grid(images, nrow=3, pad=2)
    assert grid.size == (2 + 3 * 34, 2 + 2 * 34)
    labelled = image_grid(images, nrow=3, row_labels=["a", "b"])
    assert labelled.width > grid.width


def test_latents_npz_round_trip_and_validation(tmp_path):
    z, c = np.random.randn(3, 100).astype(np.float32), np.eye(3, dtype=np.float32)
    save_latents_npz(tmp_path / "l.npz", z, c, NAMES, [1, 1, 2], [0, 1, 0], "abcdef123456")
    d = load_latents_npz(tmp_path / "l.npz")
    assert np.array_equal(d["z"], z) and d["attribute_names"] == NAMES and d["checkpoint"] == "abcdef123456"
    assert d["seeds"].dtype == np.int64 and d["indices"].tolist() == [0, 1, 0]
    with pytest.raises(ValueError, match="must be a \(3, 3\) numeric"):
        save_latents_npz(tmp_path / "x.npz", z, c[:2], NAMES, [1, 1, 2], [0, 1, 0], "x")
    np.savez(tmp_path / "bad.npz", z=z)
    with pytest.raises(ValueError, match="lacks"):
        load_latents_npz(tmp_path / "bad.npz")
    np.savez(tmp_path / "obj.npz", z=np.array([object()], dtype=object))
    with pytest.raises(ValueError):
        load_latents_npz(tmp_path / "obj.npz")


def test_cli_generate(tmp_path, capsys):
    path, _ = make_checkpoint(tmp_path / "g.pt")
    out = tmp_path / "grid.png"
    assert main(["generate", "--ckpt", str(path), "--attrs", "Smiling, Male=0", "--n", "6", "--out", str(out)]) == 0
    d = load_latents_npz(tmp_path / "grid.npz")
    assert out.exists() and d["z"].shape == (6, 100)
    assert (d["c"][:, 0] == 1).all() and (d["c"][:, 1] == 0).all()  # fixed ones honoured
    assert set(d["c"][:, 2]) <= {0.0}  # "any" filled from the label distribution (only row [1, 0, 0] matches)
    assert main(["generate", "--ckpt", str(path), "--attrs", "Smilling", "--out", str(out)]) == 2
    assert "Did you mean: Smiling" in capsys.readouterr().err
