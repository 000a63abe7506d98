"""The Trainer page's form logic: the quick CPU recipe it starts from, its choices, and the training settings it
builds (including the fine-tune rules), so pages/trainer.py only draws widgets."""
from __future__ import annotations

from typing import Any

from gan import paths
from gan.data.cache import list_caches
from gan.data.synthetic import SYNTHETIC_ATTRIBUTES
from gan.losses import LOSSES
from gan.models import D_CONDS, ModelConfig
from gan.train import TrainConfig

__all__ = ["D_CONDS", "LOSSES", "QUICK_RECIPE", "SYNTHETIC_ATTRIBUTES", "dataset_caches", "default", "defaults",
           "model_config", "runs_dir", "settings"]

# The quick CPU recipe the Trainer form starts from: TrainConfig fields ("model.x" for ModelConfig) that differ
# from the library defaults. Everything not named here keeps gan.train.TrainConfig's default.
QUICK_RECIPE: dict[str, Any] = {  # measured: ~2100 steps in 2 min, hair colour / glasses visibly conditioned
    "data": "synthetic:2000",  # rendered once (~10 s), then reused from the workspace cache
    "size": 32,                # 32 px: ~4x cheaper than 64 px per image
    "steps": 0,                # budget in minutes instead ...
    "minutes": 2.0,            # ... so a run takes ~2 minutes whatever the machine
    "batch": 32,               # more, smaller steps: better faces in 2 minutes than 64 x ngf 32 (~500 steps)
    "model.ngf": 16,
    "model.ndf": 16,
    "sample_every": 100,       # a new preview grid every ~6 s
    "log_every": 10,           # dense loss curves
    "ckpt_every": 250,         # a resumable checkpoint every ~15 s
}


def defaults() -> TrainConfig:
    """The library's training defaults."""
    return TrainConfig()


def default(field: str) -> Any:
    """The form's starting value: the quick CPU recipe, else the trainer's own default ("model.x" for the network)."""
    if field in QUICK_RECIPE:
        return QUICK_RECIPE[field]
    d = defaults()
    return getattr(d.model, field[6:]) if field.startswith("model.") else getattr(d, field)


def runs_dir():
    return paths.runs_dir()


def dataset_caches() -> list[dict]:
    """Prepared CelebA / folder caches in the workspace (gan.data.cache.list_caches)."""
    return list_caches(paths.cache_root())


def model_config(gen) -> ModelConfig:
    """A loaded generator's network settings (what a fine-tune must keep)."""
    mc = gen.model_config
    return mc if isinstance(mc, ModelConfig) else ModelConfig.from_dict(mc)


def settings(form: dict[str, Any], names_all: list[str], init: str = "", init_gen=None) -> dict[str, Any]:
    """TrainConfig field values for `explorer.jobs.start` from the form's values.

    form: data, attrs, size, batch, loss, seed, lr_g, lr_d, d_steps, smooth, ema (bool), guard, unit
    ("minutes" | "steps"), minutes, steps, sample_every, ckpt_every, ngf, ndf, d_cond, sn.
    A fine-tune (init_gen given) keeps the checkpoint's attribute order and architecture."""
    f = form
    attrs = list(f["attrs"])
    all_attrs = attrs == list(names_all) if init_gen is not None else set(attrs) == set(names_all)
    out = {
        # "" = all of the data's attributes (reuses the full cache); a fine-tune needs the checkpoint's order.
        "data": f["data"], "attrs": "" if all_attrs else ",".join(attrs),
        "size": int(f["size"]), "batch": int(f["batch"]), "loss": f["loss"], "seed": int(f["seed"]),
        "lr_g": float(f["lr_g"]), "lr_d": float(f["lr_d"]), "d_steps": int(f["d_steps"]),
        "smoothing": 0.9 if f["smooth"] else 1.0, "ema": defaults().ema if f["ema"] else 0.0, "guard": bool(f["guard"]),
        "steps": int(f["steps"]) if f["unit"] == "steps" else 0,
        "minutes": float(f["minutes"]) if f["unit"] == "minutes" else 0.0,
        "sample_every": int(f["sample_every"]), "ckpt_every": int(f["ckpt_every"]),
        "log_every": min(default("log_every"), int(f["ckpt_every"])),
        "model.ngf": int(f["ngf"]), "model.ndf": int(f["ndf"]), "model.d_cond": f["d_cond"],
        "model.spectral_norm": bool(f["sn"]),
    }
    if init_gen is not None:  # the rest of the architecture must match the checkpoint too
        mc = model_config(init_gen)
        out.update({"init": init, "model.z_dim": mc.z_dim, "model.c_embed_dim": mc.c_embed_dim,
                    "model.g_upsample": mc.g_upsample})
    return out
