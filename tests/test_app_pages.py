"""Every page of the Streamlit app in AppTest on a tiny checkpoint: opens without clicks, one real interaction each."""
from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from explorer.demo import DEMO_ATTRIBUTES, make_tiny_classifier, make_tiny_generator
from explorer.store import LatentStore
from gan import paths
from gan.checkpoint import load_generator

APP = str(Path(__file__).resolve().parent.parent / "explorer" / "app.py")
PAGES = ("generate", "arithmetic", "directions", "edit", "style_mixing", "interpolate", "latent_map", "metrics", "trainer", "project",
         "workspace")
Z_DIM = 16


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """A tiny untrained generator (32×32, ngf 8, 4 attributes) and classifier, built once per session."""
    root = tmp_path_factory.mktemp("tiny")
    gen = make_tiny_generator(root / "tiny_generator.pt", z_dim=Z_DIM)
    clf = make_tiny_classifier(root / "tiny_classifier.pt")
    return {"gen": gen, "clf": clf, "sha": load_generator(gen).checkpoint_id}


@pytest.fixture
def app_env(tiny, monkeypatch):
    """Point the app at the tiny checkpoint (conftest already isolates workspace, runs and store); fresh caches."""
    monkeypatch.setenv("GAN_CKPT", str(tiny["gen"]))
    monkeypatch.setenv("GAN_CLASSIFIER", str(tiny["clf"]))
    yield tiny


def open_page(name: str, at: AppTest | None = None) -> AppTest:
    at = at or AppTest.from_file(APP, default_timeout=120)
    if name != "generate" or not at._tree:  # the default page needs no switch on a fresh app
        at.switch_page(f"../pages/{name}.py")
    at.run()
    return at


def ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def images(at: AppTest) -> list:
    return list(at.get("image"))


def face_grid(at: AppTest, key: str = "gen_grid") -> dict:
    """The data of the face grid drawn under `key` (explorer/face_picker.py): cols, col_labels, items (key, caption,
    picked, src), pickable."""
    for e in at.get("bidi_component"):
        if e.proto.component_name == "face_picker" and e.proto.id.endswith(f"-{key}"):
            return json.loads(e.proto.json)
    raise AssertionError(f"no face grid {key!r} on the page")


def click_faces(at: AppTest, indices, key: str = "gen_grid") -> AppTest:
    """What clicks on faces `indices` of the grid send from the browser (the picked keys of the grid afterwards, under
    a new event id), then the rerun they cause."""
    items = face_grid(at, key)["items"]
    picked = {it["key"] for it in items if it["picked"]}
    for i in indices:
        picked ^= {items[i]["key"]}
    at.session_state[key] = {"picked": {"seq": uuid.uuid4().hex, "grid": [it["key"] for it in items],
                                        "keys": [it["key"] for it in items if it["key"] in picked]}}
    return at.run()


def picked_flags(at: AppTest, key: str = "gen_grid") -> list[bool]:
    return [it["picked"] for it in face_grid(at, key)["items"]]


def store() -> LatentStore:
    return LatentStore(paths.store_path())


def seed_collections(sha: str, n: int = 4) -> None:
    """Two saved collections of this checkpoint's latents, as Generate would save them."""
    rng = np.random.default_rng(0)
    s = store()
    for name, on in (("smiling", 1.0), ("neutral", 0.0)):
        z = rng.standard_normal((n, Z_DIM)).astype(np.float32)
        c = np.zeros((n, len(DEMO_ATTRIBUTES)), np.float32)
        c[:, DEMO_ATTRIBUTES.index("Smiling")] = on
        s.add_latents(name, z, c, DEMO_ATTRIBUTES, sha, seeds=np.arange(n), indices=np.arange(n))


# ----------------------------------------------------------------------------- every page, no clicks

@pytest.mark.parametrize("page", PAGES)
def test_page_opens_with_content(app_env, page):
    at = open_page(page)
    ok(at)
    assert not at.error, [e.value for e in at.error]
    assert at.title and at.title[0].value
    if page in ("generate", "arithmetic", "directions", "interpolate", "latent_map"):
        assert images(at), f"{page} shows no faces without clicks"
    if page == "workspace":
        assert any("No collections yet" in i.value for i in at.info)
    if page == "metrics":  # a small conditioning report is computed on open
        assert any(m.label == "balanced accuracy" for m in at.metric)


def test_no_checkpoint_explains_how_to_train(monkeypatch, tmp_path):
    monkeypatch.delenv("GAN_CKPT", raising=False)
    monkeypatch.setattr(paths, "DEFAULT_CHECKPOINT", tmp_path / "missing.pt")
    for page in ("generate", "interpolate", "metrics"):
        at = open_page(page)
        ok(at)
        assert any("python -m gan train" in i.value for i in at.info)


def test_broken_checkpoint_is_not_offered(monkeypatch, tmp_path):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"not a checkpoint")
    monkeypatch.setenv("GAN_CKPT", str(bad))
    monkeypatch.setattr(paths, "DEFAULT_CHECKPOINT", tmp_path / "missing.pt")
    at = open_page("generate")
    ok(at)
    assert any("No generator checkpoint" in w.value for w in at.sidebar.warning)


def test_picker_lists_run_checkpoints(app_env, monkeypatch):
    run_ckpt = make_tiny_generator(paths.runs_dir() / "tiny-run" / "checkpoint.pt", z_dim=Z_DIM, seed=1)
    at = open_page("generate")
    ok(at)
    options = at.selectbox(key="app_ckpt").options
    assert len(options) >= 2 and any("tiny-run" in o for o in options)
    # switching checkpoints re-renders the grid with the other model
    at.selectbox(key="app_ckpt").select(str(run_ckpt.resolve())).run()
    ok(at)
    assert any(load_generator(run_ckpt).checkpoint_id in c.value for c in at.caption)


# ----------------------------------------------------------------------------- Generate

def test_generate_attributes_pick_and_save(app_env):
    at = open_page("generate")
    at.slider(key="gen_rows").set_value(2)
    at.slider(key="gen_cols").set_value(3)
    at.radio(key="gen_attr_Smiling").set_value("on")
    at.radio(key="gen_attr_Male").set_value("off")
    at.run()
    ok(at)
    grid = face_grid(at)
    assert len(grid["items"]) == 6 and grid["cols"] == 3
    assert all(it["src"].startswith("data:image/png;base64,") for it in grid["items"])
    assert all("Smiling" in it["caption"] for it in grid["items"]), "requested attributes lead the captions"
    assert len(images(at)) == 1  # the continuous-c strip (one element); the grid is one face-picker element
    click_faces(at, [0, 2])
    ok(at)
    assert picked_flags(at) == [True, False, True, False, False, False]
    at.text_input(key="gen_save_name").input("smiling women")
    at.button(key="FormSubmitter:gen_save_form-Save to collection").click().run()
    ok(at)
    assert any("Saved 2 faces" in s.value for s in at.success)
    ls = store().get_latents("smiling women")
    assert ls.z.shape == (2, Z_DIM)
    assert np.all(ls.c[:, DEMO_ATTRIBUTES.index("Smiling")] == 1) and np.all(ls.c[:, DEMO_ATTRIBUTES.index("Male")] == 0)
    assert ls.checkpoint_ids == [app_env["sha"]] * 2 and list(ls.indices) == [0, 2]
    assert Image.open(io.BytesIO(ls.thumbnails[0])).size == (32, 32)


def test_continuous_attribute_sliders_redraw_and_save(app_env):
    at = open_page("generate")
    ok(at)
    strip = images(at)[-1]
    before = [i.url for i in strip.proto.imgs] if hasattr(strip.proto.imgs[0], "url") else None
    assert len(strip.proto.imgs) == 8  # the first grid row
    at.slider(key="gen_cs_Smiling").set_value(1.5).run()
    ok(at)
    strip = images(at)[-1]
    assert all("Smiling=1.50" in img.caption for img in strip.proto.imgs)
    if before is not None:
        assert [i.url for i in strip.proto.imgs] != before
    at.text_input(key="gen_cs_save_name").input("very smiling")
    at.button(key="FormSubmitter:gen_cs_save_form-Save these faces (continuous c)").click().run()
    ok(at)
    saved = store().get_latents("very smiling")
    assert len(saved.z) == 8 and np.allclose(saved.c[:, DEMO_ATTRIBUTES.index("Smiling")], 1.5)


def test_generate_text_request_and_unknown_name(app_env):
    at = open_page("generate")
    at.text_input(key="gen_text").input("Eyeglasses, Young=0").run()
    ok(at)
    assert not at.error
    at.text_input(key="gen_text").input("Smilling").run()
    ok(at)
    assert at.error and "Smiling" in at.error[0].value and "Did you mean" in at.error[0].value
    assert images(at), "the grid still shows (from the controls) after a typo"


def test_generate_grid_modes(app_env):
    at = open_page("generate")
    at.slider(key="gen_rows").set_value(2)
    at.selectbox(key="gen_mode").select("fixed z × varied conditions").run()
    ok(at)
    toggles = at.multiselect(key="gen_toggles").value
    grid = face_grid(at)
    assert len(grid["items"]) == 2 * (1 + len(toggles)) and grid["cols"] == 1 + len(toggles)
    assert grid["col_labels"][0] and len(grid["col_labels"]) == 1 + len(toggles)
    at.selectbox(key="gen_mode").select("fixed condition × varied z").run()
    ok(at)
    assert len(face_grid(at)["items"]) == 2 * 8


# ----------------------------------------------------------------------------- Arithmetic

def test_arithmetic_on_collections_and_save(app_env):
    seed_collections(app_env["sha"])
    at = open_page("arithmetic")
    at.radio(key="arith_space").set_value("z").run()  # z and c: the result is a (z, c) face that can be saved
    for g, name in (("A", "smiling"), ("B", "neutral"), ("C", "neutral")):
        at.radio(key=f"arith_{g}_src").set_value("collection")
        at.run()
        at.selectbox(key=f"arith_{g}_coll").select(name)
    at.radio(key="arith_cmode").set_value("hold C's c")
    at.run()
    ok(at)
    captions = [img.caption for i in images(at) for img in i.proto.imgs]
    for head in ("mean A (4)", "− mean B (4)", "+ mean C (4)", "= result"):
        assert any(c.startswith(head) for c in captions), (head, captions)
    at.text_input(key="arith_save_name").input("arith result")
    at.button(key="FormSubmitter:arith_save_form-Save the result").click().run()
    ok(at)
    ls = store().get_latents("arith result")
    s, n = store().get_latents("smiling"), store().get_latents("neutral")
    np.testing.assert_allclose(ls.z[0], s.z.mean(0) - n.z.mean(0) + n.z.mean(0), atol=1e-5)
    assert ls.c[0, DEMO_ATTRIBUTES.index("Smiling")] == 0  # held C's condition


# ----------------------------------------------------------------------------- Directions

def test_directions_build_apply_save_compare(app_env):
    at = open_page("directions")
    ok(at)
    assert [m for m in at.metric if "per unit" in m.label], "the effect of the default direction is measured on open"
    at.text_input(key="dir_save_name").input("smile (md)")
    at.button(key="FormSubmitter:dir_save_form-Save direction").click().run()
    ok(at)
    saved = store().list_directions(checkpoint_id=app_env["sha"])
    assert [d.name for d in saved] == ["smile (md)"] and saved[0].target_attribute == "Smiling"
    assert abs(np.linalg.norm(saved[0].vector) - 1) < 1e-5
    assert at.dataframe, "comparison table of saved directions"
    # orthogonalise a new boundary direction, learnt with Smiling held off in c, against the saved one
    at.radio(key="dir_hold").set_value("held off")
    at.multiselect(key="dir_methods").set_value(["linear boundary (logistic)"])
    at.multiselect(key="dir_ortho").set_value(["smile (md)"])
    at.slider(key="dir_alpha").set_value(1.0)
    at.run()
    ok(at)
    assert not at.error


def test_directions_from_two_collections_on_picked_faces(app_env):
    seed_collections(app_env["sha"])
    at = open_page("generate")
    click_faces(at, [0])
    at = open_page("directions", at)
    at.radio(key="dir_source").set_value("two collections").run()
    at.selectbox(key="dir_with").select("smiling")
    at.selectbox(key="dir_without").select("neutral")
    at.run()
    ok(at)
    assert at.toggle(key="dir_on_picked").value is True
    assert at.metric and not at.error


# ----------------------------------------------------------------------------- Interpolate

def test_interpolate_steps_and_scrub(app_env):
    at = open_page("interpolate")
    at.radio(key="interp_space").set_value("z").run()  # z + c: path method and condition choices
    at.slider(key="interp_steps").set_value(5)
    at.radio(key="interp_method").set_value("linear")
    at.run()
    ok(at)
    strip = [i for i in images(at) if len(i.proto.imgs) == 5]
    assert strip, "a strip of 5 frames"
    at.slider(key="interp_t").set_value(4).run()
    ok(at)
    assert any("t = 1.00" in img.caption for i in images(at) for img in i.proto.imgs)
    at.radio(key="interp_cmode").set_value("hold start's").run()
    ok(at)


# ----------------------------------------------------------------------------- Latent map

def test_latent_map_with_collections(app_env):
    seed_collections(app_env["sha"])
    at = open_page("latent_map")
    ok(at)
    assert at.multiselect(key="map_colls").value == ["neutral", "smiling"]
    assert at.get("plotly_chart")
    at.radio(key="map_dims").set_value("3-D")
    at.selectbox(key="map_color").select("P(Smiling)")
    at.run()
    ok(at)
    assert images(at)
    assert at.radio(key="map_space").value == "w"  # a style checkpoint maps W by default
    assert any("w = mean of the mapped latents" in c.value for c in at.caption)
    at.radio(key="map_space").set_value("z").run()
    ok(at)
    assert any("z = mean of the mapped latents" in c.value for c in at.caption)


# ----------------------------------------------------------------------------- Metrics

def test_metrics_conditioning_and_flip(app_env):
    at = open_page("metrics")
    ok(at)
    vals = {m.label: m.value for m in at.metric}
    assert 0 <= float(vals["balanced accuracy"]) <= 1 and vals["classifier on real images"] == "0.900"
    at.select_slider(key="met_n").set_value(100)
    at.button(key="met_cond_go").click().run()
    ok(at)
    at.select_slider(key="met_flip_n").set_value(50)
    at.button(key="met_flip_go").click().run()
    ok(at)
    assert not at.error
    assert len(at.get("plotly_chart")) >= 3  # history, accuracy bars, flip heatmap, bias


def test_edit_page_report_card_in_each_space(app_env):
    at = open_page("edit")
    ok(at)
    assert at.selectbox(key="edit_space").options == ["W (the mapping network's output)", "z (the input noise)",
                                                       "c (the condition, continuous)"]
    rows = at.dataframe[0].value
    assert list(rows["direction"]) and "target flips" in rows.columns and "off-target, mean" in rows.columns
    assert any("of real variety" in (m.body if hasattr(m, "body") else str(m.value)) for m in list(at.info) + list(at.warning))
    real = real_standing(at)  # the tiny checkpoint's real faces: its dataset cache (200 faces)
    assert "real percentile, all" in rows.columns and rows["real percentile, all"].iloc[0].endswith(" of 200")
    assert "a fixed sample of 200 from the dataset cache" in real and "**mean difference**" in real
    at.radio(key="edit_method").set_value("conditional").run()
    ok(at)
    assert at.dataframe[0].value["direction"].iloc[0].startswith("conditional")
    at.selectbox(key="edit_space").set_value("c").run()
    ok(at)
    assert "across conditions" in " ".join(str(m.value) for m in list(at.info) + list(at.warning))


def test_arithmetic_in_w_reads_its_result(app_env):
    at = open_page("arithmetic")
    ok(at)
    assert at.radio(key="arith_space").value == "w"
    assert len(images(at)) >= 4
    table = at.dataframe[0].value
    assert list(table.columns) == ["attribute", "A", "B", "C", "result", "expected", "as expected"]
    assert any("The arithmetic should change" in m.value or "A − B changes no attribute" in m.value for m in at.markdown)
    at.radio(key="arith_space").set_value("z").run()
    ok(at)
    assert at.radio(key="arith_cmode") is not None and at.dataframe[0].value.shape[0] == 4


def real_standing(at: AppTest) -> str:
    """The report card's sentences on where P(target) sits among real faces."""
    return next(m.value for m in at.markdown if "real faces" in m.value and "percentile" in m.value)


def card_table(at: AppTest):
    """The Arithmetic page's report-card table (the Edit page's columns)."""
    return next(d.value for d in at.dataframe if "target flips" in d.value.columns)


def test_arithmetic_report_card_follows_targets_and_sample_size(app_env):
    at = open_page("arithmetic")
    ok(at)
    assert any(h.value == "Report card: A − B as an edit" for h in at.subheader)
    marked = at.multiselect(key="arith_card_targets").value
    table = card_table(at)
    assert len(table) == len(marked) >= 1 and list(table["faces"]) == [200] * len(marked)
    assert {"could flip", "off-target, mean", "pixels changed"} <= set(table.columns)
    assert all(r.startswith("A − B → ") for r in table["direction"]) and list(table["strength"]) == [1.0] * len(marked)
    assert len(at.get("plotly_chart")) == 2
    assert "real percentile, aimed label" in table.columns
    assert all(f"A − B → {t}" in real_standing(at) for t in marked) and "a fixed sample of 200" in real_standing(at)
    at.select_slider(key="arith_card_n").set_value(50).run()
    ok(at)
    assert list(card_table(at)["faces"]) == [50] * len(marked)
    at.multiselect(key="arith_card_targets").set_value(["Smiling", "Young"]).run()
    ok(at)
    assert [r.split(" → ")[1].rsplit(" ", 1)[0] for r in card_table(at)["direction"]] == ["Smiling", "Young"]
    at.radio(key="arith_space").set_value("z").run()  # z and c: the card moves z and c together
    ok(at)
    assert len(card_table(at)) == 2 and any("in z and c" in c.value for c in at.caption)
    at.multiselect(key="arith_card_targets").set_value([]).run()
    ok(at)
    assert any("Mark at least one attribute" in i.value for i in at.info)


@pytest.fixture
def downloads(monkeypatch) -> dict[str, bytes]:
    """The bytes of every download button the app draws, by file name (AppTest keeps only their URLs)."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    files: dict[str, bytes] = {}
    add = MemoryMediaFileStorage.load_and_get_id

    def keep(self, path_or_data, mimetype, kind, filename=None):
        if filename:
            files[filename] = path_or_data
        return add(self, path_or_data, mimetype, kind, filename)
    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)
    return files


def test_mp4_downloads_carry_their_recipe_and_replay(app_env, downloads):
    from gan.recipe import read_recipe, render, video_frames

    gen = load_generator(app_env["gen"])
    at = open_page("interpolate")
    ok(at)
    assert at.download_button(key="interp_dl_mp4") is not None
    recipe = read_recipe(downloads[f"path_{app_env['sha']}.mp4"])
    assert recipe["kind"] == "interpolate" and recipe["steps"] == at.slider(key="interp_steps").value
    gif_recipe = read_recipe(downloads[f"path_{app_env['sha']}.gif"])
    assert recipe == gif_recipe                                       # the same path as the GIF beside it
    at = open_page("edit", at)
    ok(at)
    assert at.download_button(key="edit_dl_mp4") is not None
    name = next(n for n in downloads if n.startswith("edit_") and n.endswith(".mp4"))
    recipe = read_recipe(downloads[name])
    assert recipe["kind"] == "direction" and len(video_frames(recipe, render(gen, recipe))) == len(recipe["strengths"])
    at.file_uploader(key="edit_replay").upload(name, downloads[name], "video/mp4").run()
    ok(at)
    assert not at.error, [e.value for e in at.error]
    assert any("MP4 itself is lossy" in c.value and "re-renders the exact frames" in c.value for c in at.caption)


def test_mp4_without_the_ffmpeg_binary_says_why(app_env, monkeypatch):
    import imageio_ffmpeg

    def missing() -> str:
        raise RuntimeError("No ffmpeg exe could be found")
    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", missing)
    for page in ("interpolate", "edit"):
        at = open_page(page)
        ok(at)
        assert any("No MP4" in i.value and "imageio-ffmpeg" in i.value for i in at.info), page
        assert len(at.get("download_button")) >= 1                 # the PNG (and GIF) downloads are still there


def test_interpolate_in_w_exports_a_replayable_path(app_env):
    from gan.recipe import read_recipe
    at = open_page("interpolate")
    ok(at)
    assert at.radio(key="interp_space").value == "w"
    at.slider(key="interp_steps").set_value(5).run()
    ok(at)
    assert len([i for el in images(at) for i in el.proto.imgs]) >= 5 + 1  # the strip and the big frame
    at.radio(key="interp_space").set_value("z").run()
    ok(at)
    assert at.radio(key="interp_method").value == "spherical"


def test_style_mixing_grid_and_block_choice(app_env):
    at = open_page("style_mixing")
    ok(at)
    n_before = len(images(at))
    assert n_before == 4 + 5 + 4 * 5  # sources, targets and every mix
    at.slider(key="mix_src_n").set_value(2).run()
    ok(at)
    assert len(images(at)) == 2 + 5 + 2 * 5
    at.segmented_control(key="mix_groups").set_value(["coarse", "middle"]).run()  # 32 px: no fine block
    ok(at)
    assert any("coarse, middle" in c.value and "[0, 1, 2, 3]" in c.value for c in at.caption)
    assert at.get("download_button")


def test_metrics_variety_against_real_faces(app_env):
    at = open_page("metrics")
    ok(at)
    at.select_slider(key="met_var_k").set_value(4)
    at.select_slider(key="met_var_n").set_value(16)
    at.button(key="met_var_go").click().run()
    ok(at)
    assert not at.error, [e.value for e in at.error]
    vals = {m.label: m.value for m in at.metric}
    assert float(vals["diversity ratio · face pixels"]) >= 0  # an untrained G draws near-grey faces: about 0
    assert any("dataset cache" in c.value for c in at.caption)  # demo attributes: real faces come from the cache
    assert any("4 conditions × 16 faces" in c.value for c in at.caption)


# ----------------------------------------------------------------------------- Workspace

def test_workspace_lists_and_deletes(app_env):
    seed_collections(app_env["sha"])
    at = open_page("workspace")
    ok(at)
    assert any("smiling" in m.value and "4 faces" in m.value for m in at.markdown)
    info = {c.name: c for c in store().list_collections()}
    at.button(key=f"ws_del_{info['smiling'].id}").click().run()
    at.button(key=f"ws_del_yes_{info['smiling'].id}").click().run()
    ok(at)
    assert [c.name for c in store().list_collections()] == ["neutral"]
    assert at.download_button(key="ws_export_dl") is not None


# ----------------------------------------------------------------------------- the app's pure helpers

def test_merge_request_and_downloads():
    from explorer.faces import Face, gif_bytes, grid_png, latents_npz_bytes, merge_request

    names = DEMO_ATTRIBUTES
    base = np.array([-1, 1, -1, -1], np.int8)  # Male on from the controls
    values, err = merge_request(base, "smiling, Male=0", names)
    assert err is None and values.tolist() == [-1, 0, 1, -1]
    values, err = merge_request(base, "Eyeglases", names)
    assert "Eyeglasses" in err and values.tolist() == base.tolist()
    frames = np.random.default_rng(0).integers(0, 255, (4, 8, 8, 3), dtype=np.uint8)
    assert Image.open(io.BytesIO(gif_bytes(frames))).n_frames == 6  # forward then back
    assert Image.open(io.BytesIO(grid_png(frames, 2))).size == (2 + 2 * 10, 2 + 2 * 10)
    faces = [Face(np.ones(3, np.float32) * i, np.eye(4, dtype=np.float32)[i], 7, i, "abc", names) for i in range(2)]
    with np.load(io.BytesIO(latents_npz_bytes(faces)), allow_pickle=False) as f:
        assert f["z"].shape == (2, 3) and list(f["indices"]) == [0, 1] and str(f["checkpoint"]) == "abc"


def test_pages_without_a_classifier(app_env, monkeypatch, tmp_path):
    """No classifier: Directions still builds from collections, Metrics and the map say how to get one."""
    monkeypatch.setenv("GAN_CLASSIFIER", str(tmp_path / "none.pt"))
    seed_collections(app_env["sha"])
    for page in ("directions", "latent_map", "metrics"):
        at = open_page(page)
        ok(at)
        assert not at.error, (page, [e.value for e in at.error])
        if page != "latent_map":
            assert any("classifier train" in i.value for i in at.info), page
    at = open_page("directions")
    at.selectbox(key="dir_with").select("smiling")
    at.selectbox(key="dir_without").select("neutral")
    at.run()
    ok(at)
    assert images(at)


# ----------------------------------------------------------------------------- collections and files a page cannot use

def unusable_collections(sha: str) -> None:
    """'mixed': this checkpoint's latents of two z sizes (StoreError on read); 'short z': z of size 8 (ValueError)."""
    c = np.zeros((2, len(DEMO_ATTRIBUTES)), np.float32)
    store().add_latents("mixed", np.zeros((2, Z_DIM), np.float32), c, DEMO_ATTRIBUTES, sha)
    store().add_latents("mixed", np.zeros((2, 8), np.float32), c, DEMO_ATTRIBUTES, sha)
    store().add_latents("short z", np.zeros((2, 8), np.float32), c, DEMO_ATTRIBUTES, sha)


def test_a_collection_a_page_cannot_use_is_one_message(app_env):
    """Latent map, a collection source (Arithmetic) and Directions say what is wrong with the collection and go on."""
    seed_collections(app_env["sha"])
    unusable_collections(app_env["sha"])
    at = open_page("latent_map")
    ok(at)
    assert at.multiselect(key="map_colls").value == ["mixed", "neutral", "short z", "smiling"]
    assert [e.value for e in at.error] == [
        "collection 'mixed' mixes latents of different checkpoints/sizes "
        f"({app_env['sha']}); pick one with checkpoint_id=",
        f"collection 'short z' holds z of size 8 over attributes {', '.join(DEMO_ATTRIBUTES)}; this checkpoint needs "
        f"{Z_DIM} over {', '.join(DEMO_ATTRIBUTES)}"]
    assert at.get("plotly_chart"), "the usable collections are still mapped"

    at = open_page("arithmetic")
    at.radio(key="arith_A_src").set_value("collection").run()
    at.selectbox(key="arith_A_coll").select("mixed").run()
    ok(at)
    assert len(at.error) == 1 and "mixes latents of different checkpoints/sizes" in at.error[0].value

    at = open_page("directions")
    at.radio(key="dir_source").set_value("two collections").run()
    at.selectbox(key="dir_with").select("short z")
    at.selectbox(key="dir_without").select("neutral")
    at.run()
    ok(at)
    assert len(at.error) == 1 and "holds z of size 8" in at.error[0].value


def test_an_unreadable_checkpoint_is_not_offered_and_an_unexpected_failure_is_logged(monkeypatch, tmp_path, caplog):
    """load_checkpoint's refusals are silent; anything else it lets through (e.g. a crafted pickle's TypeError) leaves
    the file out of the picker with its traceback in the log, instead of taking every page down."""
    import gan.checkpoint
    from explorer import loaders
    from gan.checkpoint import CheckpointError

    def refuse(path, **kw):
        raise CheckpointError(f"{path} is a 'classifier' checkpoint, expected 'generator'")

    def crash(path, **kw):
        raise TypeError("unhashable type: 'dict'")

    monkeypatch.setattr(loaders, "allowed_roots", lambda: [tmp_path])
    for i, (load, logged) in enumerate(((refuse, False), (crash, True))):
        monkeypatch.setattr(gan.checkpoint, "load_checkpoint", load)
        caplog.clear()
        with caplog.at_level("ERROR", logger="explorer.loaders"):
            assert loaders._checkpoint_info(str(tmp_path / f"odd{i}.pt"), 1.0) is None
        records = [r for r in caplog.records if r.name == "explorer.loaders"]
        assert bool(records) == logged
        if logged:
            assert "odd1.pt" in records[0].getMessage() and "unhashable" in records[0].exc_text
