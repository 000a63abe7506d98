"""The style-based generator and the discriminator's minibatch-stddev feature: the extra doors (mapping,
synthesis, per-block ws), style mixing, legacy configs, and fixed-seed output slices of both generators."""
from __future__ import annotations

import copy

import numpy as np

import pytest
import torch

from gan.models import ModelConfig, build_networks, minibatch_stddev
from gan.style_generator import StyleGenerator, block_groups, mixed_ws
from gan.train import update_ema


def _style(res: int = 64, c_dim: int = 5) -> StyleGenerator:
    torch.manual_seed(0)
    return StyleGenerator(ModelConfig(arch="style", img_resolution=res, c_dim=c_dim, ngf=4, w_dim=16)).eval()


@pytest.mark.parametrize("res,num_ws", [(32, 4), (64, 5), (128, 6)])
def test_doors_and_shapes(res, num_ws):
    G = _style(res)
    z, c = torch.randn(3, 100), torch.randint(0, 2, (3, 5)).float()
    w = G.mapping(z, c)
    assert w.shape == (3, 16) and G.num_ws == num_ws
    img = G.synthesis(G.broadcast(w))
    assert img.shape == (3, 3, res, res) and img.abs().max() <= 1
    assert torch.equal(img, G(z, c))  # img = G(z, c) is synthesis of the broadcast mapping


def test_blocks_are_separate_doors():
    G = _style()
    torch.nn.init.normal_(G.synthesis.rgb_style.weight, 0.0, 0.1)  # zero at init (starts as identity), learned later
    z, c = torch.randn(2, 100), torch.zeros(2, 5)
    ws = G.broadcast(G.mapping(z, c)).clone()
    for i in range(G.num_ws):  # changing one block's w changes the image
        other = ws.clone()
        other[:, i] += 1.0
        assert not torch.allclose(G.synthesis(other), G.synthesis(ws)), f"block {i} has no effect"
    groups = block_groups(G.num_ws)
    assert groups == {"coarse": [0, 1], "middle": [2, 3], "fine": [4]}
    with pytest.raises(ValueError, match="ws must be"):
        G.synthesis(ws[:, :3])


def test_mixing_takes_later_blocks_from_second_z():
    G = _style()
    z, z2, c = torch.randn(4, 100), torch.randn(4, 100), torch.zeros(4, 5)
    ws = mixed_ws(G, z, c, prob=1.0, u=torch.zeros(4), z2=z2, cut=torch.tensor([1, 2, 3, 4]))
    w1, w2 = G.mapping(z, c), G.mapping(z2, c)
    for b, cut in enumerate([1, 2, 3, 4]):
        assert torch.equal(ws[b, :cut], w1[b].expand(cut, -1))
        assert torch.equal(ws[b, cut:], w2[b].expand(G.num_ws - cut, -1))
    none = mixed_ws(G, z, c, prob=0.0, u=torch.zeros(4), z2=z2, cut=torch.ones(4, dtype=torch.long))
    assert torch.equal(none, G.broadcast(w1))


def test_minibatch_stddev_sees_identical_batches():
    x = torch.randn(8, 4, 4, 4)
    out = minibatch_stddev(x, 4)
    assert out.shape == (8, 5, 4, 4) and torch.equal(out[:, :4], x)
    same = minibatch_stddev(x[:1].expand(8, -1, -1, -1), 4)
    assert same[:, 4].max() < 1e-3 < out[:, 4].min()  # a collapsed batch is visible to D
    assert minibatch_stddev(torch.randn(6, 4, 4, 4), 4).shape == (6, 5, 4, 4)  # 6 is not a multiple of 4


def test_legacy_config_means_the_shipped_dcgan():
    cfg = ModelConfig.from_dict({"z_dim": 100, "c_dim": 3})
    assert cfg.arch == "dcgan" and cfg.d_mbstd == 0
    assert ModelConfig().arch == "style" and ModelConfig().d_mbstd == 4


def test_ema_update_moves_toward_G_and_copies_buffers():
    torch.manual_seed(0)
    G, _ = build_networks(ModelConfig(img_resolution=32, c_dim=2, ngf=4, ndf=4))
    G_ema = copy.deepcopy(G)
    with torch.no_grad():
        for p in G.parameters():
            p.add_(1.0)
        for b in G.buffers():
            b.add_(3)
    before = [p.clone() for p in G_ema.parameters()]
    update_ema(G_ema, G, beta=0.9)
    for p0, p_ema, p in zip(before, G_ema.parameters(), G.parameters()):
        torch.testing.assert_close(p_ema, 0.9 * p0 + 0.1 * p)
    for b_ema, b in zip(G_ema.buffers(), G.buffers()):
        assert torch.equal(b_ema, b)


# Fixed-seed output slices (as diffusers does): a silent change of either generator fails here.
SLICES = {
    "dcgan": [2.044438e-04, 4.147719e-04, -6.462968e-05, 9.119371e-05, 5.410134e-04, 5.133204e-05, -1.785073e-04,
              6.675966e-04, -2.923537e-05],
    "style": [7.674419e-04, -1.205220e-02, 2.524422e-04, -1.079371e-02, -2.388670e-02, -1.148218e-02, -1.035521e-04,
              -1.177211e-02, 2.910682e-04],
}


@pytest.mark.parametrize("arch", ["dcgan", "style"])
def test_fixed_seed_output_slice(arch):
    torch.manual_seed(0)
    G, _ = build_networks(ModelConfig(arch=arch, img_resolution=32, c_dim=3, ngf=8, w_dim=32))
    G.eval()
    g = torch.Generator().manual_seed(1)
    z, c = torch.randn(2, 100, generator=g), torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    with torch.no_grad():
        out = G(z, c)[0, 0, 14:17, 14:17].flatten()
    torch.testing.assert_close(out, torch.tensor(SLICES[arch]), atol=1e-7, rtol=1e-3)


def test_truncation_pulls_toward_the_condition_mean():
    from gan.generate import generate_images, sample_z, truncation_split
    from gan.style_generator import condition_mean_w, truncate
    G = _style(32)
    z, c = sample_z(6, 100, 0), torch.tensor([[1.0, 0, 0, 0, 0]] * 3 + [[0.0, 1, 0, 0, 0]] * 3)
    w = G.mapping(z, c)
    centre = condition_mean_w(G, c)
    assert torch.equal(centre[0], centre[2]) and not torch.equal(centre[0], centre[3])  # one mean per condition
    torch.testing.assert_close(truncate(G, w, c, 0.0), centre)
    torch.testing.assert_close(truncate(G, w, c, 1.0), w)
    spread = lambda imgs: imgs.astype(np.float32)[:3].std(0).mean()  # noqa: E731
    full = generate_images(G, z, c)
    half = generate_images(G, z, c, w_truncation=0.5)
    assert spread(half) < spread(full)
    assert truncation_split(G, 0.7) == (1.0, 0.7)  # a style G normalises z: ψ acts in W
    assert truncation_split(build_networks(ModelConfig(arch="dcgan", c_dim=5, ngf=4))[0], 0.7) == (0.7, 1.0)


def test_style_mix_grid_takes_the_chosen_blocks_from_the_source():
    from gan.style_generator import style_mix_grid
    G = _style()
    torch.nn.init.normal_(G.synthesis.rgb_style.weight, 0.0, 0.1)
    c = torch.zeros(5, 5)
    w = G.mapping(torch.randn(5, 100), c)
    src, dst = w[:2] + torch.randn(2, 16) * 2, w[2:]  # untrained mapping outputs nearly one w: spread the sources
    grid = style_mix_grid(G, src, dst, block_groups(G.num_ws)["coarse"])
    assert grid.shape == (2, 3, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(style_mix_grid(G, src, dst, []) [0], G.synthesis(G.broadcast(dst)))  # nothing taken
        all_blocks = style_mix_grid(G, src, dst, list(range(G.num_ws)))
        torch.testing.assert_close(all_blocks[1, 2], G.synthesis(G.broadcast(src[1:2]))[0])  # everything taken
    assert not torch.allclose(grid[0, 0], grid[1, 0])  # different sources change the target
