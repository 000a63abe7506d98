"""Threat: hostile names and text — `../`, quotes, SQL fragments, emoji, control characters, 10 000 characters.

Names are stored verbatim or refused with a message; none becomes a path or part of a query.
Already proved elsewhere (not repeated here):
  tests/test_store.py::test_hostile_names_stored_verbatim, ::test_bad_names_refused   store API (collections)
  tests/test_jobs.py::test_hostile_run_names_are_refused, ::test_slug_and_suggested_names_are_safe   run folders
Here: directions, settings and bundles with the same names, the app's save form, dataset folders with such names,
and the training command built from hostile settings.
"""
from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explorer import jobs
from explorer.bundle import export_bundle, import_bundle
from explorer.demo import make_tiny_generator
from explorer.store import MAX_NAME_LEN, LatentStore, StoreError
from gan import paths
from gan.data.prepare import default_out, parse_spec, prepare
from test_app_pages import click_faces
from test_data_readers import write_jpeg

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "explorer" / "app.py")
HOSTILE = ["../../escape-marker", "/etc/escape-marker", "it's \"quoted\" `x`", "'; DROP TABLE collections; --",
           "Robert'); DELETE FROM latents WHERE ('1'='1", "😀 smiling 👩‍🔬", "%s %d {0} ${HOME} $(touch escape-marker)",
           "x" * MAX_NAME_LEN, "名前 with spaces", "back\\slash\\..\\escape-marker", "NUL-free but\u202eRTL"]


def _no_escape(*trees: Path) -> None:
    """No file named exactly `escape-marker` anywhere a hostile name could have put one."""
    spots = [REPO / "escape-marker", Path.cwd() / "escape-marker", Path("/etc/escape-marker"), Path.home() / "escape-marker",
             paths.workspace_dir().parent / "escape-marker"]
    assert not [p for p in spots if p.exists()]
    for tree in trees:
        assert not list(tree.rglob("escape-marker")), list(tree.rglob("escape-marker"))


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_hostile_names_everywhere_in_the_store_and_through_a_bundle(tmp_path):
    a = LatentStore(tmp_path / "a.sqlite")
    rng = np.random.default_rng(0)
    for i, name in enumerate(HOSTILE):
        a.add_latents(name, rng.standard_normal((2, 8)).astype(np.float32), np.zeros((2, 1), np.float32), [name[:50]],
                      checkpoint_id=f"ck{i}")
        a.save_direction(name, rng.standard_normal(8).astype(np.float32), "mean", [name], f"ck{i}", target_attribute=name)
        a.set_setting(name, {"value": name})
    tables = _tables(a.path)
    assert {"collections", "latents", "directions", "settings"} <= tables
    assert sorted(c.name for c in a.list_collections()) == sorted(HOSTILE)
    buf = io.BytesIO()
    export_bundle(a, buf)
    b = LatentStore(tmp_path / "b.sqlite")
    report = import_bundle(b, buf.getvalue())
    assert report.collections == {n: n for n in HOSTILE} and report.directions == {n: n for n in HOSTILE}
    assert sorted(d.name for d in b.list_directions()) == sorted(HOSTILE)
    assert b.all_settings() == {n: {"value": n} for n in HOSTILE}
    for name in HOSTILE:
        assert b.get_direction(name).source_collections == [name]
        assert len(b.get_latents(name)) == 2
    # Importing again renames clashes, within the length limit, still verbatim otherwise.
    assert sorted(import_bundle(b, buf.getvalue()).unchanged) == sorted(HOSTILE * 2)  # same content: left alone
    again = import_bundle(b, buf.getvalue(), skip_identical=False)
    assert all(new == f"{old[:MAX_NAME_LEN - 4]} (2)" for old, new in again.collections.items())
    assert _tables(b.path) == tables
    _no_escape(tmp_path)


@pytest.mark.parametrize("bad", ["x" * 10_000, "", "  ", "tab\there", "new\nline", "nul\x00", "\ud800"])
def test_unstorable_names_are_refused_for_directions_and_settings(tmp_path, bad):
    store = LatentStore(tmp_path / "s.sqlite")
    with pytest.raises(StoreError):
        store.save_direction(bad, np.ones(4, np.float32), "mean", [], "ck")
    with pytest.raises(StoreError):
        store.set_setting(bad, 1)
    with pytest.raises(StoreError):
        store.rename_collection("nope", bad)
    assert store.list_directions() == [] and store.all_settings() == {}


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_CKPT", str(make_tiny_generator(tmp_path / "tiny.pt")))
    monkeypatch.setenv("GAN_CLASSIFIER", str(tmp_path / "none.pt"))
    yield


def test_app_save_form_stores_hostile_names_verbatim_and_refuses_a_10000_character_one(app):
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception
    click_faces(at, [0])
    store = LatentStore(paths.store_path())
    for name in ("../../escape-marker", "'; DROP TABLE collections; --", "😀 \"quoted\""):
        at.selectbox(key="gen_save_target").select("(new collection)")
        at.text_input(key="gen_save_name").input(name)
        at.button(key="FormSubmitter:gen_save_form-Save to collection").click().run()
        assert not at.exception and any("Saved 1 face" in s.value for s in at.success)
        assert len(store.get_latents(name)) == 1
    at.selectbox(key="gen_save_target").select("(new collection)")
    at.text_input(key="gen_save_name").input("y" * 10_000)
    at.button(key="FormSubmitter:gen_save_form-Save to collection").click().run()
    assert not at.exception
    assert any("Could not save" in e.value and "limit is 200" in e.value for e in at.error)
    assert len(store.list_collections()) == 3  # the refused one wrote nothing, the others are intact
    # The Workspace page lists all of them without a hitch.
    at.switch_page("../pages/workspace.py").run()
    assert not at.exception, [e.value for e in at.exception]
    text = " ".join(m.value for m in at.markdown)
    assert "DROP TABLE" in text and "escape-marker" in text
    _no_escape(paths.workspace_dir())


@pytest.mark.parametrize("folder", ["it's \"quoted\"; rm -rf ~", "😀 faces", "a" * 200, "$(touch escape-marker)"])
def test_dataset_folder_names_become_safe_cache_folder_names(tmp_path, folder):
    root = tmp_path / folder
    (root / "img").mkdir(parents=True)
    for k in range(2):
        write_jpeg(root / "img" / f"{k}.jpg", k)
    spec = parse_spec(f"folder:{root}")
    out = default_out(spec, 32)
    assert out.parent == paths.cache_root() and len(out.name) < 120
    assert all(ch.isalnum() or ch in "_.-" for ch in out.name)
    cache = prepare(spec, size=32, progress=False)
    assert cache.root == out and len(cache) == 2
    _no_escape(tmp_path)


def test_training_command_from_hostile_settings_is_an_argument_list(tmp_path):
    """Whatever a text box holds becomes one argv entry of `python -m gan train`, never shell text."""
    evil = "Smiling; touch escape-marker && $(id) `id` | cat"
    cmd = jobs.train_command({"attrs": evil, "data": "folder:/x y/'z'"}, tmp_path / "run")
    assert isinstance(cmd, list) and all(isinstance(a, str) for a in cmd)
    assert evil in cmd and "folder:/x y/'z'" in cmd
    with pytest.raises(jobs.JobError, match="unknown training settings"):
        jobs.train_command({"__import__('os').system('id')": 1}, tmp_path / "run")
