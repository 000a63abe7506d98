"""Workspace bundles: a whole latent store (collections, directions, settings) as one .zip to share.

Layout (nothing else is read on import; member names come from this code, never from the zip):

    manifest.json        {"format": "gan-explorer-bundle", "format_version": 1, "created",
                          "checkpoints": [sha256 ids referred to],
                          "collections": [{"name", "note"}],
                          "parts": [{"collection", "checkpoint_id", "attribute_names", "count",
                                     "z_dim", "c_dim", "meta": [...], "thumbnail_sizes": [...]}],
                          "directions": [{"name", "method", "source_collections", "checkpoint_id",
                                          "target_attribute", "meta", "z_dim"}],
                          "settings": {key: value}}
    parts/{i}/z.npy  (n, z_dim) float32    parts/{i}/c.npy  (n, c_dim) float32
    parts/{i}/seeds.npy, indices.npy (n,) int64 (-1 = unknown)
    parts/{i}/thumbnails.npy (sum of sizes,) uint8 — PNGs back to back, split by thumbnail_sizes (0 = none)
    directions/{j}.npy (z_dim,) float32

A part is the latents of one collection that share a checkpoint and attribute list, so z and c travel
bit-exactly and the same checkpoint renders the same faces. Importing merges into an existing store:
a clashing collection or direction name gets " (2)", " (3)"…; existing settings are kept unless asked.
"""
from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import numpy as np

from explorer.store import (MAX_NAME_LEN, LatentStore, StoreError, check_name, check_npy_header,
                            read_capped)
from gan.atomic import atomic_write
from gan.records import now_iso

FORMAT = "gan-explorer-bundle"
FORMAT_VERSION = 1
MAX_BUNDLE_BYTES = 200 * 1024 * 1024  # compressed file
MAX_UNCOMPRESSED = 1024 * 1024 * 1024  # zip-bomb guard: sum of declared member sizes
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
MAX_MEMBERS = 100_000


@dataclass
class ImportReport:
    """What an import did: old → new names (they differ where a name clashed)."""

    collections: dict[str, str] = field(default_factory=dict)
    directions: dict[str, str] = field(default_factory=dict)
    latents: int = 0
    settings: list[str] = field(default_factory=list)  # keys written
    checkpoints: list[str] = field(default_factory=list)  # checkpoints the bundle's latents need


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def export_bundle(store: LatentStore, path_or_buffer: str | os.PathLike | BinaryIO,
                  collections: list[str] | None = None, directions: list[str] | None = None,
                  include_settings: bool = True) -> dict:
    """Write collections (default all), directions (default all) and settings to a .zip; returns the manifest."""
    infos = {c.name: c for c in store.list_collections()}
    names = list(infos) if collections is None else collections
    for n in names:
        if n not in infos:
            raise StoreError(f"no collection {n!r}")
    members: dict[str, bytes] = {}
    parts, checkpoints = [], set()
    cols = [{"name": n, "note": infos[n].note} for n in names]
    for name in names:
        for ck in infos[name].checkpoint_ids:  # one part per checkpoint (a collection may mix them)
            s = store.get_latents(name, checkpoint_id=ck)
            i = len(parts)
            sizes = [0 if t is None else len(t) for t in s.thumbnails]
            thumbs = np.frombuffer(b"".join(t for t in s.thumbnails if t), dtype=np.uint8)
            members.update({f"parts/{i}/z.npy": _npy(s.z), f"parts/{i}/c.npy": _npy(s.c),
                            f"parts/{i}/seeds.npy": _npy(s.seeds), f"parts/{i}/indices.npy": _npy(s.indices),
                            f"parts/{i}/thumbnails.npy": _npy(thumbs)})
            parts.append({"collection": name, "checkpoint_id": ck,
                          "attribute_names": list(s.attribute_names), "count": len(s),
                          "z_dim": int(s.z.shape[1]), "c_dim": int(s.c.shape[1]),
                          "meta": s.meta, "thumbnail_sizes": sizes})
            checkpoints.add(ck)
    dirs = []
    wanted = None if directions is None else set(directions)
    for j, d in enumerate(d for d in store.list_directions() if wanted is None or d.name in wanted):
        members[f"directions/{j}.npy"] = _npy(d.vector)
        dirs.append({"name": d.name, "method": d.method, "source_collections": d.source_collections,
                     "checkpoint_id": d.checkpoint_id, "target_attribute": d.target_attribute,
                     "meta": d.meta, "z_dim": int(d.vector.shape[0])})
        checkpoints.add(d.checkpoint_id)
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "created": now_iso(),
                "checkpoints": sorted(checkpoints), "collections": cols, "parts": parts, "directions": dirs,
                "settings": store.all_settings() if include_settings else {}}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1))
        for k, v in members.items():
            zf.writestr(k, v)
    if isinstance(path_or_buffer, (str, os.PathLike)):
        with atomic_write(path_or_buffer) as f:
            f.write(buf.getvalue())
    else:
        path_or_buffer.write(buf.getvalue())
    return manifest


class _Reader:
    """Reads named members of an untrusted zip with size caps; never touches the file system."""

    def __init__(self, data: bytes):
        try:
            self.zf = zipfile.ZipFile(io.BytesIO(data))
            infos = self.zf.infolist()
        except (zipfile.BadZipFile, OSError, ValueError) as e:
            raise StoreError(f"not a bundle (.zip) file: {e}") from None
        if len(infos) > MAX_MEMBERS:
            raise StoreError(f"the bundle has {len(infos)} entries; the limit is {MAX_MEMBERS}")
        if sum(i.file_size for i in infos) > MAX_UNCOMPRESSED:
            raise StoreError(f"the bundle unpacks to more than {MAX_UNCOMPRESSED // 2**20} MB")
        self.sizes = {i.filename: i.file_size for i in infos}

    def read(self, name: str, limit: int) -> bytes:
        if name not in self.sizes:
            raise StoreError(f"the bundle is missing {name}")
        if self.sizes[name] > limit:
            raise StoreError(f"{name} in the bundle is too large")
        try:
            with self.zf.open(name) as f:
                data = f.read(limit + 1)  # bounded even if the header lies
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
            raise StoreError(f"{name} in the bundle is corrupt: {e}") from None
        if len(data) > limit:
            raise StoreError(f"{name} in the bundle is too large")
        return data

    def array(self, name: str, shape: tuple[int, ...], kinds: str) -> np.ndarray:
        data = self.read(name, MAX_UNCOMPRESSED)
        check_npy_header(io.BytesIO(data), len(data), name)
        try:
            a = np.load(io.BytesIO(data), allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise StoreError(f"{name} in the bundle is not a valid array: {e}") from None
        if a.shape != shape or a.dtype.kind not in kinds:
            raise StoreError(f"{name} in the bundle has {a.dtype} {a.shape}, expected shape {shape}")
        return a


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


def _get(d: Any, key: str, types: type | tuple, what: str) -> Any:
    """d[key] if d is a dict holding a value of `types` there (bools are not ints here)."""
    ok = isinstance(d, dict) and key in d and isinstance(d[key], types) and not isinstance(d[key], bool)
    if not ok:
        raise StoreError(f"malformed bundle manifest: {what} needs {key!r}")
    return d[key]


def import_bundle(store: LatentStore, file: str | os.PathLike | bytes | BinaryIO,
                  overwrite_settings: bool = False) -> ImportReport:
    """Merge a bundle into `store`. Everything is read and checked first, then written in one
    transaction: a malformed bundle raises StoreError and leaves the store untouched."""
    # Read the bytes (capped).
    data = read_capped(file, MAX_BUNDLE_BYTES, "bundle")
    r = _Reader(data)

    # Parse and check the manifest.
    try:
        manifest = json.loads(r.read("manifest.json", MAX_MANIFEST_BYTES).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise StoreError(f"the bundle's manifest is not valid JSON: {e}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise StoreError("not a latent-explorer bundle (manifest format is missing or different)")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise StoreError(f"bundle format version {manifest.get('format_version')!r} is not supported (expected {FORMAT_VERSION})")
    cols, parts = _get(manifest, "collections", list, "bundle"), _get(manifest, "parts", list, "bundle")
    dirs = _get(manifest, "directions", list, "bundle")
    notes: dict[str, str] = {}  # collection name -> note, in bundle order
    for i, col in enumerate(cols):
        name = check_name(_get(col, "name", str, f"collection {i}"), f"collection {i} name")
        note = col.get("note", "")
        if name in notes or not isinstance(note, str):
            raise StoreError(f"malformed bundle manifest: collection {name!r} repeated or has a bad note")
        notes[name] = note
    settings = manifest.get("settings", {})
    if not isinstance(settings, dict):
        raise StoreError("malformed bundle manifest: settings must be an object")

    # Load and validate every array, turning them into store rows (nothing written yet).
    latent_rows: list[tuple[str, list[tuple]]] = []  # (collection, rows)
    for i, p in enumerate(parts):
        what = f"part {i}"
        n, zd, cd = (_get(p, k, int, what) for k in ("count", "z_dim", "c_dim"))
        name = _get(p, "collection", str, what)
        if name not in notes:
            raise StoreError(f"malformed bundle manifest: {what} refers to an unlisted collection")
        names = _get(p, "attribute_names", list, what)
        ck = _get(p, "checkpoint_id", str, what)
        sizes = _get(p, "thumbnail_sizes", list, what)
        meta = _get(p, "meta", list, what)
        if not (0 < n and zd > 0 and cd >= 0 and len(sizes) == n and len(meta) == n and len(names) == cd):
            raise StoreError(f"malformed bundle manifest: {what} sizes disagree")
        if not all(isinstance(s, int) and s >= 0 for s in sizes):
            raise StoreError(f"malformed bundle manifest: {what} thumbnail sizes")
        z = r.array(f"parts/{i}/z.npy", (n, zd), "f")
        c = r.array(f"parts/{i}/c.npy", (n, cd), "f")
        seeds = r.array(f"parts/{i}/seeds.npy", (n,), "iu")
        indices = r.array(f"parts/{i}/indices.npy", (n,), "iu")
        blob = r.array(f"parts/{i}/thumbnails.npy", (sum(sizes),), "u").tobytes()
        offs = np.concatenate([[0], np.cumsum(sizes)])
        thumbs = [blob[offs[k]:offs[k + 1]] or None for k in range(n)]
        rows = store._prepare_latents(z, c, names, ck, seeds, indices, thumbs, meta)
        latent_rows.append((name, rows))
    dir_rows = []
    for j, d in enumerate(dirs):
        what = f"direction {j}"
        vec = r.array(f"directions/{j}.npy", (_get(d, "z_dim", int, what),), "f")
        dir_rows.append(store._prepare_direction(
            _get(d, "name", str, what), vec, _get(d, "method", str, what), _get(d, "source_collections", list, what),
            _get(d, "checkpoint_id", str, what), d.get("target_attribute"), d.get("meta") or {}))
    setting_items = [(check_name(k, "setting key"), v) for k, v in settings.items()]

    # Write it all in one transaction, renaming clashes.
    checkpoints = [str(c) for c in manifest.get("checkpoints", []) if isinstance(c, str)]

    def write(conn) -> ImportReport:
        report = ImportReport(checkpoints=checkpoints)  # built afresh if the transaction is retried
        taken = {row[0] for row in conn.execute("SELECT name FROM collections")}
        cids = {}
        for name, note in notes.items():
            new = report.collections[name] = _unique(name, taken)
            taken.add(new)
            cids[name] = conn.execute("INSERT INTO collections (name, note, created) VALUES (?, ?, ?)",
                                      (new, note, now_iso())).lastrowid
        for name, rows in latent_rows:
            report.latents += len(store._insert_rows(conn, cids[name], rows))
        dtaken = {row[0] for row in conn.execute("SELECT name FROM directions")}
        for row in dir_rows:
            new = report.directions[row[0]] = _unique(row[0], dtaken)
            dtaken.add(new)
            # Source collections may have been renamed: point them at the new names.
            src = json.dumps([report.collections.get(s, s) for s in json.loads(row[3])], ensure_ascii=False)
            store._insert_direction(conn, (new, row[1], row[2], src, *row[4:]), overwrite=False)
        for k, v in setting_items:
            exists = conn.execute("SELECT 1 FROM settings WHERE key = ?", (k,)).fetchone()
            if overwrite_settings or not exists:
                conn.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (k, json.dumps(v, ensure_ascii=False)))
                report.settings.append(k)
        return report

    return store._write(write)
