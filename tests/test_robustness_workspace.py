"""Threat: hostile workspace files (issue 13, class 1 and the store parts of class 6).

A bundle or latents .npz that would break the Workspace page, escape the readers with a foreign exception, or
blow up the store is refused with one StoreError and nothing written; a bad item already in a store never stops
the page drawing the other items and their Delete buttons; a store file that is not ours is refused untouched,
and an unwritable workspace names the path and the reason.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from explorer.bundle import export_bundle, import_bundle
from explorer.store import MAX_NOTE_LEN, LatentStore, StoreError
from gan import paths

ROOT = Path(__file__).resolve().parent.parent
NAMES = ["Smiling", "Male"]


def _png(w=8, h=8) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (120, 30, 30)).save(buf, "PNG")
    return buf.getvalue()


def _png_claiming(w: int, h: int) -> bytes:
    """A few hundred bytes of valid PNG chunks whose IHDR declares w×h pixels (a decompression bomb to PIL)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _latents(n=3, d=8):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, d)).astype(np.float32), np.zeros((n, 2), np.float32)


def _good_bundle(tmp_path: Path, thumbnails=None, note: str = "") -> bytes:
    src = LatentStore(tmp_path / "src.sqlite")
    z, c = _latents()
    src.create_collection("faces", note=note) if note else None
    src.add_latents("faces", z, c, NAMES, "ck", thumbnails=thumbnails)
    buf = io.BytesIO()
    export_bundle(src, buf)
    return buf.getvalue()


def _rezip(data: bytes, edit) -> bytes:
    """The same zip with every member passed through edit(name, bytes) -> bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, edit(info.filename, zin.read(info.filename)))
    return out.getvalue()


def _edit_manifest(data: bytes, fn) -> bytes:
    def edit(name, b):
        if name != "manifest.json":
            return b
        m = json.loads(b)
        fn(m)
        return json.dumps(m).encode()
    return _rezip(data, edit)


def _patch_member_headers(data: bytes, *, method: int | None = None, flags: int | None = None) -> bytes:
    """Rewrite the compression method / flag bits of every member in both the local and central headers."""
    b = bytearray(data)
    for sig, flag_off, method_off in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        i = b.find(sig)
        while i >= 0:
            if method is not None:
                b[i + method_off:i + method_off + 2] = struct.pack("<H", method)
            if flags is not None:
                b[i + flag_off:i + flag_off + 2] = struct.pack("<H", flags)
            i = b.find(sig, i + 4)
    return bytes(b)


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _good_npz(**override) -> dict:
    z, c = _latents()
    a = dict(z=z, c=c, attribute_names=np.array(NAMES), seeds=np.arange(3), indices=np.arange(3), checkpoint=np.array("ck"))
    a.update(override)
    return a


# ----------------------------------------------------------------------------- bundles and .npz: refused, nothing written

def _bundle_with_thumbnail(tmp_path: Path, png: bytes) -> bytes:
    """A bundle whose first latent's thumbnail is `png` (written past the store's own checks)."""
    def edit(name, b):
        if name == "parts/0/thumbnails.npy":
            buf = io.BytesIO()
            np.save(buf, np.frombuffer(png, np.uint8))
            return buf.getvalue()
        if name == "manifest.json":
            m = json.loads(b)
            m["parts"][0]["thumbnail_sizes"] = [len(png), 0, 0]
            return json.dumps(m).encode()
        return b
    return _rezip(_good_bundle(tmp_path), edit)


def _bundle_cases(tmp_path: Path) -> dict:
    good = _good_bundle(tmp_path)
    deep = b'{"format": "gan-explorer-bundle", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    return {
        "thumbnail declaring 15000x15000 pixels": (_bundle_with_thumbnail(tmp_path / "a", _png_claiming(15000, 15000)), "pixels"),
        "unsupported compression method": (_patch_member_headers(good, method=1), "cannot be read|not a valid"),
        "encrypted members": (_patch_member_headers(good, flags=1), "cannot be read|encrypted"),
        "100,000-deep nested JSON manifest": (_rezip(good, lambda n, b: deep if n == "manifest.json" else b), "nested"),
        "note over the limit": (_edit_manifest(good, lambda m: m["collections"][0].update(note="x" * (MAX_NOTE_LEN + 1))), "note"),
        "1M-character attribute name": (_edit_manifest(good, lambda m: m["parts"][0].update(attribute_names=["a" * 10**6, "b"])), "attribute name"),
        "huge per-latent meta": (_edit_manifest(good, lambda m: m["parts"][0].update(meta=[{"k": "v" * 10**6}] * 3)), "meta"),
        "meta that is not an object": (_edit_manifest(good, lambda m: m["parts"][0].update(meta=[1, 2, 3])), "meta"),
    }


@pytest.mark.parametrize("case", ["thumbnail declaring 15000x15000 pixels", "unsupported compression method",
                                  "encrypted members", "100,000-deep nested JSON manifest", "note over the limit",
                                  "1M-character attribute name", "huge per-latent meta", "meta that is not an object"])
def test_hostile_bundle_is_refused_with_one_message(tmp_path, case):
    data, match = _bundle_cases(tmp_path)[case]
    store = LatentStore(tmp_path / "s.sqlite")
    with pytest.raises(StoreError, match=match):
        import_bundle(store, data)
    assert store.list_collections() == []


NPZ_CASES = {
    "unsupported compression method": (lambda: _patch_member_headers(_npz(**_good_npz()), method=1), "cannot be read|not a"),
    "encrypted members": (lambda: _patch_member_headers(_npz(**_good_npz()), flags=1), "cannot be read|encrypted"),
    "1M-character attribute name": (lambda: _npz(**_good_npz(attribute_names=np.array(["a" * 10**6, "b"]))), "attribute name"),
    "empty attribute name": (lambda: _npz(**_good_npz(attribute_names=np.array(["", "b"]))), "attribute name"),
}


@pytest.mark.parametrize("case", list(NPZ_CASES))
def test_hostile_npz_is_refused_with_one_message(tmp_path, case):
    make, match = NPZ_CASES[case]
    store = LatentStore(tmp_path / "s.sqlite")
    with pytest.raises(StoreError, match=match):
        store.import_collection_npz(make(), "x")
    assert store.list_collections() == []


def test_store_refuses_bomb_thumbnails_and_oversized_names_from_code(tmp_path):
    store = LatentStore(tmp_path / "s.sqlite")
    z, c = _latents()
    with pytest.raises(StoreError, match="pixels"):
        store.add_latents("x", z, c, NAMES, "ck", thumbnails=[_png_claiming(15000, 15000), None, None])
    with pytest.raises(StoreError, match="attribute name"):
        store.add_latents("x", z, c, ["a" * 10**6, "b"], "ck")
    with pytest.raises(StoreError, match="note"):
        store.create_collection("y", note="x" * (MAX_NOTE_LEN + 1))
    assert store.list_collections() == []


# ----------------------------------------------------------------------------- the Workspace page survives bad items

def test_workspace_page_draws_every_item_and_delete_button_despite_a_bomb_thumbnail(tmp_path):
    """A store written by older code may already hold a bomb thumbnail: the page shows the others, says what was
    skipped, and still draws every Delete button (which works)."""
    from streamlit.testing.v1 import AppTest

    store = LatentStore(paths.store_path())
    z, c = _latents()
    store.add_latents("good", z, c, NAMES, "ck", thumbnails=[_png()] * 3)
    store.add_latents("bombed", z, c, NAMES, "ck")
    store.add_latents("corrupt", z, c, NAMES, "ck")
    with sqlite3.connect(paths.store_path()) as conn:  # as an older import would have left them
        conn.execute("UPDATE latents SET thumbnail = ? WHERE collection_id = (SELECT id FROM collections WHERE name = 'bombed')",
                     (_png_claiming(15000, 15000),))
        conn.execute("UPDATE latents SET thumbnail = ? WHERE collection_id = (SELECT id FROM collections WHERE name = 'corrupt')",
                     (_png()[:40] + b"garbage" * 10,))
    at = AppTest.from_file(str(ROOT / "explorer" / "app.py"), default_timeout=60)
    at.switch_page("../pages/workspace.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    deletes = [b for b in at.button if b.label == "Delete"]
    assert len(deletes) == 3
    assert len(at.get("imgs")) >= 1 or len(list(at.get("image"))) >= 1  # the good collection's thumbnails
    assert any("not shown" in cap.value for cap in at.caption)
    bombed_id = next(i.id for i in store.list_collections() if i.name == "bombed")
    at.button(key=f"ws_del_{bombed_id}").click().run()
    at.button(key=f"ws_del_yes_{bombed_id}").click().run()
    assert not at.exception
    assert sorted(i.name for i in store.list_collections()) == ["corrupt", "good"]


# ----------------------------------------------------------------------------- store files that are not ours

def test_foreign_sqlite_file_is_refused_untouched(tmp_path):
    path = tmp_path / "someone_elses.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO customers (name) VALUES ('ada')")
    conn.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(StoreError, match="not a latent store.*customers.*nothing was changed"):
        LatentStore(path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["someone_elses.sqlite"]  # no -wal / -shm / -journal
    with sqlite3.connect(path) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["customers"]


def test_non_sqlite_file_is_refused_untouched(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"just some text, not a database\n" * 100)
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not a latent store|not a database"):
        LatentStore(path)
    assert path.read_bytes() == before


def test_an_empty_file_and_our_own_store_still_open(tmp_path):
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    LatentStore(empty).create_collection("a")
    assert [c.name for c in LatentStore(empty).list_collections()] == ["a"]  # reopening our own store is fine


@pytest.mark.parametrize("exists", [False, True])
def test_read_only_workspace_names_the_path_and_the_reason(tmp_path, monkeypatch, exists):
    ws = tmp_path / "ws"
    ws.mkdir()
    path = ws / "latents.sqlite"
    if exists:
        LatentStore(path).create_collection("a")
        path.chmod(0o444)
    ws.chmod(0o555)
    if os.geteuid() == 0:  # root ignores permission bits: answer os.access as an ordinary user would
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if (mode & os.W_OK and Path(p) in (ws, path))
                            else real(p, mode, **kw))
    try:
        with pytest.raises(StoreError) as e:
            LatentStore(path)
    finally:
        ws.chmod(0o755)
    msg = str(e.value)
    assert str(path) in msg and ("not writable" in msg or "read-only" in msg), msg
