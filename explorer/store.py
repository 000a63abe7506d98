"""The SQLite latent store: named collections of (z, c[, w]) latents, saved directions and app settings.

One file (default `gan.paths.store_path()`), safe for several tabs/processes at once: WAL journal,
`busy_timeout`, write transactions taken with `BEGIN IMMEDIATE` and retried on "database is locked",
and a fresh connection per operation (sqlite3 connections are never shared between threads).
All SQL is parameterised; names are stored verbatim (quotes, emoji, `../`, SQL fragments are just
text) up to MAX_NAME_LEN characters. Latents are float32 little-endian blobs, so a round trip is
bit-exact. Every problem a user can cause raises StoreError with a message saying what is wrong.
The schema has a version (`PRAGMA user_version`); an older store is migrated in place, in one transaction, when it
is opened (MIGRATIONS), so a crash mid-way leaves it as it was.

    store = LatentStore()                       # or LatentStore("some/file.sqlite")
    ids = store.add_latents("smiling", z, c, names, checkpoint_id, seeds=seeds)
    s = store.get_latents("smiling")            # s.z (n, z_dim), s.c (n, c_dim), s.ids, ...
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import random
import sqlite3
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, Sequence

import numpy as np
from PIL import Image

from gan import latents_file
from gan.latents_file import MAX_ATTRIBUTE_NAME_LEN, MAX_ATTRIBUTES, MAX_DIM, MAX_ROWS, LatentsFileError, check_w
from gan.paths import store_path
from gan.records import now_iso
from gan.untrusted import UntrustedFileError, check_png

MAX_NAME_LEN = 200  # characters in a collection / direction / setting name
MAX_NOTE_LEN = 10_000  # characters in a collection note
MAX_META_CHARS = 10_000  # characters of one latent's / direction's JSON meta
MAX_THUMBNAIL_BYTES = 2 * 1024 * 1024
MAX_THUMBNAIL_PIXELS = 1024 * 1024  # declared width × height of a thumbnail PNG (decompression-bomb guard)
MAX_BATCH_BYTES = 512 * 1024 * 1024  # what one add/import may write (rows × (z, c, w, names, meta, thumbnail))
SCHEMA_VERSION = 2
TABLES = ("collections", "latents", "directions", "settings")
DIRECTION_SPACES = ("w", "z")  # the latent space a saved direction lives in

_SCHEMA = """
CREATE TABLE IF NOT EXISTS collections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    note TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS latents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    z BLOB NOT NULL,                -- (z_dim,) float32 little-endian
    c BLOB NOT NULL,                -- (c_dim,) float32 little-endian
    attribute_names TEXT NOT NULL,  -- JSON list, len c_dim
    checkpoint_id TEXT NOT NULL,    -- checkpoint id: sha256 prefix of the generator weights
    seed INTEGER,
    idx INTEGER,
    thumbnail BLOB,                 -- PNG bytes or NULL
    created TEXT NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}', -- JSON: labels, notes, origin
    w BLOB                          -- (w_dim,) float32 little-endian, or NULL: the face renders from G(z, c)
);
CREATE INDEX IF NOT EXISTS latents_by_collection ON latents(collection_id, id);
CREATE TABLE IF NOT EXISTS directions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    vector BLOB NOT NULL,           -- (z_dim,) float32 little-endian
    method TEXT NOT NULL,
    source_collections TEXT NOT NULL DEFAULT '[]',
    checkpoint_id TEXT NOT NULL,
    target_attribute TEXT,
    created TEXT NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}',
    space TEXT NOT NULL DEFAULT 'z'  -- latent space of the vector: 'z' or 'w'
);
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

# From schema version v to v + 1: statements run in the opening transaction (with the version stamp after them).
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: ("ALTER TABLE latents ADD COLUMN w BLOB",  # version 2: faces that render from a stored w
        "ALTER TABLE directions ADD COLUMN space TEXT NOT NULL DEFAULT 'z'"),  # directions in W as well as z
}


class StoreError(Exception):
    """Anything wrong with a store request or file, with a message meant for the user."""


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


CLASH_POLICIES = ("skip", "replace", "keep both")  # what an import does with a name that exists with other content


@dataclass
class ImportReport:
    """What an import did: old → new names (they differ where a name clashed and both were kept); names skipped
    because the store already holds the same content, or because the policy said skip; names replaced."""

    collections: dict[str, str] = field(default_factory=dict)
    directions: dict[str, str] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)  # identical content already there: nothing written
    skipped: list[str] = field(default_factory=list)  # clashing name, other content, policy "skip"
    replaced: list[str] = field(default_factory=list)  # clashing name, other content, policy "replace"
    latents: int = 0
    settings: list[str] = field(default_factory=list)  # keys written
    checkpoints: list[str] = field(default_factory=list)  # checkpoints the imported latents need


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


# ----------------------------------------------------------------------------- validation helpers

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


def _json(value: Any, what: str, max_chars: int | None = None) -> str:
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
    names_json = _json(names, "attribute_names")
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
    metas = [_json(m or {}, "meta", MAX_META_CHARS) for m in meta]
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
                             _json(meta or {}, "meta", MAX_META_CHARS), check_time(created), space)


def _unique(name: str, taken: set[str]) -> str:
    """name, or "name (2)", "name (3)"… — the first not in `taken`, kept within MAX_NAME_LEN."""
    if name not in taken:
        return name
    k = 2
    while True:
        suffix = f" ({k})"
        cand = name[: MAX_NAME_LEN - len(suffix)] + suffix
        if cand not in taken:
            return cand
        k += 1


def _vec(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


# ----------------------------------------------------------------------------- the store

class LatentStore:
    """SQLite-backed store; every method opens its own connection, so one object may be shared by threads."""

    def __init__(self, path: str | os.PathLike | None = None, timeout_s: float = 30.0):
        self.path = Path(path) if path is not None else store_path()
        self.timeout_s = timeout_s  # total patience for a locked database, per operation
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create the folder for the store {self.path}: {e}") from None
        self._check_existing_file()  # a foreign or unwritable file is refused before anything is written to it

        self._retry(self._set_wal)
        self._write(self._create_or_migrate)

    @staticmethod
    def _create_or_migrate(conn: sqlite3.Connection) -> None:
        """Inside one write transaction: create the schema in an empty file, or bring an older store up to
        SCHEMA_VERSION. Another process opening the file sees either the old store or the new one, never our tables
        with user_version still 0 (which _check_existing_file would refuse as foreign) nor a half-migrated store;
        the version is read again under the write lock, so two processes never migrate one file twice."""
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
        else:
            for v in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[v]:
                    conn.execute(statement)
        if version != SCHEMA_VERSION:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _check_existing_file(self) -> None:
        """Refuse, touching nothing, a file that is not a store of ours (or an empty database), or that we
        could not write; say which path and why."""
        p = self.path
        if p.is_dir():
            raise StoreError(f"the store path {p} is a folder, not a file")
        folder_ok = os.access(p.parent, os.W_OK | os.X_OK)
        if not p.exists() or p.stat().st_size == 0:
            if not folder_ok:
                raise StoreError(f"cannot create the store {p}: the folder {p.parent} is not writable "
                                 f"(read-only workspace? set GAN_STORE to a writable file)")
            return
        if not os.access(p, os.R_OK | os.W_OK):
            raise StoreError(f"the store {p} is read-only for this user (permissions "
                             f"{oct(p.stat().st_mode & 0o777)}); choose a writable file")
        if not folder_ok:
            raise StoreError(f"the store {p} is in a folder that is not writable ({p.parent}); SQLite needs to "
                             f"create its journal files next to it")
        uri = "file:" + urllib.parse.quote(str(p.resolve())) + "?mode=ro"
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=5.0)
        except sqlite3.Error as e:
            raise StoreError(f"cannot open the store {p}: {e}") from None
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{p} is not a latent store (not an SQLite database: {e}); nothing was changed") from None
        finally:
            conn.close()
        tables.discard("sqlite_sequence")
        if version > SCHEMA_VERSION and set(TABLES) <= tables:
            raise StoreError(f"the store {p} was written by a newer version of this app (schema version {version}; "
                             f"this one knows up to {SCHEMA_VERSION}); nothing was changed — update the code")
        ours = 1 <= version <= SCHEMA_VERSION and set(TABLES) <= tables  # older versions are migrated on open
        empty = not tables and version == 0
        if not (ours or empty):
            raise StoreError(f"{p} is an SQLite database but not a latent store (schema version {version}, tables: "
                             f"{', '.join(sorted(tables)) or 'none'}); nothing was changed — choose another file")

    # -- connections and transactions

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
        except sqlite3.Error as e:
            raise StoreError(f"cannot open the store {self.path}: {e}") from None
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            conn.execute("PRAGMA foreign_keys = ON")
            yield conn
        finally:
            conn.close()

    def _set_wal(self) -> None:
        with self._connect() as conn:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError("database is locked (could not switch to WAL)")

    def _retry(self, fn: Callable[[], Any]) -> Any:
        """Run fn, retrying with jittered back-off while the database is locked/busy."""
        deadline, delay = time.monotonic() + self.timeout_s, 0.01
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as e:
                msg = str(e).lower()
                if "locked" not in msg and "busy" not in msg:
                    raise StoreError(f"store error: {e}") from None
                if time.monotonic() > deadline:
                    raise StoreError(f"the store {self.path} stayed locked for {self.timeout_s:.0f} s; try again") from None
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.5)
            except sqlite3.DatabaseError as e:
                raise StoreError(f"store error in {self.path}: {e}") from None

    def _write(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run fn(conn) in one write transaction; it either commits whole or leaves nothing behind."""

        def attempt() -> Any:
            with self._connect() as conn:
                conn.execute("BEGIN IMMEDIATE")  # take the write lock up front: no upgrade deadlocks
                try:
                    out = fn(conn)
                    conn.execute("COMMIT")
                    return out
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise

        return self._retry(attempt)

    def _run(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run fn(conn) outside an explicit transaction (reads, schema script)."""
        def attempt() -> Any:
            with self._connect() as conn:
                return fn(conn)
        return self._retry(attempt)

    # -- collections

    @staticmethod
    def _collection_id(conn: sqlite3.Connection, collection: str | int, create: bool = False) -> int:
        if isinstance(collection, (int, np.integer)) and not isinstance(collection, bool):
            row = conn.execute("SELECT id FROM collections WHERE id = ?", (int(collection),)).fetchone()
        else:
            check_name(collection, "collection name")
            if create:
                conn.execute("INSERT OR IGNORE INTO collections (name, note, created) VALUES (?, '', ?)", (collection, now_iso()))
            row = conn.execute("SELECT id FROM collections WHERE name = ?", (collection,)).fetchone()
        if row is None:
            raise StoreError(f"no collection {collection!r}")
        return int(row[0])

    def create_collection(self, name: str, note: str = "", latents: PreparedLatents | None = None) -> int:
        """New collection, empty or holding `latents` (from prepare_latents), in one transaction: StoreError if the
        name is taken or not storable, and then nothing is written."""
        check_name(name, "collection name")
        check_note(note)

        def fn(conn: sqlite3.Connection) -> int:
            if conn.execute("SELECT 1 FROM collections WHERE name = ?", (name,)).fetchone():
                raise StoreError(f"a collection named {name!r} already exists")
            cid = int(conn.execute("INSERT INTO collections (name, note, created) VALUES (?, ?, ?)",
                                   (name, note or "", now_iso())).lastrowid)
            if latents is not None:
                self._insert_rows(conn, cid, latents)
            return cid
        return self._write(fn)

    def get_or_create_collection(self, name: str) -> int:
        return self._write(lambda conn: self._collection_id(conn, name, create=True))

    def list_collections(self) -> list[CollectionInfo]:
        def fn(conn: sqlite3.Connection) -> list[CollectionInfo]:
            rows = conn.execute(
                "SELECT c.id, c.name, c.note, c.created, COUNT(l.id) FROM collections c "
                "LEFT JOIN latents l ON l.collection_id = c.id GROUP BY c.id ORDER BY c.name").fetchall()
            ck: dict[int, list[str]] = {}
            for cid, ckpt in conn.execute("SELECT DISTINCT collection_id, checkpoint_id FROM latents ORDER BY checkpoint_id"):
                ck.setdefault(cid, []).append(ckpt)
            return [CollectionInfo(r[0], r[1], r[2], r[3], r[4], tuple(ck.get(r[0], ()))) for r in rows]
        return self._run(fn)

    def rename_collection(self, old: str, new: str) -> None:
        check_name(new, "new collection name")

        def fn(conn: sqlite3.Connection) -> None:
            cid = self._collection_id(conn, old)
            if conn.execute("SELECT 1 FROM collections WHERE name = ? AND id != ?", (new, cid)).fetchone():
                raise StoreError(f"a collection named {new!r} already exists")
            conn.execute("UPDATE collections SET name = ? WHERE id = ?", (new, cid))
        self._write(fn)

    def delete_collection(self, name: str | int) -> int:
        """Delete a collection and its latents; returns how many latents went with it."""
        def fn(conn: sqlite3.Connection) -> int:
            cid = self._collection_id(conn, name)
            n = conn.execute("SELECT COUNT(*) FROM latents WHERE collection_id = ?", (cid,)).fetchone()[0]
            conn.execute("DELETE FROM latents WHERE collection_id = ?", (cid,))
            conn.execute("DELETE FROM collections WHERE id = ?", (cid,))
            return int(n)
        return self._write(fn)

    # -- latents

    @staticmethod
    def _insert_rows(conn: sqlite3.Connection, cid: int, batch: PreparedLatents) -> list[int]:
        ids = []
        for r in batch.rows:
            cur = conn.execute("INSERT INTO latents (collection_id, z, c, attribute_names, checkpoint_id, seed, idx, "
                               "w, thumbnail, created, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (cid, *r))
            ids.append(int(cur.lastrowid))
        return ids

    def add_latents(self, collection: str | int, z: np.ndarray, c: np.ndarray, attribute_names: Sequence[str],
                    checkpoint_id: str, seeds: Sequence[int] | np.ndarray | None = None,
                    indices: Sequence[int] | np.ndarray | None = None,
                    thumbnails: Sequence[bytes | None] | None = None,
                    meta: Sequence[dict | None] | None = None, w: np.ndarray | None = None,
                    has_w: np.ndarray | None = None) -> list[int]:
        """Append latents z (n, z_dim), c (n, c_dim) to a collection (created if it is a new name).

        seeds / indices: (n,) ints, -1 or None = unknown. thumbnails: n PNG byte strings or None.
        w: (n, w_dim) the w each face renders from (has_w (n,) bool: which rows have one; default all).
        All-or-nothing: returns the new row ids once committed.
        """
        batch = prepare_latents(z, c, attribute_names, checkpoint_id, seeds, indices, thumbnails, meta, w=w, has_w=has_w)
        return self.add_prepared(collection, batch)

    def add_prepared(self, collection: str | int, batch: PreparedLatents) -> list[int]:
        """Append a validated batch (prepare_latents) to a collection (created if it is a new name); the new row ids."""
        return self._write(lambda conn: self._insert_rows(conn, self._collection_id(conn, collection, create=True), batch))

    def get_latents(self, collection: str | int, checkpoint_id: str | None = None) -> LatentSet:
        """All latents of a collection (optionally only one checkpoint's). StoreError if it mixes sizes."""
        def fn(conn: sqlite3.Connection):
            cid = self._collection_id(conn, collection)
            name = conn.execute("SELECT name FROM collections WHERE id = ?", (cid,)).fetchone()[0]
            sql = ("SELECT id, z, c, attribute_names, checkpoint_id, seed, idx, thumbnail, meta, created, w FROM latents "
                   "WHERE collection_id = ?")
            args: tuple = (cid,)
            if checkpoint_id is not None:
                sql, args = sql + " AND checkpoint_id = ?", (cid, checkpoint_id)
            return name, conn.execute(sql + " ORDER BY id", args).fetchall()
        name, rows = self._run(fn)
        if not rows:
            return LatentSet(name, np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32), np.zeros(0, np.int64),
                             np.zeros(0, np.int64), np.zeros(0, np.int64), [], [], (), [])
        names = {r[3] for r in rows}
        zs, cs = [_vec(r[1]) for r in rows], [_vec(r[2]) for r in rows]
        ws = [None if r[10] is None else _vec(r[10]) for r in rows]
        if len(names) > 1 or len({len(v) for v in zs}) > 1 or len({len(v) for v in ws if v is not None}) > 1:
            raise StoreError(f"collection {name!r} mixes latents of different checkpoints/sizes "
                             f"({', '.join(sorted({r[4] for r in rows}))}); pick one with checkpoint_id=")
        has_w = np.array([v is not None for v in ws])
        w_dim = next((len(v) for v in ws if v is not None), 0)
        return LatentSet(
            collection=name, z=np.stack(zs), c=np.stack(cs).reshape(len(rows), -1),
            ids=np.array([r[0] for r in rows], np.int64),
            seeds=np.array([-1 if r[5] is None else r[5] for r in rows], np.int64),
            indices=np.array([-1 if r[6] is None else r[6] for r in rows], np.int64),
            checkpoint_ids=[r[4] for r in rows], thumbnails=[r[7] for r in rows],
            attribute_names=tuple(json.loads(rows[0][3])), meta=[json.loads(r[8]) for r in rows],
            created=[r[9] for r in rows],
            w=np.stack([np.zeros(w_dim, np.float32) if v is None else v for v in ws]) if has_w.any() else None,
            has_w=has_w if has_w.any() else None)

    def get_thumbnails(self, collection: str | int, limit: int | None = None) -> list[bytes]:
        """PNG thumbnails of a collection in insertion order (rows without one are skipped); works on mixed collections."""
        def fn(conn: sqlite3.Connection) -> list[bytes]:
            cid = self._collection_id(conn, collection)
            return [r[0] for r in conn.execute("SELECT thumbnail FROM latents WHERE collection_id = ? AND thumbnail "
                                               "IS NOT NULL ORDER BY id LIMIT ?", (cid, -1 if limit is None else int(limit)))]
        return self._run(fn)

    def displayable_thumbnails(self, collection: str | int, limit: int = 16) -> tuple[list[bytes], str | None]:
        """Up to `limit` thumbnails that are safe to decode (bounded PNGs), and a message about any that were not
        (or why none could be read); never raises StoreError, so a page can still draw the collection's buttons."""
        try:
            thumbs = self.get_thumbnails(collection, limit=limit)
        except StoreError as e:
            return [], str(e)
        good, bad = [], 0
        for t in thumbs:
            try:
                check_png(bytes(t), MAX_THUMBNAIL_PIXELS, MAX_THUMBNAIL_BYTES)
                with Image.open(io.BytesIO(t)) as im:  # bounded by the pixel check above; corrupt data fails here
                    im.load()
                good.append(bytes(t))
            except (UntrustedFileError, TypeError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
                bad += 1
        return good, (f"{bad} thumbnail{'s' * (bad != 1)} not shown: not a small PNG image" if bad else None)

    def delete_latents(self, ids: Sequence[int] | np.ndarray) -> int:
        """Delete latents by row id; returns how many existed."""
        ids = [int(i) for i in np.asarray(ids, dtype=np.int64).reshape(-1)]

        def fn(conn: sqlite3.Connection) -> int:
            return sum(conn.execute("DELETE FROM latents WHERE id = ?", (i,)).rowcount for i in ids)
        return self._write(fn)

    # -- directions

    @staticmethod
    def _insert_direction(conn: sqlite3.Connection, d: PreparedDirection, overwrite: bool) -> int:
        if conn.execute("SELECT 1 FROM directions WHERE name = ?", (d.name,)).fetchone():
            if not overwrite:
                raise StoreError(f"a direction named {d.name!r} already exists")
            conn.execute("DELETE FROM directions WHERE name = ?", (d.name,))
        row = (d.name, d.vector, d.method, json.dumps(list(d.source_collections), ensure_ascii=False), d.checkpoint_id,
               d.target_attribute, d.created or now_iso(), d.meta_json, d.space)
        return int(conn.execute("INSERT INTO directions (name, vector, method, source_collections, checkpoint_id, "
                                "target_attribute, created, meta, space) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row).lastrowid)

    def save_direction(self, name: str, vector: np.ndarray, method: str, source_collections: Sequence[str],
                       checkpoint_id: str, target_attribute: str | None = None, meta: dict | None = None,
                       overwrite: bool = False, space: str = "z") -> int:
        """Save a (D,) direction of `space` ("z" or "w") under a unique name; StoreError if taken unless overwrite=True."""
        d = prepare_direction(name, vector, method, source_collections, checkpoint_id, target_attribute, meta,
                              space=space)
        return self._write(lambda conn: self._insert_direction(conn, d, overwrite))

    @staticmethod
    def _direction(r: tuple) -> DirectionInfo:
        return DirectionInfo(r[0], r[1], _vec(r[2]), r[3], json.loads(r[4]), r[5], r[6], r[7], json.loads(r[8]), r[9])

    _DIR_COLS = "id, name, vector, method, source_collections, checkpoint_id, target_attribute, created, meta, space"

    def list_directions(self, checkpoint_id: str | None = None, space: str | None = None) -> list[DirectionInfo]:
        """Saved directions (optionally only those for one checkpoint and/or one space), by name."""
        where = [(col, v) for col, v in (("checkpoint_id", checkpoint_id), ("space", space)) if v is not None]
        sql = f"SELECT {self._DIR_COLS} FROM directions" + (" WHERE " + " AND ".join(f"{col} = ?" for col, _ in where)
                                                             if where else "")
        args = tuple(v for _, v in where)
        return [self._direction(r) for r in self._run(lambda conn: conn.execute(sql + " ORDER BY name", args).fetchall())]

    def get_direction(self, name: str) -> DirectionInfo:
        r = self._run(lambda conn: conn.execute(f"SELECT {self._DIR_COLS} FROM directions WHERE name = ?", (name,)).fetchone())
        if r is None:
            raise StoreError(f"no direction {name!r}")
        return self._direction(r)

    def delete_direction(self, name: str) -> bool:
        return bool(self._write(lambda conn: conn.execute("DELETE FROM directions WHERE name = ?", (name,)).rowcount))

    # -- settings

    def get_setting(self, key: str, default: Any = None) -> Any:
        r = self._run(lambda conn: conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone())
        return default if r is None else json.loads(r[0])

    def set_setting(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable value under key."""
        check_name(key, "setting key")
        v = _json(value, f"setting {key!r}")
        self._write(lambda conn: conn.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, v)))

    def all_settings(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self._run(lambda conn: conn.execute("SELECT key, value FROM settings").fetchall())}

    # -- .npz exchange (the format is gan.latents_file's)

    def export_collection_npz(self, name: str | int, path_or_buffer: str | os.PathLike | BinaryIO,
                              checkpoint_id: str | None = None) -> int:
        """Write a collection as a latents .npz (atomically when given a path); returns N."""
        s = self.get_latents(name, checkpoint_id)
        if len(s) == 0:
            raise StoreError(f"collection {s.collection!r} has no latents to export")
        ckpts = sorted(set(s.checkpoint_ids))
        if len(ckpts) > 1:
            raise StoreError(f"collection {s.collection!r} holds latents of {len(ckpts)} checkpoints; pick one with checkpoint_id=")
        try:
            latents_file.save_latents_npz(path_or_buffer, s.z, s.c, s.attribute_names, s.seeds, s.indices, ckpts[0],
                                          s.w, s.has_w)
        except LatentsFileError as e:
            raise StoreError(f"cannot export {s.collection!r}: {e}") from None
        return len(s)

    def import_collection_npz(self, file: str | os.PathLike | bytes | BinaryIO, name: str,
                              checkpoint_id: str | None = None) -> list[int]:
        """Add the latents of a .npz to collection `name` (created if new). Validates everything first:
        on any problem raises StoreError and writes nothing. checkpoint_id overrides the file's."""
        check_name(name, "collection name")
        try:
            rec = latents_file.load_latents_npz(file, checkpoint_id)
        except UntrustedFileError as e:
            raise StoreError(str(e)) from None
        batch = prepare_latents(rec["z"], rec["c"], rec["attribute_names"], rec["checkpoint"], rec["seeds"], rec["indices"],
                                w=rec["w"], has_w=rec["has_w"])
        return self._write(lambda conn: self._insert_rows(conn, self._collection_id(conn, name, create=True), batch))

    # -- merging a whole workspace (explorer/bundle.py reads the file, this writes it)

    def import_records(self, collections: dict[str, str], latents: Sequence[tuple[str, PreparedLatents]],
                       directions: Sequence[PreparedDirection] = (), settings: Sequence[tuple[str, Any]] = (),
                       overwrite_settings: bool = False, checkpoints: Sequence[str] = (),
                       created: dict[str, str] | None = None, on_clash: str = "keep both",
                       skip_identical: bool = True) -> ImportReport:
        """Merge validated records in one transaction: new collections {name: note} (created: {name: ISO time}, kept),
        latents [(collection name, batch)], directions and settings (existing keys kept unless overwrite_settings).

        A name that exists already: with the same content (the same latents, or the same vector) nothing is written
        ("unchanged"); with other content `on_clash` decides — "skip", "replace" (the old one is deleted) or
        "keep both" (the import is renamed " (2)", " (3)"…; directions' source collections follow renames).
        skip_identical=False treats identical content like other content."""
        if on_clash not in CLASH_POLICIES:
            raise StoreError(f"on_clash must be one of {', '.join(CLASH_POLICIES)}, not {on_clash!r}")
        for name, note in collections.items():
            check_name(name, "collection name")
            check_note(note)
        for name, _ in latents:
            if name not in collections:
                raise StoreError(f"latents refer to collection {name!r}, which is not being imported")
        times = {k: check_time(v) for k, v in (created or {}).items()}
        setting_rows = [(check_name(k, "setting key"), _json(v, f"setting {k!r}")) for k, v in settings]
        incoming = {name: sorted(_row_key(r) for n, b in latents if n == name for r in b.rows) for name in collections}

        def write(conn: sqlite3.Connection) -> ImportReport:
            report = ImportReport(checkpoints=list(checkpoints))  # built afresh if the transaction is retried
            existing = {row[1]: row[0] for row in conn.execute("SELECT id, name FROM collections")}
            taken, cids = set(existing), {}
            for name, note in collections.items():
                if name in existing:
                    have = sorted(_row_key(r) for r in conn.execute(
                        "SELECT z, c, attribute_names, checkpoint_id, seed, idx, w FROM latents WHERE collection_id = ?",
                        (existing[name],)))
                    if skip_identical and have == incoming[name]:
                        report.unchanged.append(name)
                        continue
                    if on_clash == "skip":
                        report.skipped.append(name)
                        continue
                    if on_clash == "replace":
                        conn.execute("DELETE FROM latents WHERE collection_id = ?", (existing[name],))
                        conn.execute("DELETE FROM collections WHERE id = ?", (existing[name],))
                        taken.discard(name)
                        report.replaced.append(name)
                new = report.collections[name] = _unique(name, taken)
                taken.add(new)
                cids[name] = conn.execute("INSERT INTO collections (name, note, created) VALUES (?, ?, ?)",
                                          (new, note, times.get(name) or now_iso())).lastrowid
            for name, batch in latents:
                if name in cids:
                    report.latents += len(self._insert_rows(conn, cids[name], batch))
            dexisting = {r[0]: (r[1], r[2], r[3], r[4], r[5]) for r in conn.execute(
                "SELECT name, vector, checkpoint_id, method, target_attribute, space FROM directions")}
            dtaken = set(dexisting)
            for d in directions:
                if d.name in dexisting:
                    if skip_identical and dexisting[d.name] == (d.vector, d.checkpoint_id, d.method, d.target_attribute,
                                                                d.space):
                        report.unchanged.append(d.name)
                        continue
                    if on_clash == "skip":
                        report.skipped.append(d.name)
                        continue
                    if on_clash == "replace":
                        conn.execute("DELETE FROM directions WHERE name = ?", (d.name,))
                        dtaken.discard(d.name)
                        report.replaced.append(d.name)
                new = report.directions[d.name] = _unique(d.name, dtaken)
                dtaken.add(new)
                sources = tuple(report.collections.get(x, x) for x in d.source_collections)
                self._insert_direction(conn, PreparedDirection(new, d.vector, d.method, sources, d.checkpoint_id,
                                                               d.target_attribute, d.meta_json, d.created, d.space),
                                       overwrite=False)
            for k, v in setting_rows:
                exists = conn.execute("SELECT 1 FROM settings WHERE key = ?", (k,)).fetchone()
                if overwrite_settings or not exists:
                    conn.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (k, v))
                    report.settings.append(k)
            return report

        return self._write(write)


def _row_key(r: tuple) -> tuple:
    """What makes two stored latents the same: z, c, attribute names, checkpoint, seed, index and w (not thumbnails,
    meta or times). r: a PreparedLatents row or a (z, c, names, checkpoint, seed, idx, w) database row."""
    return (bytes(r[0]), bytes(r[1]), r[2], r[3], -1 if r[4] is None else r[4], -1 if r[5] is None else r[5],
            b"" if r[6] is None else bytes(r[6]))
