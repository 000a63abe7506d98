"""`--data` specs and `prepare`: end to end into a cache, instant reuse, resume after interruption, CLI errors."""
from __future__ import annotations

import os
import time

import numpy as np
import pytest

import gan.data.prepare as prep
from gan.__main__ import main
from gan.data.cache import FaceCache
from gan.data.imagefiles import DatasetError
from gan.data.prepare import DataSpec, open_source, parse_spec, prepare
from gan.paths import cache_root
from test_data_readers import make_celeba_kaggle, make_celeba_official, make_folder, write_jpeg


def test_parse_spec_forms_and_errors(tmp_path):
    assert parse_spec("synthetic") == DataSpec("synthetic", count=prep.SYNTHETIC_COUNT)
    assert parse_spec("synthetic:500") == DataSpec("synthetic", count=500)
    assert parse_spec(f"celeba:{tmp_path}") == DataSpec("celeba", path=tmp_path.resolve())
    assert parse_spec(f"folder:{tmp_path}").kind == "folder"
    assert parse_spec(f"cache:{tmp_path}").kind == "cache"
    for bad in ("synthetic:abc", "synthetic:0", "celeba:", "imagenet:/x", str(tmp_path), ""):
        with pytest.raises(ValueError):
            parse_spec(bad)


@pytest.mark.parametrize("make", [make_celeba_official, make_celeba_kaggle])
def test_prepare_celeba_end_to_end_counts_every_skip(tmp_path, make):
    root = make(tmp_path / "celeba")
    cache = prepare(f"celeba:{root}", size=16, attrs=["Smiling", "Male"], progress=False)
    assert cache.root.parent == cache_root()
    assert len(cache) == 6 and cache.images.shape == (6, 16, 16, 3) and cache.images.dtype == np.uint8
    assert cache.attribute_names == ("Smiling", "Male")
    np.testing.assert_array_equal(cache.attrs, [[1, 0], [0, 1], [1, 1], [0, 0], [0, 0], [1, 1]])
    np.testing.assert_array_equal(cache.split, [0, 0, 0, 1, 2, 0])
    m = cache.manifest
    assert m["crop"] == "center" and m["size"] == 16 and m["layout"].startswith("celeba-")
    assert m["skipped"] == {"missing image file": 1, "value other than ±1": 1, "wrong number of values": 1,
                            "duplicate id": 1, "truncated": 1, "not an image": 1}
    assert any(e.startswith("000007.jpg: truncated") for e in m["skipped_examples"])
    assert len(m["source_fingerprint"]) == 16 and m["fingerprint"]
    assert FaceCache.open(cache.root).fingerprint == cache.fingerprint
    assert not list(cache.root.parent.glob(".*partial*"))  # partial chunks cleaned up


def test_reuse_is_instant_and_changes_rebuild(tmp_path):
    root = make_celeba_official(tmp_path / "celeba")
    out = tmp_path / "out"
    first = open_source(f"celeba:{root}", size=16, out=out)
    stamp = (out / "manifest.json").stat().st_mtime_ns
    t0 = time.perf_counter()
    again = open_source(f"celeba:{root}", size=16, out=out)
    assert time.perf_counter() - t0 < 1.0
    assert (out / "manifest.json").stat().st_mtime_ns == stamp  # not rebuilt
    assert again.fingerprint == first.fingerprint
    assert open_source(f"cache:{out}").fingerprint == first.fingerprint
    # Another setting, or an edited label file, rebuilds.
    assert open_source(f"celeba:{root}", size=8, out=out).size == 8
    stamp = (out / "manifest.json").stat().st_mtime_ns
    attr_file = root / "list_attr_celeba.txt"
    attr_file.write_text(attr_file.read_text().replace("000005.jpg", "000099.jpg"))
    os.utime(attr_file, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    rebuilt = open_source(f"celeba:{root}", size=8, out=out)
    assert (out / "manifest.json").stat().st_mtime_ns != stamp
    assert "000005.jpg" not in rebuilt.ids


def test_interrupted_prepare_resumes_from_finished_chunks(tmp_path, monkeypatch):
    root = make_folder(tmp_path / "data", n=10)
    out = tmp_path / "out"
    real = prep._process_chunk
    calls = []

    def flaky(src, start, stop, *args, **kwargs):
        if len(calls) == 2:
            raise KeyboardInterrupt("simulated interruption")
        calls.append(start)
        return real(src, start, stop, *args, **kwargs)

    monkeypatch.setattr(prep, "_process_chunk", flaky)
    with pytest.raises(KeyboardInterrupt):
        prepare(f"folder:{root}", size=8, out=out, chunk_size=3, progress=False)
    assert not out.exists()
    [partial] = tmp_path.glob(".out.partial-*")
    assert sorted(p.name for p in partial.glob("chunk_*.npz")) == ["chunk_00000.npz", "chunk_00001.npz"]

    calls.clear()
    monkeypatch.setattr(prep, "_process_chunk", lambda src, start, stop, *a, **k: (calls.append(start), real(src, start, stop, *a, **k))[1])
    cache = prepare(f"folder:{root}", size=8, out=out, chunk_size=3, progress=False)
    assert calls == [6, 9]                       # only the unfinished chunks ran
    assert cache.manifest["resumed_chunks"] == 2 and len(cache) == 10
    assert not partial.exists()
    fresh = prepare(f"folder:{root}", size=8, out=tmp_path / "fresh", chunk_size=3, progress=False)
    np.testing.assert_array_equal(np.asarray(cache.images), np.asarray(fresh.images))
    assert cache.ids == fresh.ids and np.array_equal(cache.split, fresh.split)


def test_worker_pool_matches_in_process_and_compacts_skips(tmp_path):
    """Two spawned workers over 2-row chunks (skips inside chunks, rows moved down) give the in-process cache."""
    root = make_celeba_official(tmp_path / "celeba")
    one = prepare(f"celeba:{root}", size=16, out=tmp_path / "one", chunk_size=2, progress=False, workers=1)
    two = prepare(f"celeba:{root}", size=16, out=tmp_path / "two", chunk_size=2, progress=False, workers=2)
    assert two.manifest["workers"] == 2 and one.manifest["workers"] == 1
    np.testing.assert_array_equal(np.asarray(one.images), np.asarray(two.images))
    assert one.ids == two.ids and np.array_equal(one.attrs, two.attrs) and one.fingerprint == two.fingerprint
    assert one.manifest["skipped"] == two.manifest["skipped"]
    assert (two.root / "images.npy").stat().st_size == 128 + len(two) * 16 * 16 * 3  # header + kept rows only


def test_prepare_synthetic_subset_and_index_split(tmp_path):
    pytest.importorskip("gan.data.synthetic")
    from gan.data.synthetic import SYNTHETIC_ATTRIBUTES
    cache = prepare("synthetic:40", size=16, attrs=["smiling", "Male"], progress=False, chunk_size=16)
    assert len(cache) == 40 and cache.images.shape == (40, 16, 16, 3)
    assert cache.attribute_names == ("Smiling", "Male") and "Smiling" in SYNTHETIC_ATTRIBUTES
    assert cache.manifest["split_counts"] == {"train": 36, "val": 2, "test": 2}
    assert cache.ids[:2] == ["synthetic:0:0", "synthetic:0:1"] and cache.manifest["crop"] == "none"
    assert cache.images.std() > 10  # real pictures, not blanks
    with pytest.raises(ValueError, match="already framed"):
        prepare("synthetic:40", crop="center", progress=False)


def test_cli_prepare_summary_and_clean_errors(tmp_path, capsys):
    root = make_folder(tmp_path / "data", n=4)
    out = tmp_path / "cache"
    assert main(["prepare", "--data", f"folder:{root}", "--size", "8", "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "built: 4 faces" in text and str(out) in text and "fingerprint" in text
    assert main(["prepare", "--data", f"folder:{root}", "--size", "8", "--out", str(out), "--no-progress"]) == 0
    assert "up to date" in capsys.readouterr().out

    (tmp_path / "empty").mkdir()
    bad_attrs = tmp_path / "bad"
    write_jpeg(bad_attrs / "a.jpg", 0)
    (bad_attrs / "attributes.csv").write_text("filename,Smiling\na.jpg,1\n")
    cases = [
        (["--data", f"celeba:{tmp_path / 'missing'}"], "does not exist"),
        (["--data", f"folder:{tmp_path / 'empty'}"], "No images found"),
        (["--data", f"folder:{bad_attrs}", "--attrs", "Smilng"], "Did you mean: Smiling"),
        (["--data", f"folder:{root}", "--crop", "tight"], "Unknown crop mode"),
    ]
    for args, message in cases:
        assert main(["prepare", *args, "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and "Traceback" not in err
        assert err.count("\n") == 1
    # A malformed spec is refused while parsing (argparse's usage error naming --data, exit status 2).
    with pytest.raises(SystemExit) as e:
        main(["prepare", "--data", "mnist", "--no-progress"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "argument --data: Unknown --data 'mnist'" in err and "Traceback" not in err


def test_all_images_unusable_is_an_error(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (root / "a.jpg").write_text("not an image")
    with pytest.raises(DatasetError, match="not an image"):
        prepare(f"folder:{root}", size=8, out=tmp_path / "out", progress=False)
