"""The networks: the model config, the conditional DCGAN generator G(z, c) and the discriminator D(img, c).
The style-based generator (arch "style") lives in gan/style_generator.py; `build_generator` picks one.

Contract (docs/ARCHITECTURE.md):
    img = G(z, c)              # z (B, z_dim) ~ N(0, I), c (B, c_dim) multi-hot → img (B, 3, H, W) in [-1, +1]
    logit, aux = D(img, c)     # logit (B,), aux (B, c_dim) attribute logits or None
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn as nn

RESOLUTIONS = (32, 64, 128)
ARCHS = ("dcgan", "style")
UPSAMPLES = ("convtranspose", "nearest")
D_CONDS = ("projection", "concat", "acgan", "projection+acgan")


@dataclass
class ModelConfig:
    arch: str = "style"                # G: "style" (mapping network + per-block w, a W space) or "dcgan" (z only)
    img_resolution: int = 64           # output side in pixels: 32, 64 or 128 (read from the data)
    z_dim: int = 100                   # latent size
    c_dim: int = 0                     # number of attributes (read from the data, never typed)
    c_embed_dim: int = 64              # G: the condition c is embedded to this size and concatenated to z
    w_dim: int = 256                   # style G: size of w (the W space)
    mapping_layers: int = 4            # style G: fully connected layers of the mapping network
    ngf: int = 32                      # G width: channels of the last hidden block
    ndf: int = 32                      # D width: channels of the first block
    g_upsample: str = "convtranspose"  # "convtranspose" (DCGAN) or "nearest" (upsample + 3x3 conv, ~2.5x slower)
    g_dropout: float = 0.0             # Dropout2d after each hidden G block (0 = off)
    d_cond: str = "projection+acgan"   # projection | concat (label maps as input channels) | acgan (aux head) | projection+acgan
    spectral_norm: bool = False        # spectral norm on D's layers (replaces D's batch norm)
    d_mbstd: int = 4                   # D: minibatch-stddev group size before the last conv (0 = off)

    def __post_init__(self):
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        if self.img_resolution not in RESOLUTIONS:
            raise ValueError(f"img_resolution must be one of {RESOLUTIONS}, got {self.img_resolution}")
        if self.g_upsample not in UPSAMPLES:
            raise ValueError(f"g_upsample must be one of {UPSAMPLES}, got {self.g_upsample!r}")
        if self.d_cond not in D_CONDS:
            raise ValueError(f"d_cond must be one of {D_CONDS}, got {self.d_cond!r}")

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        """Build from a stored dict, ignoring keys this version does not know; a dict written before a field
        existed gets the value that reproduces what it meant then (LEGACY), not today's default."""
        known = {f.name for f in fields(cls)}
        return cls(**{**LEGACY, **{k: v for k, v in d.items() if k in known}})

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def has_aux(self) -> bool:
        return "acgan" in self.d_cond and self.c_dim > 0

    @property
    def has_projection(self) -> bool:
        return "projection" in self.d_cond and self.c_dim > 0


# Values of fields added after format 1 shipped, for configs stored without them (the shipped DCGAN).
LEGACY = {"arch": "dcgan", "d_mbstd": 0}

# Fields that change the shapes of the state dicts (g_dropout does not).
ARCHITECTURE_FIELDS = ("arch", "img_resolution", "z_dim", "c_dim", "c_embed_dim", "w_dim", "mapping_layers", "ngf",
                       "ndf", "g_upsample", "d_cond", "spectral_norm", "d_mbstd")


def _n_blocks(img_resolution: int) -> int:
    """Number of 2x resolution steps between 4x4 and img_resolution (64 → 4)."""
    return int(math.log2(img_resolution // 4))


def init_weights(m: nn.Module) -> None:
    """DCGAN initialisation: conv weights ~ N(0, 0.02), batch-norm weights ~ N(1, 0.02)."""
    name = m.__class__.__name__
    if "Conv" in name:
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif "BatchNorm" in name:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class Generator(nn.Module):
    """img = G(z, c): (B, z_dim), (B, c_dim) → (B, 3, R, R) in [-1, 1]."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.z_dim, self.c_dim, self.img_resolution = cfg.z_dim, cfg.c_dim, cfg.img_resolution
        ngf, n = cfg.ngf, _n_blocks(cfg.img_resolution)
        # The condition enters as a learned embedding concatenated to z (no embedding when c_dim == 0).
        self.embed = nn.Linear(cfg.c_dim, cfg.c_embed_dim) if cfg.c_dim > 0 else None
        in_dim = cfg.z_dim + (cfg.c_embed_dim if self.embed is not None else 0)
        ch = ngf * 2 ** (n - 1)  # 64x64: ngf*8
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(in_dim, ch, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ch),
            nn.ReLU(True),
        ]
        # state size. (ngf*8) x 4 x 4   (64x64 shown; 32x32 starts at ngf*4, 128x128 at ngf*16)
        for _ in range(n - 1):
            layers += [self._up(ch, ch // 2, cfg.g_upsample), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            if cfg.g_dropout > 0:
                layers.append(nn.Dropout2d(cfg.g_dropout))
            ch //= 2
            # state size. (ngf*4) x 8 x 8 → (ngf*2) x 16 x 16 → (ngf) x 32 x 32
        layers += [self._up(ch, 3, cfg.g_upsample), nn.Tanh()]
        # state size. 3 x 64 x 64
        self.main = nn.Sequential(*layers)
        self.apply(init_weights)

    @staticmethod
    def _up(cin: int, cout: int, mode: str) -> nn.Module:
        """Double the resolution: a 4x4 stride-2 transposed conv, or nearest upsampling + 3x3 conv."""
        if mode == "convtranspose":
            return nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False)
        return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, 1, 1, bias=False))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must be (B, {self.z_dim}), got {tuple(z.shape)}")
        x = z
        if self.embed is not None:
            if c is None or c.shape != (z.shape[0], self.c_dim):
                raise ValueError(f"c must be (B, {self.c_dim}) = ({z.shape[0]}, {self.c_dim}), got {None if c is None else tuple(c.shape)}")
            x = torch.cat([z, self.embed(c)], dim=1)  # (B, z_dim + c_embed_dim)
        return self.main(x[:, :, None, None])  # (B, 3, R, R)


class Discriminator(nn.Module):
    """logit, aux = D(img, c): real/fake logit (B,), attribute logits (B, c_dim) or None."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.c_dim, self.img_resolution = cfg.c_dim, cfg.img_resolution
        ndf, n = cfg.ndf, _n_blocks(cfg.img_resolution)
        sn = nn.utils.spectral_norm if cfg.spectral_norm else (lambda m: m)
        # "concat": the labels enter as c_dim constant maps stacked on the RGB channels.
        self.concat = cfg.d_cond == "concat" and cfg.c_dim > 0
        cin = 3 + (cfg.c_dim if self.concat else 0)
        layers: list[nn.Module] = [sn(nn.Conv2d(cin, ndf, 4, 2, 1, bias=False)), nn.LeakyReLU(0.2, True)]
        # state size. (ndf) x 32 x 32
        ch = ndf
        for _ in range(n - 1):
            layers.append(sn(nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False)))
            if not cfg.spectral_norm:
                layers.append(nn.BatchNorm2d(ch * 2))
            layers.append(nn.LeakyReLU(0.2, True))
            ch *= 2
            # state size. (ndf*2) x 16 x 16 → (ndf*4) x 8 x 8 → (ndf*8) x 4 x 4
        self.features = nn.Sequential(*layers)
        self.feat_dim = ch
        self.mbstd = cfg.d_mbstd
        # The minibatch-stddev feature (ProGAN) adds one channel: how much the images of a group differ.
        self.out = sn(nn.Conv2d(ch + (1 if self.mbstd else 0), 1, 4, 1, 0, bias=False))  # (B, 1, 1, 1)
        # Projection (Miyato & Koyama 2018): logit += <embed(c), sum-pooled features>.
        self.project = sn(nn.Linear(cfg.c_dim, ch, bias=False)) if cfg.has_projection else None
        # Auxiliary multi-label classifier (AC-GAN): one logit per attribute from the pooled features.
        self.aux = sn(nn.Linear(ch, cfg.c_dim)) if cfg.has_aux else None
        self.apply(init_weights)
        for m in (self.project, self.aux):  # small heads, so initial logits sit near 0 like the conv path's
            if m is not None:
                nn.init.normal_(m.weight, 0.0, 0.02)

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        B, R = img.shape[0], self.img_resolution
        if img.shape[1:] != (3, R, R):
            raise ValueError(f"img must be (B, 3, {R}, {R}), got {tuple(img.shape)}")
        if self.c_dim > 0 and (c is None or c.shape != (B, self.c_dim)):
            raise ValueError(f"c must be (B, {self.c_dim}), got {None if c is None else tuple(c.shape)}")
        x = img
        if self.concat:
            x = torch.cat([img, c[:, :, None, None].expand(B, self.c_dim, R, R)], dim=1)  # (B, 3 + c_dim, R, R)
        h = self.features(x)                        # (B, ndf*8, 4, 4)
        logit = self.out(minibatch_stddev(h, self.mbstd) if self.mbstd else h).flatten()  # (B,)
        pooled = None
        if self.project is not None or self.aux is not None:
            pooled = h.sum(dim=(2, 3))              # (B, ndf*8)
        if self.project is not None:
            logit = logit + (self.project(c) * pooled).sum(dim=1)
        aux = self.aux(pooled) if self.aux is not None else None  # (B, c_dim)
        return logit, aux


def minibatch_stddev(x: torch.Tensor, group: int) -> torch.Tensor:
    """Append the mean standard deviation over groups of samples as one channel: (B, C, H, W) → (B, C+1, H, W)."""
    B, C, H, W = x.shape
    g = math.gcd(group, B)                                   # groups must tile the batch
    y = x.reshape(g, B // g, C, H, W).float()                # (g, M, C, H, W)
    y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt()         # (M, C, H, W): spread within each group
    y = y.mean(dim=(1, 2, 3)).to(x.dtype)                    # (M,)
    y = y.repeat(g)[:, None, None, None].expand(B, 1, H, W)  # (B, 1, H, W): sample i belongs to group i % M
    return torch.cat([x, y], dim=1)


def build_generator(cfg: ModelConfig) -> nn.Module:
    """G for a model config: the DCGAN Generator or the StyleGenerator (which has G.mapping and G.synthesis)."""
    if cfg.arch == "style":
        from gan.style_generator import StyleGenerator
        return StyleGenerator(cfg)
    return Generator(cfg)


def build_networks(cfg: ModelConfig) -> tuple[nn.Module, Discriminator]:
    """Construct G and D for a model config (weights freshly initialised from the torch RNG)."""
    return build_generator(cfg), Discriminator(cfg)


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
