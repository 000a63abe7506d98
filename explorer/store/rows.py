"""Row-level SQL on an open connection, shared by the store and its imports: a collection's id, inserting a batch of
latents or a direction, and float32 blobs back to vectors."""
from __future__ import annotations

import json
import sqlite3

import numpy as np

from explorer.store.errors import StoreError
from explorer.store.records import PreparedDirection, PreparedLatents, check_name
from gan.records import now_iso


def collection_id(conn: sqlite3.Connection, collection: str | int, create: bool = False) -> int:
    """The row id of a collection given by id or name (a new name is created when create=True); StoreError if none."""
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


def insert_rows(conn: sqlite3.Connection, cid: int, batch: PreparedLatents) -> list[int]:
    """Insert a validated batch into collection `cid`; the new row ids."""
    ids = []
    for r in batch.rows:
        cur = conn.execute("INSERT INTO latents (collection_id, z, c, attribute_names, checkpoint_id, seed, idx, "
                           "w, thumbnail, created, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (cid, *r))
        ids.append(int(cur.lastrowid))
    return ids


def insert_direction(conn: sqlite3.Connection, d: PreparedDirection, overwrite: bool) -> int:
    """Insert a validated direction (replacing one of the same name when overwrite=True, else StoreError); its row id."""
    if conn.execute("SELECT 1 FROM directions WHERE name = ?", (d.name,)).fetchone():
        if not overwrite:
            raise StoreError(f"a direction named {d.name!r} already exists")
        conn.execute("DELETE FROM directions WHERE name = ?", (d.name,))
    row = (d.name, d.vector, d.method, json.dumps(list(d.source_collections), ensure_ascii=False), d.checkpoint_id,
           d.target_attribute, d.created or now_iso(), d.meta_json, d.space)
    return int(conn.execute("INSERT INTO directions (name, vector, method, source_collections, checkpoint_id, "
                            "target_attribute, created, meta, space) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row).lastrowid)


def blob_vector(blob: bytes) -> np.ndarray:
    """A stored float32 little-endian blob as a (D,) float32 array."""
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)
