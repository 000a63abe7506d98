"""GAN objectives: non-saturating BCE (with one-sided label smoothing) and hinge, the auxiliary attribute loss and
the mode-seeking term."""
from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("nonsat", "hinge")


def d_loss(real_logit: torch.Tensor, fake_logit: torch.Tensor, kind: str = "nonsat",
           smoothing: float = 0.9) -> tuple[torch.Tensor, torch.Tensor]:
    """D's objective split into its (real, fake) halves; D minimises their sum.

    nonsat: BCE(D(x), smoothing) + BCE(D(G(z)), 0) — one-sided smoothing on the real target only.
    hinge:  relu(1 - D(x)) + relu(1 + D(G(z))).
    """
    if kind == "nonsat":
        real = F.binary_cross_entropy_with_logits(real_logit, torch.full_like(real_logit, smoothing))
        fake = F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit))
    elif kind == "hinge":
        real = F.relu(1.0 - real_logit).mean()
        fake = F.relu(1.0 + fake_logit).mean()
    else:
        raise ValueError(f"loss must be one of {LOSSES}, got {kind!r}")
    return real, fake


def g_loss(fake_logit: torch.Tensor, kind: str = "nonsat") -> torch.Tensor:
    """G's objective. nonsat: maximise log D(G(z)) (= BCE against 1); hinge: maximise D(G(z))."""
    if kind == "nonsat":
        return F.softplus(-fake_logit).mean()
    if kind == "hinge":
        return -fake_logit.mean()
    raise ValueError(f"loss must be one of {LOSSES}, got {kind!r}")


def aux_loss(aux_logits: torch.Tensor | None, c: torch.Tensor) -> torch.Tensor:
    """Multi-label BCE between D's attribute logits (B, c_dim) and the labels c (B, c_dim); 0 without a head."""
    if aux_logits is None:
        return c.new_zeros(())
    return F.binary_cross_entropy_with_logits(aux_logits, c)


def mode_seeking_loss(fake: torch.Tensor, z: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Mode seeking (Mao et al. 2019, MSGAN): fakes (i, i + B/2) share a condition; G minimises
    1 / (mean|img_i − img_j| / mean|z_i − z_j|), so different z must give different images."""
    h = fake.shape[0] // 2
    ratio = (fake[:h] - fake[h:2 * h]).abs().mean() / (z[:h] - z[h:2 * h]).abs().mean()
    return 1.0 / (ratio + eps)
