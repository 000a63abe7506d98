"""Moving records in and out of the store: a collection as a latents .npz (gan.latents_file's format) both ways, and
the one-transaction merge of a whole workspace's validated records (explorer/bundle.py reads the bundle file)."""
from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Sequence

from explorer.store.errors import StoreError
from explorer.store.records import (MAX_NAME_LEN, LatentSet, PreparedDirection, PreparedLatents, check_name, check_note,
                                    check_time, json_text, prepare_latents)
from explorer.store.rows import collection_id, insert_direction, insert_rows
from gan import latents_file
from gan.latents_file import LatentsFileError
from gan.records import now_iso
from gan.untrusted import UntrustedFileError

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


class StoreExchange:
    """LatentStore's imports and exports (a mixin: it writes through the store's own transactions)."""

    if TYPE_CHECKING:  # provided by LatentStore
        def _write(self, fn: Callable[[sqlite3.Connection], Any]) -> Any: ...
        def get_latents(self, collection: str | int, checkpoint_id: str | None = None) -> LatentSet: ...

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
        return self._write(lambda conn: insert_rows(conn, collection_id(conn, name, create=True), batch))

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
        setting_rows = [(check_name(k, "setting key"), json_text(v, f"setting {k!r}")) for k, v in settings]
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
                    report.latents += len(insert_rows(conn, cids[name], batch))
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
                insert_direction(conn, PreparedDirection(new, d.vector, d.method, sources, d.checkpoint_id,
                                                         d.target_attribute, d.meta_json, d.created, d.space),
                                 overwrite=False)
            for k, v in setting_rows:
                exists = conn.execute("SELECT 1 FROM settings WHERE key = ?", (k,)).fetchone()
                if overwrite_settings or not exists:
                    conn.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (k, v))
                    report.settings.append(k)
            return report

        return self._write(write)



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


def _row_key(r: tuple) -> tuple:
    """What makes two stored latents the same: z, c, attribute names, checkpoint, seed, index and w (not thumbnails,
    meta or times). r: a PreparedLatents row or a (z, c, names, checkpoint, seed, idx, w) database row."""
    return (bytes(r[0]), bytes(r[1]), r[2], r[3], -1 if r[4] is None else r[4], -1 if r[5] is None else r[5],
            b"" if r[6] is None else bytes(r[6]))
