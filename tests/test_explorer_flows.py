"""Issue 14's explorer flows in AppTest: picks are what is ticked, survive reloads and page switches; bundles restore;
FID runs as a background job; the Trainer page's numbers; projection wording; the smaller fixes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explorer.demo import make_tiny_classifier, make_tiny_generator
from gan.checkpoint import load_generator

APP = str(Path(__file__).resolve().parent.parent / "explorer" / "app.py")
Z_DIM = 16


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny14")
    gen = make_tiny_generator(root / "tiny_generator.pt", z_dim=Z_DIM)
    clf = make_tiny_classifier(root / "tiny_classifier.pt")
    return {"gen": gen, "clf": clf, "sha": load_generator(gen).checkpoint_id}


@pytest.fixture
def app_env(tiny, monkeypatch):
    monkeypatch.setenv("GAN_CKPT", str(tiny["gen"]))
    monkeypatch.setenv("GAN_CLASSIFIER", str(tiny["clf"]))
    return tiny


def open_page(name: str, at: AppTest | None = None) -> AppTest:
    at = at or AppTest.from_file(APP, default_timeout=120)
    if name != "generate" or not at._tree:
        at.switch_page(f"../pages/{name}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def browser_keeps_ticks(at: AppTest, before: dict[str, bool]) -> None:
    """What the browser does: a checkbox the script draws again under the same widget id keeps the value the
    user last saw (the frontend is not told that its session-state entry was deleted), and sends it back."""
    for box in pick_boxes(at):
        if box.id in before:
            box.set_value(before[box.id])


def pick_boxes(at: AppTest) -> list:
    return [c for c in at.checkbox if c.key and "_pick_" in c.key]


def picked_caption(at: AppTest) -> str:
    return next(c.value for c in at.sidebar.caption if "picked face" in c.value)


# ----------------------------------------------------------------------------- 1. Clear picks sticks

def test_clear_picks_unticks_and_stays_cleared(app_env):
    at = open_page("generate")
    boxes = pick_boxes(at)
    boxes[0].check()
    boxes[1].check()
    at.run()
    assert picked_caption(at) == "2 picked faces"
    ticked = {b.id: b.value for b in pick_boxes(at)}
    at.button(key="app_clear_picks").click().run()
    assert picked_caption(at) == "0 picked faces"
    assert not any(b.value for b in pick_boxes(at)), "boxes still ticked after Clear picks"
    browser_keeps_ticks(at, ticked)
    at.slider(key="gen_cols").set_value(7).run()  # any later rerun
    assert picked_caption(at) == "0 picked faces", "the old picks came back"
    assert not any(b.value for b in pick_boxes(at))
    pick_boxes(at)[3].check()
    at.run()
    assert picked_caption(at) == "1 picked face"
    assert [b.value for b in pick_boxes(at)].count(True) == 1


# ----------------------------------------------------------------------------- 2. picks on disk, settings kept

def test_picks_survive_a_reload_and_settings_survive_page_switches(app_env):
    at = open_page("generate")
    pick_boxes(at)[2].check()
    at.run()
    picked_key = pick_boxes(at)[2].key
    at = open_page("generate", AppTest.from_file(APP, default_timeout=120))  # a reload: a new session
    assert picked_caption(at) == "1 picked face"
    assert [b.key.split("_", 3)[-1] for b in pick_boxes(at) if b.value] == [picked_key.split("_", 3)[-1]]

    at = open_page("interpolate", at)
    at.radio(key="interp_a_src").set_value("picked faces")
    at.slider(key="interp_steps").set_value(5)
    at.run()
    at = open_page("generate", at)
    at = open_page("interpolate", at)
    assert at.radio(key="interp_a_src").value == "picked faces", "Interpolate's start went back to a random seed"
    assert at.slider(key="interp_steps").value == 5


# ----------------------------------------------------------------------------- 7. smaller things

def test_remove_one_face_from_the_picks(app_env):
    at = open_page("generate")
    for b in pick_boxes(at)[:3]:
        b.check()
    at.run()
    assert picked_caption(at) == "3 picked faces"
    removes = [b for b in at.button if b.key and b.key.startswith("gen_unpick_")]
    assert len(removes) == 3
    removes[1].click().run()
    assert picked_caption(at) == "2 picked faces"
    assert [b.value for b in pick_boxes(at)][:3] == [True, False, True]


def test_captions_show_requested_attributes_first_and_boxes_sit_above_images(app_env):
    from explorer.faces import describe_condition

    names = ("Smiling", "Male", "Young", "Eyeglasses", "Bald")
    c = np.ones(5, np.float32)
    assert describe_condition(c, names, limit=3) == "Smiling, Male, Young +2"
    assert describe_condition(c, names, limit=3, first=("Bald", "Eyeglasses")).startswith("Eyeglasses, Bald")
    at = open_page("generate")
    col = next(c for c in at.columns if any(type(e).__name__ == "Checkbox" for e in c.children.values()))
    kinds = [type(e).__name__ for e in col.children.values()]
    assert kinds.index("Checkbox") < max(i for i, k in enumerate(kinds) if k != "Checkbox"), kinds


def test_exported_checkpoint_appears_in_the_picker_with_a_short_label(app_env, monkeypatch, tmp_path):
    from gan import paths

    shipped = tmp_path / "checkpoints"
    make_tiny_generator(shipped / "default.pt", z_dim=Z_DIM, seed=3)
    make_tiny_generator(shipped / "my-export.pt", z_dim=Z_DIM, seed=4)
    monkeypatch.setattr(paths, "CHECKPOINTS_DIR", shipped)
    monkeypatch.setattr(paths, "DEFAULT_CHECKPOINT", shipped / "default.pt")
    at = open_page("generate")
    box = at.selectbox(key="app_ckpt")
    assert any(o.startswith("my-export") for o in box.options), box.options
    assert all(len(o) <= 40 for o in box.options)  # fits the sidebar; the full line is a caption
    assert any("step" in c.value and "·" in c.value and "picked" not in c.value for c in at.sidebar.caption)
