"""The attribute classifier: a small multi-label CNN trained on REAL images of a cache, used to judge
whether generated faces show the attributes they were asked for.

`python -m gan classifier train --data synthetic:20000 --out workspace/classifier.pt --minutes 4`
trains on the cache's train split, keeps the best epoch on val, and stores its held-out (test split)
accuracy, balanced accuracy and macro-F1 on real images as `real_metrics` — the ceiling beside every
conditioning score. Checkpoint: `kind: "classifier"`, saved/loaded with gan.checkpoint.
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
from gan.checkpoint_fields import check_state_dict, meta_state_dict
from gan.device import DEFAULT_DEVICE, pick_device
from gan.metrics.conditioning import attribute_scores
from gan.pixels import to_unit
from gan.records import now_iso
from gan.schedule import StepBudget, cosine_decay

# ----------------------------------------------------------------------------- network


@dataclass
class ClassifierConfig:
    """Architecture (stored as model_config)."""

    input_size: int = 64   # images are resized to input_size × input_size
    width: int = 32        # channels of the first conv; doubled at each of the 4 stride-2 stages
    c_dim: int = 0         # number of attributes (from the dataset)


@dataclass
class ClassifierTrainConfig:
    """Training recipe (stored as train_config)."""

    minutes: float | None = 4.0   # time budget; ignored when epochs is set
    epochs: int | None = None     # fixed number of epochs
    batch: int = 128              # images per step
    lr: float = 2e-3              # Adam learning rate (cosine-decayed to 5%)
    weight_decay: float = 1e-4    # AdamW decoupled weight decay
    max_pos_weight: float = 10.0  # BCE pos_weight = neg/pos per attribute, capped (helps rare attributes)
    flip: bool = True             # random horizontal flips
    blur_max: float = 2.0         # Gaussian blur with sigma ~ U(0, blur_max) px on half the images (robust to G's blur); 0 = off
    noise_max: float = 0.05       # additive Gaussian noise with std ~ U(0, noise_max) on [-1, 1] images; 0 = off
    max_images: int | None = None # use at most this many training images
    seed: int = 0                 # shuffling and initialisation
    device: str = DEFAULT_DEVICE      # where to train (gan.device.pick_device)


class ClassifierNet(nn.Module):
    """img (B, 3, S, S) float in [-1, 1] → logits (B, c_dim); `features` gives the (B, 8·width) penultimate layer."""

    def __init__(self, cfg: ClassifierConfig):
        super().__init__()
        w = cfg.width

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        self.body = nn.Sequential(
            *block(3, w),          # state size. w × S/2 × S/2
            *block(w, 2 * w),      # state size. 2w × S/4 × S/4
            *block(2 * w, 4 * w),  # state size. 4w × S/8 × S/8
            *block(4 * w, 8 * w),  # state size. 8w × S/16 × S/16
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),  # (B, 8w)
        )
        self.head = nn.Linear(8 * w, cfg.c_dim)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class AttributeClassifier:
    """A loaded classifier: `predict_proba(img) -> (B, K)`, `features(img) -> (B, F)`; img float in [-1, 1],
    any resolution (resized to `input_size`). Frozen, eval mode; never mutate a cached instance."""

    def __init__(self, net: ClassifierNet, cfg: ClassifierConfig, attribute_names, real_metrics: dict,
                 dataset: dict, path: Path | None = None, device: str | torch.device = "cpu"):
        self.net = net.eval().requires_grad_(False).to(device)
        self.cfg, self.device = cfg, torch.device(device)
        self.attribute_names = tuple(attribute_names)
        self.real_metrics, self.dataset, self.path = dict(real_metrics or {}), dict(dataset or {}), path

    @property
    def input_size(self) -> int:
        return self.cfg.input_size

    def _prep(self, img: torch.Tensor) -> torch.Tensor:
        if img.ndim != 4 or img.shape[1] != 3:
            raise ValueError(f"expected img (B, 3, H, W) in [-1, 1], got {tuple(img.shape)}")
        return resize(img.float().to(self.device), self.cfg.input_size)

    @torch.inference_mode()
    def predict_proba(self, img: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(self._prep(img))).cpu()

    @torch.inference_mode()
    def features(self, img: torch.Tensor) -> torch.Tensor:
        return self.net.features(self._prep(img)).cpu()


def resize(img: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize (antialiased when shrinking) to size × size; identity when already that size."""
    if img.shape[-1] == size and img.shape[-2] == size:
        return img
    return F.interpolate(img, size=(size, size), mode="bilinear", align_corners=False, antialias=img.shape[-1] > size)


# ----------------------------------------------------------------------------- training


def _to_tensor(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 → (N, 3, H, W) uint8 tensor (kept compact; converted per batch)."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()


def _batch_float(x: torch.Tensor, size: int, blur: float = 0.0) -> torch.Tensor:
    """uint8 (B, 3, H, W) → float in [-1, 1], blurred (sigma in source pixels) then resized to size."""
    return resize(gaussian_blur(to_unit(x), blur), size)


CEILING_BLUR = 1.5  # sigma (px at 64x64) of the blurred-faces ceiling


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur (B, 3, H, W) with a Gaussian of this sigma in pixels (reflect padding); sigma 0 = unchanged."""
    if sigma <= 0:
        return x
    r = max(1, math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = (k / k.sum()).to(x.dtype)
    C = x.shape[1]
    x = F.pad(x, (r, r, r, r), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(C, 1, 1, -1), groups=C)   # along width
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(C, 1, -1, 1), groups=C)  # along height


def degrade(x: torch.Tensor, blur_max: float, noise_max: float) -> torch.Tensor:
    """Training augmentation: half the batch blurred (sigma ~ U(0, blur_max), in four groups), then noise."""
    if blur_max > 0:
        groups = torch.randint(0, 8, (len(x),))                  # 0–3 blurred at one of 4 sigmas, 4–7 sharp
        sigmas = (torch.rand(4) * blur_max).tolist()
        for g, sigma in enumerate(sigmas):
            sel = (groups == g).nonzero().flatten()
            if len(sel):
                x = x.index_copy(0, sel.to(x.device), gaussian_blur(x[sel.to(x.device)], sigma))
    if noise_max > 0:
        x = x + torch.randn_like(x) * (torch.rand(len(x), 1, 1, 1, device=x.device) * noise_max)
    return x


@torch.inference_mode()
def _probs(net: ClassifierNet, x: torch.Tensor, size: int, batch: int = 512, blur: float = 0.0) -> np.ndarray:
    net.eval()
    dev = next(net.parameters()).device
    out = [torch.sigmoid(net(_batch_float(x[i:i + batch].to(dev), size, blur))) for i in range(0, len(x), batch)]
    return torch.cat(out).cpu().numpy() if out else np.zeros((0, net.head.out_features), np.float32)


def real_metrics_of(probs: np.ndarray, labels: np.ndarray, names, split: str) -> dict:
    """The stored ceiling: per-attribute accuracy, balanced accuracy, macro-F1 on held-out real images."""
    s = attribute_scores(probs >= 0.5, labels)
    out: dict = {"split": split, "n": int(len(labels))}
    for key in ("accuracy", "balanced_accuracy", "f1_macro", "f1_positive"):
        out[key] = {n: float(v) for n, v in zip(names, s[key])}
        out[f"{key}_mean"] = float(np.nanmean(s[key]))
    return out


def train_classifier(cache, tcfg: ClassifierTrainConfig, mcfg: ClassifierConfig | None = None, log=print) -> dict:
    """Train on cache's train split, select on val, score on test (val if no test). Returns the checkpoint dict."""
    # Load the data: compact uint8 tensors, labels as float.
    torch.manual_seed(tcfg.seed)
    rng = np.random.default_rng(tcfg.seed)
    names = list(cache.attribute_names)
    mcfg = mcfg or ClassifierConfig()
    mcfg.c_dim = len(names)
    tr, va, te = cache.indices("train"), cache.indices("val"), cache.indices("test")
    if len(tr) == 0:
        raise ValueError(f"cache {cache.root} has no training images")
    if tcfg.max_images:
        tr = np.sort(rng.choice(tr, min(len(tr), tcfg.max_images), replace=False))
    held_split, held = ("test", te) if len(te) else ("val", va)
    sel = va if len(va) else held
    x_tr, y_tr = _to_tensor(cache.images[tr]), torch.from_numpy(cache.attrs[tr].astype(np.float32))
    x_sel, y_sel = _to_tensor(cache.images[sel]), cache.attrs[sel]
    x_held, y_held = _to_tensor(cache.images[held]), cache.attrs[held]

    # Construct the network, loss (pos_weight balances rare attributes) and optimiser.
    device = pick_device(tcfg.device)
    net = ClassifierNet(mcfg).to(device)
    pos = y_tr.mean(0).clamp(1e-3, 1 - 1e-3)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=((1 - pos) / pos).clamp(1.0, tcfg.max_pos_weight).to(device))
    opt = torch.optim.AdamW(net.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay)
    steps_per_epoch = max(1, len(tr) // tcfg.batch)
    # A time budget's step count is fixed after the first 20 steps, leaving ~10% for evaluation.
    budget = StepBudget(steps=tcfg.epochs * steps_per_epoch if tcfg.epochs else None,
                        seconds=None if tcfg.epochs else 60.0 * (tcfg.minutes or 4.0),
                        measure_after=20, share=0.9, min_steps=steps_per_epoch)
    sched = cosine_decay(opt, budget.fraction, floor=0.05)

    # Loop over epochs.
    step, epoch, best = 0, 0, (-1.0, None, 0)
    while True:
        net.train()
        perm = torch.randperm(len(tr))
        for i in range(steps_per_epoch):
            idx = perm[i * tcfg.batch:(i + 1) * tcfg.batch]
            x = _batch_float(x_tr[idx], mcfg.input_size).to(device)     # (B, 3, S, S)
            if tcfg.flip:
                flip = torch.rand(len(x), device=x.device) < 0.5
                x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            x = degrade(x, tcfg.blur_max, tcfg.noise_max)
            loss = loss_fn(net(x), y_tr[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            budget.after_step(step)
            sched.step()
            if budget.done(step):
                break
        epoch += 1
        # Select on val by mean balanced accuracy.
        s = attribute_scores(_probs(net, x_sel, mcfg.input_size) >= 0.5, y_sel)
        bal = float(np.nanmean(s["balanced_accuracy"]))
        log(f"epoch {epoch} step {step}/{budget.total} loss {loss.item():.4f} val balanced acc {bal:.4f} "
            f"({budget.elapsed():.0f} s)")
        if bal > best[0]:
            best = (bal, {k: v.detach().clone() for k, v in net.state_dict().items()}, epoch)
        if budget.done(step):
            break
    net.load_state_dict(best[1])
    real = real_metrics_of(_probs(net, x_held, mcfg.input_size), y_held, names, held_split)
    real.update(selected_epoch=best[2], val_balanced_accuracy_mean=best[0])
    # The same held-out faces blurred as a generator blurs: the ceiling that applies to blurry generated faces.
    blurred = real_metrics_of(_probs(net, x_held, mcfg.input_size, blur=CEILING_BLUR), y_held, names, held_split)
    real["blurred"] = {"sigma": CEILING_BLUR, **blurred}
    log(f"held-out {held_split} ({len(held)} real images): accuracy {real['accuracy_mean']:.4f}, "
        f"balanced accuracy {real['balanced_accuracy_mean']:.4f} (blurred σ={CEILING_BLUR}: "
        f"{blurred['balanced_accuracy_mean']:.4f}), macro-F1 {real['f1_macro_mean']:.4f}")
    tc = asdict(tcfg)
    tc.update(device=str(device), steps=step, epochs_run=epoch, seconds=round(budget.elapsed(), 1), train_images=int(len(tr)))
    return {
        "format_version": FORMAT_VERSION, "kind": "classifier", "model_config": asdict(mcfg), "train_config": tc,
        "attribute_names": names, "model": net.state_dict(), "real_metrics": real,
        "dataset": {"fingerprint": cache.fingerprint, "source": cache.manifest.get("source"),
                    "size": cache.size, "count": len(cache), "crop": cache.manifest.get("crop"),
                    "label_frequencies": cache.manifest.get("label_frequencies", {})},
        "created": now_iso(), "code_version": code_version(),
    }


# ----------------------------------------------------------------------------- loading


def validate_classifier(ckpt: dict, path) -> ClassifierConfig:
    """The config of a classifier checkpoint whose fields (load_checkpoint) and weights (shapes, dtypes, finite
    values, against the network built on the meta device) are all sound; CheckpointError otherwise."""
    cfg = ClassifierConfig(**{k: v for k, v in ckpt.get("model_config", {}).items() if k in ClassifierConfig.__dataclass_fields__})
    check_state_dict(path, "model", ckpt["model"], meta_state_dict(lambda: ClassifierNet(cfg)))
    return cfg


def load_classifier(path: str | Path, device: str | torch.device = "cpu", allowed_roots=None) -> AttributeClassifier:
    """Load a `kind: "classifier"` checkpoint; raises CheckpointError (every field checked before the net is built)."""
    ckpt = load_checkpoint(path, expected_kind="classifier", allowed_roots=allowed_roots)
    cfg = validate_classifier(ckpt, path)
    names = list(ckpt.get("attribute_names", []))
    net = ClassifierNet(cfg)
    try:
        net.load_state_dict(ckpt["model"])
    except (RuntimeError, KeyError) as e:
        raise CheckpointError(f"{path}: classifier weights do not fit its model_config ({str(e)[:200]})") from None
    return AttributeClassifier(net, cfg, names, ckpt.get("real_metrics", {}), ckpt.get("dataset", {}), Path(path), device)


def default_classifier_for(loaded_generator, search: list[Path] | None = None) -> Path | None:
    """A classifier checkpoint that reads all of the generator's attributes: checkpoints/default_classifier.pt
    first, then any other `*classifier*.pt` under checkpoints/ and the workspace; exact name match preferred,
    same dataset fingerprint next. None when there is none."""
    want = list(loaded_generator.attribute_names)
    fp = (getattr(loaded_generator, "dataset", None) or {}).get("fingerprint")
    roots = search if search is not None else [paths.CHECKPOINTS_DIR, paths.workspace_dir()]
    scored = []
    for rank, (p, ck) in enumerate(find_checkpoints("classifier", paths.DEFAULT_CLASSIFIER, roots, validate_classifier)):
        names = list(ck.get("attribute_names", []))
        if not set(want) <= set(names):
            continue
        same_fp = fp is not None and ck.get("dataset", {}).get("fingerprint") == fp
        scored.append((names != want, not same_fp, rank, p))
    return min(scored)[3] if scored else None


# ----------------------------------------------------------------------------- CLI


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("classifier", help="attribute classifier used to judge generated faces")
    sub = p.add_subparsers(dest="classifier_command", metavar="SUBCOMMAND")
    t = sub.add_parser("train", help="train the attribute classifier on real images of a dataset")
    t.add_argument("--data", type=ct.data_spec, default="synthetic:20000", help="--data spec (synthetic[:N], celeba:PATH, folder:PATH, cache:DIR)")
    t.add_argument("--size", type=ct.int_range(8, 1024), default=64, help="cache resolution to prepare/open (default: %(default)s)")
    t.add_argument("--out", type=ct.output_file, default=None,
                   help="output checkpoint (default: WORKSPACE/classifier.pt; the shipped checkpoints/ files are "
                        "replaced only when named here)")
    g = t.add_mutually_exclusive_group()
    g.add_argument("--minutes", type=ct.float_range(0, 10 ** 6, lo_open=True), default=None, help=f"time budget (default: {ClassifierTrainConfig.minutes})")
    g.add_argument("--epochs", type=ct.int_range(1, 10 ** 6), default=None, help="fixed number of epochs instead of a time budget")
    t.add_argument("--input-size", type=ct.int_range(16, 512), default=None, help=f"classifier input resolution (default: {ClassifierConfig.input_size})")
    t.add_argument("--batch", type=ct.int_range(1, 4096), default=None, help=f"batch size (default: {ClassifierTrainConfig.batch})")
    t.add_argument("--max-images", type=ct.int_range(1, 10 ** 9), default=None, help="use at most this many training images")
    t.add_argument("--seed", type=ct.SEED, default=None)
    ct.add_device_option(t)
    t.set_defaults(func=_cli_train)
    p.set_defaults(func=lambda args: (p.print_help(sys.stderr), 2)[1])  # `classifier` alone: its own help


def _cli_train(args: argparse.Namespace) -> int:
    from gan.data.prepare import open_source
    from gan.device import configure_threads

    configure_threads()
    tcfg = ct.apply_given(ClassifierTrainConfig(), args, "minutes", "epochs", "batch", "max_images", "seed")
    mcfg = ClassifierConfig()
    if args.input_size:
        mcfg.input_size = args.input_size
    tcfg.device = args.device
    args.out = args.out or str(paths.workspace_dir() / "classifier.pt")
    cache = open_source(args.data, size=args.size)
    print(f"classifier: {len(cache)} images from {cache.manifest.get('source')} ({cache.fingerprint}), "
          f"{len(cache.attribute_names)} attributes; config {asdict(mcfg)} {asdict(tcfg)}", file=sys.stderr)
    ckpt = train_classifier(cache, tcfg, mcfg, log=lambda s: print(s, file=sys.stderr))
    save_checkpoint(args.out, ckpt)
    rm = ckpt["real_metrics"]
    print(f"wrote {args.out}: held-out real {rm['split']} n={rm['n']} accuracy {rm['accuracy_mean']:.4f} "
          f"balanced accuracy {rm['balanced_accuracy_mean']:.4f} macro-F1 {rm['f1_macro_mean']:.4f}")
    for n in ckpt["attribute_names"]:
        print(f"  {n:18s} acc {rm['accuracy'][n]:.3f}  bal {rm['balanced_accuracy'][n]:.3f}  F1 {rm['f1_macro'][n]:.3f}")
    return 0
