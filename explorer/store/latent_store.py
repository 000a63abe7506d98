"""LatentStore: the SQLite file's connections (one per operation, WAL, `BEGIN IMMEDIATE` writes retried while the
database is locked) and its reads and writes of collections, latents, directions and settings."""
from __future__ import annotations

import contextlib
import io
import json
import os
import random
import sqlite3
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
from PIL import Image

from explorer.store.errors import StoreError
from explorer.store.exchange import StoreExchange
from explorer.store.records import (MAX_THUMBNAIL_BYTES, MAX_THUMBNAIL_PIXELS, CollectionInfo, DirectionInfo, LatentSet,
                                    PreparedLatents, check_name, check_note, json_text, prepare_direction,
                                    prepare_latents)
from explorer.store.rows import blob_vector, collection_id, insert_direction, insert_rows
from explorer.store.schema import check_store_file, create_or_migrate
from gan.paths import store_path
from gan.records import now_iso
from gan.untrusted import UntrustedFileError, check_png


class LatentStore(StoreExchange):
    """SQLite-backed store; every method opens its own connection, so one object may be shared by threads."""

    def __init__(self, path: str | os.PathLike | None = None, timeout_s: float = 30.0):
        self.path = Path(path) if path is not None else store_path()
        self.timeout_s = timeout_s  # total patience for a locked database, per operation
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create the folder for the store {self.path}: {e}") from None
        check_store_file(self.path)  # a foreign or unwritable file is refused before anything is written to it

        self._retry(self._set_wal)
        self._write(create_or_migrate)

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
                insert_rows(conn, cid, latents)
            return cid
        return self._write(fn)

    def get_or_create_collection(self, name: str) -> int:
        return self._write(lambda conn: collection_id(conn, name, create=True))

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
            cid = collection_id(conn, old)
            if conn.execute("SELECT 1 FROM collections WHERE name = ? AND id != ?", (new, cid)).fetchone():
                raise StoreError(f"a collection named {new!r} already exists")
            conn.execute("UPDATE collections SET name = ? WHERE id = ?", (new, cid))
        self._write(fn)

    def delete_collection(self, name: str | int) -> int:
        """Delete a collection and its latents; returns how many latents went with it."""
        def fn(conn: sqlite3.Connection) -> int:
            cid = collection_id(conn, name)
            n = conn.execute("SELECT COUNT(*) FROM latents WHERE collection_id = ?", (cid,)).fetchone()[0]
            conn.execute("DELETE FROM latents WHERE collection_id = ?", (cid,))
            conn.execute("DELETE FROM collections WHERE id = ?", (cid,))
            return int(n)
        return self._write(fn)

    # -- latents

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
        return self._write(lambda conn: insert_rows(conn, collection_id(conn, collection, create=True), batch))

    def get_latents(self, collection: str | int, checkpoint_id: str | None = None) -> LatentSet:
        """All latents of a collection (optionally only one checkpoint's). StoreError if it mixes sizes."""
        def fn(conn: sqlite3.Connection):
            cid = collection_id(conn, collection)
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
        zs, cs = [blob_vector(r[1]) for r in rows], [blob_vector(r[2]) for r in rows]
        ws = [None if r[10] is None else blob_vector(r[10]) for r in rows]
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
            cid = collection_id(conn, collection)
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

    def save_direction(self, name: str, vector: np.ndarray, method: str, source_collections: Sequence[str],
                       checkpoint_id: str, target_attribute: str | None = None, meta: dict | None = None,
                       overwrite: bool = False, space: str = "z") -> int:
        """Save a (D,) direction of `space` ("z" or "w") under a unique name; StoreError if taken unless overwrite=True."""
        d = prepare_direction(name, vector, method, source_collections, checkpoint_id, target_attribute, meta,
                              space=space)
        return self._write(lambda conn: insert_direction(conn, d, overwrite))

    @staticmethod
    def _direction(r: tuple) -> DirectionInfo:
        return DirectionInfo(r[0], r[1], blob_vector(r[2]), r[3], json.loads(r[4]), r[5], r[6], r[7], json.loads(r[8]), r[9])

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
        v = json_text(value, f"setting {key!r}")
        self._write(lambda conn: conn.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, v)))

    def all_settings(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self._run(lambda conn: conn.execute("SELECT key, value FROM settings").fetchall())}
