"""Faces that live in W (issue 15): W-edited faces, W arithmetic results and W path frames are saved with their w and
re-render bit for bit; a collection moves along a direction into a new collection; the Directions page works in W."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.demo import DEMO_ATTRIBUTES
from explorer import loaders
from explorer.faces import render, render_w
from explorer.latent_ops import apply_direction, interpolation_path
from gan.attributes import ANY
from gan.checkpoint import load_generator

from test_app_pages import Z_DIM, app_env, images, ok, open_page, seed_collections, store, tiny  # noqa: F401 - shared fixtures


def _generator(env):
    return load_generator(env["gen"])


def _direction(env, method: str = "mean", n: int = 500):
    """The Edit page's default direction (Smiling in W, built from n classifier-labelled faces), built as the page does."""
    from gan.edits import attribute_direction
    from gan.metrics.classifier import load_classifier

    return attribute_direction(_generator(env), load_classifier(env["clf"]), "Smiling", "w", n, 0, method)


def _thumbnails(ls) -> np.ndarray:
    return np.stack([np.asarray(Image.open(io.BytesIO(t)).convert("RGB")) for t in ls.thumbnails])


def _mapped(env, z: np.ndarray, c: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return _generator(env).G.mapping(torch.from_numpy(z), torch.from_numpy(c)).numpy()


def _reloaded_images(name: str, env) -> np.ndarray:
    """The collection's faces as every page draws them: widgets.collection_faces, then widgets.face_images."""
    from explorer import widgets

    model = widgets.Model(loaders.generator(env["gen"]), str(env["gen"]), loaders.mtime(env["gen"]))
    return widgets.face_images(model, widgets.collection_faces(name, model))


# ----------------------------------------------------------------------------- saving W results

def test_w_edited_faces_are_saved_with_w_and_reload_with_identical_pixels(app_env):
    from gan.edits import sample_faces

    at = open_page("edit")
    ok(at)
    at.select_slider(key="edit_save_alpha").set_value(2.0).run()
    ok(at)
    at.text_input(key="edit_save_name").input("more smiling")
    at.button(key="FormSubmitter:edit_save_form-Save these edited faces").click().run()
    ok(at)
    assert any("Saved 4 faces" in s.value for s in at.success), [e.value for e in at.error]

    ls = store().get_latents("more smiling")
    G = _generator(app_env).G
    assert ls.has_w.all() and ls.w.shape == (4, G.w_dim)
    base = sample_faces(_generator(app_env), 4, 7)  # the strip's faces: their z and c stay as identity
    assert ls.z.tobytes() == base.z.numpy().tobytes() and ls.c.tobytes() == base.c.numpy().tobytes()
    d = _direction(app_env)
    want = np.stack([apply_direction(w, d.vector, [2.0 * d.sigma])[0] for w in base.w.numpy()])
    np.testing.assert_array_equal(ls.w, want)  # w + α·σ·d, stored bit for bit
    assert all("Smiling" in m["origin"] and "+2 σ" in m["origin"] for m in ls.meta)

    shown = _thumbnails(ls)  # what the page drew and saved
    np.testing.assert_array_equal(_reloaded_images("more smiling", app_env), shown)
    np.testing.assert_array_equal(render_w(G, ls.w), shown)
    assert not np.array_equal(render(G, ls.z, ls.c), shown)  # the edit is visible: not the unedited faces


def test_interpolate_w_frame_and_arithmetic_w_result_are_saved_with_w(app_env):
    at = open_page("interpolate")
    at.slider(key="interp_steps").set_value(5).run()
    at.slider(key="interp_t").set_value(2).run()  # after the steps: a new range resets the scrub slider
    ok(at)
    at.text_input(key="interp_save_name").input("halfway")
    at.button(key="FormSubmitter:interp_save_form-Save this frame").click().run()
    ok(at)
    frame = store().get_latents("halfway")
    assert frame.has_w.tolist() == [True] and "W path step 2/4" in frame.meta[0]["origin"]
    ends = [loaders.grid(str(app_env["gen"]), loaders.mtime(app_env["gen"]), (ANY,) * len(DEMO_ATTRIBUTES), "random",
                         1, 1, seed, 1.0) for seed in (0, 1)]  # the default ends: random seeds 0 and 1
    wa, wb = (_mapped(app_env, e["z"], e["c"])[0] for e in ends)
    np.testing.assert_allclose(frame.w[0], interpolation_path(wa, wb, 5, "linear")[2], atol=1e-5)  # halfway in W
    np.testing.assert_array_equal(render_w(_generator(app_env).G, frame.w), _thumbnails(frame))

    at = open_page("arithmetic")
    ok(at)
    assert at.radio(key="arith_space").value == "w"
    at.text_input(key="arith_save_name").input("sum in W")
    at.button(key="FormSubmitter:arith_save_form-Save the result").click().run()
    ok(at)
    res = store().get_latents("sum in W")
    assert res.has_w.tolist() == [True] and res.meta[0]["origin"] == "arithmetic A − B + C in W"
    np.testing.assert_array_equal(_reloaded_images("sum in W", app_env), _thumbnails(res))


# ----------------------------------------------------------------------------- a collection along a direction

def test_batch_edit_moves_a_collection_into_a_new_collection(app_env):
    seed_collections(app_env["sha"])
    at = open_page("edit")
    at.selectbox(key="edit_batch_src").select("smiling")
    at.slider(key="edit_batch_strength").set_value(1.5)
    at.run()
    ok(at)
    assert not at.error, [e.value for e in at.error]
    before_after = [i for i in at.get("image") if any(img.caption in ("before", "+1.5") for img in i.proto.imgs)]
    assert len(before_after) == 2  # the strip before and after
    at.text_input(key="edit_batch_name").input("smiling, more")
    at.button(key="FormSubmitter:edit_batch_form-Save the 4 edited faces as a new collection").click().run()
    ok(at)
    assert any("Saved 4 edited faces" in s.value for s in at.success), [e.value for e in at.error]

    src, new = store().get_latents("smiling"), store().get_latents("smiling, more")
    assert new.z.tobytes() == src.z.tobytes() and new.c.tobytes() == src.c.tobytes() and list(new.seeds) == list(src.seeds)
    d = _direction(app_env)
    want = np.stack([apply_direction(w, d.vector, [1.5 * d.sigma])[0] for w in _mapped(app_env, src.z, src.c)])
    np.testing.assert_array_equal(new.w, want)  # each face's w + α·σ·d
    G = _generator(app_env).G
    edited = render_w(G, new.w)
    np.testing.assert_array_equal(edited, _thumbnails(new))
    assert not np.array_equal(edited, render(G, src.z, src.c))  # they differ from the originals
    note = {i.name: i.note for i in store().list_collections()}["smiling, more"]
    assert note.startswith("smiling edited along Smiling · mean (W) at +1.5 σ")


def test_batch_edit_with_a_saved_w_direction(app_env):
    seed_collections(app_env["sha"])
    v = np.random.default_rng(5).standard_normal(_generator(app_env).G.w_dim).astype(np.float32)
    v /= np.linalg.norm(v)
    store().save_direction("my W dir", v, "mean difference", [], app_env["sha"], "Smiling", space="w")
    at = open_page("edit")
    at.selectbox(key="edit_batch_src").select("neutral")
    at.selectbox(key="edit_batch_dir").select("saved: my W dir")
    at.slider(key="edit_batch_strength").set_value(-2.0)
    at.run()
    ok(at)
    at.text_input(key="edit_batch_name").input("neutral, moved")
    at.button(key="FormSubmitter:edit_batch_form-Save the 4 edited faces as a new collection").click().run()
    ok(at)
    src, new = store().get_latents("neutral"), store().get_latents("neutral, moved")
    want = np.stack([apply_direction(w, v, [-2.0])[0] for w in _mapped(app_env, src.z, src.c)])  # latent units
    np.testing.assert_array_equal(new.w, want)


def test_batch_edit_refuses_bad_input_with_one_error_and_writes_nothing(app_env):
    sha = app_env["sha"]
    seed_collections(sha)
    s = store()
    z, c = np.zeros((2, Z_DIM), np.float32), np.zeros((2, len(DEMO_ATTRIBUTES)), np.float32)
    s.create_collection("empty")
    s.add_latents("foreign", z, c, DEMO_ATTRIBUTES, "other-ckpt")
    w_dim = _generator(app_env).G.w_dim
    s.add_latents("in W", z, c, DEMO_ATTRIBUTES, sha, w=np.ones((2, w_dim), np.float32))
    s.add_latents("wrong width", z, c, DEMO_ATTRIBUTES, sha, w=np.ones((2, 3), np.float32))
    before = sorted((i.name, i.count) for i in s.list_collections())

    at = open_page("edit")
    for name, message in (("empty", "is empty"), ("foreign", "checkpoint other-ckpt, not of this one"),
                          ("wrong width", "w of size 3; this checkpoint needs w of size")):
        at.selectbox(key="edit_batch_src").select(name).run()
        ok(at)
        assert len(at.error) == 1 and message in at.error[0].value, (name, [e.value for e in at.error])
    at.selectbox(key="edit_space").set_value("z")
    at.selectbox(key="edit_batch_src").select("in W")
    at.run()
    ok(at)
    assert len(at.error) == 1 and "drawn from a stored w" in at.error[0].value and "Choose a W direction" in at.error[0].value
    at.selectbox(key="edit_space").set_value("w")
    at.selectbox(key="edit_batch_src").select("smiling")
    at.run()
    at.text_input(key="edit_batch_name").input("neutral")  # a name that exists
    at.button(key="FormSubmitter:edit_batch_form-Save the 4 edited faces as a new collection").click().run()
    ok(at)
    assert len(at.error) == 1 and "exists already" in at.error[0].value
    assert sorted((i.name, i.count) for i in store().list_collections()) == before


# ----------------------------------------------------------------------------- Directions in W

def test_directions_page_builds_saves_and_applies_in_w(app_env):
    at = open_page("directions")
    ok(at)
    assert at.radio(key="dir_space").value == "w"
    assert [m for m in at.metric if "per unit" in m.label], "the W direction's effect is measured on open"
    at.text_input(key="dir_save_name").input("smile in W")
    at.button(key="FormSubmitter:dir_save_form-Save direction").click().run()
    ok(at)
    [d] = store().list_directions(checkpoint_id=app_env["sha"])
    G = _generator(app_env).G
    assert d.space == "w" and d.vector.shape == (G.w_dim,) and abs(np.linalg.norm(d.vector) - 1) < 1e-5
    assert at.dataframe and at.dataframe[0].value["name"].tolist() == ["smile in W"]  # compared in W
    # applied: the saved direction orthogonalises a new one in W, the strip moves with α
    at.multiselect(key="dir_ortho").set_value(["smile in W"])
    at.multiselect(key="dir_methods").set_value(["linear boundary (logistic)"])
    at.slider(key="dir_alpha").set_value(2.0)
    at.run()
    ok(at)
    assert not at.error and any(img.caption == "α = +2" for i in at.get("image") for img in i.proto.imgs)
    # in z the W direction is not offered, and a z direction is saved as one
    at.radio(key="dir_space").set_value("z").run()
    ok(at)
    assert at.multiselect(key="dir_ortho").options == []
    assert any("No saved directions in z" in c.value for c in at.caption)
    at.text_input(key="dir_save_name").input("smile in z")
    at.button(key="FormSubmitter:dir_save_form-Save direction").click().run()
    ok(at)
    assert store().get_direction("smile in z").space == "z" and store().get_direction("smile in z").vector.shape == (Z_DIM,)


@pytest.mark.parametrize("space", ["w", "z"])
def test_directions_refuse_w_faces_measured_in_z(app_env, space):
    """Picked faces edited in W have no z of their own: the z space says so; W uses their stored w."""
    sha = app_env["sha"]
    z, c = np.zeros((2, Z_DIM), np.float32), np.zeros((2, len(DEMO_ATTRIBUTES)), np.float32)
    store().add_latents("in W", z, c, DEMO_ATTRIBUTES, sha, w=np.ones((2, _generator(app_env).G.w_dim), np.float32))
    store().add_latents("plain", z + 1, c, DEMO_ATTRIBUTES, sha)
    at = open_page("directions")
    at.radio(key="dir_space").set_value(space)
    at.radio(key="dir_source").set_value("two collections").run()
    at.selectbox(key="dir_with").select("in W")
    at.selectbox(key="dir_without").select("plain")
    at.run()
    ok(at)
    if space == "z":
        assert len(at.error) == 1 and "drawn from a stored w" in at.error[0].value
    else:
        assert not at.error, [e.value for e in at.error]


# ----------------------------------------------------------------------------- continuous c on W faces

def test_continuous_c_sliders_leave_out_faces_drawn_from_w(app_env):
    """A picked W-edited face has no (z, c) of its own: the Generate page's continuous-c panel says it is left out
    and redraws only the faces that have one, so no unedited face is shown as if it were the edited one."""
    from explorer import state
    from explorer.faces import Face
    from gan.records import write_json_atomic

    rng = np.random.default_rng(4)
    z = rng.standard_normal((2, Z_DIM)).astype(np.float32)
    c = np.zeros((2, len(DEMO_ATTRIBUTES)), np.float32)
    w = _mapped(app_env, z[:1], c[:1])[0] + 1.0                        # an edited w: not mapping(z, c)
    plain = Face(z[1], c[1], 0, 1, app_env["sha"], DEMO_ATTRIBUTES, "grid")
    in_w = Face(z[0], c[0], 0, 0, app_env["sha"], DEMO_ATTRIBUTES, "edit in W", w=w)

    def pick(*faces):
        write_json_atomic(state.picks_dir() / f"{app_env['sha']}.json",
                          {"checkpoint": app_env["sha"], "faces": [state._face_record(f) for f in faces]})

    pick(in_w, plain)
    at = open_page("generate")
    ok(at)
    said = [cap.value for cap in at.caption if cap.value.startswith("Left out")]
    assert said == [said[0]] and "1 face(s) edited in W" in said[0] and "stored w" in said[0]
    at.slider(key="gen_cs_Smiling").set_value(1.5).run()
    ok(at)
    strip = next(i for i in images(at) if any("Smiling=1.50" in img.caption for img in i.proto.imgs))
    assert [img.caption for img in strip.proto.imgs] == ["seed 0 · #1 · Smiling=1.50"]  # only the face with its own c
    pick(in_w)                                                         # only W faces: nothing redrawn, one message
    at = open_page("generate")
    ok(at)
    assert any(cap.value.startswith("Left out: 1 face(s)") for cap in at.caption)
    assert any(cap.value == "No face with its own (z, c) to redraw." for cap in at.caption)
    assert not [s for s in at.slider if s.key and s.key.startswith("gen_cs_")]
