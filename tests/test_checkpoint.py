"""Checkpoints: atomic save, weights_only load, clear refusals (pickled code, truncated, foreign, mismatched), slim export."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from gan.checkpoint import (CheckpointError, check_compatible, export_slim, load_checkpoint, load_generator,
                            save_checkpoint, sha256)
from gan.models import ModelConfig, build_networks

NAMES = ["Smiling", "Male", "Eyeglasses"]


def make_checkpoint(path, names=NAMES, cfg=None, with_opt=True):
    """A small but complete generator checkpoint, built without training."""
    torch.manual_seed(0)
    cfg = cfg or ModelConfig(img_resolution=32, c_dim=len(names), ngf=4, ndf=4)
    G, D = build_networks(cfg)
    rows = np.array([[1, 0, 0], [0, 1, 1], [1, 1, 0]], np.uint8)[:, :len(names)]
    payload = {"format_version": 1, "kind": "generator", "model_config": cfg.to_dict(), "train_config": {"seed": 0},
               "attribute_names": list(names), "dataset": {"fingerprint": "abc", "source": "test", "size": 32},
               "label_rows": torch.from_numpy(rows), "label_counts": torch.tensor([5, 3, 2]),
               "G": G.state_dict(), "G_ema": G.state_dict(), "D": D.state_dict(), "step": 7, "rng": {},
               "metrics_history": [{"fid2k": 1.5}], "created": "now", "code_version": "test"}
    if with_opt:
        payload["opt_G"] = torch.optim.Adam(G.parameters()).state_dict()
        payload["opt_D"] = torch.optim.Adam(D.parameters()).state_dict()
    save_checkpoint(path, payload)
    return path, G


def test_round_trip_and_load_generator(tmp_path):
    path, G = make_checkpoint(tmp_path / "a.pt")
    ckpt = load_checkpoint(path, expected_kind="generator")
    assert ckpt["step"] == 7 and ckpt["attribute_names"] == NAMES
    gen = load_generator(path)
    assert (gen.z_dim, gen.c_dim, gen.img_resolution) == (100, 3, 32)
    assert gen.attribute_names == tuple(NAMES) and gen.step == 7 and gen.metrics_history == [{"fid2k": 1.5}]
    assert not gen.G.training and not any(p.requires_grad for p in gen.G.parameters())
    assert gen.sha256 == sha256(path) and len(gen.checkpoint_id) == 12
    assert gen.labels.counts.tolist() == [5, 3, 2]
    z, c = torch.randn(2, 100), torch.ones(2, 3)
    assert torch.equal(gen.G(z, c), G.eval()(z, c))
    assert not list(tmp_path.glob(".*tmp"))  # no temp files left behind


def test_refuses_pickled_code(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pt"
    torch.save({"format_version": 1, "kind": "generator", "payload": Evil()}, path)
    with pytest.raises(CheckpointError, match="arbitrary Python objects; refusing to load"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="arbitrary Python objects"):
        load_generator(path)
    assert not marker.exists()
    # A plain pickle (not a torch zip file) is refused as well, without running it.
    path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    assert not marker.exists()


def test_refuses_truncated_foreign_and_missing(tmp_path):
    path, _ = make_checkpoint(tmp_path / "a.pt")
    data = path.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(tmp_path / "cut.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "text.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a checkpoint of this project"):
        load_checkpoint(tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="expected 'classifier'"):
        load_checkpoint(path, expected_kind="classifier")


def test_allowed_roots_follow_symlinks(tmp_path):
    inside, outside = tmp_path / "inside", tmp_path / "outside"
    inside.mkdir(), outside.mkdir()
    path, _ = make_checkpoint(outside / "a.pt")
    with pytest.raises(CheckpointError, match="outside the allowed"):
        load_checkpoint(path, allowed_roots=[inside])
    (inside / "link.pt").symlink_to(path)
    with pytest.raises(CheckpointError, match="outside the allowed"):
        load_generator(inside / "link.pt", allowed_roots=[inside])
    make_checkpoint(inside / "ok.pt")
    assert load_generator(inside / "ok.pt", allowed_roots=[inside]).step == 7


def test_check_compatible_names_the_difference(tmp_path):
    path, _ = make_checkpoint(tmp_path / "a.pt")
    ckpt = load_checkpoint(path)
    cfg = ModelConfig.from_dict(ckpt["model_config"])
    check_compatible(ckpt, NAMES, cfg)  # same: no error
    with pytest.raises(CheckpointError, match="Bald") as e:
        check_compatible(ckpt, ["Smiling", "Male", "Bald"], ModelConfig(img_resolution=32, c_dim=3, ngf=4, ndf=4))
    assert "Eyeglasses" in str(e.value)
    with pytest.raises(CheckpointError, match="ngf 4 vs 8"):
        check_compatible(ckpt, NAMES, ModelConfig(img_resolution=32, c_dim=3, ngf=8, ndf=4))


def test_export_slim(tmp_path):
    path, _ = make_checkpoint(tmp_path / "full.pt")
    export_slim(path, tmp_path / "slim.pt")
    slim = load_checkpoint(tmp_path / "slim.pt")
    assert "opt_G" not in slim and "opt_D" not in slim and "G_ema" in slim and "D" in slim
    assert (tmp_path / "slim.pt").stat().st_size < path.stat().st_size
    assert load_generator(tmp_path / "slim.pt").step == 7
