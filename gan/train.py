"""The training loop: `train(cfg, on_tick=None)` and its `train_step`, single process or DistributedDataParallel under
torchrun (gloo on CPUs, NCCL on GPUs); on CUDA with bf16 autocast, channels-last and optionally torch.compile.

The batches come from gan/batches.py, the `python -m gan train` option table from gan/train_cli.py, the DDP and
torch.compile wrappers from gan/distributed.py, RNG states from gan/rng.py. Over 400 lines because TrainConfig, the
step and the loop (one function, by the style notes) are read together."""
from __future__ import annotations

import copy
import json
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from gan import losses, paths
from gan.attributes import check_names
from gan.batches import Batches
from gan.checkpoint import (FORMAT_VERSION, CheckpointError, check_compatible, code_version, load_checkpoint,
                            save_checkpoint)
from gan.conditions import LabelDistribution
from gan.device import DEFAULT_DEVICE, autocast, autocast_dtype, configure_cuda, configure_threads, seed_everything
from gan.generate import generate_images, image_grid, sample_z
from gan.distributed import GeneratorStep, average_buffers, dist_setup, no_sync, wrap_for_training
from gan.guard import CollapseGuard, GuardConfig, all_finite
from gan.models import ModelConfig, build_networks
from gan.records import now_iso
from gan.rng import rng_state, set_rng_state
from gan.runfolder import RunFolder
from gan.runlock import RunLock


@dataclass
class TrainConfig:
    data: str = "synthetic:20000"       # --data spec: synthetic[:N] | celeba:PATH | folder:PATH | cache:DIR
    attrs: str = ""                     # comma-separated attribute subset to condition on ("" = all of the data's)
    crop: str = ""                      # crop mode passed to prepare ("" = its default)
    size: int = 64                      # image side in pixels (32, 64, 128)
    steps: int = 2000                   # training steps (one D update per d_steps + one G update); 0 = no limit
    minutes: float = 0.0                # wall-clock budget over the whole run incl. resumes; 0 = no limit
    batch: int = 64                     # global batch size (split across DDP ranks)
    lr_g: float = 2e-4                  # Adam learning rate of G
    lr_d: float = 2e-4                  # Adam learning rate of D (TTUR: set it higher than lr_g)
    beta1: float = 0.5                  # Adam beta1 (DCGAN)
    beta2: float = 0.999                # Adam beta2
    fused_adam: bool = True             # Adam as one fused kernel over all parameters (CPU/CUDA/MPS); False = per-tensor loop
    loss: str = "nonsat"                # nonsat (BCE) | hinge
    smoothing: float = 0.9              # one-sided label smoothing: target of real images (nonsat only)
    d_steps: int = 1                    # D updates per G update
    aux_weight: float = 1.0             # weight of the attribute (auxiliary head) BCE in D's loss (real images)
    g_aux_weight: float = 1.0           # weight of the same BCE in G's loss (AC-GAN; shrinks within-class variety unless
                                        # balanced by ms_weight: see BENCHMARKS.md, recipe experiments)
    ms_weight: float = 2.0              # mode-seeking term (Mao et al. 2019): pairs with one c, pushes their images apart
    mixing_prob: float = 0.5            # style G: share of samples whose later blocks take w from a second z
    mapping_lr_mult: float = 0.1        # style G: learning-rate multiplier of the mapping network
    ema: float = 0.999                  # decay of G_ema, the generator that is shipped
    ema_warmup: bool = True             # ramp decay as min(ema, (1+step)/(10+step)) so early G_ema is not stale
    guard: bool = GuardConfig.enabled  # collapse guard: roll a network back when its loss leaves its band
    guard_d_band: tuple = GuardConfig.d_band  # healthy range of D's adversarial loss (real + fake, window mean)
    guard_g_band: tuple = GuardConfig.g_band  # healthy range of G's adversarial loss
    guard_max_restores: int = GuardConfig.max_restores  # stop the run after more restores than this ...
    guard_window: int = GuardConfig.window  # ... within this many steps
    sample_every: int = 250             # steps between preview grids samples_{step:06d}.png
    ckpt_every: int = 250               # steps between checkpoint.pt saves (always at the end too)
    log_every: int = 25                 # steps between events.jsonl lines / guard checks (the only host syncs)
    metrics_every: int = 500            # steps between live metrics (diversity, accuracy, PCA) in metrics.jsonl; 0 = off
    seed: int = 0                       # seeds init, noise, data order and the preview grid
    device: str = DEFAULT_DEVICE        # auto | cpu | cuda | cuda:N | mps (gan.device.pick_device)
    flip: bool = True                   # random horizontal flips of real images
    workers: int = 0                    # background threads loading the next uint8 batch (0 = in the loop)
    channels_last: bool = True          # NHWC memory format for the networks (faster convs on CPU; see bench_train)
    precision: str = "auto"             # auto (bf16 autocast on CUDA where supported, else fp32) | fp32 | bf16
    compile: bool = False               # torch.compile G's step and D (off until measured faster; see bench/gpu_check.sh)
    deterministic: bool = False         # CUDA: deterministic kernels, no cuDNN autotuning (bit-exact resume on a GPU; slower)
    out: str = ""                       # run folder ("" = runs/run-DATE-TIME)
    resume: bool = False                # continue bit-for-bit from OUT/checkpoint.pt
    init: str = ""                      # fine-tune from this checkpoint's weights (same attributes/architecture)
    progress: bool = True               # tqdm progress bar
    model: ModelConfig = field(default_factory=ModelConfig)  # network shape; c_dim/img_resolution come from the data

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """Build from a stored dict; fields it predates get the values that reproduce its recipe (LEGACY)."""
        known = {f.name for f in fields(cls)}
        legacy = {**LEGACY, "g_aux_weight": d.get("aux_weight", 1.0)}
        kw = {**legacy, **{k: v for k, v in d.items() if k in known and k != "model"}}
        for k in ("guard_d_band", "guard_g_band"):
            if k in kw:
                kw[k] = tuple(kw[k])
        return cls(**kw, model=ModelConfig.from_dict(d.get("model", {})))

    def to_dict(self) -> dict:
        return asdict(self)


# Values of recipe fields added after the first shipped model, for configs stored without them.
LEGACY = {"ms_weight": 0.0, "mixing_prob": 0.0, "mapping_lr_mult": 1.0, "precision": "fp32"}

# Fields a resumed run may change; everything else (the recipe) comes from the checkpoint.
CONTROL_FIELDS = ("steps", "minutes", "sample_every", "ckpt_every", "log_every", "metrics_every", "device", "workers", "out",
                  "resume", "init", "channels_last", "compile", "deterministic", "progress")


def preview_conditions(labels: LabelDistribution, n_rows: int = 8) -> tuple[np.ndarray, list[str]]:
    """Fixed rows of the preview grid: the most common label vector, then for the most balanced attributes the
    nearest real vector with that attribute flipped. Returns (c (n_rows, K) float32, row labels)."""
    base = labels.rows[np.argmax(labels.counts)]
    rows = [base]
    # Prefer real vectors closest to the base (fewest other changes), then the most common.
    hamming = (labels.rows != base).sum(1)
    order = np.lexsort((-labels.counts, hamming))
    for k in np.argsort(np.abs(labels.frequencies - 0.5), kind="stable"):
        if len(rows) >= n_rows:
            break
        match = [i for i in order if labels.rows[i, k] != base[k] and not any((labels.rows[i] == r).all() for r in rows)]
        if match:
            rows.append(labels.rows[match[0]])
    # Row 0 is labelled with its attributes, the others with their difference from row 0 ("+Smiling -Male").
    text = []
    for i, r in enumerate(rows):
        if i == 0:
            s = ", ".join(n for n, v in zip(labels.names, r) if v) or "(none)"
        else:
            s = " ".join(("+" if v else "-") + n for n, v, b in zip(labels.names, r, rows[0]) if v != b)
        text.append(s if len(s) <= 40 else s[:38] + "..")
    return np.stack(rows).astype(np.float32), text


@torch.no_grad()
def update_ema(G_ema: torch.nn.Module, G: torch.nn.Module, beta: float) -> None:
    """G_ema ← beta·G_ema + (1 − beta)·G; buffers (batch-norm statistics) are copied."""
    for p_ema, p in zip(G_ema.parameters(), G.parameters()):
        p_ema.lerp_(p, 1.0 - beta)
    for b_ema, b in zip(G_ema.buffers(), G.buffers()):
        b_ema.copy_(b)


def _resolve_out(cfg: TrainConfig) -> Path:
    return Path(cfg.out) if cfg.out else paths.runs_dir() / datetime.now().strftime("run-%Y%m%d-%H%M%S")


def build_training_networks(cfg: TrainConfig, device: torch.device) -> tuple:
    """(G, D, G_ema, opt_G, opt_D) for cfg.model (c_dim and img_resolution already read from the data), freshly
    initialised from the torch RNG, in cfg's memory format; G_ema is a frozen copy of G."""
    G, D = build_networks(cfg.model)
    G, D = G.to(device), D.to(device)
    if cfg.channels_last:  # NHWC: the batches already arrive with NHWC strides (uint8 HWC → permute)
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    # The fused flag travels in the optimiser state, so a resumed run keeps the implementation it started with.
    fused = cfg.fused_adam and device.type in ("cpu", "cuda", "mps")
    mapping = list(G.mapping.parameters()) if hasattr(G, "mapping") else []  # the MLP learns slower (StyleGAN)
    rest = [p for p in G.parameters() if all(p is not q for q in mapping)]
    groups = [{"params": rest}] + ([{"params": mapping, "lr": cfg.lr_g * cfg.mapping_lr_mult}] if mapping else [])
    opt_G = torch.optim.Adam(groups, lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2), fused=fused or None)
    opt_D = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2), fused=fused or None)
    return G, D, G_ema, opt_G, opt_D


def train_step(G: torch.nn.Module, D: torch.nn.Module, G_ema: torch.nn.Module, opt_G: torch.optim.Optimizer,
               opt_D: torch.optim.Optimizer, batches: Batches, cfg: TrainConfig, step: int, rank: int = 0,
               world: int = 1, G_step: torch.nn.Module | None = None, D_step: torch.nn.Module | None = None) -> torch.Tensor:
    """One training step: cfg.d_steps D updates, one G update, then G_ema. Returns the logged scalars as one (7,)
    device tensor (Loss/D/real, Loss/D/fake, Loss/G, Loss/D/aux, Loss/G/aux, D(x), D(G(z))) — no host sync.

    G and D are the plain networks; G_step and D_step what the forwards go through (from wrap_for_training: DDP
    and/or compiled; default: GeneratorStep(G) and D). Forwards run under bf16 autocast when cfg.precision picks it
    for this device; the losses are computed in fp32 (a no-op cast when autocast is off)."""
    device, per = batches.device, cfg.batch // world
    G_step = G_step if G_step is not None else GeneratorStep(G)
    D_step = D_step if D_step is not None else D
    amp = autocast_dtype(device, cfg.precision)

    # (1) Update D: maximize log D(x) + log(1 - D(G(z))), and classify the attributes of real images.
    D.requires_grad_(True)
    for _ in range(cfg.d_steps):
        real, c = batches.next()                                                # (b, 3, H, W), (b, K)
        # Noise and flips are drawn for the global batch and sliced: each DDP rank takes its share of the same draws.
        z = torch.randn(cfg.batch, G.z_dim, device=device)[rank * per:(rank + 1) * per]  # (b, z_dim)
        if cfg.flip:
            flip = (torch.rand(cfg.batch, device=device) < 0.5)[rank * per:(rank + 1) * per]
            real = torch.where(flip[:, None, None, None], real.flip(3), real)
        # Mode seeking: the fakes come in pairs (i, i + b/2) that share one condition.
        c_fake = torch.cat([c[:per // 2], c[:per - per // 2]]) if cfg.ms_weight > 0 else c
        with autocast(device, amp):
            fake = _generate(G_step, G, z, c_fake, cfg, rank, per)             # (b, 3, H, W)
            real_logit, real_aux = D_step(real, c)
            fake_logit, _ = D_step(fake.detach(), c_fake)
        real_logit, real_aux, fake_logit = real_logit.float(), real_aux.float(), fake_logit.float()
        loss_real, loss_fake = losses.d_loss(real_logit, fake_logit, cfg.loss, cfg.smoothing)
        loss_d_aux = losses.aux_loss(real_aux, c)
        opt_D.zero_grad(set_to_none=True)
        (loss_real + loss_fake + cfg.aux_weight * loss_d_aux).backward()  # DDP: D's gradients averaged over ranks here
        opt_D.step()

    # (2) Update G: maximize log D(G(z)), and make D's attribute head read the requested c.
    D.requires_grad_(False)  # no weight gradients for D in this phase
    with autocast(device, amp), no_sync(D_step):  # DDP must not wait for D gradients this backward never makes
        fake_logit, fake_aux = D_step(fake, c_fake)
    fake_logit, fake_aux = fake_logit.float(), fake_aux.float()
    loss_g = losses.g_loss(fake_logit, cfg.loss)
    loss_g_aux = losses.aux_loss(fake_aux, c_fake)
    loss_ms = losses.mode_seeking_loss(fake.float(), z) if cfg.ms_weight > 0 else loss_g.new_zeros(())
    opt_G.zero_grad(set_to_none=True)
    (loss_g + cfg.g_aux_weight * loss_g_aux + cfg.ms_weight * loss_ms).backward()  # DDP: G's gradients averaged here
    opt_G.step()
    average_buffers([G, D], world)  # batch-norm statistics: each rank saw its own slice of the batch

    # G_ema follows G, with a warm-up so the early average is not dominated by the random init.
    beta = min(cfg.ema, (1 + step) / (10 + step)) if cfg.ema_warmup else cfg.ema
    update_ema(G_ema, G, beta)
    return torch.stack([loss_real, loss_fake, loss_g, loss_d_aux, loss_g_aux,
                        torch.sigmoid(real_logit).mean(), torch.sigmoid(fake_logit).mean()]).detach()


def _generate(G_step: torch.nn.Module, G: torch.nn.Module, z: torch.Tensor, c: torch.Tensor, cfg: TrainConfig,
              rank: int, per: int) -> torch.Tensor:
    """G(z, c) through G_step, with style-mixing regularisation for a style G (its draws are global, each rank takes
    its slice). G is the unwrapped generator: its mapping / num_ws are read there, never on a DDP or compiled wrapper."""
    if cfg.mixing_prob <= 0 or not hasattr(G, "mapping"):
        return G_step(z, c)
    part = slice(rank * per, (rank + 1) * per)
    u = torch.rand(cfg.batch, device=z.device)[part]
    z2 = torch.randn(cfg.batch, G.z_dim, device=z.device)[part]
    cut = torch.randint(1, G.num_ws, (cfg.batch,), device=z.device)[part]
    return G_step(z, c, (cfg.mixing_prob, u, z2, cut))


def train(cfg: TrainConfig, on_tick: Callable[[dict], Any] | None = None) -> dict:
    """Train a conditional GAN; returns {state, step, images_per_s, checkpoint, out, message}.

    on_tick(info) is called at every log tick with the logged scalars; returning True stops the run gracefully."""
    # Join the process group (if launched by torchrun); only rank 0 writes files.
    rank, world, device = dist_setup(cfg.device)
    configure_threads()
    configure_cuda(device, deterministic=cfg.deterministic)
    out = _resolve_out(cfg)
    cfg = replace(cfg, out=str(out))
    run = RunFolder(out, enabled=rank == 0)
    lock = RunLock(out, "train").acquire() if rank == 0 else None  # one writer per run folder: RunLocked at once
    stop = {"reason": None}
    restore_signals = _install_signal_handlers(stop)
    batches = None
    try:
        # Resume: the recipe comes from the checkpoint; only run-control fields may change.
        resume_ckpt = None
        if cfg.resume:
            resume_ckpt = load_checkpoint(run.checkpoint_path, expected_kind="generator")
            saved = TrainConfig.from_dict(resume_ckpt["train_config"])
            cfg = replace(saved, **{k: getattr(cfg, k) for k in CONTROL_FIELDS})
        elif run.checkpoint_path.exists():
            raise RuntimeError(f"{out} already holds a checkpoint; pass --resume to continue it or choose another --out")
        run.clear_stop()
        run.set_status("running", total_steps=cfg.steps or None, message="loading data")
        seed_everything(cfg.seed)

        # Load the training set (rank 0 prepares the cache first, the others then reuse it).
        from gan.data.prepare import open_source
        attrs_wanted = [a.strip() for a in cfg.attrs.split(",") if a.strip()] or None
        if rank == 0:
            print(f"loading {cfg.data} (prepared once, then reused) …", file=sys.stderr, flush=True)
            cache = open_source(cfg.data, size=cfg.size, attrs=attrs_wanted, crop=cfg.crop or None)
        if world > 1:
            dist.barrier()
        if rank != 0:
            cache = open_source(cfg.data, size=cfg.size, attrs=attrs_wanted, crop=cfg.crop or None)
        names = list(cache.attribute_names)
        attrs = np.asarray(cache.attrs, dtype=np.uint8)
        if attrs_wanted:  # condition on a subset of the cache's attributes
            names_sel = check_names(attrs_wanted, tuple(names))
            attrs = attrs[:, [names.index(n) for n in names_sel]]
            names = names_sel
        train_index = cache.indices("train")
        if len(train_index) == 0:
            train_index = cache.indices()
        labels = LabelDistribution.from_labels(attrs[train_index], tuple(names))
        batches = Batches(cache.images, attrs, train_index, cfg.batch, cfg.seed, device, rank, world, cfg.workers)
        dataset_info = {"fingerprint": cache.fingerprint, "source": cache.manifest.get("source", cfg.data),
                        "crop": cache.manifest.get("crop"), "size": cache.size, "count": len(train_index),
                        "label_frequencies": {n: float(f) for n, f in zip(names, labels.frequencies)}}

        # Construct networks: sizes come from the data.
        mcfg = replace(cfg.model, c_dim=len(names), img_resolution=cache.size)
        cfg = replace(cfg, model=mcfg, size=cache.size)
        G, D, G_ema, opt_G, opt_D = build_training_networks(cfg, device)

        # Initialise from a checkpoint (fine-tuning) or restore everything (resume).
        step, elapsed_before, metrics_history = 0, 0.0, []
        if cfg.init and not cfg.resume:
            init = load_checkpoint(cfg.init, expected_kind="generator")
            check_compatible(init, names, mcfg)
            G.load_state_dict(init["G"])
            G_ema.load_state_dict(init["G_ema"])
            if "D" in init:
                D.load_state_dict(init["D"])
        if resume_ckpt is not None:
            check_compatible(resume_ckpt, names, mcfg)
            if resume_ckpt.get("dataset", {}).get("fingerprint") != cache.fingerprint:
                print(f"warning: the data changed since this run started (fingerprint "
                      f"{resume_ckpt['dataset'].get('fingerprint')} → {cache.fingerprint})", file=sys.stderr)
            for module, key in ((G, "G"), (G_ema, "G_ema"), (D, "D"), (opt_G, "opt_G"), (opt_D, "opt_D")):
                module.load_state_dict(resume_ckpt[key])
            step = int(resume_ckpt["step"])
            elapsed_before = float(resume_ckpt.get("elapsed", 0.0))
            metrics_history = list(resume_ckpt.get("metrics_history", []))
            batches.load_state(resume_ckpt["data_state"])
            set_rng_state(resume_ckpt["rng"], device)
            del resume_ckpt
        elif world > 1:  # identical start on every rank
            for t in list(G.state_dict().values()) + list(D.state_dict().values()) + list(G_ema.state_dict().values()):
                dist.broadcast(t, 0)

        # The modules the step calls: DDP wrappers under torchrun (after the ranks agree on the weights), compiled
        # with cfg.compile; G, D and G_ema themselves are what is saved, averaged and rendered.
        G_step, D_step = wrap_for_training(G, D, cfg, device, world)

        # Fix the preview grid once: one row per attribute combination, one fixed z per column.
        grid_c, grid_text = preview_conditions(labels)
        grid_z = sample_z(8, mcfg.z_dim, cfg.seed)
        grid_z, grid_c = grid_z.repeat(len(grid_c), 1), torch.from_numpy(np.repeat(grid_c, 8, axis=0))

        # Write the resolved config before step 0.
        if rank == 0:
            print(json.dumps(cfg.to_dict(), indent=2))
        run.write_config(cfg.to_dict())
        guard = CollapseGuard(GuardConfig(cfg.guard, tuple(cfg.guard_d_band), tuple(cfg.guard_g_band),
                                          cfg.guard_max_restores, cfg.guard_window))
        nets = {"D": {"D": D, "opt_D": opt_D}, "G": {"G": G, "G_ema": G_ema, "opt_G": opt_G}}

        saved_mtime = [run.checkpoint_path.stat().st_mtime_ns if run.checkpoint_path.exists() else None]

        def save(step: int) -> str | None:
            """Atomic checkpoint of everything needed to resume; refused when any weight is not finite."""
            if rank != 0:
                return None
            if not all_finite([G, G_ema, D]):
                return "skipped checkpoint: non-finite weights"
            # `python -m gan evaluate` may have appended metrics to checkpoint.pt since our last save: keep them.
            ckpt_path = run.checkpoint_path
            if ckpt_path.exists() and ckpt_path.stat().st_mtime_ns != saved_mtime[0]:
                try:
                    metrics_history[:] = load_checkpoint(ckpt_path).get("metrics_history", metrics_history)
                except CheckpointError:
                    pass
            save_checkpoint(run.checkpoint_path, {
                "format_version": FORMAT_VERSION, "kind": "generator", "model_config": mcfg.to_dict(),
                "train_config": cfg.to_dict(), "attribute_names": names, "dataset": dataset_info,
                "label_rows": torch.from_numpy(labels.rows), "label_counts": torch.from_numpy(labels.counts),
                "G": G.state_dict(), "G_ema": G_ema.state_dict(), "D": D.state_dict(),
                "opt_G": opt_G.state_dict(), "opt_D": opt_D.state_dict(), "step": step, "rng": rng_state(device),
                "data_state": batches.state(), "elapsed": elapsed_before + time.time() - t_start,
                "metrics_history": metrics_history, "created": now_iso(), "code_version": code_version()})
            saved_mtime[0] = ckpt_path.stat().st_mtime_ns
            return None

        def render_preview(step: int) -> None:
            if rank == 0:
                images = generate_images(G_ema, grid_z, grid_c)
                run.save_sample_grid(step, image_grid(images, nrow=8, row_labels=grid_text))

        if step == 0:
            render_preview(0)
        live = _live_metrics(cache, names, labels, train_index) if rank == 0 and cfg.metrics_every else None

        def measure(step: int) -> float:
            """Append one live-metrics record; returns the seconds it took (kept out of images/s)."""
            t0 = time.perf_counter()
            try:
                record = live.measure(G_ema)
            except ValueError as e:  # a metric that cannot be measured on this data must not end the run
                record = {"kind": "live", "error": str(e)}
            run.append_metrics({"step": step, **record})
            return time.perf_counter() - t0

        # Train.
        acc = torch.zeros(7, device=device)  # running sums of the logged scalars (no per-step host sync)
        acc_n, tick_images, tick_time = 0, 0, time.perf_counter()
        t_start = time.time()
        images_per_s, state, message = None, "finished", "done"
        note = None  # why the last checkpoint save was refused, if it was
        run.set_status("running", step=step, message="training")
        bar = tqdm(total=cfg.steps or None, initial=step, disable=rank != 0 or not cfg.progress,
                   unit="step", dynamic_ncols=True, mininterval=2.0)
        while True:
            # Stop conditions, agreed between ranks.
            reason = None
            if cfg.steps and step >= cfg.steps:
                reason = "finished"
            elif cfg.minutes and elapsed_before + time.time() - t_start >= cfg.minutes * 60:
                reason = "time"
            elif stop["reason"] or run.stop_requested():
                reason = "stop"
            if world > 1:
                code = torch.tensor([("finished", "time", "stop", None).index(reason)], device=device)
                dist.all_reduce(code, op=dist.ReduceOp.MIN)
                reason = ("finished", "time", "stop", None)[int(code)]
            if reason is not None:
                state, message = {"finished": ("finished", "reached the step budget"),
                                  "time": ("finished", f"reached the {cfg.minutes:g}-minute budget"),
                                  "stop": ("stopped", f"stopped on request ({stop['reason'] or 'STOP file'})")}[reason]
                break

            acc += train_step(G, D, G_ema, opt_G, opt_D, batches, cfg, step, rank, world, G_step, D_step)
            step += 1
            bar.update(1)
            acc_n += 1
            tick_images += cfg.batch * cfg.d_steps

            # Periodic tick: log + guard, preview grid, checkpoint.
            if step % cfg.log_every == 0 or step % cfg.ckpt_every == 0:
                means = (acc / max(1, acc_n)).tolist()
                now = time.perf_counter()
                images_per_s = tick_images / max(1e-9, now - tick_time)
                tick_images, tick_time, acc_n = 0, now, 0
                acc.zero_()
                info = {"step": step, "Loss/D/real": means[0], "Loss/D/fake": means[1], "Loss/G": means[2],
                        "Loss/D/aux": means[3], "Loss/G/aux": means[4], "D(x)": means[5], "D(G(z))": means[6],
                        "lr/G": opt_G.param_groups[0]["lr"], "lr/D": opt_D.param_groups[0]["lr"],
                        "images_per_s": round(images_per_s, 2)}
                actions = guard.check(step, {"D": means[0] + means[1], "G": means[2]}, nets)
                if actions:
                    info["guard"] = actions
                    if world > 1:  # keep ranks identical after a roll-back
                        for group in nets.values():
                            for m in group.values():
                                if isinstance(m, torch.nn.Module):
                                    for t in m.state_dict().values():
                                        dist.broadcast(t, 0)
                run.append_event(info)
                run.set_status("running", step=step, images_per_s=round(images_per_s, 2), message="training",
                               elapsed=round(elapsed_before + time.time() - t_start, 1))
                bar.set_postfix({"D": f"{means[0] + means[1]:.3f}", "G": f"{means[2]:.3f}",
                                 "img/s": f"{images_per_s:.0f}"}, refresh=False)
                if on_tick is not None and on_tick(info) is True:
                    stop["reason"] = "on_tick"
            if step % cfg.sample_every == 0:
                render_preview(step)
            if live is not None and step % cfg.metrics_every == 0:
                tick_time += measure(step)
            if step % cfg.ckpt_every == 0:
                note = save(step)
                if note:
                    run.append_event({"step": step, "guard": [{"guard": note}]})
        bar.close()

        # Final preview and checkpoint (unless this step was just saved).
        if step % cfg.sample_every != 0:
            render_preview(step)
        if step % cfg.ckpt_every != 0 or not run.checkpoint_path.exists() or note:
            note = save(step)  # not saved at this step yet, or its save was refused (weights not finite)
        if note:
            state, message = "failed", f"{note}; the last good checkpoint.pt is kept"
        run.set_status(state, step=step, images_per_s=images_per_s and round(images_per_s, 2), message=message)
        return {"state": state, "step": step, "images_per_s": images_per_s, "checkpoint": str(run.checkpoint_path),
                "out": str(out), "message": message}
    except BaseException as e:
        msg = f"{type(e).__name__}: {e}" if not isinstance(e, KeyboardInterrupt) else "interrupted"
        try:
            run.set_status("failed", message=msg)
        except Exception:
            pass
        raise
    finally:
        if batches is not None:
            batches.close()
        restore_signals()
        if lock is not None:
            lock.release()
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _live_metrics(cache, names, labels, train_index):
    """The live-metrics probe for this run, or None (with the reason printed) when it cannot be built."""
    from gan.metrics.live import LiveMetrics
    try:
        with torch.random.fork_rng(devices=[]):  # building the classifier draws init weights: keep resume bit-exact
            return LiveMetrics(cache, tuple(names), labels, train_index)
    except (ValueError, CheckpointError) as e:
        print(f"live metrics off: {e}", file=sys.stderr)
        return None


def _install_signal_handlers(stop: dict) -> Callable[[], None]:
    """Ctrl-C / SIGTERM ask the loop to finish its step, save and exit; a second Ctrl-C interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum, frame):
        if stop["reason"] is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop["reason"] = signal.Signals(signum).name

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    return lambda: [signal.signal(s, h) for s, h in old.items()]
