"""What goes in and out of the store: size limits, the checks on untrusted input (names, notes, arrays, thumbnails,
JSON meta, times) that turn a request into a Prepared* record, and the record types that reads return."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from explorer.store.errors import StoreError
from gan.latents_file import MAX_ATTRIBUTE_NAME_LEN, MAX_ATTRIBUTES, MAX_DIM, MAX_ROWS, LatentsFileError, check_w
from gan.records import now_iso
from gan.untrusted import UntrustedFileError, check_png

MAX_NAME_LEN = 200  # characters in a collection / direction / setting name
MAX_NOTE_LEN = 10_000  # characters in a collection note
MAX_META_CHARS = 10_000  # characters of one latent's / direction's JSON meta
MAX_THUMBNAIL_BYTES = 2 * 1024 * 1024
MAX_THUMBNAIL_PIXELS = 1024 * 1024  # declared width × height of a thumbnail PNG (decompression-bomb guard)
MAX_BATCH_BYTES = 512 * 1024 * 1024  # what one add/import may write (rows × (z, c, w, names, meta, thumbnail))
DIRECTION_SPACES = ("w", "z")  # the latent space a saved direction lives in


# ----------------------------------------------------------------------------- record types

@dataclass(frozen=True)
class PreparedLatents:
    """A validated batch of latents, ready to insert (from prepare_latents); nothing is written yet."""

    rows: tuple[tuple, ...]  # (z, c, names_json, checkpoint_id, seed, idx, w, thumbnail, created, meta) per latent

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class PreparedDirection:
    """A validated direction, ready to insert (from prepare_direction)."""

    name: str
    vector: bytes  # (z_dim,) float32 little-endian
    method: str
    source_collections: tuple[str, ...]
    checkpoint_id: str
    target_attribute: str | None
    meta_json: str
    created: str = ""  # ISO time it was first saved ("" = now)
    space: str = "z"  # one of DIRECTION_SPACES


@dataclass(frozen=True)
class CollectionInfo:
    id: int
    name: str
    note: str
    created: str  # ISO time, UTC
    count: int  # latents in it
    checkpoint_ids: tuple[str, ...]  # distinct checkpoints its latents come from


@dataclass
class LatentSet:
    """The latents of one collection, in insertion order."""

    collection: str
    z: np.ndarray  # (n, z_dim) float32
    c: np.ndarray  # (n, c_dim) float32
    ids: np.ndarray  # (n,) int64 row ids (for delete_latents)
    seeds: np.ndarray  # (n,) int64, -1 where unknown
    indices: np.ndarray  # (n,) int64, -1 where unknown
    checkpoint_ids: list[str]  # (n,)
    thumbnails: list[bytes | None]  # (n,) PNG bytes
    attribute_names: tuple[str, ...]  # (c_dim,)
    meta: list[dict] = field(default_factory=list)  # (n,)
    created: list[str] = field(default_factory=list)  # (n,) ISO times the latents were first saved
    w: np.ndarray | None = None  # (n, w_dim) float32, zeros where has_w is False; None when no face has a w
    has_w: np.ndarray | None = None  # (n,) bool: which faces render from their stored w

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class DirectionInfo:
    id: int
    name: str
    vector: np.ndarray  # (z_dim,) float32
    method: str
    source_collections: list[str]
    checkpoint_id: str
    target_attribute: str | None
    created: str
    meta: dict
    space: str  # "z" or "w"


# ----------------------------------------------------------------------------- checks on incoming records

def check_name(name: Any, what: str = "name", max_len: int = MAX_NAME_LEN) -> str:
    """Return `name` unchanged if it is storable, else raise StoreError saying why."""
    if not isinstance(name, str):
        raise StoreError(f"{what} must be text, got {type(name).__name__}")
    if not name.strip():
        raise StoreError(f"{what} is empty")
    if len(name) > max_len:
        raise StoreError(f"{what} is {len(name)} characters long; the limit is {max_len}")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise StoreError(f"{what} contains control characters (newline, tab, NUL…)")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise StoreError(f"{what} is not valid Unicode text") from None
    return name


def check_note(note: Any) -> str:
    """Return a collection note if it is storable text within MAX_NOTE_LEN, else raise StoreError."""
    if not isinstance(note, str) or len(note) > MAX_NOTE_LEN:
        raise StoreError(f"a note must be text of at most {MAX_NOTE_LEN} characters")
    return note


def json_text(value: Any, what: str, max_chars: int | None = None) -> str:
    """`value` as JSON text (no NaN), within max_chars; StoreError saying why not."""
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError) as e:
        raise StoreError(f"{what} is not JSON-serialisable: {e}") from None
    if max_chars is not None and len(text) > max_chars:
        raise StoreError(f"{what} is {len(text)} characters of JSON; the limit is {max_chars}")
    return text


def _float_matrix(x: Any, what: str, rows: int | None = None) -> np.ndarray:
    """(n, D) finite float32 from a (D,) or (n, D) real array; refuses NaN/inf, objects, strings."""
    a = np.asarray(x)
    if a.dtype.kind not in "fiub":
        raise StoreError(f"{what} must be a real-valued array, got dtype {a.dtype}")
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2:
        raise StoreError(f"{what} must be (n, D) (or one (D,) vector), got shape {a.shape}")
    if rows is not None and a.shape[0] != rows:
        raise StoreError(f"{what} has {a.shape[0]} rows, expected {rows}")
    if a.shape[1] > MAX_DIM:
        raise StoreError(f"{what} has {a.shape[1]} columns; the limit is {MAX_DIM}")
    a = np.ascontiguousarray(a, dtype="<f4")
    if not np.all(np.isfinite(a)):
        raise StoreError(f"{what} contains NaN or infinite values")
    return a


def _int_column(x: Any, what: str, n: int) -> list[int | None]:
    if x is None:
        return [None] * n
    a = np.asarray(x).reshape(-1)
    if len(a) != n:
        raise StoreError(f"{what} has {len(a)} entries, expected {n}")
    if a.dtype.kind not in "iu":
        raise StoreError(f"{what} must be integers, got dtype {a.dtype}")
    return [int(v) if v >= 0 else None for v in a.astype(np.int64)]


def _thumbnails(x: Sequence[bytes | None] | None, n: int) -> list[bytes | None]:
    if x is None:
        return [None] * n
    x = list(x)
    if len(x) != n:
        raise StoreError(f"{len(x)} thumbnails for {n} latents")
    for t in x:
        if t is None:
            continue
        if not isinstance(t, (bytes, bytearray, memoryview)):
            raise StoreError("thumbnails must be PNG bytes (or None)")
        try:
            check_png(bytes(t), MAX_THUMBNAIL_PIXELS, MAX_THUMBNAIL_BYTES)
        except UntrustedFileError as e:
            raise StoreError(f"thumbnails must be small PNG images: {e}") from None
    return [None if t is None else bytes(t) for t in x]


def _attribute_names(attribute_names: Sequence[str] | None) -> list[str]:
    names = [] if attribute_names is None else list(attribute_names)
    if len(names) > MAX_ATTRIBUTES:
        raise StoreError(f"{len(names)} attribute names; the limit is {MAX_ATTRIBUTES}")
    for a in names:
        check_name(a, "attribute name", MAX_ATTRIBUTE_NAME_LEN)
    return names


def prepare_latents(z: Any, c: Any, attribute_names: Sequence[str], checkpoint_id: str, seeds: Any = None,
                    indices: Any = None, thumbnails: Sequence[bytes | None] | None = None,
                    meta: Sequence[dict | None] | None = None, created: Sequence[str] | None = None,
                    w: Any = None, has_w: Any = None) -> PreparedLatents:
    """Validate a batch of latents (see LatentStore.add_latents) without writing anything; StoreError says why.
    created: (n,) ISO times the latents were first saved (an import keeps them); default now.
    w: (n, w_dim) float, the w each face renders from; has_w: (n,) bool, which rows have one (default all)."""
    z = _float_matrix(z, "z")  # (n, z_dim)
    n = len(z)
    if n == 0 or z.shape[1] == 0:
        raise StoreError(f"no latents to add (z has shape {z.shape})")
    if n > MAX_ROWS:
        raise StoreError(f"{n} latents in one batch; the limit is {MAX_ROWS}")
    names = _attribute_names(attribute_names)
    c = _float_matrix(c, "c", rows=n)  # (n, c_dim)
    if c.shape[1] != len(names):
        raise StoreError(f"c has {c.shape[1]} columns but {len(names)} attribute names were given")
    names_json = json_text(names, "attribute_names")
    try:
        ws = check_w(w, has_w, n)
    except LatentsFileError as e:
        raise StoreError(str(e)) from None
    w_blobs = [None] * n if ws["w"] is None else [ws["w"][i].astype("<f4").tobytes() if ws["has_w"][i] else None
                                                   for i in range(n)]
    check_name(checkpoint_id, "checkpoint id")
    seeds_l, idx_l = _int_column(seeds, "seeds", n), _int_column(indices, "indices", n)
    thumbs = _thumbnails(thumbnails, n)
    meta = list(meta) if meta is not None else [None] * n
    if len(meta) != n:
        raise StoreError(f"{len(meta)} meta entries for {n} latents")
    metas = [json_text(m or {}, "meta", MAX_META_CHARS) for m in meta]
    size = (n * (z.shape[1] * 4 + c.shape[1] * 4 + len(names_json)) + sum(len(b or b"") for b in w_blobs)
            + sum(map(len, metas)) + sum(len(t or b"") for t in thumbs))
    if size > MAX_BATCH_BYTES:
        raise StoreError(f"these latents would take {size // 2**20} MB in the store; the limit per batch is "
                         f"{MAX_BATCH_BYTES // 2**20} MB")
    now = now_iso()
    times = [check_time(t) or now for t in created] if created is not None else [now] * n
    if len(times) != n:
        raise StoreError(f"{len(times)} creation times for {n} latents")
    return PreparedLatents(tuple((z[i].tobytes(), c[i].tobytes(), names_json, checkpoint_id, seeds_l[i], idx_l[i],
                                  w_blobs[i], thumbs[i], times[i], metas[i]) for i in range(n)))


def check_time(value: Any) -> str:
    """An ISO time string from an untrusted source, or "" when it is not one."""
    from datetime import datetime

    if not isinstance(value, str) or len(value) > 40:
        return ""
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return ""
    return value


def prepare_direction(name: str, vector: Any, method: str, source_collections: Sequence[str] | None,
                      checkpoint_id: str, target_attribute: str | None = None,
                      meta: dict | None = None, created: str | None = None, space: str = "z") -> PreparedDirection:
    """Validate a direction (see LatentStore.save_direction) without writing anything; StoreError says why."""
    check_name(name, "direction name")
    if space not in DIRECTION_SPACES:
        raise StoreError(f"a direction's space must be one of {', '.join(DIRECTION_SPACES)}, not {str(space)[:20]!r}")
    v = _float_matrix(vector, "direction vector")
    if len(v) != 1 or v.shape[1] == 0:
        raise StoreError(f"a direction must be one ({space}_dim,) vector, got shape {np.shape(vector)}")
    check_name(method, "method")
    check_name(checkpoint_id, "checkpoint id")
    if target_attribute is not None:
        check_name(target_attribute, "target attribute")
    sources = source_collections or []
    if not isinstance(sources, (list, tuple)) or not all(isinstance(x, str) for x in sources):
        raise StoreError("source collections must be a list of names")
    for src in sources:
        check_name(src, "source collection name")
    return PreparedDirection(name, v[0].tobytes(), method, tuple(sources), checkpoint_id, target_attribute,
                             json_text(meta or {}, "meta", MAX_META_CHARS), check_time(created), space)

