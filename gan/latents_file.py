"""The latents `.npz` format: one writer (atomic), one reader for untrusted files, one set of rules.

    z                (N, z_dim) float32       finite
    c                (N, K)     float32       finite (integer/bool files are accepted and converted)
    attribute_names  (K,)       str           each 1..MAX_ATTRIBUTE_NAME_LEN characters
    seeds, indices   (N,)       int64         -1 = unknown
    checkpoint       ()         str           the generator's checkpoint id
    w                (N, w_dim) float32       optional: the face's w for a style generator (it renders from w);
                                              finite, rows without a w hold zeros
    has_w            (N,)       bool          optional with w: which rows have one (absent: every row)

A face with a w (an edit in W, a W arithmetic result, a frame of a W path) keeps the z and c it came from as its
identity; z and c alone re-render only faces without one.

Written by `python -m gan generate` / `project`, the app's downloads and the store's export; read by the store's
import and by anyone holding such a file. Every problem raises LatentsFileError (a ValueError) saying what.
"""
from __future__ import annotations

import io
import os
from typing import Any, BinaryIO, Sequence

import numpy as np

from gan.atomic import atomic_write
from gan.untrusted import UntrustedFileError, read_npz_arrays

KEYS = ("z", "c", "attribute_names", "seeds", "indices", "checkpoint")
OPTIONAL_KEYS = ("w", "has_w")
MAX_NPZ_BYTES = 50 * 1024 * 1024  # file size of a latents .npz
MAX_NPZ_UNCOMPRESSED = 200 * 1024 * 1024  # sum of the arrays inside it (zip-bomb guard)
MAX_ROWS = 100_000  # latents per file
MAX_DIM = 65_536  # z_dim (and w_dim) bound
MAX_ATTRIBUTES = 1_024  # K bound
MAX_ATTRIBUTE_NAME_LEN = 100  # characters per attribute name (names are stored with every latent)
MAX_CHECKPOINT_ID_LEN = 200


class LatentsFileError(UntrustedFileError):
    """A latents .npz (or the arrays meant for one) breaks the format; the message says how."""


def check_latents(z: Any, c: Any, attribute_names: Any, seeds: Any, indices: Any,
                  checkpoint: Any, w: Any = None, has_w: Any = None) -> dict[str, Any]:
    """The one validator: arrays in, the normalised record out (z, c float32; seeds, indices int64; names list;
    w (N, w_dim) float32 with zeros where has_w (N,) bool is False, or both None)."""
    z, c = np.asarray(z), np.asarray(c)
    if z.ndim != 2 or z.dtype.kind != "f":
        raise LatentsFileError(f"'z' must be a 2-D float array (N, z_dim), got {z.dtype} {z.shape}")
    n = len(z)
    if n == 0 or z.shape[1] == 0:
        raise LatentsFileError(f"no latents (z has shape {z.shape})")
    if n > MAX_ROWS:
        raise LatentsFileError(f"the file holds {n} latents; the limit is {MAX_ROWS}")
    if z.shape[1] > MAX_DIM:
        raise LatentsFileError(f"z_dim is {z.shape[1]}; the limit is {MAX_DIM}")
    names = np.asarray(list(attribute_names) if not isinstance(attribute_names, np.ndarray) else attribute_names)
    if names.size and (names.ndim != 1 or names.dtype.kind != "U"):
        raise LatentsFileError(f"'attribute_names' must be (K,) strings, got {names.dtype} {names.shape}")
    names = names.reshape(-1)
    if len(names) > MAX_ATTRIBUTES:
        raise LatentsFileError(f"{len(names)} attribute names; the limit is {MAX_ATTRIBUTES}")
    if names.dtype.kind == "U" and names.dtype.itemsize // 4 > MAX_ATTRIBUTE_NAME_LEN:
        raise LatentsFileError(f"an attribute name is longer than {MAX_ATTRIBUTE_NAME_LEN} characters")
    names_l = [str(s) for s in names]
    if any(not s.strip() for s in names_l):
        raise LatentsFileError("an attribute name is empty")
    if c.ndim != 2 or c.dtype.kind not in "fiub" or c.shape != (n, len(names_l)):
        raise LatentsFileError(f"'c' must be a ({n}, {len(names_l)}) numeric array, got {c.dtype} {c.shape}")
    z, c = z.astype(np.float32), c.astype(np.float32)
    for key, a in (("z", z), ("c", c)):
        if not np.all(np.isfinite(a)):
            raise LatentsFileError(f"'{key}' contains NaN or infinite values")
    ints = {}
    for key, a in (("seeds", seeds), ("indices", indices)):
        a = np.asarray(a)
        if a.shape != (n,) or a.dtype.kind not in "iu":
            raise LatentsFileError(f"'{key}' must be ({n},) integers, got {a.dtype} {a.shape}")
        ints[key] = a.astype(np.int64)
    ck = np.asarray(checkpoint)
    if ck.dtype.kind != "U" or ck.size != 1 or not str(ck.reshape(-1)[0]).strip():
        raise LatentsFileError("'checkpoint' must be one non-empty string")
    ck = str(ck.reshape(-1)[0])
    if len(ck) > MAX_CHECKPOINT_ID_LEN:
        raise LatentsFileError(f"'checkpoint' is longer than {MAX_CHECKPOINT_ID_LEN} characters")
    return {"z": z, "c": c, "attribute_names": names_l, **ints, "checkpoint": ck, **check_w(w, has_w, n)}


def check_w(w: Any, has_w: Any, n: int) -> dict[str, np.ndarray | None]:
    """{"w": (n, w_dim) float32 or None, "has_w": (n,) bool or None} from the optional arrays of a latents record."""
    if w is None:
        if has_w is not None:
            raise LatentsFileError("'has_w' without 'w'")
        return {"w": None, "has_w": None}
    w = np.asarray(w)
    if w.ndim != 2 or w.dtype.kind != "f" or len(w) != n:
        raise LatentsFileError(f"'w' must be a ({n}, w_dim) float array, got {w.dtype} {w.shape}")
    if not 0 < w.shape[1] <= MAX_DIM:
        raise LatentsFileError(f"w_dim is {w.shape[1]}; it must be 1..{MAX_DIM}")
    mask = np.ones(n, bool) if has_w is None else np.asarray(has_w)
    if mask.shape != (n,) or mask.dtype.kind != "b":
        raise LatentsFileError(f"'has_w' must be ({n},) booleans, got {mask.dtype} {mask.shape}")
    w = w.astype(np.float32)
    if not np.all(np.isfinite(w)):
        raise LatentsFileError("'w' contains NaN or infinite values")
    w[~mask] = 0.0
    return {"w": w, "has_w": mask.copy()}


def latents_npz_bytes(z, c, attribute_names: Sequence[str], seeds, indices, checkpoint_id: str, w=None,
                      has_w=None) -> bytes:
    """The .npz file contents for a validated record (w, has_w written only when there is a w)."""
    rec = check_latents(z, c, np.asarray(list(attribute_names), dtype=np.str_), seeds, indices,
                        np.asarray(str(checkpoint_id), dtype=np.str_), w, has_w)
    optional = {} if rec["w"] is None else {"w": rec["w"], "has_w": rec["has_w"]}
    buf = io.BytesIO()
    np.savez(buf, z=rec["z"], c=rec["c"], attribute_names=np.asarray(rec["attribute_names"], dtype=np.str_).reshape(-1),
             seeds=rec["seeds"], indices=rec["indices"], checkpoint=np.asarray(rec["checkpoint"], dtype=np.str_),
             **optional)
    return buf.getvalue()


def save_latents_npz(path_or_buffer: str | os.PathLike | BinaryIO, z, c, attribute_names: Sequence[str], seeds,
                     indices, checkpoint_id: str, w=None, has_w=None):
    """Write the latents file (atomically when given a path); returns the path or buffer."""
    data = latents_npz_bytes(z, c, attribute_names, seeds, indices, checkpoint_id, w, has_w)
    if isinstance(path_or_buffer, (str, os.PathLike)):
        with atomic_write(path_or_buffer) as f:
            f.write(data)
    else:
        path_or_buffer.write(data)
    return path_or_buffer


def load_latents_npz(file: str | os.PathLike | bytes | BinaryIO, checkpoint_id: str | None = None) -> dict[str, Any]:
    """Read and validate a latents .npz from a path, bytes or upload (capped, no pickle).

    checkpoint_id, if given, replaces the file's own (which may then be absent)."""
    try:
        arrays = read_npz_arrays(file, MAX_NPZ_BYTES, MAX_NPZ_UNCOMPRESSED)
    except LatentsFileError:
        raise
    except UntrustedFileError as e:
        raise LatentsFileError(f"not a readable latents .npz: {e}") from None
    if checkpoint_id is not None:
        arrays["checkpoint"] = np.asarray(str(checkpoint_id), dtype=np.str_)
    missing = [k for k in KEYS if k not in arrays]
    if missing:
        raise LatentsFileError(f"the .npz lacks {', '.join(repr(k) for k in missing)} (it has: "
                               f"{', '.join(sorted(arrays)) or 'nothing'}); expected a latents .npz "
                               f"(written by `python -m gan generate` or the app)")
    return check_latents(*(arrays[k] for k in KEYS), *(arrays.get(k) for k in OPTIONAL_KEYS))
