"""The shipped default generator (checkpoints/default.pt) is a latent space worth exploring: W carries the
attributes (a Smiling direction built from classifier-labelled samples flips the reading without dragging the rest,
through the same code the Edit page uses) and z carries identity (faces with one condition vary like real ones)."""
from __future__ import annotations

import numpy as np
import torch
import pytest

from gan import paths
from gan.checkpoint import load_generator
from gan.edits import attribute_direction, edit_report
from gan.metrics.classifier import load_classifier
from gan.metrics.diversity import RealFacesByLabel, intra_condition_diversity


@pytest.fixture(scope="module")
def shipped():
    gen = load_generator(paths.DEFAULT_CHECKPOINT)
    return gen, load_classifier(paths.DEFAULT_CLASSIFIER)


def test_default_offers_a_w_space(shipped):
    gen, _ = shipped
    assert gen.spaces == ("w", "w+", "z", "c") and gen.model_config.arch == "style"


def test_w_space_smiling_direction_flips_with_few_side_effects(shipped):
    gen, clf = shipped
    d = attribute_direction(gen, clf, "Smiling", "w", n=500, seed=0)
    card = edit_report(gen, clf, d, n=200, seed=1)
    assert card["chosen_reaches_target"] and card["flip_at_chosen"] >= 0.7, card["flip_rate"]
    assert card["off_target_mean_at_chosen"] <= 0.10, card["off_target_mean"]


def test_z_changes_the_face_like_real_variety(shipped):
    gen, _ = shipped
    r = intra_condition_diversity(gen.G, gen.labels, RealFacesByLabel(gen.attribute_names, gen.img_resolution),
                                  k=8, n=32, seed=0)
    assert r["intra_condition_diversity_ratio"] >= 0.6, r  # the collapsed first default scored 0.11


def test_old_dcgan_checkpoints_still_load(tmp_path):
    from explorer.demo import make_tiny_generator
    from gan.checkpoint import load_checkpoint, save_checkpoint
    from gan.models import ModelConfig, build_networks

    path = make_tiny_generator(tmp_path / "g.pt")
    ck = load_checkpoint(path)
    cfg = ModelConfig(arch="dcgan", img_resolution=32, z_dim=16, c_dim=4, c_embed_dim=8, ngf=8, ndf=8, d_mbstd=0)
    G, D = build_networks(cfg)
    old = {k: v for k, v in cfg.to_dict().items() if k not in ("arch", "d_mbstd", "w_dim", "mapping_layers")}
    ck.update(model_config=old, G=G.state_dict(), G_ema=G.state_dict(), D=D.state_dict())  # a format-1 DCGAN file
    gen = load_generator(save_checkpoint(tmp_path / "old.pt", ck))
    assert gen.model_config.arch == "dcgan" and gen.spaces == ("z", "c")
    assert np.isfinite(gen.G(torch.zeros(1, 16), torch.zeros(1, 4)).numpy()).all()
