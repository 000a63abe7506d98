"""The style-based conditional generator: a mapping network w = mapping(z, c) and a synthesis network whose
blocks are each modulated by their own w (feature-wise scale and bias after batch norm, as in BigGAN's
conditional batch norm and StyleGAN's AdaIN).

Contract (docs/ARCHITECTURE.md):
    img = G(z, c)              # z (B, z_dim) ~ N(0, I), c (B, c_dim) → img (B, 3, H, W) in [-1, +1]
    w = G.mapping(z, c)        # (B, w_dim)
    img = G.synthesis(ws)      # ws (B, num_ws, w_dim): one w per block, coarse (4–8 px) → fine (img_resolution)
Blocks: ws[:, 0] shapes the 4×4 input, ws[:, i] modulates the block at 4·2^i px, the last one the RGB layer.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale each row to unit second moment (StyleGAN's input normalisation of z and the embedded c)."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class MappingNetwork(nn.Module):
    """w = mapping(z, c): normalised z and embedded c, concatenated, through an MLP. (B, z_dim), (B, c_dim) → (B, w_dim)."""

    def __init__(self, z_dim: int, c_dim: int, c_embed_dim: int, w_dim: int, n_layers: int):
        super().__init__()
        self.z_dim, self.c_dim = z_dim, c_dim
        self.embed = nn.Linear(c_dim, c_embed_dim) if c_dim > 0 else None
        dims = [z_dim + (c_embed_dim if c_dim > 0 else 0)] + [w_dim] * n_layers
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        x = normalize_2nd_moment(z)                                         # (B, z_dim)
        if self.embed is not None:
            x = torch.cat([x, normalize_2nd_moment(self.embed(c))], dim=1)  # (B, z_dim + c_embed_dim)
        return self.net(x)                                                  # (B, w_dim)


class StyledNorm(nn.Module):
    """Batch norm without its own affine, then a per-sample scale and bias computed from w."""

    def __init__(self, channels: int, w_dim: int):
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.style = nn.Linear(w_dim, 2 * channels)
        nn.init.normal_(self.style.weight, 0.0, 1.0 / math.sqrt(w_dim))
        nn.init.zeros_(self.style.bias)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.style(w)[:, :, None, None].chunk(2, dim=1)      # (B, C, 1, 1) each
        return self.norm(x) * (1 + gamma) + beta


class SynthesisNetwork(nn.Module):
    """img = synthesis(ws): (B, num_ws, w_dim) → (B, 3, R, R); the transposed-conv ladder of the DCGAN."""

    def __init__(self, w_dim: int, img_resolution: int, ngf: int):
        super().__init__()
        n = int(math.log2(img_resolution // 4))      # 2x steps between 4x4 and R (64 → 4)
        self.num_ws = n + 1                          # one w for the 4x4 input and each block, one for the RGB layer
        ch = ngf * 2 ** (n - 1)                      # 64x64: ngf*8 channels at 4x4
        self.ch0 = ch
        self.input = nn.Linear(w_dim, ch * 16)       # w → (ch, 4, 4)
        self.norms = nn.ModuleList([StyledNorm(ch, w_dim)])
        self.ups = nn.ModuleList()
        for _ in range(n - 1):
            self.ups.append(nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False))
            ch //= 2
            self.norms.append(StyledNorm(ch, w_dim))
            # state size. (ngf*4) x 8 x 8 → (ngf*2) x 16 x 16 → (ngf) x 32 x 32
        self.rgb_style = nn.Linear(w_dim, ch)        # per-channel scale of the last features, from the finest w
        nn.init.zeros_(self.rgb_style.weight)
        nn.init.zeros_(self.rgb_style.bias)
        self.to_rgb = nn.ConvTranspose2d(ch, 3, 4, 2, 1, bias=False)
        # state size. 3 x R x R
        for m in list(self.ups) + [self.to_rgb]:
            nn.init.normal_(m.weight, 0.0, 0.02)

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        if ws.ndim != 3 or ws.shape[1] != self.num_ws:
            raise ValueError(f"ws must be (B, {self.num_ws}, w_dim), got {tuple(ws.shape)}")
        x = self.input(ws[:, 0]).view(-1, self.ch0, 4, 4)                   # (B, ngf*8, 4, 4)
        x = torch.relu(self.norms[0](x, ws[:, 0]))
        for i, (up, norm) in enumerate(zip(self.ups, self.norms[1:]), start=1):
            x = torch.relu(norm(up(x), ws[:, i]))                           # (B, ch/2, 2H, 2W)
        x = x * (1 + self.rgb_style(ws[:, -1]))[:, :, None, None]           # (B, ngf, R/2, R/2)
        return torch.tanh(self.to_rgb(x))                                   # (B, 3, R, R)


class StyleGenerator(nn.Module):
    """img = G(z, c) with the extra doors G.mapping(z, c) → w and G.synthesis(ws) → img."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.z_dim, self.c_dim, self.img_resolution, self.w_dim = cfg.z_dim, cfg.c_dim, cfg.img_resolution, cfg.w_dim
        self.mapping = MappingNetwork(cfg.z_dim, cfg.c_dim, cfg.c_embed_dim, cfg.w_dim, cfg.mapping_layers)
        self.synthesis = SynthesisNetwork(cfg.w_dim, cfg.img_resolution, cfg.ngf)
        self.num_ws = self.synthesis.num_ws

    def broadcast(self, w: torch.Tensor) -> torch.Tensor:
        """(B, w_dim) → (B, num_ws, w_dim): the same w for every block."""
        return w[:, None, :].expand(-1, self.num_ws, -1)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must be (B, {self.z_dim}), got {tuple(z.shape)}")
        if self.c_dim > 0 and (c is None or c.shape != (z.shape[0], self.c_dim)):
            raise ValueError(f"c must be (B, {self.c_dim}) = ({z.shape[0]}, {self.c_dim}), got {None if c is None else tuple(c.shape)}")
        return self.synthesis(self.broadcast(self.mapping(z, c)))


def block_groups(num_ws: int) -> dict[str, list[int]]:
    """Which ws indices are coarse (4–8 px), middle (16–32 px) and fine (64 px and above) for style mixing."""
    res = [4 * 2 ** i for i in range(num_ws)]
    return {"coarse": [i for i, r in enumerate(res) if r <= 8],
            "middle": [i for i, r in enumerate(res) if 8 < r <= 32],
            "fine": [i for i, r in enumerate(res) if r > 32]}


def mixed_ws(G: StyleGenerator, z: torch.Tensor, c: torch.Tensor, prob: float, u: torch.Tensor,
             z2: torch.Tensor, cut: torch.Tensor) -> torch.Tensor:
    """Style-mixing regularisation: where u < prob, blocks from a random cut-off on take w from z2 instead of z.
    u (B,) uniform, cut (B,) int in [1, num_ws), z2 (B, z_dim) — drawn by the caller so DDP ranks slice one draw."""
    ws = G.broadcast(G.mapping(z, c))                                       # (B, num_ws, w_dim)
    ws2 = G.broadcast(G.mapping(z2, c))
    cut = torch.where(u < prob, cut, torch.full_like(cut, G.num_ws))        # no mixing: cut-off past the last block
    layer = torch.arange(G.num_ws, device=z.device)[None, :, None]          # (1, num_ws, 1)
    return torch.where(layer >= cut[:, None, None], ws2, ws)


@torch.no_grad()
def condition_mean_w(G: StyleGenerator, c: torch.Tensor, n: int = 256, seed: int = 0) -> torch.Tensor:
    """Mean w of each row's condition over n fixed z (one draw per distinct condition): (B, C) → (B, w_dim)."""
    rows, inverse = torch.unique(c, dim=0, return_inverse=True)
    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed)).to(c.device)
    means = torch.stack([G.mapping(z, r.expand(n, -1)).mean(0) for r in rows])   # (M, w_dim)
    return means[inverse]


def truncate(G: StyleGenerator, w: torch.Tensor, c: torch.Tensor, psi: float) -> torch.Tensor:
    """The truncation trick per condition: w ← mean_w(c) + ψ·(w − mean_w(c)); ψ = 1 changes nothing, 0 gives the
    condition's average face."""
    centre = condition_mean_w(G, c)
    return centre + psi * (w - centre)


@torch.no_grad()
def style_mix_grid(G: StyleGenerator, w_sources: torch.Tensor, w_targets: torch.Tensor, layers: list[int]) -> torch.Tensor:
    """The StyleGAN mixing figure: cell (i, j) is target j with the blocks `layers` taken from source i.
    w_sources (S, w_dim), w_targets (T, w_dim) → images (S, T, 3, R, R) in [-1, 1]."""
    S, T = len(w_sources), len(w_targets)
    ws = G.broadcast(w_targets).unsqueeze(0).repeat(S, 1, 1, 1)              # (S, T, num_ws, w_dim)
    src = w_sources[:, None, None, :].expand(S, T, len(layers), -1)
    ws[:, :, layers] = src
    img = G.synthesis(ws.reshape(S * T, G.num_ws, -1))                       # (S·T, 3, R, R)
    return img.reshape(S, T, *img.shape[1:])
