"""Checkpoints: one self-describing file of tensors and plain values, saved atomically, loaded with weights_only=True only.

Format (docs/ARCHITECTURE.md): format_version, kind, model_config, train_config, attribute_names, dataset,
label_rows (M, K) uint8, label_counts (M,) int64, G, G_ema, D, opt_G, opt_D (absent in slim exports), step,
rng, metrics_history, created, code_version.
"""
from __future__ import annotations

import glob
import hashlib
import os
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from gan.atomic import atomic_write
from gan.checkpoint_fields import KIND_CHECKS, check_state_dict, check_step, check_tensor_storage, meta_state_dict
from gan.conditions import LabelDistribution
from gan.models import ARCHITECTURE_FIELDS, ModelConfig, build_generator

FORMAT_VERSION = 1
REQUIRED_KEYS = ("format_version", "kind")
GENERATOR_KEYS = ("model_config", "attribute_names", "G_ema", "label_rows", "label_counts")


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used; the message says why (foreign, truncated, pickled code, mismatch)."""


def code_version() -> str:
    """The repository's git commit (read from .git without running git), or 'unknown'."""
    git = Path(__file__).resolve().parent.parent / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head[:12]
        ref = head.split(" ", 1)[1]
        if (git / ref).exists():
            return (git / ref).read_text().strip()[:12]
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0][:12]
    except OSError:
        pass
    return "unknown"


def sha256(path: str | Path) -> str:
    """Hex sha256 of a file; its first 12 characters are the checkpoint id shown by the app."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write `payload` to `path` atomically: temp file in the same folder, fsync, os.replace.

    A crash at any moment leaves either the previous file or the new one, never half of one."""
    path = Path(path)
    with atomic_write(path) as f:
        try:
            torch.save(payload, f)
        except RuntimeError as e:  # torch's zip writer hides a failed write (disk full) behind its own error
            if isinstance(e.__context__, OSError):
                raise e.__context__ from None
            raise
    _remove_orphan_temps(path)
    return path


def _remove_orphan_temps(path: Path) -> None:
    """Delete temp files a killed writer left beside `path` (SIGKILL allows no clean-up); live writers' are kept."""
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = tmp.name[len(path.name) + 2:].split(".", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # still running (or not ours to judge)
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except OSError:
            continue


def _check_location(path: Path, allowed_roots) -> Path:
    real = path.resolve()  # follows symlinks, so a link cannot smuggle a file in from elsewhere
    roots = [Path(r).resolve() for r in allowed_roots]
    if not any(real == r or r in real.parents for r in roots):
        raise CheckpointError(f"{path} is outside the allowed checkpoint folders ({', '.join(map(str, roots))}); "
                              f"copy it into one of them")
    return real


def load_checkpoint(path: str | Path, expected_kind: str | None = None, allowed_roots=None,
                    map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint dict with torch.load(weights_only=True); raise CheckpointError saying what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint {path} does not exist or is not a file")
    if allowed_roots is not None:
        _check_location(path, allowed_roots)
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights only" in str(e).lower() or "weights_only" in str(e).lower():
            raise CheckpointError(f"{path} contains arbitrary Python objects; refusing to load it "
                                  f"(only tensors and plain values are accepted)") from None
        raise CheckpointError(f"{path} is corrupt or not a checkpoint ({e})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, KeyError, AttributeError, TypeError,
            IndexError) as e:  # TypeError / IndexError: a forged pickle calling an allowed constructor with bad arguments
        raise CheckpointError(f"{path} is truncated or corrupt ({type(e).__name__}: {str(e)[:200]})") from None
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in REQUIRED_KEYS):
        have = sorted(ckpt)[:8] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"{path} is not a checkpoint of this project (missing format_version/kind; found {have})")
    version, kind = ckpt["format_version"], ckpt["kind"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{path} has a malformed format_version {str(version)[:40]!r} (expected an integer ≥ 1)")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{path} has format_version {version}, newer than this code "
                              f"understands ({FORMAT_VERSION}); update the code")
    if not isinstance(kind, str):
        raise CheckpointError(f"{path}: field 'kind' must be a string, got {type(kind).__name__}")
    if expected_kind is not None and kind != expected_kind:
        raise CheckpointError(f"{path} is a {kind[:40]!r} checkpoint, expected {expected_kind!r}")
    # Real storage of every tensor before anything reads one (a stride-0 expand is tiny on disk, huge in use).
    check_tensor_storage(ckpt, path)
    if kind == "generator":
        missing = [k for k in GENERATOR_KEYS if k not in ckpt]
        if missing:
            raise CheckpointError(f"{path} is missing {', '.join(missing)}; not a complete generator checkpoint")
    if kind in KIND_CHECKS:  # every metadata field: types, ranges, finite values (weights: by each loader)
        KIND_CHECKS[kind](ckpt, path)
    return ckpt


def find_checkpoints(kind: str, default: Path, roots, validate) -> Iterator[tuple[Path, dict]]:
    """Every sound `kind` checkpoint, as (path, checkpoint): `default` first, then each `*{kind}*.pt` under `roots`
    in name order. A file that fails load_checkpoint or `validate(ckpt, path)` (CheckpointError) is skipped, so a
    forged candidate is never built. The one default-file lookup of the classifier and the encoder."""
    candidates = [Path(default)] + [p for r in roots if Path(r).is_dir() for p in sorted(Path(r).rglob(f"*{kind}*.pt"))]
    for p in dict.fromkeys(candidates):
        if not p.is_file():
            continue
        try:
            ck = load_checkpoint(p, expected_kind=kind)
            validate(ck, p)
        except CheckpointError:
            continue
        yield p, ck


def compatibility_problems(ckpt: dict, names, model_config: ModelConfig | dict | None = None) -> list[str]:
    """What differs between a checkpoint and the attribute names / architecture we want (empty = compatible)."""
    problems = []
    have = list(ckpt.get("attribute_names", []))
    names = list(names)
    if have != names:
        missing = [n for n in names if n not in have]
        extra = [n for n in have if n not in names]
        parts = []
        if missing:
            parts.append(f"lacks {', '.join(missing)}")
        if extra:
            parts.append(f"has extra {', '.join(extra)}")
        if not parts:
            parts.append("has them in another order")
        problems.append(f"attributes differ: the checkpoint {' and '.join(parts)} "
                        f"(checkpoint: {', '.join(have) or '(none)'}; wanted: {', '.join(names) or '(none)'})")
    if model_config is not None:
        want = model_config.to_dict() if isinstance(model_config, ModelConfig) else dict(model_config)
        got = ModelConfig.from_dict(ckpt.get("model_config", {})).to_dict()
        diff = [f"{k} {got.get(k)!r} vs {want.get(k)!r}" for k in ARCHITECTURE_FIELDS if got.get(k) != want.get(k)]
        if diff:
            problems.append(f"architecture differs (checkpoint vs wanted): {'; '.join(diff)}")
    return problems


def check_compatible(ckpt: dict, names, model_config: ModelConfig | dict | None = None) -> None:
    """Raise CheckpointError naming each difference in attributes or architecture."""
    problems = compatibility_problems(ckpt, names, model_config)
    if problems:
        raise CheckpointError("Checkpoint is not compatible: " + " | ".join(problems))


@dataclass
class LoadedGenerator:
    """What every consumer gets from a generator checkpoint; G is G_ema in eval mode, frozen."""

    G: torch.nn.Module
    z_dim: int
    c_dim: int
    img_resolution: int
    attribute_names: tuple[str, ...]
    labels: LabelDistribution
    dataset: dict
    step: int
    metrics_history: list
    path: Path
    sha256: str
    model_config: ModelConfig
    train_config: dict = field(default_factory=dict)
    weights_sha256: str = ""  # hash of G_ema's weights + attribute names: stable when metrics are appended

    @property
    def spaces(self) -> tuple[str, ...]:
        """The latent spaces this generator offers: z and c always; W and per-block W+ with a mapping network."""
        return ("w", "w+", "z", "c") if hasattr(self.G, "mapping") else ("z", "c")

    @property
    def checkpoint_id(self) -> str:
        """The id saved latents refer to: the generator's weights, not the file (evaluate rewrites the file)."""
        return (self.weights_sha256 or self.sha256)[:12]


def weights_digest(state_dict: dict, names: tuple[str, ...]) -> str:
    """sha256 over a state dict's names, shapes and bytes (sorted keys) and the attribute names."""
    h = hashlib.sha256("\n".join(names).encode())
    for key in sorted(state_dict):
        t = state_dict[key].detach().cpu().contiguous()
        h.update(f"{key}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()


def load_generator(path: str | Path, device: str | torch.device = "cpu", allowed_roots=None) -> LoadedGenerator:
    """The one way to get a generator: G_ema from a checkpoint, eval mode, requires_grad False."""
    path = Path(path)
    ckpt = load_checkpoint(path, expected_kind="generator", allowed_roots=allowed_roots)
    names = tuple(ckpt["attribute_names"])  # fields checked by load_checkpoint (check_generator_fields)
    try:  # every field below comes from an untrusted file: a malformed one is a CheckpointError, not a crash
        cfg = ModelConfig.from_dict(ckpt["model_config"])
        # Shapes, dtypes and finite values against G built on the meta device: nothing allocated before this passes.
        have = ckpt["G_ema"]
        check_state_dict(path, "G_ema", have, meta_state_dict(lambda: build_generator(cfg)))
        G = build_generator(cfg)
        try:
            G.load_state_dict(have)
        except RuntimeError as e:
            raise CheckpointError(f"{path}: G_ema weights do not fit the stored model_config ({str(e)[:300]})") from None
        labels = LabelDistribution(np.asarray(ckpt["label_rows"]), np.asarray(ckpt["label_counts"]), names)
        extra = dict(dataset=dict(ckpt.get("dataset", {})), step=check_step(path, ckpt.get("step", 0)),
                     metrics_history=list(ckpt.get("metrics_history", [])), train_config=dict(ckpt.get("train_config", {})))
    except CheckpointError:
        raise
    except (ValueError, TypeError, AttributeError, KeyError, AssertionError) as e:
        raise CheckpointError(f"{path}: malformed generator checkpoint ({type(e).__name__}: {str(e)[:200]})") from None
    G.eval().requires_grad_(False).to(device)
    return LoadedGenerator(G=G, z_dim=cfg.z_dim, c_dim=cfg.c_dim, img_resolution=cfg.img_resolution,
                           attribute_names=names, labels=labels, path=path, sha256=sha256(path), model_config=cfg,
                           weights_sha256=weights_digest(have, names), **extra)


def export_slim(src: str | Path, dst: str | Path) -> Path:
    """Copy a checkpoint without optimiser states (what gets shipped); keeps G, G_ema, D and all metadata."""
    ckpt = load_checkpoint(src)
    for key in ("opt_G", "opt_D"):
        ckpt.pop(key, None)
    return save_checkpoint(dst, ckpt)


def add_cli(subparsers) -> None:
    """`python -m gan export SRC DST`: write a slim copy (no optimiser states) for shipping."""
    p = subparsers.add_parser("export", help="slim copy of a checkpoint for shipping (drops optimiser states)",
                              description="Copy a training checkpoint without optimiser states (G, G_ema, D and all metadata kept).")
    p.add_argument("src", help="training checkpoint, e.g. runs/default/checkpoint.pt")
    from gan.cli_types import output_file
    p.add_argument("dst", type=output_file, help="output file, e.g. workspace/mine.pt")
    p.set_defaults(func=_export_main)


def _export_main(args) -> int:
    import sys
    try:
        out = export_slim(args.src, args.dst)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, sha256 {sha256(out)[:12]})")
    return 0
