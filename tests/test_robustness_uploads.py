"""Threat: hostile uploads — photos (gan.data.imagefiles.open_image), latents .npz and workspace bundles.

Every bad upload is refused with a message, before anything is decoded in full or written, and the store keeps
working afterwards. Already proved elsewhere (not repeated here):
  tests/test_store.py::test_bad_npz_refused_nothing_written    object arrays, wrong shapes / dtypes, NaN, missing keys
  tests/test_store.py::test_npz_size_caps, ::test_bad_bundles_refused_store_untouched
  tests/test_project.py::test_bad_photos_get_clear_messages, ::test_page_says_what_is_wrong_with_bad_uploads
  tests/test_browser.py (a broken .npz through the real upload widget in Chromium)
"""
from __future__ import annotations

import io
import os
import resource
import struct
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import gan.latents_file as latents_file_mod
from explorer.bundle import import_bundle
from explorer.store import LatentStore, StoreError
from gan.data.imagefiles import ImageFileError, open_image
from gan.latents_file import load_latents_npz
from test_data_readers import bomb_png

NAMES = ["Smiling", "Male"]


class Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _png(w=40, h=30) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((h, w, 3), 120, np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _jpeg_claiming(width: int, height: int) -> bytes:
    """A real small JPEG whose SOF0 header is rewritten to claim width×height."""
    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    i = data.index(b"\xff\xc0")
    data[i + 5:i + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _apng_bomb() -> bytes:
    """A 1×1 PNG followed by an IDAT that inflates to 100 MB of zeros (compression bomb, not a header bomb)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 100_000_000, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


PHOTOS = {
    "PDF bytes": (b"%PDF-1.4\n1 0 obj\n<< >>\nendobj\n", "not an image"),
    "HTML bytes": (b"<html><script>alert(1)</script></html>", "not an image"),
    "zip bytes": (b"PK\x03\x04" + b"\x00" * 100, "not an image"),
    "empty": (b"", "empty file"),
    "PNG cut after its header": (_png()[:40], "corrupt|truncated|not an image"),
    "20000x20000 PNG bomb": (bomb_png(20000, 20000), "too large"),
    "JPEG claiming 30000x30000": (_jpeg_claiming(30000, 30000), "too large"),
}


@pytest.mark.parametrize("case", list(PHOTOS))
def test_hostile_photo_bytes_are_refused_quickly_and_cheaply(case):
    data, reason = PHOTOS[case]
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.time()
    for src in (data, io.BytesIO(data)):  # raw bytes and a file-like upload
        with pytest.raises(ImageFileError, match=reason):
            open_image(src)
    assert time.time() - t0 < 5
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024 < 200  # MB: nothing decoded in full


def test_compression_bomb_in_a_tiny_image_is_harmless():
    """1 pixel declared, 100 MB of inflated data: PIL reads only what the header allows."""
    img = open_image(_apng_bomb())
    assert img.size == (1, 1)


def test_a_normal_photo_still_opens_after_all_that():
    img = open_image(io.BytesIO(_png()))
    assert img.size == (40, 30) and img.mode == "RGB"


# ----------------------------------------------------------------------------- latents .npz

def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _good(n=3, d=8) -> dict:
    rng = np.random.default_rng(0)
    return dict(z=rng.standard_normal((n, d)).astype(np.float32), c=np.zeros((n, 2), np.float32),
                attribute_names=np.array(NAMES), seeds=np.arange(n), indices=np.arange(n), checkpoint=np.array("ck"))


def _pickled_npz(marker: Path) -> bytes:
    """An .npz whose z member is a pickled object array that would run `touch marker` when unpickled."""
    arr = np.empty(1, dtype=object)
    arr[0] = Evil(marker)
    buf = io.BytesIO()
    np.savez(buf, **{**_good(), "z": arr})
    return buf.getvalue()


def _declared_huge_npz() -> bytes:
    """A member whose .npy header declares 10^12 floats (numpy would try to allocate 4 TB) but holds 16 bytes."""
    header = {"descr": "<f4", "fortran_order": False, "shape": (10 ** 6, 10 ** 6)}
    npy = io.BytesIO()
    np.lib.format.write_array_header_1_0(npy, header)
    npy.write(b"\x00" * 16)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for k, v in _good().items():
            if k != "z":
                b = io.BytesIO()
                np.save(b, v)
                zf.writestr(f"{k}.npy", b.getvalue())
        zf.writestr("z.npy", npy.getvalue())
    return buf.getvalue()


def _zip_bomb_npz() -> bytes:
    """A 300 MB array of zeros that compresses to a few hundred KB."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **{**_good(), "pad": np.zeros(300 * 2 ** 20, np.uint8)})
    return buf.getvalue()


def _extra_member_npz() -> bytes:
    buf = io.BytesIO(_npz(**_good()))
    with zipfile.ZipFile(buf, "a") as zf:
        zf.writestr("../../escape.pkl", b"\x80\x04K\x01.")
    return buf.getvalue()


UPLOADS = {
    "pickled object that would run code": (_pickled_npz, "Python objects|pickle"),
    "header declares 4 TB": (lambda m: _declared_huge_npz(), "holds less data"),
    "zip bomb (300 MB of zeros)": (lambda m: _zip_bomb_npz(), "unpacks to more than"),
    "non-array member with ../ name": (lambda m: _extra_member_npz(), "something other than arrays"),
    "z is text": (lambda m: _npz(**{**_good(), "z": np.array(["a", "b", "c"])}), "2-D float"),
    "z is 3-D": (lambda m: _npz(**{**_good(), "z": np.zeros((3, 2, 4), np.float32)}), "2-D float"),
    "c has a row too many": (lambda m: _npz(**{**_good(), "c": np.zeros((4, 2), np.float32)}), "'c' must be"),
    "attribute names are numbers": (lambda m: _npz(**{**_good(), "attribute_names": np.array([1, 2])}), "attribute_names"),
    "NaN in z": (lambda m: _npz(**{**_good(), "z": np.full((3, 8), np.nan, np.float32)}), "NaN"),
    "inf in c": (lambda m: _npz(**{**_good(), "c": np.full((3, 2), np.inf, np.float32)}), "NaN or infinite"),
    "a PNG renamed .npz": (lambda m: _png(), "not a valid .npz"),
}


@pytest.mark.parametrize("case", list(UPLOADS))
def test_hostile_npz_upload_is_refused_and_the_store_keeps_working(tmp_path, case):
    make, match = UPLOADS[case]
    marker = tmp_path / "pwned"
    store = LatentStore(tmp_path / "s.sqlite")
    store.add_latents("kept", _good()["z"], _good()["c"], NAMES, "ck")
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(StoreError, match=match):
        store.import_collection_npz(make(marker), "imported")
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024 < 400  # MB
    assert not marker.exists()
    assert [c.name for c in store.list_collections()] == ["kept"]  # nothing written, nothing lost
    assert len(store.import_collection_npz(_npz(**_good()), "imported")) == 3  # and the store still works


def test_npz_over_the_byte_cap_is_refused_before_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / "big.npz"
    path.write_bytes(_npz(**_good()))
    monkeypatch.setattr(latents_file_mod, "MAX_NPZ_BYTES", 100)
    reads = []
    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: reads.append(self) or real(self))
    with pytest.raises(StoreError, match="larger than"):
        LatentStore(tmp_path / "s.sqlite").import_collection_npz(path, "x")
    assert path not in reads
    # A file-like upload is read at most cap + 1 bytes.
    stream = io.BytesIO(b"\x00" * 10_000)
    with pytest.raises(StoreError, match="larger than"):
        LatentStore(tmp_path / "s.sqlite").import_collection_npz(stream, "x")
    assert stream.tell() == 101


def test_cli_latents_reader_refuses_pickles_without_running_them(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "latents.npz"
    path.write_bytes(_pickled_npz(marker))
    with pytest.raises(ValueError, match="not a readable latents"):
        load_latents_npz(path)
    assert not marker.exists()


def test_bundle_members_never_become_files(tmp_path):
    """A bundle whose zip holds ../ and absolute member names (zip-slip): import reads members by the names this
    code chose, so nothing is extracted anywhere; the malformed bundle is refused and the store is untouched."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("manifest.json", '{"format": "gan-explorer-bundle", "format_version": 1, "collections": '
                                     '[{"name": "x"}], "parts": [], "directions": []}')
        zf.writestr("../../../zipslip.txt", "escaped")
        zf.writestr("/tmp/zipslip-abs.txt", "escaped")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    os.chdir(cwd)
    try:
        store = LatentStore(tmp_path / "s.sqlite")
        report = import_bundle(store, buf.getvalue())  # a valid (empty) collection: imported, extras ignored
        assert report.collections == {"x": "x"}
    finally:
        os.chdir(Path(__file__).resolve().parent.parent)
    assert not list(tmp_path.rglob("zipslip*")) and not Path("/tmp/zipslip-abs.txt").exists()
