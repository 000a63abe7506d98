"""`python -m gan train`: the option table (flag → TrainConfig field) and the command that runs `gan.train.train`."""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

from gan import cli_types as ct
from gan import losses
from gan.checkpoint import CheckpointError
from gan.device import PRECISIONS
from gan.checkpoint_fields import MAX_LATENT, MAX_MAPPING_LAYERS, MAX_MBSTD, MAX_WIDTH
from gan.guard import GuardStop
from gan.models import ARCHS, D_CONDS, RESOLUTIONS, UPSAMPLES
from gan.train import TrainConfig, train

# (flag, config field ("model.x" for ModelConfig), type or "bool", help); defaults come from the dataclasses.
# Each type validates at parse time (gan.cli_types): a bad value is one message naming the flag and its range.
OPTIONS = [
    ("--data", "data", ct.data_spec, "training data: synthetic[:N] | celeba:PATH | folder:PATH | cache:DIR"),
    ("--attrs", "attrs", str, 'attributes to condition on, e.g. "Smiling,Male,Eyeglasses" ("" = all in the data)'),
    ("--crop", "crop", str, "crop mode passed to prepare (\"\" = its default)"),
    ("--size", "size", ct.choice_int(*RESOLUTIONS), "image size: 32, 64 or 128"),
    ("--steps", "steps", ct.int_range(0, 10 ** 9), "training steps (0 = no step limit: then --minutes must bound the run; --minutes alone implies 0)"),
    ("--minutes", "minutes", ct.float_range(0, 10 ** 6), "wall-clock budget in minutes over the whole run (0 = none: then --steps must bound the run)"),
    ("--batch", "batch", ct.int_range(1, 4096), "global batch size"),
    ("--lr-g", "lr_g", ct.float_range(0, 1, lo_open=True), "Adam learning rate of G"),
    ("--lr-d", "lr_d", ct.float_range(0, 1, lo_open=True), "Adam learning rate of D"),
    ("--beta1", "beta1", ct.float_range(0, 1, hi_open=True), "Adam beta1"),
    ("--beta2", "beta2", ct.float_range(0, 1, hi_open=True), "Adam beta2"),
    ("--fused-adam", "fused_adam", "bool", "fused Adam kernel (one pass over all parameters)"),
    ("--loss", "loss", str, "adversarial loss: nonsat | hinge"),
    ("--smoothing", "smoothing", ct.float_range(0, 1, lo_open=True), "one-sided label smoothing target for real images (nonsat)"),
    ("--d-steps", "d_steps", ct.int_range(1, 100), "D updates per G update"),
    ("--aux-weight", "aux_weight", ct.float_range(0, 1000), "weight of the auxiliary attribute loss in D (real images, real labels)"),
    ("--g-aux-weight", "g_aux_weight", ct.float_range(0, 1000), "weight of the auxiliary attribute loss in G (requested labels)"),
    ("--ms-weight", "ms_weight", ct.float_range(0, 1000), "weight of the mode-seeking term (0 = off)"),
    ("--mixing-prob", "mixing_prob", ct.float_range(0, 1), "style G: probability of style-mixing regularisation per sample"),
    ("--mapping-lr-mult", "mapping_lr_mult", ct.float_range(0, 10, lo_open=True), "style G: learning-rate multiplier of the mapping network"),
    ("--ema", "ema", ct.float_range(0, 1, hi_open=True), "G_ema decay"),
    ("--ema-warmup", "ema_warmup", "bool", "ramp the EMA decay up from 0.1 at the start"),
    ("--guard", "guard", "bool", "collapse guard (roll back a network whose loss leaves its band)"),
    ("--guard-d-band", "guard_d_band", "pair", "healthy band LO HI of D's adversarial loss"),
    ("--guard-g-band", "guard_g_band", "pair", "healthy band LO HI of G's adversarial loss"),
    ("--guard-max-restores", "guard_max_restores", ct.int_range(0, 10 ** 6), "stop after more restores than this within --guard-window steps"),
    ("--guard-window", "guard_window", ct.int_range(1, 10 ** 9), "window in steps for --guard-max-restores"),
    ("--sample-every", "sample_every", ct.int_range(1, 10 ** 9), "steps between preview grids"),
    ("--ckpt-every", "ckpt_every", ct.int_range(1, 10 ** 9), "steps between checkpoints"),
    ("--log-every", "log_every", ct.int_range(1, 10 ** 9), "steps between logged events and guard checks"),
    ("--metrics-every", "metrics_every", ct.int_range(0, 10 ** 9), "steps between live metrics (diversity, accuracy, PCA) in metrics.jsonl; 0 = off"),
    ("--seed", "seed", ct.SEED, "random seed"),
    ("--device", "device", ct.device, "auto | cpu | cuda | cuda:N"),
    ("--flip", "flip", "bool", "random horizontal flips"),
    ("--workers", "workers", ct.int_range(0, 1), "background loader threads (0 or 1)"),
    ("--channels-last", "channels_last", "bool", "NHWC memory format"),
    ("--precision", "precision", str, "auto (bf16 autocast on a CUDA GPU that supports it, else fp32) | fp32 | bf16"),
    ("--compile", "compile", "bool", "torch.compile G's step and D (first steps slower; measure with bench/gpu_check.sh)"),
    ("--deterministic", "deterministic", "bool", "CUDA: deterministic kernels, no cuDNN autotuning (bit-exact resume; slower)"),
    ("--out", "out", ct.output_dir, "run folder (default runs/run-DATE-TIME)"),
    ("--resume", "resume", "flag", "continue OUT/checkpoint.pt bit-for-bit (recipe from the checkpoint)"),
    ("--init", "init", str, "fine-tune from this checkpoint's weights (same attributes and architecture)"),
    ("--progress", "progress", "bool", "tqdm progress bar"),
    ("--arch", "model.arch", str, "generator: style (mapping network, W space) | dcgan (z only)"),
    ("--z-dim", "model.z_dim", ct.int_range(1, MAX_LATENT), "latent size"),
    ("--w-dim", "model.w_dim", ct.int_range(1, MAX_LATENT), "style G: size of w"),
    ("--mapping-layers", "model.mapping_layers", ct.int_range(1, MAX_MAPPING_LAYERS), "style G: layers of the mapping network"),
    ("--d-mbstd", "model.d_mbstd", ct.int_range(0, MAX_MBSTD), "D: minibatch-stddev group size (0 = off)"),
    ("--c-embed-dim", "model.c_embed_dim", ct.int_range(1, MAX_LATENT), "size of G's condition embedding"),
    ("--ngf", "model.ngf", ct.int_range(1, MAX_WIDTH), "G width"),
    ("--ndf", "model.ndf", ct.int_range(1, MAX_WIDTH), "D width"),
    ("--g-upsample", "model.g_upsample", str, "G upsampling: convtranspose | nearest"),
    ("--g-dropout", "model.g_dropout", ct.float_range(0, 1, hi_open=True), "Dropout2d rate in G's hidden blocks"),
    ("--d-cond", "model.d_cond", str, "D conditioning: projection | concat | acgan | projection+acgan"),
    ("--spectral-norm", "model.spectral_norm", "bool", "spectral norm in D (instead of batch norm)"),
]


CHOICES = {"loss": losses.LOSSES, "precision": PRECISIONS, "model.arch": ARCHS, "model.g_upsample": UPSAMPLES, "model.d_cond": D_CONDS}


def _get(cfg: TrainConfig, name: str):
    return getattr(cfg.model, name[6:]) if name.startswith("model.") else getattr(cfg, name)


def implied_steps(steps: int | None, minutes: float | None, default_steps: int) -> int:
    """A run's step bound: `steps` when given; 0 (no step limit, the time budget decides) when only `minutes` is
    given; else the default. The one statement of the "--minutes alone" rule (this CLI and the Trainer page)."""
    if steps is not None:
        return steps
    return 0 if minutes is not None else default_steps


def config_from_args(args) -> TrainConfig:
    """TrainConfig defaults (or, with --resume, the run's saved config) overridden by the options given."""
    given = {name: getattr(args, name.replace(".", "__")) for _, name, _, _ in OPTIONS}
    given = {k: v for k, v in given.items() if v is not None}
    base = TrainConfig()
    if given.get("resume") and given.get("out"):
        saved = Path(given["out"]) / "config.json"
        if saved.exists():
            base = TrainConfig.from_dict(json.loads(saved.read_text()))
    else:
        base = replace(base, steps=implied_steps(given.get("steps"), given.get("minutes"), base.steps))
    top = {k: (tuple(v) if isinstance(v, list) else v) for k, v in given.items() if not k.startswith("model.")}
    model = {k[6:]: v for k, v in given.items() if k.startswith("model.")}
    return replace(base, **top, model=replace(base.model, **model))


def check_budget(cfg: TrainConfig, args) -> str | None:
    """Why this run's bounds are refused, or None. `--minutes 0` alone would mean "no step limit and no time
    budget" by accident: refused. An explicit `--steps 0` (no step limit) is a choice: allowed, with a note."""
    if not cfg.steps and not cfg.minutes and not cfg.resume:
        if getattr(args, "steps", None) is None:
            return ("--minutes 0 alone would train forever (no step limit, no time budget); give --minutes M > 0 "
                    "or --steps N ≥ 1, or --steps 0 to really run until OUT/STOP, SIGTERM or Ctrl-C")
        print("note: --steps 0 with no --minutes budget: the run goes on until OUT/STOP, SIGTERM or Ctrl-C",
              file=sys.stderr)
    return None


def main_train(args) -> int:
    try:
        cfg = config_from_args(args)
        problem = check_budget(cfg, args)
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 2
        result = train(cfg)
    except (CheckpointError, GuardStop, RuntimeError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"{result['state']}: {result['message']} at step {result['step']}; checkpoint {result['checkpoint']}")
    return 0


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a conditional GAN (also under torchrun for DDP)",
                              description="Train a conditional DCGAN on prepared face data. Writes OUT/config.json, "
                                          "status.json, events.jsonl, samples_*.png and checkpoint.pt. Create OUT/STOP, "
                                          "press Ctrl-C or send SIGTERM to stop after the current step (saved, exit 0).")
    defaults = TrainConfig()
    for flag, name, typ, help_ in OPTIONS:
        dest = name.replace(".", "__")
        default = _get(defaults, name)
        h = f"{help_} (default: {default!r})"
        if typ == "bool":
            p.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction, default=None, help=h)
        elif typ == "flag":
            p.add_argument(flag, dest=dest, action="store_const", const=True, default=None, help=help_)
        elif typ == "pair":
            p.add_argument(flag, dest=dest, type=float, nargs=2, metavar=("LO", "HI"), default=None, help=h,
                           action=ct.finite_pair())
        else:
            p.add_argument(flag, dest=dest, type=typ, default=None, help=h, choices=CHOICES.get(name),
                           metavar=flag[2:].upper().replace("-", "_"))
    p.set_defaults(func=main_train)
