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

Modules: `errors` (StoreError), `schema` (DDL, version, migrations, the foreign-file check), `records` (limits, checks
on untrusted input, record types), `rows` (row-level SQL), `latent_store` (LatentStore), `exchange` (.npz import and
export, workspace merge). Import from here: `from explorer.store import LatentStore, StoreError`.
"""
from explorer.store.errors import StoreError
from explorer.store.exchange import CLASH_POLICIES, ImportReport
from explorer.store.latent_store import LatentStore
from explorer.store.records import (DIRECTION_SPACES, MAX_BATCH_BYTES, MAX_META_CHARS, MAX_NAME_LEN, MAX_NOTE_LEN,
                                    MAX_THUMBNAIL_BYTES, MAX_THUMBNAIL_PIXELS, CollectionInfo, DirectionInfo,
                                    LatentSet, PreparedDirection, PreparedLatents, check_name, check_note, check_time,
                                    prepare_direction, prepare_latents)
from explorer.store.schema import MIGRATIONS, SCHEMA_VERSION, TABLES

__all__ = ["CLASH_POLICIES", "DIRECTION_SPACES", "MAX_BATCH_BYTES", "MAX_META_CHARS", "MAX_NAME_LEN", "MAX_NOTE_LEN",
           "MAX_THUMBNAIL_BYTES", "MAX_THUMBNAIL_PIXELS", "MIGRATIONS", "SCHEMA_VERSION", "TABLES", "CollectionInfo",
           "DirectionInfo", "ImportReport", "LatentSet", "LatentStore", "PreparedDirection", "PreparedLatents",
           "StoreError", "check_name", "check_note", "check_time", "prepare_direction", "prepare_latents"]
