"""Networks: output shapes and ranges for every conditioning path, upsampling mode and resolution; both losses."""
from __future__ import annotations

import pytest
import torch

from gan import losses
from gan.models import ARCHS, D_CONDS, RESOLUTIONS, UPSAMPLES, ModelConfig, build_networks, count_params


@pytest.mark.parametrize("res", RESOLUTIONS)
@pytest.mark.parametrize("upsample", UPSAMPLES)
def test_generator_shapes(res, upsample):
    torch.manual_seed(0)
    G, _ = build_networks(ModelConfig(arch="dcgan", img_resolution=res, c_dim=5, ngf=4, ndf=4, g_upsample=upsample,
                                      g_dropout=0.1))
    img = G(torch.randn(3, 100), torch.randint(0, 2, (3, 5)).float())
    assert img.shape == (3, 3, res, res)
    assert img.min() >= -1 and img.max() <= 1


@pytest.mark.parametrize("res", RESOLUTIONS)
@pytest.mark.parametrize("d_cond", D_CONDS)
@pytest.mark.parametrize("sn", [False, True])
def test_discriminator_paths(res, d_cond, sn):
    torch.manual_seed(0)
    G, D = build_networks(ModelConfig(img_resolution=res, c_dim=5, ngf=4, ndf=4, d_cond=d_cond, spectral_norm=sn))
    c = torch.randint(0, 2, (3, 5)).float()
    logit, aux = D(G(torch.randn(3, 100), c), c)
    assert logit.shape == (3,)
    assert (aux is None) == ("acgan" not in d_cond)
    if aux is not None:
        assert aux.shape == (3, 5)
    # The condition reaches D's logit through projection and concat (AC-GAN's logit is unconditional).
    x = torch.randn(3, 3, res, res)
    if d_cond != "acgan":
        assert not torch.allclose(D.eval()(x, c)[0], D(x, 1 - c)[0])


@pytest.mark.parametrize("arch", ARCHS)
def test_condition_reaches_generator(arch):
    torch.manual_seed(0)
    G, _ = build_networks(ModelConfig(arch=arch, img_resolution=32, c_dim=4, ngf=4, ndf=4))
    G.eval()
    z = torch.randn(2, 100)
    assert not torch.allclose(G(z, torch.zeros(2, 4)), G(z, torch.ones(2, 4)))


@pytest.mark.parametrize("arch", ARCHS)
def test_unconditional_and_bad_inputs(arch):
    G, D = build_networks(ModelConfig(arch=arch, img_resolution=32, c_dim=0, ngf=4, ndf=4))
    img = G(torch.randn(2, 100))
    assert D(img)[1] is None and D(img)[0].shape == (2,)
    G, D = build_networks(ModelConfig(arch=arch, img_resolution=32, c_dim=3, ngf=4, ndf=4))
    with pytest.raises(ValueError, match="c must be"):
        G(torch.randn(2, 100), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="img must be"):
        D(torch.zeros(2, 3, 64, 64), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="img_resolution"):
        ModelConfig(img_resolution=48)
    with pytest.raises(ValueError, match="arch"):
        ModelConfig(arch="vae")


@pytest.mark.parametrize("arch", ARCHS)
def test_default_size_fits_shipping_budget(arch):
    G, D = build_networks(ModelConfig(arch=arch, c_dim=40))
    # G + G_ema + D in float32 must stay under 25 MB for the shipped slim checkpoint.
    assert (2 * count_params(G) + count_params(D)) * 4 < 25e6


@pytest.mark.parametrize("kind", losses.LOSSES)
def test_losses(kind):
    real, fake = torch.tensor([3.0, 2.0]), torch.tensor([-3.0, -2.0])
    lr, lf = losses.d_loss(real, fake, kind, smoothing=0.9)
    lr2, lf2 = losses.d_loss(fake, real, kind, smoothing=0.9)
    assert lr + lf < lr2 + lf2                      # D prefers real scored high
    assert losses.g_loss(real, kind) < losses.g_loss(fake, kind)  # G prefers fakes scored high
    assert losses.aux_loss(None, torch.ones(2, 3)) == 0
    assert losses.aux_loss(torch.full((2, 3), 5.0), torch.ones(2, 3)) < 0.01
    with pytest.raises(ValueError):
        losses.d_loss(real, fake, "wasserstein")


def test_mode_seeking_loss_rewards_different_images():
    z = torch.randn(4, 8)
    same = torch.zeros(4, 3, 8, 8)
    apart = torch.cat([torch.zeros(2, 3, 8, 8), torch.ones(2, 3, 8, 8)])
    assert losses.mode_seeking_loss(apart, z) < losses.mode_seeking_loss(same, z)
    assert losses.mode_seeking_loss(same, z) > 1e3   # identical pairs: the term explodes toward 1/eps
