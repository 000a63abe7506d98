"""Checks on the fields of an untrusted checkpoint, run before anything is built from it.

A loadable file can still lie: a tensor made with `expand` (stride 0) is a few bytes on disk and gigabytes once
copied, a model_config can ask for z_dim 10**9, label counts can be all zero. Every check here raises one
CheckpointError naming the file and the field; the limits below are the ones README.md states.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

MAX_ATTRIBUTES = 256            # c_dim / attribute names per checkpoint (CelebA has 40)
MAX_NAME_CHARS = 100            # characters per attribute name
MAX_LATENT = 4096               # z_dim, w_dim, c_embed_dim
MAX_WIDTH = 1024                # ngf, ndf, classifier / encoder width
MAX_MAPPING_LAYERS = 16         # style G mapping network depth
MAX_MBSTD = 64                  # D minibatch-stddev group size
MAX_LABEL_ROWS = 1_000_000      # distinct label vectors in a generator's label table
MAX_PARAMS = 100_000_000        # elements of one network's state dict
MAX_TENSOR_BYTES = 2 << 30      # bytes of all tensors of a checkpoint once materialised (2 GiB)
MAX_STEP = 10 ** 12             # training step
MAX_TENSORS = 100_000           # tensors in one checkpoint


def _err(path, field: str, why: str):
    from gan.checkpoint import CheckpointError
    return CheckpointError(f"{path}: field {field!r} {why}")


def walk_tensors(obj: Any, prefix: str = ""):
    """Yield (field path, tensor) for every tensor in nested dicts / lists (iteratively: no recursion limit)."""
    stack = [(prefix, obj)]
    while stack:
        name, o = stack.pop()
        if isinstance(o, torch.Tensor):
            yield name, o
        elif isinstance(o, dict):
            stack.extend((f"{name}.{k}" if name else str(k), v) for k, v in o.items())
        elif isinstance(o, (list, tuple)):
            stack.extend((f"{name}[{i}]", v) for i, v in enumerate(o))


def check_tensor_storage(ckpt: dict, path) -> None:
    """Every tensor is a plain dense CPU tensor of real numbers whose storage really holds its elements.

    A stride-0 view (`expand`) or overlapping strides make numel * element_size exceed the storage: refused, as
    are complex, quantized and sparse tensors and a checkpoint whose tensors would total over MAX_TENSOR_BYTES."""
    total = 0
    for n, (name, t) in enumerate(walk_tensors(ckpt)):
        if n >= MAX_TENSORS:
            raise _err(path, "(tensors)", f"holds more than {MAX_TENSORS} tensors")
        if t.layout != torch.strided or t.is_quantized or t.device.type != "cpu":
            raise _err(path, name, f"is a {t.layout} / {t.device.type} tensor; only dense CPU tensors are accepted")
        if t.is_complex():
            raise _err(path, name, f"holds complex numbers ({t.dtype}); weights and labels are real")
        need = t.numel() * t.element_size()
        have = t.untyped_storage().nbytes()
        if need > have:
            raise _err(path, name, f"is a view of {have} stored bytes posing as {need} (stride-0 / overlapping "
                                   f"strides, e.g. made with expand); refusing to materialise it")
        total += need
        if total > MAX_TENSOR_BYTES:
            raise _err(path, name, f"brings the checkpoint's tensors past {MAX_TENSOR_BYTES >> 30} GiB")


def check_int(path, field: str, v, lo: int, hi: int) -> int:
    """An int (not bool, not float) in [lo, hi]."""
    if isinstance(v, bool) or not isinstance(v, int):
        raise _err(path, field, f"must be an integer, got {type(v).__name__} {str(v)[:40]!r}")
    if not lo <= v <= hi:
        raise _err(path, field, f"must be in [{lo}, {hi}], got {v}")
    return v


def check_float(path, field: str, v, lo: float, hi: float, hi_open: bool = False) -> float:
    """A finite real number in [lo, hi] (or [lo, hi) with hi_open)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise _err(path, field, f"must be a finite number, got {str(v)[:40]!r}")
    if not (lo <= v <= hi) or (hi_open and v >= hi):
        raise _err(path, field, f"must be in [{lo}, {hi}{')' if hi_open else ']'}, got {v}")
    return float(v)


def check_names(path, names, field: str = "attribute_names") -> tuple[str, ...]:
    """A list of distinct, non-empty strings of at most MAX_NAME_CHARS, at most MAX_ATTRIBUTES of them."""
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise _err(path, field, f"must be a list of strings, got {str(names)[:80]!r}")
    if len(names) > MAX_ATTRIBUTES:
        raise _err(path, field, f"lists {len(names)} names; at most {MAX_ATTRIBUTES} are accepted")
    for n in names:
        if not n.strip() or len(n) > MAX_NAME_CHARS or not n.isprintable():
            raise _err(path, field, f"holds a name that is empty, over {MAX_NAME_CHARS} characters or not printable "
                                    f"({n[:40]!r})")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise _err(path, field, f"lists {', '.join(map(repr, dup[:3]))} more than once")
    return tuple(names)


def check_dict(path, ckpt: dict, field: str, required: bool = False) -> dict:
    v = ckpt.get(field, {} if not required else None)
    if not isinstance(v, dict):
        raise _err(path, field, f"must be a dict, got {type(v).__name__}")
    return v


def check_state_dict(path, field: str, have, want: dict[str, torch.Tensor]) -> None:
    """`have` holds exactly `want`'s keys with its shapes, real dtypes (float where want is float) and finite
    values; `want` comes from the network built on the meta device, so nothing is allocated before this passes."""
    if not isinstance(have, dict):
        raise _err(path, field, f"must be a state dict, got {type(have).__name__}")
    if sum(t.numel() for t in want.values()) > MAX_PARAMS:
        raise _err(path, "model_config", f"describes a network of more than {MAX_PARAMS:,} weights")
    missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
    if missing or extra:
        raise _err(path, field, f"weights do not fit the stored model_config (keys or shapes differ: missing "
                                f"{missing[:3]}, unexpected {extra[:3]})")
    for k, w in want.items():
        t = have[k]
        if not isinstance(t, torch.Tensor) or tuple(t.shape) != tuple(w.shape):
            raise _err(path, field, f"weights do not fit the stored model_config (keys or shapes differ: {k} is "
                                    f"{tuple(getattr(t, 'shape', ()))}, expected {tuple(w.shape)})")
        if t.is_floating_point() != w.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
            raise _err(path, f"{field}.{k}", f"has dtype {t.dtype}, expected {w.dtype}")
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise _err(path, f"{field}.{k}", "holds NaN or infinite weights; it would only draw blank images")


def meta_state_dict(build) -> dict[str, torch.Tensor]:
    """The state dict of `build()` on the meta device: shapes and dtypes, no memory."""
    with torch.device("meta"):
        return dict(build().state_dict())


# ----------------------------------------------------------------------------- generator


def check_model_config(path, d) -> None:
    """Types and ranges of a generator's model_config (the choices are checked by ModelConfig itself)."""
    from gan.models import ModelConfig
    if not isinstance(d, dict):
        raise _err(path, "model_config", f"must be a dict, got {type(d).__name__}")
    ints = {"img_resolution": (1, 1024), "z_dim": (1, MAX_LATENT), "c_dim": (0, MAX_ATTRIBUTES),
            "c_embed_dim": (1, MAX_LATENT), "w_dim": (1, MAX_LATENT), "mapping_layers": (1, MAX_MAPPING_LAYERS),
            "ngf": (1, MAX_WIDTH), "ndf": (1, MAX_WIDTH), "d_mbstd": (0, MAX_MBSTD)}
    for k, (lo, hi) in ints.items():
        if k in d:
            check_int(path, f"model_config.{k}", d[k], lo, hi)
    if "g_dropout" in d:
        check_float(path, "model_config.g_dropout", d["g_dropout"], 0.0, 1.0, hi_open=True)
    if "spectral_norm" in d and not isinstance(d["spectral_norm"], bool):
        raise _err(path, "model_config.spectral_norm", f"must be true or false, got {str(d['spectral_norm'])[:20]!r}")
    for k in ("arch", "g_upsample", "d_cond"):
        if k in d and not isinstance(d[k], str):
            raise _err(path, f"model_config.{k}", f"must be a string, got {type(d[k]).__name__}")
    try:
        ModelConfig.from_dict(d)
    except (TypeError, ValueError) as e:
        raise _err(path, "model_config", f"is invalid ({str(e)[:200]})") from None


def _as_tensor(path, field: str, v) -> torch.Tensor:
    import numpy as np
    if isinstance(v, np.ndarray):
        v = torch.from_numpy(v)
    if not isinstance(v, torch.Tensor):
        raise _err(path, field, f"must be a tensor, got {type(v).__name__}")
    return v


def check_labels(path, rows, counts, n_names: int) -> None:
    """label_rows (M, K) of 0/1 integers, label_counts (M,) non-negative integers with a positive sum, M ≤ MAX_LABEL_ROWS."""
    rows, counts = _as_tensor(path, "label_rows", rows), _as_tensor(path, "label_counts", counts)
    if rows.is_floating_point() or rows.is_complex() or rows.dtype == torch.bool:
        raise _err(path, "label_rows", f"must hold integers 0/1, got dtype {rows.dtype}")
    if rows.ndim != 2 or rows.shape[1] != n_names:
        raise _err(path, "label_rows", f"must be (rows, {n_names}) for {n_names} attribute names, got {tuple(rows.shape)}")
    if not 1 <= rows.shape[0] <= MAX_LABEL_ROWS:
        raise _err(path, "label_rows", f"must have 1 to {MAX_LABEL_ROWS:,} rows, got {rows.shape[0]:,}")
    if rows.numel() and not ((rows == 0) | (rows == 1)).all():
        raise _err(path, "label_rows", f"must hold only 0 and 1, found {int(rows[(rows != 0) & (rows != 1)][0])}")
    if counts.is_floating_point() or counts.is_complex() or counts.dtype == torch.bool:
        raise _err(path, "label_counts", f"must hold integers, got dtype {counts.dtype}")
    if tuple(counts.shape) != (rows.shape[0],):
        raise _err(path, "label_counts", f"must be ({rows.shape[0]},), one count per label row, got {tuple(counts.shape)}")
    if (counts < 0).any() or int(counts.sum()) <= 0:
        raise _err(path, "label_counts", "must be non-negative with a positive sum (they are sampling weights)")


def check_step(path, v) -> int:
    """The training step: an integer (an integral float is accepted) in [0, MAX_STEP]."""
    if isinstance(v, float) and math.isfinite(v) and v.is_integer():
        v = int(v)
    if isinstance(v, torch.Tensor) and v.numel() == 1 and not v.is_floating_point() and not v.is_complex():
        v = int(v)
    return check_int(path, "step", v, 0, MAX_STEP)


def check_generator_fields(ckpt: dict, path: str | Path) -> None:
    """Every metadata field of a generator checkpoint (weights' shapes are checked by load_generator)."""
    names = check_names(path, ckpt["attribute_names"])
    check_model_config(path, ckpt["model_config"])
    c_dim = ckpt["model_config"].get("c_dim", 0)
    if c_dim != len(names):
        raise _err(path, "model_config.c_dim", f"is {c_dim} but the checkpoint has {len(names)} attribute names")
    check_labels(path, ckpt["label_rows"], ckpt["label_counts"], len(names))
    check_step(path, ckpt.get("step", 0))
    for k in ("dataset", "train_config"):
        check_dict(path, ckpt, k)
    if not isinstance(ckpt.get("metrics_history", []), list):
        raise _err(path, "metrics_history", f"must be a list, got {type(ckpt['metrics_history']).__name__}")
    for k in ("G_ema", "G", "D"):
        if k in ckpt and not isinstance(ckpt[k], dict):
            raise _err(path, k, f"must be a state dict, got {type(ckpt[k]).__name__}")


# ----------------------------------------------------------------------------- classifier and encoder


def _check_net_config(path, d, ints: dict[str, tuple[int, int]]) -> dict:
    if not isinstance(d, dict):
        raise _err(path, "model_config", f"must be a dict, got {type(d).__name__}")
    for k, (lo, hi) in ints.items():
        if k in d:
            check_int(path, f"model_config.{k}", d[k], lo, hi)
    return d


def check_classifier_fields(ckpt: dict, path: str | Path) -> None:
    """Metadata of a classifier checkpoint (its weights' shapes: gan.metrics.classifier.validate_classifier)."""
    names = check_names(path, ckpt.get("attribute_names", []))
    d = _check_net_config(path, ckpt.get("model_config", {}), {"input_size": (16, 512), "width": (1, MAX_WIDTH),
                                                                "c_dim": (0, MAX_ATTRIBUTES)})
    if d.get("c_dim", 0) != len(names):
        raise _err(path, "model_config.c_dim", f"is {d.get('c_dim', 0)} but the classifier has {len(names)} attribute names")
    for k in ("real_metrics", "dataset", "train_config"):
        check_dict(path, ckpt, k)
    check_dict(path, ckpt, "model", required=True)


def check_encoder_fields(ckpt: dict, path: str | Path) -> None:
    """Metadata of an encoder checkpoint (its weights' shapes: gan.encoder.validate_encoder)."""
    from gan.models import RESOLUTIONS
    names = check_names(path, ckpt.get("attribute_names", []))
    d = _check_net_config(path, ckpt.get("model_config", {}), {"z_dim": (1, MAX_LATENT), "c_dim": (0, MAX_ATTRIBUTES),
                                                                "width": (1, MAX_WIDTH), "img_resolution": (1, 1024)})
    if d.get("img_resolution", 64) not in RESOLUTIONS:
        raise _err(path, "model_config.img_resolution", f"must be one of {RESOLUTIONS}, got {d['img_resolution']}")
    if d.get("c_dim", 0) != len(names):
        raise _err(path, "model_config.c_dim", f"is {d.get('c_dim', 0)} but the encoder has {len(names)} attribute names")
    for k in ("generator", "metrics", "train_config"):
        check_dict(path, ckpt, k)
    check_dict(path, ckpt, "model", required=True)


KIND_CHECKS = {"generator": check_generator_fields, "classifier": check_classifier_fields, "encoder": check_encoder_fields}
