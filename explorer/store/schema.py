"""The store's schema: tables (DDL), its version (`PRAGMA user_version`), in-place migrations, and the check that
refuses a file that is not a store of ours before anything is written to it."""
from __future__ import annotations

import os
import sqlite3
import urllib.parse
from pathlib import Path

from explorer.store.errors import StoreError

SCHEMA_VERSION = 2
TABLES = ("collections", "latents", "directions", "settings")

SCHEMA_SQL = """
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


def create_or_migrate(conn: sqlite3.Connection) -> None:
    """Inside one write transaction: create the schema in an empty file, or bring an older store up to
    SCHEMA_VERSION. Another process opening the file sees either the old store or the new one, never our tables
    with user_version still 0 (which check_store_file would refuse as foreign) nor a half-migrated store;
    the version is read again under the write lock, so two processes never migrate one file twice."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == 0:
        for statement in SCHEMA_SQL.split(";"):
            if statement.strip():
                conn.execute(statement)
    else:
        for v in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[v]:
                conn.execute(statement)
    if version != SCHEMA_VERSION:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def check_store_file(p: Path) -> None:
    """Refuse, touching nothing, a file that is not a store of ours (or an empty database), or that we
    could not write; say which path and why."""
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
