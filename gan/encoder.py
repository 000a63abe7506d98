"""The encoder: a CNN trained for ONE generator checkpoint on generated pairs, image → (z, c), giving projection
its starting point in one forward pass.

    z_hat, c_prob = encoder.predict(img)   # img (B, 3, R, R) in [-1, 1] → z (B, z_dim), P(c = 1) (B, c_dim)

Training pairs are drawn fresh every step: z ~ N(0, I), c from the checkpoint's label distribution,
img = G_ema(z, c). The encoder predicts both halves of the latent: z by regression (plus a pixel term
‖G(ẑ, c) − img‖₁ through the frozen generator, because many z directions barely change the image and a pure
latent loss wastes capacity on them) and c by BCE. Projection starts from ẑ; for c it tries ĉ and the attribute
classifier's reading (trained on real images, so better on photos) and keeps whichever redraws the face better.

`python -m gan encoder train --ckpt checkpoints/default.pt --out workspace/encoder.pt --minutes 10`.
Checkpoint: `kind: "encoder"` (gan.checkpoint), storing the generator's file sha256, a sha256 of its weights,
attribute names, z_dim and resolution; `load_encoder(path, loaded_generator)` refuses an encoder made for other
weights (metadata-only rewrites of the generator file, e.g. `evaluate` appending metrics, keep it valid).
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from gan import paths
from gan import cli_types as ct
from gan.checkpoint import (FORMAT_VERSION, CheckpointError, code_version, find_checkpoints, load_checkpoint,
                            save_checkpoint)
from gan.checkpoint_fields import MAX_WIDTH, check_state_dict, meta_state_dict
from gan.device import DEFAULT_DEVICE, pick_device
from gan.records import now_iso
from gan.schedule import StepBudget, cosine_decay

# ----------------------------------------------------------------------------- network


@dataclass
class EncoderConfig:
    """Architecture (stored as model_config); sizes come from the generator."""

    img_resolution: int = 64  # input side, = the generator's img_resolution
    z_dim: int = 100          # = the generator's z_dim
    c_dim: int = 0            # = the generator's c_dim
    width: int = 32           # channels of the first conv; doubled at each stride-2 stage down to 4×4


@dataclass
class EncoderTrainConfig:
    """Training recipe (stored as train_config)."""

    minutes: float | None = 10.0  # time budget; ignored when steps is set
    steps: int | None = None      # fixed number of steps
    batch: int = 64               # generated pairs per step
    lr: float = 1e-3              # Adam learning rate (cosine-decayed to 5%)
    z_weight: float = 1.0         # weight of the latent regression MSE(ẑ, z)
    pixel_weight: float = 1.0     # weight of L1(G(ẑ, c), img) through the frozen generator (0 = off, 2× faster)
    c_weight: float = 0.1         # weight of the condition BCE
    eval_n: int = 256             # fresh pairs (other seed) for the held-out numbers stored in the checkpoint
    seed: int = 0                 # latents, conditions and initialisation
    device: str = DEFAULT_DEVICE  # where to train (gan.device.pick_device)


class EncoderNet(nn.Module):
    """img (B, 3, R, R) in [-1, 1] → (z (B, z_dim), c logits (B, c_dim)); a DCGAN discriminator body with two heads."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.cfg = cfg
        n = int(math.log2(cfg.img_resolution // 4))  # stride-2 stages down to 4×4 (64 → 4)
        w = cfg.width
        layers: list[nn.Module] = [nn.Conv2d(3, w, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        # state size. w × R/2 × R/2
        ch = w
        for _ in range(n - 1):
            layers += [nn.Conv2d(ch, 2 * ch, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * ch), nn.LeakyReLU(0.2, True)]
            ch *= 2
            # state size. 2w × R/4 → 4w × R/8 → 8w × 4 × 4 (64×64 shown)
        self.body = nn.Sequential(*layers, nn.Flatten())  # (B, ch·16)
        self.head = nn.Linear(ch * 16, cfg.z_dim + cfg.c_dim)
        nn.init.zeros_(self.head.weight)  # start at ẑ = 0 (the prior's mean) and P(c) = 0.5: training only improves on that
        nn.init.zeros_(self.head.bias)

    def forward(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.head(self.body(img))                    # (B, z_dim + c_dim)
        return out[:, :self.cfg.z_dim], out[:, self.cfg.z_dim:]


class Encoder:
    """A loaded encoder: frozen, eval mode. `predict(img)` → (z (B, z_dim), P(c=1) (B, c_dim)); img in [-1, 1]."""

    def __init__(self, net: EncoderNet, cfg: EncoderConfig, attribute_names, generator: dict, metrics: dict,
                 path: Path | None = None, device: str | torch.device = "cpu"):
        self.net = net.eval().requires_grad_(False).to(device)
        self.cfg, self.device = cfg, torch.device(device)
        self.attribute_names = tuple(attribute_names)
        self.generator, self.metrics, self.path = dict(generator), dict(metrics or {}), path

    @torch.inference_mode()
    def predict(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r = self.cfg.img_resolution
        if img.ndim != 4 or tuple(img.shape[1:]) != (3, r, r):
            raise ValueError(f"encoder expects img (B, 3, {r}, {r}) in [-1, 1], got {tuple(img.shape)}")
        z, c_logit = self.net(img.float().to(self.device))
        return z.cpu(), torch.sigmoid(c_logit).cpu()


# ----------------------------------------------------------------------------- training


def _pairs(gen, n: int, rng: np.random.Generator, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """n fresh pairs: z (n, z_dim) ~ N(0, I), c (n, c_dim) from the label distribution, img = G(z, c) (n, 3, R, R)."""
    z = torch.from_numpy(rng.standard_normal((n, gen.z_dim)).astype(np.float32)).to(device)
    c = torch.from_numpy(gen.labels.sample(n, rng)).to(device)
    with torch.no_grad():
        img = gen.G(z, c)
    return z, c, img


@torch.no_grad()
def evaluate_encoder(net: EncoderNet, gen, n: int = 256, seed: int = 12345, batch: int = 128) -> dict:
    """Held-out quality on n fresh pairs: latent MSE, pixel MAE of G(ẑ, ĉ) on 0–255, condition accuracy."""
    net.eval()
    rng = np.random.default_rng(seed)
    device = next(net.parameters()).device
    z_mse, pix, acc, pix_zero = [], [], [], []
    for s in range(0, n, batch):
        z, c, img = _pairs(gen, min(batch, n - s), rng, device)
        z_hat, c_logit = net(img)
        c_hat = (c_logit > 0).float()
        rec = gen.G(z_hat, c_hat)
        z_mse.append(((z_hat - z) ** 2).mean(1))
        pix.append((rec - img).abs().mean((1, 2, 3)) * 127.5)
        pix_zero.append((gen.G(torch.zeros_like(z), c) - img).abs().mean((1, 2, 3)) * 127.5)  # baseline: the mean z
        acc.append((c_hat == c).float().mean(1))
    cat = lambda xs: float(torch.cat(xs).mean())  # noqa: E731
    return {"n": n, "z_mse": cat(z_mse), "pixel_mae": cat(pix), "pixel_mae_zero_z": cat(pix_zero),
            "c_accuracy": cat(acc)}


def train_encoder(gen, tcfg: EncoderTrainConfig, width: int = EncoderConfig.width, log=print) -> dict:
    """Train an encoder for a LoadedGenerator; returns the checkpoint dict (see module docstring)."""
    # Construct the network and optimiser; sizes come from the generator.
    torch.manual_seed(tcfg.seed)
    rng = np.random.default_rng(tcfg.seed)
    device = pick_device(tcfg.device)
    gen.G.to(device)
    mcfg = EncoderConfig(img_resolution=gen.img_resolution, z_dim=gen.z_dim, c_dim=gen.c_dim, width=width)
    net = EncoderNet(mcfg).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=tcfg.lr, betas=(0.9, 0.99))
    # A time budget's step count is fixed after the first 10 steps, leaving a little for the held-out evaluation.
    budget = StepBudget(steps=tcfg.steps, seconds=None if tcfg.steps else 60.0 * (tcfg.minutes or 10.0),
                        measure_after=10, share=0.95, min_steps=20)
    sched = cosine_decay(opt, budget.fraction, floor=0.05)

    # Loop: fresh pairs every step.
    step = 0
    net.train()
    while not budget.done(step):
        z, c, img = _pairs(gen, tcfg.batch, rng, device)       # (B, z_dim), (B, c_dim), (B, 3, R, R)
        z_hat, c_logit = net(img)
        # Objective: recover z (regression), re-draw the image from it (pixel L1), read c (BCE).
        loss_z = F.mse_loss(z_hat, z)
        loss_c = F.binary_cross_entropy_with_logits(c_logit, c) if mcfg.c_dim else z_hat.new_zeros(())
        loss_pix = (gen.G(z_hat, c) - img).abs().mean() if tcfg.pixel_weight > 0 else z_hat.new_zeros(())
        loss = tcfg.z_weight * loss_z + tcfg.pixel_weight * loss_pix + tcfg.c_weight * loss_c
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if budget.after_step(step):
            log(f"encoder: {budget.rate:.1f} steps/s → {budget.total} steps in {budget.seconds / 60:g} min")
        sched.step()
        if step % 100 == 0 or step == budget.total:
            log(f"step {step}/{budget.total} z {loss_z.item():.4f} pixel {loss_pix.item():.4f} c {loss_c.item():.4f} "
                f"({budget.elapsed():.0f} s)")

    metrics = evaluate_encoder(net, gen, n=tcfg.eval_n)
    log(f"held-out {metrics['n']} generated pairs: z MSE {metrics['z_mse']:.4f}, pixel MAE {metrics['pixel_mae']:.2f}/255 "
        f"(mean z: {metrics['pixel_mae_zero_z']:.2f}), c accuracy {metrics['c_accuracy']:.4f}")
    tc = asdict(tcfg)
    tc.update(device=str(device), steps=step, seconds=round(budget.elapsed(), 1))
    return {
        "format_version": FORMAT_VERSION, "kind": "encoder", "model_config": asdict(mcfg), "train_config": tc,
        "attribute_names": list(gen.attribute_names), "model": {k: v.cpu() for k, v in net.state_dict().items()},
        "generator": {"sha256": gen.sha256, "weights_sha256": gen.weights_sha256, "name": Path(gen.path).name,
                      "step": int(gen.step),
                      "z_dim": int(gen.z_dim), "img_resolution": int(gen.img_resolution)},
        "metrics": metrics, "created": now_iso(), "code_version": code_version(),
    }


# ----------------------------------------------------------------------------- loading


def _made_for(made_for: dict, gen, fingerprint: str | None = None) -> bool:
    """Whether an encoder's `generator` record names this generator: same weights (file sha256 as a fallback)."""
    if made_for.get("weights_sha256"):
        return made_for["weights_sha256"] == (fingerprint or gen.weights_sha256)
    return made_for.get("sha256") == gen.sha256


def _retrain_hint(gen) -> str:
    return f"train one for it: python -m gan encoder train --ckpt {gen.path} --out workspace/encoder.pt"


def validate_encoder(ckpt: dict, path) -> EncoderConfig:
    """The config of an encoder checkpoint whose fields (load_checkpoint) and weights (shapes, dtypes, finite
    values, against the network built on the meta device) are all sound; CheckpointError otherwise."""
    cfg = EncoderConfig(**{k: v for k, v in ckpt.get("model_config", {}).items() if k in EncoderConfig.__dataclass_fields__})
    check_state_dict(path, "model", ckpt["model"], meta_state_dict(lambda: EncoderNet(cfg)))
    return cfg


def load_encoder(path: str | Path, loaded_generator=None, device: str | torch.device | None = None,
                 allowed_roots=None) -> Encoder:
    """Load a `kind: "encoder"` checkpoint onto `device` (default: the generator's device, else the CPU). With
    `loaded_generator`, refuse (CheckpointError) an encoder made for another generator file (sha256), other
    attributes, z_dim or resolution."""
    ckpt = load_checkpoint(path, expected_kind="encoder", allowed_roots=allowed_roots)
    cfg = validate_encoder(ckpt, path)
    names, made_for = list(ckpt.get("attribute_names", [])), dict(ckpt.get("generator", {}))
    if loaded_generator is not None:
        gen = loaded_generator
        problems = []
        if list(gen.attribute_names) != names:
            problems.append(f"attributes differ (encoder: {', '.join(names) or '(none)'}; "
                            f"generator: {', '.join(gen.attribute_names) or '(none)'})")
        if (cfg.z_dim, cfg.img_resolution) != (gen.z_dim, gen.img_resolution):
            problems.append(f"z_dim/resolution differ (encoder {cfg.z_dim}/{cfg.img_resolution}px, "
                            f"generator {gen.z_dim}/{gen.img_resolution}px)")
        if not _made_for(made_for, gen):
            problems.append(f"it was trained for generator {str(made_for.get('sha256', '?'))[:12]} "
                            f"({made_for.get('name', '?')}, step {made_for.get('step', '?')}), "
                            f"not {gen.sha256[:12]} ({Path(gen.path).name}, step {gen.step})")
        if problems:
            raise CheckpointError(f"Encoder {path} does not fit this generator: {'; '.join(problems)}. "
                                  f"An encoder only works for the generator it was trained on; {_retrain_hint(gen)}")
    net = EncoderNet(cfg)
    try:
        net.load_state_dict(ckpt["model"])
    except (RuntimeError, KeyError) as e:
        raise CheckpointError(f"{path}: encoder weights do not fit its model_config ({str(e)[:200]})") from None
    if device is None:
        device = next(loaded_generator.G.parameters()).device if loaded_generator is not None else "cpu"
    return Encoder(net, cfg, names, made_for, ckpt.get("metrics", {}), Path(path), device)


def default_encoder_for(loaded_generator, search: list[Path] | None = None) -> Path | None:
    """An encoder trained for exactly these generator weights: checkpoints/default_encoder.pt first, then any
    `*encoder*.pt` under checkpoints/, the workspace and the runs folder. None when there is none."""
    roots = search if search is not None else [paths.CHECKPOINTS_DIR, paths.workspace_dir(), paths.runs_dir()]
    fingerprint = loaded_generator.weights_sha256
    for p, ck in find_checkpoints("encoder", paths.DEFAULT_ENCODER, roots, validate_encoder):
        if _made_for(dict(ck.get("generator", {})), loaded_generator, fingerprint):
            return p
    return None


# ----------------------------------------------------------------------------- CLI


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("encoder", help="image → latent encoder for a generator (projection start)")
    sub = p.add_subparsers(dest="encoder_command", metavar="SUBCOMMAND")
    t = sub.add_parser("train", help="train an encoder on pairs generated by a checkpoint",
                       description="Train image → (z, c) on fresh pairs G(z, c); the encoder is tied to this exact checkpoint file.")
    t.add_argument("--ckpt", default=str(paths.DEFAULT_CHECKPOINT), help="generator checkpoint (default: %(default)s)")
    t.add_argument("--out", type=ct.output_file, default=None,
                   help="output checkpoint (default: WORKSPACE/encoder.pt; the shipped checkpoints/ files are "
                        "replaced only when named here)")
    g = t.add_mutually_exclusive_group()
    g.add_argument("--minutes", type=ct.float_range(0, 10 ** 6, lo_open=True), default=None, help=f"time budget (default: {EncoderTrainConfig.minutes})")
    g.add_argument("--steps", type=ct.int_range(1, 10 ** 9), default=None, help="fixed number of steps instead of a time budget")
    t.add_argument("--batch", type=ct.int_range(1, 4096), default=None, help=f"pairs per step (default: {EncoderTrainConfig.batch})")
    t.add_argument("--lr", type=ct.float_range(0, 10, lo_open=True), default=None, help=f"Adam learning rate (default: {EncoderTrainConfig.lr})")
    t.add_argument("--pixel-weight", type=ct.float_range(0, 1000), default=None,
                   help=f"weight of the pixel loss through G; 0 = latent regression only (default: {EncoderTrainConfig.pixel_weight})")
    t.add_argument("--width", type=ct.int_range(1, MAX_WIDTH), default=None, help=f"first conv channels (default: {EncoderConfig.width})")
    t.add_argument("--seed", type=ct.SEED, default=None)
    ct.add_device_option(t)
    t.set_defaults(func=_cli_train)
    p.set_defaults(func=lambda args: (p.print_help(sys.stderr), 2)[1])  # `encoder` alone: its own help


def _cli_train(args: argparse.Namespace) -> int:
    from gan.checkpoint import load_generator
    from gan.device import configure_threads

    configure_threads()
    tcfg = ct.apply_given(EncoderTrainConfig(), args, "minutes", "steps", "batch", "lr", "pixel_weight", "seed")
    try:
        tcfg.device = str(pick_device(args.device))
        gen = load_generator(args.ckpt, device=tcfg.device)
    except (CheckpointError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    width = args.width or EncoderConfig.width
    args.out = args.out or str(paths.workspace_dir() / "encoder.pt")
    print(f"encoder for {args.ckpt} ({gen.sha256[:12]}, step {gen.step}, {gen.img_resolution}px, z_dim {gen.z_dim}, "
          f"{gen.c_dim} attributes); width {width}; config {asdict(tcfg)}", file=sys.stderr)
    ckpt = train_encoder(gen, tcfg, width=width, log=lambda s: print(s, file=sys.stderr))
    save_checkpoint(args.out, ckpt)
    m = ckpt["metrics"]
    print(f"wrote {args.out}: held-out {m['n']} generated pairs: z MSE {m['z_mse']:.4f}, pixel MAE "
          f"{m['pixel_mae']:.2f}/255 (mean-z start {m['pixel_mae_zero_z']:.2f}), c accuracy {m['c_accuracy']:.4f}")
    return 0
