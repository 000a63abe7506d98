"""Default locations: shipped checkpoints, the git-ignored workspace, runs and caches (env vars override)."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CHECKPOINTS_DIR = REPO_ROOT / "checkpoints"
DEFAULT_CHECKPOINT = CHECKPOINTS_DIR / "default.pt"
DEFAULT_CLASSIFIER = CHECKPOINTS_DIR / "default_classifier.pt"
DEFAULT_ENCODER = CHECKPOINTS_DIR / "default_encoder.pt"


def workspace_dir() -> Path:
    """User data (latent store, caches, FID statistics); GAN_WORKSPACE overrides, default ./workspace."""
    return Path(os.environ.get("GAN_WORKSPACE", REPO_ROOT / "workspace")).resolve()


def runs_dir() -> Path:
    """Training run folders; GAN_RUNS_DIR overrides, default ./runs."""
    return Path(os.environ.get("GAN_RUNS_DIR", REPO_ROOT / "runs")).resolve()


def cache_root() -> Path:
    """Where prepared dataset caches go unless --out says otherwise."""
    return workspace_dir() / "cache"


def store_path() -> Path:
    """The SQLite latent store; GAN_STORE overrides."""
    return Path(os.environ.get("GAN_STORE", workspace_dir() / "latents.sqlite")).resolve()


def allowed_checkpoint_roots() -> list[Path]:
    """Folders the app may load checkpoints from (anything else is refused)."""
    return [CHECKPOINTS_DIR.resolve(), runs_dir(), workspace_dir()]
