"""Latent store and workspace bundles: exact round trips, hostile input, concurrent writers."""
from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from explorer.bundle import export_bundle, import_bundle
from explorer.store import MAX_NAME_LEN, LatentStore, StoreError

NAMES = ["Smiling", "Male", "Eyeglasses"]
REPO = Path(__file__).resolve().parent.parent
def _tiny_png() -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (9, 9, 9)).save(buf, "PNG")
    return buf.getvalue()


PNG = _tiny_png()


def _batch(n=6, d=16, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, d)).astype(np.float32)
    c = (rng.random((n, len(NAMES))) < 0.5).astype(np.float32)
    return z, c


def _tables_intact(store: LatentStore) -> None:
    """Every table still answers (no injected DROP took effect)."""
    store.list_collections()
    store.list_directions()
    store.get_setting("x")


def test_round_trip_survives_restart(tmp_path):
    path = tmp_path / "s.sqlite"
    store = LatentStore(path)
    z, c = _batch()
    store.create_collection("smiling", note="picked by hand")
    ids = store.add_latents("smiling", z, c, NAMES, "abc123", seeds=np.arange(6) + 100, indices=np.arange(6),
                            thumbnails=[PNG] + [None] * 5)
    store.save_direction("smile", np.arange(16, dtype=np.float32), "svm", ["smiling"], "abc123", target_attribute="Smiling")
    store.set_setting("truncation", 0.7)
    del store

    store = LatentStore(path)  # a restart: fresh object, same file
    s = store.get_latents("smiling")
    assert s.z.dtype == np.float32 and s.z.tobytes() == z.tobytes() and s.c.tobytes() == c.tobytes()
    assert list(s.ids) == ids and list(s.seeds) == list(range(100, 106)) and list(s.indices) == list(range(6))
    assert s.attribute_names == tuple(NAMES) and s.checkpoint_ids == ["abc123"] * 6
    assert s.thumbnails[0] == PNG and s.thumbnails[1] is None and store.get_thumbnails("smiling", limit=3) == [PNG]
    [info] = store.list_collections()
    assert (info.name, info.note, info.count, info.checkpoint_ids) == ("smiling", "picked by hand", 6, ("abc123",))
    dr = store.get_direction("smile")
    assert dr.vector.tobytes() == np.arange(16, dtype=np.float32).tobytes() and dr.target_attribute == "Smiling"
    assert store.get_setting("truncation") == 0.7 and store.get_setting("missing", 1) == 1
    assert store.delete_latents(ids[:2]) == 2 and len(store.get_latents("smiling")) == 4
    store.rename_collection("smiling", "happy")
    assert store.delete_collection("happy") == 4 and store.list_collections() == []


def test_default_path_from_gan_paths(tmp_path):
    store = LatentStore()  # conftest points GAN_STORE into tmp_path
    assert store.path == tmp_path / "workspace" / "latents.sqlite" and store.path.exists()


@pytest.mark.parametrize("name", ["../x", "../../etc/passwd", "it's \"quoted\"", "'; DROP TABLE collections; --",
                                  "Robert'); DROP TABLE latents;--", "😀 smiles 👓", "%_*?", "x" * MAX_NAME_LEN])
def test_hostile_names_stored_verbatim(tmp_path, name):
    store = LatentStore(tmp_path / "s.sqlite")
    z, c = _batch(2)
    store.add_latents(name, z, c, NAMES, "ck")
    store.save_direction(name, z[0], "mean", [name], "ck")
    store.set_setting(name, {"v": name})
    assert [i.name for i in store.list_collections()] == [name]
    assert store.get_latents(name).z.tobytes() == z.tobytes()
    assert store.get_direction(name).source_collections == [name]
    assert store.get_setting(name) == {"v": name}
    assert not (tmp_path / "x").exists()  # names are never paths
    _tables_intact(store)


@pytest.mark.parametrize("name", ["x" * 10_000, "", "   ", "a\nb", "nul\x00", "\ud800", None, 5.0])
def test_bad_names_refused(tmp_path, name):
    store = LatentStore(tmp_path / "s.sqlite")
    z, c = _batch(1)
    with pytest.raises(StoreError):
        store.create_collection(name)
    with pytest.raises(StoreError):
        store.save_direction(name, z[0], "mean", [], "ck")
    assert store.list_collections() == [] and store.list_directions() == []
    _tables_intact(store)


def test_duplicates_and_missing(tmp_path):
    store = LatentStore(tmp_path / "s.sqlite")
    store.create_collection("a")
    with pytest.raises(StoreError, match="already exists"):
        store.create_collection("a")
    assert store.get_or_create_collection("a") == store.get_or_create_collection("a")
    with pytest.raises(StoreError):
        store.get_latents("nope")
    with pytest.raises(StoreError):
        store.get_direction("nope")
    store.save_direction("d", np.ones(4), "pca", [], "ck")
    with pytest.raises(StoreError, match="already exists"):
        store.save_direction("d", np.ones(4), "pca", [], "ck")
    store.save_direction("d", np.zeros(4) + 2, "pca", [], "ck", overwrite=True)
    assert store.get_direction("d").vector[0] == 2
    assert [d.name for d in store.list_directions("ck")] == ["d"] and store.list_directions("other") == []


@pytest.mark.parametrize("bad", ["nan_z", "inf_c", "shape_c", "names", "string_z", "thumb", "seeds"])
def test_invalid_latents_refused_nothing_written(tmp_path, bad):
    store = LatentStore(tmp_path / "s.sqlite")
    z, c = _batch(3)
    kw = dict(attribute_names=NAMES, checkpoint_id="ck")
    if bad == "nan_z":
        z[1, 2] = np.nan
    elif bad == "inf_c":
        c[0, 0] = np.inf
    elif bad == "shape_c":
        c = c[:2]
    elif bad == "names":
        kw["attribute_names"] = NAMES[:2]
    elif bad == "string_z":
        z = np.array([["a"] * 16] * 3)
    elif bad == "thumb":
        kw["thumbnails"] = [b"GIF89a", None, None]
    elif bad == "seeds":
        kw["seeds"] = [1, 2]
    with pytest.raises(StoreError):
        store.add_latents("col", z, c, **kw)
    assert store.list_collections() == []


def test_npz_round_trip_exact(tmp_path):
    store = LatentStore(tmp_path / "s.sqlite")
    z, c = _batch(5)
    store.add_latents("a", z, c, NAMES, "ck1", seeds=[5, 6, 7, 8, 9], indices=[0, 1, 2, 3, 4])
    path = tmp_path / "a.npz"
    assert store.export_collection_npz("a", path) == 5
    with np.load(path, allow_pickle=False) as f:  # the ARCHITECTURE.md shape
        assert f["z"].dtype == np.float32 and f["attribute_names"].dtype.kind == "U" and str(f["checkpoint"]) == "ck1"
    store.import_collection_npz(path, "b")
    b = store.get_latents("b")
    assert b.z.tobytes() == z.tobytes() and b.c.tobytes() == c.tobytes() and list(b.seeds) == [5, 6, 7, 8, 9]
    assert b.checkpoint_ids == ["ck1"] * 5
    buf = io.BytesIO()
    store.export_collection_npz("a", buf)
    store.import_collection_npz(io.BytesIO(buf.getvalue()), "c", checkpoint_id="other")
    assert store.get_latents("c").checkpoint_ids == ["other"] * 5


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _good(n=4, **override):
    z, c = _batch(n)
    a = dict(z=z, c=c, attribute_names=np.array(NAMES), seeds=np.arange(n), indices=np.arange(n),
             checkpoint=np.array("ck"))
    a.update(override)
    return {k: v for k, v in a.items() if v is not None}


@pytest.mark.parametrize("case", ["object", "z_3d", "c_rows", "names_len", "missing_z", "nan", "int_z", "seeds_shape",
                                  "not_zip", "bomb", "lying_header"])
def test_bad_npz_refused_nothing_written(tmp_path, monkeypatch, case):
    store = LatentStore(tmp_path / "s.sqlite")
    z, c = _batch(4)
    if case == "object":
        data = _npz(**_good(z=np.array([object(), 1], dtype=object)))
    elif case == "z_3d":
        data = _npz(**_good(z=z[None]))
    elif case == "c_rows":
        data = _npz(**_good(c=c[:3]))
    elif case == "names_len":
        data = _npz(**_good(attribute_names=np.array(NAMES[:1])))
    elif case == "missing_z":
        data = _npz(**_good(z=None))
    elif case == "nan":
        z[0, 0] = np.nan
        data = _npz(**_good(z=z))
    elif case == "int_z":
        data = _npz(**_good(z=np.ones((4, 16), np.int64)))
    elif case == "seeds_shape":
        data = _npz(**_good(seeds=np.arange(3)))
    elif case == "not_zip":
        data = b"PK\x03\x04 this is not really a zip"
    elif case == "bomb":  # 40 MB of zeros compresses to ~40 kB; the cap is lowered to 32 MB to keep this quick
        monkeypatch.setattr("gan.latents_file.MAX_NPZ_UNCOMPRESSED", 32 * 2**20)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            with zf.open("z.npy", "w", force_zip64=True) as f:
                for _ in range(40):
                    f.write(bytes(2**20))
        data = buf.getvalue()
    else:  # header declares a huge array the member does not hold
        hdr = io.BytesIO()
        np.lib.format.write_array_header_1_0(hdr, {"descr": "<f4", "fortran_order": False, "shape": (10**12, 16)})
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("z.npy", hdr.getvalue() + b"\0" * 64)
        data = buf.getvalue()
    with pytest.raises(StoreError):
        store.import_collection_npz(data, "imported")
    assert store.list_collections() == []


def test_npz_size_caps(tmp_path, monkeypatch):
    from gan import latents_file
    from gan.untrusted import UntrustedFileError, read_npz_arrays

    store = LatentStore(tmp_path / "s.sqlite")
    data = _npz(**_good())
    with pytest.raises(UntrustedFileError, match="larger"):
        read_npz_arrays(io.BytesIO(data), max_bytes=len(data) - 1, max_uncompressed=2**30)
    monkeypatch.setattr(latents_file, "MAX_ROWS", 3)
    with pytest.raises(StoreError, match="limit"):
        store.import_collection_npz(data, "too many")
    assert store.list_collections() == []


_WRITER = """
import sys, time, numpy as np
from explorer.store import LatentStore
store, rng, n, end = LatentStore(sys.argv[1]), np.random.default_rng(int(sys.argv[2])), 0, time.time() + float(sys.argv[3])
while time.time() < end:
    store.add_latents("shared", rng.standard_normal((1, 8)).astype("f4"), np.zeros((1, 2), "f4"), ["a", "b"], "ck",
                      seeds=[int(sys.argv[2])])
    n += 1
print(n)
"""


def test_two_processes_write_concurrently(tmp_path):
    path = tmp_path / "s.sqlite"
    LatentStore(path)
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(seed), "3"], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
    acked = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        acked.append(int(out.strip()))
    s = LatentStore(path).get_latents("shared")
    assert all(a > 0 for a in acked)
    assert len(s) == sum(acked)  # every acknowledged write is there, and nothing else
    assert [int((s.seeds == seed).sum()) for seed in (1, 2)] == acked


def test_threads_share_one_store_object(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    store = LatentStore(tmp_path / "s.sqlite")
    z, c = _batch(1)
    with ThreadPoolExecutor(4) as ex:
        list(ex.map(lambda i: store.add_latents("t", z, c, NAMES, "ck", seeds=[i]), range(40)))
    assert sorted(store.get_latents("t").seeds) == list(range(40))


# ----------------------------------------------------------------------------- bundles

def _filled_store(path) -> LatentStore:
    store = LatentStore(path)
    z, c = _batch(5, seed=1)
    store.create_collection("empty one", note="nothing yet")
    store.add_latents("smiling 😀", z, c, NAMES, "ckA", seeds=np.arange(5), thumbnails=[PNG, None, PNG, None, None],
                      meta=[{"label": 1}] * 5)
    z2, c2 = _batch(3, d=8, seed=2)
    store.add_latents("smiling 😀", z2, c2, NAMES, "ckB")  # same collection, another checkpoint
    store.save_direction("smile", z[0], "svm", ["smiling 😀"], "ckA", target_attribute="Smiling", meta={"acc": 0.9})
    store.set_setting("truncation", 0.8)
    return store


def test_bundle_round_trip_into_fresh_store(tmp_path):
    src = _filled_store(tmp_path / "a.sqlite")
    manifest = export_bundle(src, tmp_path / "w.zip")
    assert manifest["checkpoints"] == ["ckA", "ckB"]
    with pytest.raises(StoreError, match="checkpoint_id="):  # mixed sizes: the caller must pick one
        src.get_latents("smiling 😀")
    dst = LatentStore(tmp_path / "b.sqlite")
    report = import_bundle(dst, tmp_path / "w.zip")
    assert report.latents == 8 and report.collections == {"empty one": "empty one", "smiling 😀": "smiling 😀"}
    for ck in ("ckA", "ckB"):
        a, b = src.get_latents("smiling 😀", ck), dst.get_latents("smiling 😀", ck)
        assert a.z.tobytes() == b.z.tobytes() and a.c.tobytes() == b.c.tobytes()
        assert list(a.seeds) == list(b.seeds) and a.thumbnails == b.thumbnails and a.meta == b.meta
    da, db = src.get_direction("smile"), dst.get_direction("smile")
    assert da.vector.tobytes() == db.vector.tobytes() and db.meta == {"acc": 0.9} and db.target_attribute == "Smiling"
    assert dst.get_setting("truncation") == 0.8
    assert {i.name: i.note for i in dst.list_collections()}["empty one"] == "nothing yet"


def test_bundle_merge_renames_clashes(tmp_path):
    src = _filled_store(tmp_path / "a.sqlite")
    buf = io.BytesIO()
    export_bundle(src, buf)
    src.set_setting("truncation", 0.5)
    same = import_bundle(src, buf.getvalue())  # into the same store: identical content is left alone
    assert same.collections == {} and same.directions == {} and same.latents == 0
    assert sorted(same.unchanged) == ["empty one", "smile", "smiling 😀"]
    report = import_bundle(src, buf.getvalue(), skip_identical=False)  # keep both, even when identical
    assert report.collections["smiling 😀"] == "smiling 😀 (2)" and report.directions["smile"] == "smile (2)"
    assert src.get_direction("smile (2)").source_collections == ["smiling 😀 (2)"]
    assert src.get_setting("truncation") == 0.5 and report.settings == []  # kept, not overwritten
    assert len(src.get_latents("smiling 😀 (2)", "ckA")) == 5
    import_bundle(src, buf.getvalue(), skip_identical=False)
    assert "smiling 😀 (3)" in {i.name for i in src.list_collections()}


def test_bundle_import_skip_replace_keep_both_and_creation_times(tmp_path):
    src = _filled_store(tmp_path / "a.sqlite")
    buf = io.BytesIO()
    export_bundle(src, buf)
    before = {i.name: i.created for i in src.list_collections()}
    created_latents = src.get_latents("smiling 😀", "ckA").created
    src.delete_collection("empty one")
    z, c = _batch(2, seed=9)
    src.add_latents("smiling 😀", z, c, NAMES, "ckA")  # the same name now holds other content
    report = import_bundle(src, buf.getvalue())  # default: keep both for other content
    assert report.collections == {"empty one": "empty one", "smiling 😀": "smiling 😀 (2)"}
    assert "smile" in report.unchanged and "smile (2)" not in {d.name for d in src.list_directions()}
    after = {i.name: i.created for i in src.list_collections()}
    assert after["empty one"] == before["empty one"] and after["smiling 😀 (2)"] == before["smiling 😀"]
    assert src.get_latents("smiling 😀 (2)", "ckA").created == created_latents

    src2 = _filled_store(tmp_path / "b.sqlite")
    src2.add_latents("smiling 😀", z, c, NAMES, "ckA")
    skipped = import_bundle(src2, buf.getvalue(), on_clash="skip")
    assert skipped.skipped == ["smiling 😀"] and len(src2.get_latents("smiling 😀", "ckA")) == 7
    replaced = import_bundle(src2, buf.getvalue(), on_clash="replace")
    assert replaced.replaced == ["smiling 😀"] and len(src2.get_latents("smiling 😀", "ckA")) == 5
    assert {i.name for i in src2.list_collections()} == {"empty one", "smiling 😀"}


def _rezip(data: bytes, edit) -> bytes:
    """Copy a bundle, letting edit(name, bytes) change (return bytes) or drop (return None) members."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            b = edit(info.filename, zin.read(info.filename))
            if b is not None:
                zout.writestr(info.filename, b)
    return out.getvalue()


@pytest.mark.parametrize("case", ["garbage", "no_manifest", "bad_json", "wrong_format", "missing_array", "object_array",
                                  "wrong_shape", "nan", "traversal", "bomb"])
def test_bad_bundles_refused_store_untouched(tmp_path, monkeypatch, case):
    import json

    src = _filled_store(tmp_path / "a.sqlite")
    buf = io.BytesIO()
    export_bundle(src, buf)
    good = buf.getvalue()

    def obj_array(n, b):
        if n == "parts/0/z.npy":
            bb = io.BytesIO()
            np.save(bb, np.array([object()] * 3, dtype=object), allow_pickle=True)
            return bb.getvalue()
        return b

    def nan_array(n, b):
        if n == "parts/0/c.npy":
            a = np.load(io.BytesIO(b))
            a[0, 0] = np.nan
            bb = io.BytesIO()
            np.save(bb, a)
            return bb.getvalue()
        return b

    def traversal(n, b):
        if n == "manifest.json":
            m = json.loads(b)
            m["parts"][0]["collection"] = "../../evil"
            return json.dumps(m).encode()
        return b

    data = {
        "garbage": lambda: b"not a zip",
        "no_manifest": lambda: _rezip(good, lambda n, b: None if n == "manifest.json" else b),
        "bad_json": lambda: _rezip(good, lambda n, b: b"{nope" if n == "manifest.json" else b),
        "wrong_format": lambda: _rezip(good, lambda n, b: b'{"format": "other"}' if n == "manifest.json" else b),
        "missing_array": lambda: _rezip(good, lambda n, b: None if n == "directions/0.npy" else b),
        "object_array": lambda: _rezip(good, obj_array),
        "wrong_shape": lambda: _rezip(good, lambda n, b: (np.save(bb := io.BytesIO(), np.zeros((2, 2), "f4")) or bb.getvalue())
                                      if n == "parts/1/z.npy" else b),
        "nan": lambda: _rezip(good, nan_array),
        "traversal": lambda: _rezip(good, traversal),
        "bomb": None,
    }
    if case == "bomb":
        import explorer.bundle as bundle_mod

        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("manifest.json", b"{}")
            with zf.open("pad", "w", force_zip64=True) as f:
                for _ in range(40):
                    f.write(bytes(2**20))
        monkeypatch.setattr(bundle_mod, "MAX_UNCOMPRESSED", 32 * 2**20)  # 40 MB of zeros vs a 32 MB cap
        dst = LatentStore(tmp_path / "b.sqlite")
        with pytest.raises(StoreError, match="unpacks"):
            import_bundle(dst, out.getvalue())
    else:
        dst = LatentStore(tmp_path / "b.sqlite")
        with pytest.raises(StoreError):
            import_bundle(dst, data[case]())
    assert dst.list_collections() == [] and dst.list_directions() == [] and dst.get_setting("truncation") is None
    assert not (tmp_path.parent / "evil").exists()


# ----------------------------------------------------------------------------- faces that render from a stored w

W_DIM = 12


def _w_store(path) -> tuple[LatentStore, np.ndarray, np.ndarray]:
    """A store holding 'edited': 4 faces, the middle two with a w (the others drawn from z, c)."""
    store = LatentStore(path)
    z, c = _batch(4)
    w = np.random.default_rng(3).standard_normal((4, W_DIM)).astype(np.float32)
    has_w = np.array([False, True, True, False])
    store.add_latents("edited", z, c, NAMES, "ckW", seeds=np.arange(4), indices=np.arange(4), w=w, has_w=has_w)
    return store, w, has_w


def test_w_round_trips_bit_exact_through_store_npz_and_bundle(tmp_path):
    store, w, has_w = _w_store(tmp_path / "s.sqlite")
    s = store.get_latents("edited")
    assert s.has_w.tolist() == has_w.tolist() and s.w.dtype == np.float32
    assert s.w[has_w].tobytes() == w[has_w].tobytes() and not s.w[~has_w].any()
    store.save_direction("smile in W", np.ones(W_DIM, np.float32), "mean", [], "ckW", space="w")
    # .npz: w and has_w travel as optional keys
    buf = io.BytesIO()
    store.export_collection_npz("edited", buf)
    with np.load(io.BytesIO(buf.getvalue()), allow_pickle=False) as f:
        assert f["w"].shape == (4, W_DIM) and f["has_w"].tolist() == has_w.tolist()
    store.import_collection_npz(buf.getvalue(), "edited again")
    again = store.get_latents("edited again")
    assert again.w.tobytes() == s.w.tobytes() and again.has_w.tolist() == has_w.tolist()
    # bundle: w per face, space per direction
    bundle = io.BytesIO()
    export_bundle(store, bundle)
    dst = LatentStore(tmp_path / "d.sqlite")
    import_bundle(dst, bundle.getvalue())
    b = dst.get_latents("edited")
    assert b.w.tobytes() == s.w.tobytes() and b.has_w.tolist() == has_w.tolist() and b.z.tobytes() == s.z.tobytes()
    assert dst.get_direction("smile in W").space == "w" and dst.list_directions(space="z") == []
    # a face that differs only in its w is other content, not "unchanged"
    w2 = s.w.copy()
    w2[1, 0] += 1
    store.delete_collection("edited")
    store.add_latents("edited", s.z, s.c, NAMES, "ckW", seeds=np.arange(4), indices=np.arange(4), w=w2, has_w=has_w)
    rep = import_bundle(store, bundle.getvalue())
    assert rep.collections == {"edited": "edited (2)"}


def test_old_npz_and_old_bundle_without_w_still_load(tmp_path):
    import json

    store = LatentStore(tmp_path / "s.sqlite")
    store.import_collection_npz(_npz(**_good()), "old")  # the keys of a latents .npz before w existed
    old = store.get_latents("old")
    assert old.w is None and old.has_w is None
    # a version-1 bundle: no w_dim, no w members, directions without a space
    z, c = _batch(3)
    manifest = {"format": "gan-explorer-bundle", "format_version": 1, "created": "2024-01-01T00:00:00",
                "checkpoints": ["ck"], "collections": [{"name": "v1", "note": ""}],
                "parts": [{"collection": "v1", "checkpoint_id": "ck", "attribute_names": NAMES, "count": 3, "z_dim": 16,
                           "c_dim": 3, "meta": [{}, {}, {}], "thumbnail_sizes": [0, 0, 0]}],
                "directions": [{"name": "d", "method": "mean", "source_collections": [], "checkpoint_id": "ck",
                                "target_attribute": None, "meta": {}, "z_dim": 16}], "settings": {}}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("manifest.json", json.dumps(manifest))
        for name, a in (("parts/0/z.npy", z), ("parts/0/c.npy", c), ("parts/0/seeds.npy", np.arange(3)),
                        ("parts/0/indices.npy", np.arange(3)), ("parts/0/thumbnails.npy", np.zeros(0, np.uint8)),
                        ("directions/0.npy", np.ones(16, np.float32))):
            zf.writestr(name, (np.save(bb := io.BytesIO(), a) or bb.getvalue()))
    import_bundle(store, out.getvalue())
    v1 = store.get_latents("v1")
    assert v1.z.tobytes() == z.tobytes() and v1.w is None and store.get_direction("d").space == "z"


@pytest.mark.parametrize("case", ["nan", "inf", "3d", "rows", "ints", "has_w_alone", "has_w_shape"])
def test_bad_w_refused_with_one_message_nothing_written(tmp_path, case):
    from gan.latents_file import LatentsFileError, load_latents_npz

    store = LatentStore(tmp_path / "s.sqlite")
    w = np.zeros((4, W_DIM), np.float32)
    bad = {"nan": dict(w=np.where(np.eye(4, W_DIM) > 0, np.nan, w)), "inf": dict(w=w + np.inf),
           "3d": dict(w=w[None]), "rows": dict(w=w[:3]), "ints": dict(w=w.astype(np.int32)),
           "has_w_alone": dict(has_w=np.ones(4, bool)), "has_w_shape": dict(w=w, has_w=np.ones(3, bool))}[case]
    message = {"nan": "'w' contains NaN", "inf": "'w' contains NaN or infinite", "3d": "'w' must be a \\(4, w_dim\\)",
               "rows": "'w' must be a \\(4, w_dim\\)", "ints": "'w' must be a \\(4, w_dim\\) float",
               "has_w_alone": "'has_w' without 'w'", "has_w_shape": "'has_w' must be \\(4,\\) booleans"}[case]
    z, c = _batch(4)
    with pytest.raises(StoreError, match=message):
        store.add_latents("x", z, c, NAMES, "ck", **bad)
    with pytest.raises(LatentsFileError, match=message):
        load_latents_npz(_npz(**_good(), **bad))
    with pytest.raises(StoreError, match=message):
        store.import_collection_npz(_npz(**_good(), **bad), "x")
    assert store.list_collections() == []


# ----------------------------------------------------------------------------- schema versions

_V1_SCHEMA = """
CREATE TABLE collections (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE,
    note TEXT NOT NULL DEFAULT '', created TEXT NOT NULL);
CREATE TABLE latents (id INTEGER PRIMARY KEY AUTOINCREMENT,
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE, z BLOB NOT NULL, c BLOB NOT NULL,
    attribute_names TEXT NOT NULL, checkpoint_id TEXT NOT NULL, seed INTEGER, idx INTEGER, thumbnail BLOB,
    created TEXT NOT NULL, meta TEXT NOT NULL DEFAULT '{}');
CREATE INDEX latents_by_collection ON latents(collection_id, id);
CREATE TABLE directions (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, vector BLOB NOT NULL,
    method TEXT NOT NULL, source_collections TEXT NOT NULL DEFAULT '[]', checkpoint_id TEXT NOT NULL,
    target_attribute TEXT, created TEXT NOT NULL, meta TEXT NOT NULL DEFAULT '{}');
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
PRAGMA user_version = 1;
"""


def _v1_store(path: Path) -> np.ndarray:
    """A store file as the first schema wrote it: one collection of 3 latents, a direction, a setting."""
    import json
    import sqlite3

    z, c = _batch(3)
    with sqlite3.connect(path) as conn:
        conn.executescript(_V1_SCHEMA)
        conn.execute("INSERT INTO collections (name, note, created) VALUES ('old faces', 'from v1', '2024-01-01T00:00:00')")
        for i in range(3):
            conn.execute("INSERT INTO latents (collection_id, z, c, attribute_names, checkpoint_id, seed, idx, created) "
                         "VALUES (1, ?, ?, ?, 'ck', ?, ?, '2024-01-01T00:00:00')",
                         (z[i].tobytes(), c[i].tobytes(), json.dumps(NAMES), i, i))
        conn.execute("INSERT INTO directions (name, vector, method, checkpoint_id, created) VALUES "
                     "('old smile', ?, 'mean', 'ck', '2024-01-01T00:00:00')", (np.ones(16, np.float32).tobytes(),))
        conn.execute("INSERT INTO settings (key, value) VALUES ('truncation', '0.7')")
    conn.close()
    return z


def _columns(path: Path, table: str) -> list[str]:
    import sqlite3

    with sqlite3.connect(path) as conn:
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
    conn.close()
    return cols


def _version(path: Path) -> int:
    import sqlite3

    with sqlite3.connect(path) as conn:
        v = conn.execute("PRAGMA user_version").fetchone()[0]
    conn.close()
    return v


def test_old_version_store_is_migrated_in_place(tmp_path):
    from explorer.store import SCHEMA_VERSION

    path = tmp_path / "old.sqlite"
    z = _v1_store(path)
    store = LatentStore(path)
    assert _version(path) == SCHEMA_VERSION == 2
    assert "w" in _columns(path, "latents") and "space" in _columns(path, "directions")
    old = store.get_latents("old faces")
    assert old.z.tobytes() == z.tobytes() and old.w is None and list(old.seeds) == [0, 1, 2]
    assert store.get_direction("old smile").space == "z" and store.get_setting("truncation") == 0.7
    assert [d.name for d in store.list_directions(space="z")] == ["old smile"] and store.list_directions(space="w") == []
    assert store.list_collections()[0].note == "from v1"
    # the migrated store takes faces with a w, and opening it again migrates nothing twice
    store.add_latents("old faces", z[:1], _batch(1)[1], NAMES, "ck", w=np.ones((1, W_DIM), np.float32))
    again = LatentStore(path).get_latents("old faces")
    assert again.has_w.tolist() == [False, False, False, True] and _version(path) == 2


def test_a_failed_migration_leaves_the_old_store_as_it_was(tmp_path, monkeypatch):
    import explorer.store as store_mod

    path = tmp_path / "old.sqlite"
    _v1_store(path)
    monkeypatch.setitem(store_mod.MIGRATIONS, 1, store_mod.MIGRATIONS[1] + ("ALTER TABLE nowhere ADD COLUMN x",))
    with pytest.raises(StoreError, match="nowhere"):
        LatentStore(path)
    assert _version(path) == 1 and "w" not in _columns(path, "latents") and "space" not in _columns(path, "directions")
    monkeypatch.undo()
    assert len(LatentStore(path).get_latents("old faces")) == 3 and _version(path) == 2  # the real one runs afterwards


def test_a_store_from_a_newer_app_is_refused_untouched(tmp_path):
    import hashlib
    import sqlite3

    path = tmp_path / "new.sqlite"
    LatentStore(path).create_collection("a")
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    conn.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(StoreError, match="newer version of this app.*schema version 99.*nothing was changed"):
        LatentStore(path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
