"""Workspace bundles: a whole latent store (collections, directions, settings) as one .zip to share.

Layout (nothing else is read on import; member names come from this code, never from the zip):

    manifest.json        {"format": "gan-explorer-bundle", "format_version": 2, "created",
                          "checkpoints": [sha256 ids referred to],
                          "collections": [{"name", "note", "created"}],
                          "parts": [{"collection", "checkpoint_id", "attribute_names", "count",
                                     "z_dim", "c_dim", "w_dim", "meta": [...], "thumbnail_sizes": [...],
                                     "created": [...]}],
                          "directions": [{"name", "method", "source_collections", "checkpoint_id",
                                          "target_attribute", "meta", "z_dim", "created", "space"}],
                          "settings": {key: value}}
    parts/{i}/z.npy  (n, z_dim) float32    parts/{i}/c.npy  (n, c_dim) float32
    parts/{i}/seeds.npy, indices.npy (n,) int64 (-1 = unknown)
    parts/{i}/thumbnails.npy (sum of sizes,) uint8 — PNGs back to back, split by thumbnail_sizes (0 = none)
    parts/{i}/w.npy (n, w_dim) float32, parts/{i}/has_w.npy (n,) bool — only when w_dim > 0: the faces that render
                     from a stored w (rows without one hold zeros)
    directions/{j}.npy (z_dim,) float32 — the vector's length; "space" says whether it lives in z or W

A part is the latents of one collection that share a checkpoint and attribute list, so z and c travel
bit-exactly and the same checkpoint renders the same faces; creation times ("created", optional) travel too.
Version 1 bundles (no w, no direction space) still import: their faces have no w and their directions are in z.
Importing merges into an existing store: a name that exists with the same content is left alone; with other
content the caller chooses skip, replace or keep both (" (2)", " (3)"…); existing settings are kept unless asked.
"""
from __future__ import annotations

import io
import json
import os
import zipfile
from typing import Any, BinaryIO

import numpy as np

from explorer.store import (ImportReport, LatentStore, StoreError, check_name, check_note, prepare_direction,
                            prepare_latents)
from gan.atomic import atomic_write
from gan.records import now_iso
from gan.untrusted import UntrustedFileError, ZipReader, parse_json, read_capped

FORMAT = "gan-explorer-bundle"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 2 added w per face and a space per direction
MAX_BUNDLE_BYTES = 200 * 1024 * 1024  # compressed file
MAX_UNCOMPRESSED = 1024 * 1024 * 1024  # zip-bomb guard: sum of declared member sizes
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
MAX_MEMBERS = 100_000

__all__ = ["ImportReport", "bundle_summary", "export_bundle", "import_bundle"]


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
    cols = [{"name": n, "note": infos[n].note, "created": infos[n].created} for n in names]
    for name in names:
        for ck in infos[name].checkpoint_ids:  # one part per checkpoint (a collection may mix them)
            s = store.get_latents(name, checkpoint_id=ck)
            i = len(parts)
            sizes = [0 if t is None else len(t) for t in s.thumbnails]
            thumbs = np.frombuffer(b"".join(t for t in s.thumbnails if t), dtype=np.uint8)
            members.update({f"parts/{i}/z.npy": _npy(s.z), f"parts/{i}/c.npy": _npy(s.c),
                            f"parts/{i}/seeds.npy": _npy(s.seeds), f"parts/{i}/indices.npy": _npy(s.indices),
                            f"parts/{i}/thumbnails.npy": _npy(thumbs)})
            if s.w is not None:
                members.update({f"parts/{i}/w.npy": _npy(s.w), f"parts/{i}/has_w.npy": _npy(s.has_w)})
            parts.append({"collection": name, "checkpoint_id": ck,
                          "attribute_names": list(s.attribute_names), "count": len(s),
                          "z_dim": int(s.z.shape[1]), "c_dim": int(s.c.shape[1]),
                          "w_dim": 0 if s.w is None else int(s.w.shape[1]),
                          "meta": s.meta, "thumbnail_sizes": sizes, "created": s.created})
            checkpoints.add(ck)
    dirs = []
    wanted = None if directions is None else set(directions)
    for j, d in enumerate(d for d in store.list_directions() if wanted is None or d.name in wanted):
        members[f"directions/{j}.npy"] = _npy(d.vector)
        dirs.append({"name": d.name, "method": d.method, "source_collections": d.source_collections,
                     "checkpoint_id": d.checkpoint_id, "target_attribute": d.target_attribute,
                     "meta": d.meta, "z_dim": int(d.vector.shape[0]), "created": d.created, "space": d.space})
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


def _get(d: Any, key: str, types: type | tuple, what: str) -> Any:
    """d[key] if d is a dict holding a value of `types` there (bools are not ints here)."""
    ok = isinstance(d, dict) and key in d and isinstance(d[key], types) and not isinstance(d[key], bool)
    if not ok:
        raise StoreError(f"malformed bundle manifest: {what} needs {key!r}")
    return d[key]


def import_bundle(store: LatentStore, file: str | os.PathLike | bytes | BinaryIO,
                  overwrite_settings: bool = False, on_clash: str = "keep both", skip_identical: bool = True) -> ImportReport:
    """Merge a bundle into `store`. Everything is read and checked first, then written in one
    transaction: a malformed bundle raises StoreError and leaves the store untouched.

    A collection or direction whose name exists: left alone when the content is the same (unless
    skip_identical=False), else on_clash — "skip", "replace" or "keep both" (LatentStore.import_records)."""
    try:
        return _import_bundle(store, file, overwrite_settings, on_clash, skip_identical)
    except UntrustedFileError as e:
        raise StoreError(str(e)) from None


def _import_bundle(store: LatentStore, file, overwrite_settings: bool, on_clash: str, skip_identical: bool) -> ImportReport:
    # Read the bytes (capped).
    r = ZipReader(read_capped(file, MAX_BUNDLE_BYTES, "bundle"), "bundle", MAX_MEMBERS, MAX_UNCOMPRESSED)

    # Parse and check the manifest.
    manifest = parse_json(r.read("manifest.json", MAX_MANIFEST_BYTES), "bundle's manifest")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise StoreError("not a latent-explorer bundle (manifest format is missing or different)")
    if manifest.get("format_version") not in READABLE_VERSIONS:
        raise StoreError(f"bundle format version {str(manifest.get('format_version'))[:20]!r} is not supported "
                         f"(this app reads {', '.join(map(str, READABLE_VERSIONS))})")
    cols, parts = _get(manifest, "collections", list, "bundle"), _get(manifest, "parts", list, "bundle")
    dirs = _get(manifest, "directions", list, "bundle")
    notes: dict[str, str] = {}  # collection name -> note, in bundle order
    created: dict[str, str] = {}  # collection name -> ISO time it was first made (absent in older bundles)
    for i, col in enumerate(cols):
        name = check_name(_get(col, "name", str, f"collection {i}"), f"collection {i} name")
        if name in notes:
            raise StoreError(f"malformed bundle manifest: collection {name!r} is listed twice")
        notes[name] = check_note(col.get("note", ""))
        if isinstance(col.get("created"), str):
            created[name] = col["created"]
    settings = manifest.get("settings", {})
    if not isinstance(settings, dict):
        raise StoreError("malformed bundle manifest: settings must be an object")

    # Load and validate every array, turning them into store batches (nothing written yet).
    batches = []  # (collection, PreparedLatents)
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
        if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in sizes):
            raise StoreError(f"malformed bundle manifest: {what} thumbnail sizes")
        if not all(isinstance(a, str) for a in names) or not all(m is None or isinstance(m, dict) for m in meta):
            raise StoreError(f"malformed bundle manifest: {what} attribute names or meta")
        z = _array(r, f"parts/{i}/z.npy", (n, zd), "f")
        c = _array(r, f"parts/{i}/c.npy", (n, cd), "f")
        seeds = _array(r, f"parts/{i}/seeds.npy", (n,), "iu")
        indices = _array(r, f"parts/{i}/indices.npy", (n,), "iu")
        blob = _array(r, f"parts/{i}/thumbnails.npy", (sum(sizes),), "u").tobytes()
        offs = np.concatenate([[0], np.cumsum(sizes)])
        thumbs = [blob[offs[k]:offs[k + 1]] or None for k in range(n)]
        times = p.get("created")
        times = times if isinstance(times, list) and len(times) == n else None
        wd = p.get("w_dim", 0)  # absent in version 1
        if not (isinstance(wd, int) and not isinstance(wd, bool) and wd >= 0):
            raise StoreError(f"malformed bundle manifest: {what} w_dim")
        w = _array(r, f"parts/{i}/w.npy", (n, wd), "f") if wd else None
        has_w = _array(r, f"parts/{i}/has_w.npy", (n,), "b") if wd else None
        batches.append((name, prepare_latents(z, c, names, ck, seeds, indices, thumbs, meta, created=times, w=w,
                                              has_w=has_w)))
    directions = []
    for j, d in enumerate(dirs):
        what = f"direction {j}"
        vec = _array(r, f"directions/{j}.npy", (_get(d, "z_dim", int, what),), "f")
        meta = d.get("meta") or {}
        if not isinstance(meta, dict):
            raise StoreError(f"malformed bundle manifest: {what} meta must be an object")
        directions.append(prepare_direction(
            _get(d, "name", str, what), vec, _get(d, "method", str, what), _get(d, "source_collections", list, what),
            _get(d, "checkpoint_id", str, what), d.get("target_attribute"), meta, created=d.get("created"),
            space=d.get("space", "z")))
    checkpoints = [str(c)[:200] for c in manifest.get("checkpoints", []) if isinstance(c, str)][:1000]

    # Write it all in one transaction, clashes as the caller chose.
    return store.import_records(notes, batches, directions, list(settings.items()), overwrite_settings, checkpoints,
                                created=created, on_clash=on_clash, skip_identical=skip_identical)


def _array(r: ZipReader, name: str, shape: tuple[int, ...], kinds: str) -> np.ndarray:
    """Member `name` as an array of the declared shape and dtype kind."""
    a = r.array(name, MAX_UNCOMPRESSED)
    if a.shape != shape or a.dtype.kind not in kinds:
        raise StoreError(f"{name} in the bundle has {a.dtype} {a.shape}, expected shape {shape}")
    return a


def bundle_summary(rep: ImportReport) -> list[str]:
    """Lines telling the user what an import did: the headline first, then renames, skips and replacements."""
    lines = [f"Imported {rep.latents} faces in {len(rep.collections)} collections and {len(rep.directions)} directions."]
    renamed = {k: v for d in (rep.collections, rep.directions) for k, v in d.items() if k != v}
    if renamed:
        lines.append("Kept both, the imported ones renamed: " + ", ".join(f"{k} → {v}" for k, v in renamed.items()))
    if rep.unchanged:
        lines.append("Already here with the same content (left alone): " + ", ".join(rep.unchanged))
    if rep.skipped:
        lines.append("Skipped (the name exists with other content): " + ", ".join(rep.skipped))
    if rep.replaced:
        lines.append("Replaced by the bundle's version: " + ", ".join(rep.replaced))
    if rep.checkpoints:
        lines.append("They need checkpoint(s) " + ", ".join(f"`{c[:12]}`" for c in rep.checkpoints))
    return lines
