"""Threat: bad training data — corrupt / truncated / fake / bomb images, broken attribute files, duplicates, empty folders.

Each case ends in a clear message or a counted skip, never a crash, and the good part of the data still prepares.
Already proved elsewhere (not repeated here):
  tests/test_data_readers.py::test_open_image_refuses_bad_files_with_a_reason     truncated, text-as-.jpg, empty …
  tests/test_data_readers.py::test_open_image_refuses_decompression_bombs_before_decoding
  tests/test_data_readers.py::test_celeba_layouts_read_labels_splits_and_report_bad_rows  value 2, too few values,
      duplicate ids, missing files (both CelebA layouts)
  tests/test_prepare.py::test_prepare_celeba_end_to_end_counts_every_skip, ::test_all_images_unusable_is_an_error,
      ::test_interrupted_prepare_resumes_from_finished_chunks
"""
from __future__ import annotations

import resource
import time
from pathlib import Path

import numpy as np
import pytest

from gan.__main__ import main
from gan.attributes import CELEBA_ATTRIBUTES, UnknownAttributeError
from gan.data.cache import FaceCache
from gan.data.celeba import CelebAError, read_celeba
from gan.data.folder import FolderError, read_folder
from gan.data.imagefiles import DatasetError
from gan.data.prepare import prepare
from test_data_readers import attr_row, bomb_png, write_jpeg, write_truncated_jpeg


def _hostile_folder(root: Path) -> Path:
    """Four good photos and one of every kind of bad file / row, labelled in attributes.csv."""
    img = root / "img"
    for k in range(4):
        write_jpeg(img / f"good{k}.jpg", k)
    write_truncated_jpeg(img / "truncated.jpg")
    (img / "text.jpg").write_text("this is a text file renamed .jpg\n")
    (img / "bomb.png").write_bytes(bomb_png(20000, 20000))            # 400 M pixels declared, a few hundred bytes
    (img / "garbage.jpg").write_bytes(bytes(range(256)) * 40)          # random bytes with a .jpg name
    (img / "empty.jpg").write_bytes(b"")
    write_jpeg(img / "unlisted.jpg", 9)                                 # on disk, no row: simply not used
    (root.parent / "outside.jpg").parent.mkdir(parents=True, exist_ok=True)
    write_jpeg(root.parent / "outside.jpg", 8)                          # a row must not reach it via ../
    rows = ["file,Smiling,Male,split"]
    rows += [f"img/good{k}.jpg,{k % 2},{(k // 2) % 2},train" for k in range(4)]
    rows += [f"img/{n},1,0,train" for n in ("truncated.jpg", "text.jpg", "bomb.png", "garbage.jpg", "empty.jpg")]
    rows += ["img/good0.jpg,1,1,train",            # duplicate id
             "img/good1.jpg,1,0,train,EXTRA,COLS",  # extra columns
             "img/good2.jpg,1",                     # missing columns
             "img/good3.jpg,7,0,train",             # value out of range
             "img/good3.jpg,0.5,0,train",           # value out of range
             "img/good2.jpg,1,0,sometimes",         # bad split
             "img/missing.jpg,1,0,train",           # no such file
             "../outside.jpg,1,0,train",            # path escape
             "/etc/passwd,1,0,train"]               # absolute path
    (root / "attributes.csv").write_text("\n".join(rows) + "\n")
    return root


def test_folder_with_every_kind_of_bad_file_prepares_the_good_ones(tmp_path):
    root = _hostile_folder(tmp_path / "data")
    t0 = time.time()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cache = prepare(f"folder:{root}", size=32, out=tmp_path / "cache", progress=False)
    grew_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    assert time.time() - t0 < 60
    assert grew_mb < 300, f"prepare grew the process by {grew_mb:.0f} MB (the bomb was decoded?)"
    assert len(cache) == 4 and sorted(cache.ids) == [f"img/good{k}.jpg" for k in range(4)]
    assert cache.images.dtype == np.uint8 and cache.images.shape == (4, 32, 32, 3)
    skipped = cache.manifest["skipped"]
    for reason in ("duplicate id", "wrong number of values", "value other than 0/1 or ±1", "bad split value",
                   "missing image file", "path outside folder", "truncated", "not an image", "empty file"):
        assert skipped.get(reason), f"{reason!r} not counted: {skipped}"
    assert any(r.startswith("too large") for r in skipped), skipped
    assert sum(skipped.values()) == 14
    # The examples say where each problem is (file:line or id), for the Trainer page / CLI summary.
    assert any("attributes.csv:" in e for e in cache.manifest["skipped_examples"])
    assert any("bomb.png" in e and "too large" in e for e in cache.manifest["skipped_examples"])
    assert FaceCache.open(tmp_path / "cache").fingerprint == cache.fingerprint  # usable afterwards


def test_cli_prepare_reports_skips_and_refuses_an_empty_folder(tmp_path, capsys):
    root = _hostile_folder(tmp_path / "data")
    assert main(["prepare", "--data", f"folder:{root}", "--size", "32", "--out", str(tmp_path / "c"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "4 faces" in out and "skipped:" in out and "duplicate id" in out
    (tmp_path / "empty").mkdir()
    assert main(["prepare", "--data", f"folder:{tmp_path / 'empty'}", "--out", str(tmp_path / "c2"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: No images found") and "Traceback" not in err
    assert not (tmp_path / "c2").exists()


@pytest.mark.parametrize("content", [
    b"",                                               # empty file
    b"\xff\xfe\x00\x00garbage\x00\x01\x02" * 50,         # binary junk, not UTF-8
    b"filename,Smiling\n",                             # header only
    b"filename,Smiling\nimg/a.jpg,2\nimg/b.jpg,yes\n",  # every row out of range
])
def test_unusable_attribute_csv_is_one_clear_error(tmp_path, content):
    (tmp_path / "img").mkdir()
    write_jpeg(tmp_path / "img" / "a.jpg", 0)
    (tmp_path / "attributes.csv").write_bytes(content)
    with pytest.raises(FolderError) as e:
        read_folder(tmp_path)
    assert "attributes.csv" in str(e.value)


def test_empty_and_missing_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    for spec, err in ((f"folder:{tmp_path / 'empty'}", "No images found"), (f"folder:{tmp_path / 'nope'}", "does not exist"),
                      (f"celeba:{tmp_path / 'empty'}", "No CelebA attribute file"),
                      (f"celeba:{tmp_path / 'nope'}", "does not exist")):
        with pytest.raises(DatasetError, match=err):
            prepare(spec, size=32, out=tmp_path / "c", progress=False)
    assert not (tmp_path / "c").exists()


def _celeba(root: Path, header: list[str], rows: list[list[str]], count: int | None = None) -> Path:
    (root / "img_align_celeba").mkdir(parents=True)
    for r in rows:
        write_jpeg(root / "img_align_celeba" / r[0], len(r))
    lines = ([str(count)] if count is not None else []) + [" ".join(header)] + [" ".join(r) for r in rows]
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    return root


def test_celeba_extra_unknown_column_and_missing_rows(tmp_path):
    rows = [attr_row(f"{i:06d}.jpg", {i % 40}) for i in range(1, 4)]
    # A header naming a column CelebA does not have: the file is not trusted at all, and the error says which.
    with pytest.raises(CelebAError, match="not a CelebA attribute header.*Wearing_Cape"):
        read_celeba(_celeba(tmp_path / "a", list(CELEBA_ATTRIBUTES) + ["Wearing_Cape"], rows))
    # The count line promises rows the file lacks: the present rows load, a note says so.
    t = read_celeba(_celeba(tmp_path / "b", list(CELEBA_ATTRIBUTES), rows, count=10))
    assert len(t) == 3 and any("count line says 10 rows, file has 3" in n for n in t.notes)
    # 0/1 instead of -1/1 in every row: refused with the reason, not silently read as "all off".
    zero_one = [[r[0]] + ["0" if v == "-1" else v for v in r[1:]] for r in rows]
    with pytest.raises(CelebAError, match="no usable rows.*value other than ±1"):
        read_celeba(_celeba(tmp_path / "c", list(CELEBA_ATTRIBUTES), zero_one))
    # Asking for an attribute the file does not have: close matches, no crash.
    with pytest.raises(UnknownAttributeError, match="Did you mean: Smiling"):
        read_celeba(tmp_path / "b", attrs=["Smilling"])


def test_a_damaged_cache_is_rebuilt_from_its_source_or_refused_with_a_message(tmp_path):
    """A prepared cache whose files were cut short (disk full, copy interrupted) or hand-edited."""
    from gan.data.cache import CacheError

    root = _hostile_folder(tmp_path / "data")
    out = tmp_path / "cache"
    prepare(f"folder:{root}", size=32, out=out, progress=False)
    images = out / "images.npy"
    images.write_bytes(images.read_bytes()[:1000])  # truncated pixels
    with pytest.raises(CacheError, match="damaged|inconsistent"):
        FaceCache.open(out)
    with pytest.raises(CacheError, match="damaged|inconsistent"):
        prepare(f"cache:{out}", progress=False)
    assert len(prepare(f"folder:{root}", size=32, out=out, progress=False)) == 4  # rebuilt from the source
    (out / "manifest.json").write_text("{ not json")
    assert len(prepare(f"folder:{root}", size=32, out=out, progress=False)) == 4
    (out / "ids.json").write_text("[1, 2]")  # wrong length
    with pytest.raises(CacheError, match="inconsistent"):
        FaceCache.open(out)


@pytest.mark.parametrize("layout", ["official", "kaggle"])
def test_celeba_attribute_file_with_a_utf8_byte_order_mark_is_accepted(tmp_path, layout):
    """Issue 13, class 6: a BOM (Notepad's "UTF-8 with BOM") is valid UTF-8, not part of the count or header."""
    from test_data_readers import make_celeba_kaggle, make_celeba_official

    root = (make_celeba_official if layout == "official" else make_celeba_kaggle)(tmp_path / "celeba")
    attr = root / ("list_attr_celeba.txt" if layout == "official" else "list_attr_celeba.csv")
    attr.write_bytes(b"\xef\xbb\xbf" + attr.read_bytes())
    data = read_celeba(root, attrs=["Smiling"])
    assert data.attribute_names == ["Smiling"] and len(data.ids) == 8
