"""Issue 14's explorer flows in AppTest: picks are what the grid shows, survive reloads and page switches; bundles restore;
FID runs as a background job; the Trainer page's numbers; projection wording; the smaller fixes."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explorer.demo import make_tiny_generator

from test_app_pages import APP, Z_DIM, app_env, click_faces, face_grid, ok, picked_flags, tiny  # noqa: F401 - shared
from test_app_pages import open_page as open_app_page


def open_page(name: str, at: AppTest | None = None) -> AppTest:
    """test_app_pages.open_page, failing at once on an exception: every flow builds on the page it opens."""
    at = open_app_page(name, at)
    ok(at)
    return at


def picked_caption(at: AppTest) -> str:
    return next(c.value for c in at.sidebar.caption if "picked face" in c.value)


# ----------------------------------------------------------------------------- 1. Clear picks sticks

def test_clear_picks_unpicks_and_stays_cleared(app_env):
    at = open_page("generate")
    click_faces(at, [0, 1])
    assert picked_caption(at) == "2 picked faces"
    last_event = at.session_state["gen_grid"]  # the browser keeps its grid's last event and sends it with every rerun
    at.button(key="app_clear_picks").click().run()
    assert picked_caption(at) == "0 picked faces"
    assert not any(picked_flags(at)), "faces still shown picked after Clear picks"
    at.session_state["gen_grid"] = last_event
    at.slider(key="gen_cols").set_value(7).run()  # any later rerun
    assert picked_caption(at) == "0 picked faces", "the old picks came back"
    assert not any(picked_flags(at))
    click_faces(at, [3])
    assert picked_caption(at) == "1 picked face"
    assert picked_flags(at).count(True) == 1
    click_faces(at, [3])  # a second click unpicks
    assert picked_caption(at) == "0 picked faces"


# ----------------------------------------------------------------------------- 2. picks on disk, settings kept

def test_picks_survive_a_reload_and_settings_survive_page_switches(app_env):
    at = open_page("generate")
    click_faces(at, [2])
    picked_key = face_grid(at)["items"][2]["key"]
    at = open_page("generate", AppTest.from_file(APP, default_timeout=120))  # a reload: a new session
    assert picked_caption(at) == "1 picked face"
    assert [it["key"] for it in face_grid(at)["items"] if it["picked"]] == [picked_key]

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
    click_faces(at, [0, 1, 2])
    assert picked_caption(at) == "3 picked faces"
    removes = [b for b in at.button if b.key and b.key.startswith("gen_unpick_")]
    assert len(removes) == 3
    removes[1].click().run()
    assert picked_caption(at) == "2 picked faces"
    assert picked_flags(at)[:3] == [True, False, True]


def test_captions_show_requested_attributes_first(app_env):
    from explorer.faces import describe_condition

    names = ("Smiling", "Male", "Young", "Eyeglasses", "Bald")
    c = np.ones(5, np.float32)
    assert describe_condition(c, names, limit=3) == "Smiling, Male, Young +2"
    assert describe_condition(c, names, limit=3, first=("Bald", "Eyeglasses")).startswith("Eyeglasses, Bald")
    at = open_page("generate")
    at.text_input(key="gen_text").input("Eyeglasses").run()
    assert all(it["caption"].split(" · ")[2].startswith("Eyeglasses") for it in face_grid(at)["items"])


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


# ----------------------------------------------------------------------------- 5. Trainer page

def _fake_run(name: str, *, state: str, step: int, minutes: float, budget_clock: float, wall_s: float,
              status_speed: float = 432.0, logged_speed: float = 150.0, checkpoint: bool = True) -> Path:
    """A finished / stopped run folder as the trainer leaves it (its process long gone)."""
    import json
    import time

    from gan import paths

    out = paths.runs_dir() / name
    out.mkdir(parents=True)
    now = time.time()
    iso = lambda t: __import__("datetime").datetime.fromtimestamp(t).isoformat()  # noqa: E731
    (out / "status.json").write_text(json.dumps({
        "state": state, "pid": 999_999_999, "step": step, "started": iso(now - wall_s), "updated": iso(now),
        "elapsed": budget_clock, "images_per_s": status_speed, "message": ""}))
    (out / "config.json").write_text(json.dumps({"steps": 0, "minutes": minutes, "batch": 32, "d_steps": 1,
                                                 "data": "synthetic:200"}))
    (out / "events.jsonl").write_text(json.dumps({"step": step, "images_per_s": logged_speed, "Loss/G": 1.0}) + "\n")
    (out / "STOP").touch()
    if checkpoint:
        (out / "checkpoint.pt").write_bytes(b"stand-in")
    return out


def test_trainer_budget_numbers_resume_and_leftovers(monkeypatch):
    from explorer import jobs
    from explorer.run_view import budget_text

    out = _fake_run("done", state="finished", step=2100, minutes=3.739, budget_clock=224.3, wall_s=238.0)
    info = jobs.run_info("done")
    assert not (out / "STOP").exists(), "STOP file left in the run folder"
    assert info.images_per_s == 150.0, "images/s after the end must be the last logged rate, not the final average"
    text = budget_text(info)
    assert "3.739" not in text and "3 m 44 s of 3 m 44 s training" in text and "3 m 58 s with start-up" in text, text

    # Nothing more asked and the budget used up: refused (it used to train again); asked: exactly that much more.
    with pytest.raises(jobs.JobError, match="whole budget"):
        jobs.resume("done")
    launched = {}
    monkeypatch.setattr(jobs, "_launch", lambda out, cmd, budget, elapsed_before=0.0: launched.update(cmd=cmd, **budget))
    jobs.resume("done", more_minutes=1.5)
    cmd = launched["cmd"]
    assert launched["minutes"] == pytest.approx(224.3 / 60 + 1.5, abs=1e-3) and launched["steps"] == 0
    assert cmd[cmd.index("--minutes") + 1] == str(round(224.3 / 60 + 1.5, 4)) and cmd[cmd.index("--steps") + 1] == "0"
    jobs.resume("done", more_steps=50)
    assert launched["steps"] == 2150 and launched["minutes"] == 0.0


def test_trainer_shows_only_the_chosen_budget_input_and_no_zero_resume(monkeypatch):
    monkeypatch.delenv("GAN_CKPT", raising=False)
    _fake_run("old", state="stopped", step=300, minutes=2.0, budget_clock=120.0, wall_s=134.0)
    at = open_page("trainer")
    keys = {n.key for n in at.number_input}
    assert "trn_minutes" in keys and "trn_steps" not in keys, keys
    at.radio(key="trn_unit").set_value("steps").run()
    keys = {n.key for n in at.number_input}
    assert "trn_steps" in keys and "trn_minutes" not in keys, keys
    more = at.number_input(key="trn_more_min")
    assert more.value >= 0.5 and more.min >= 0.5, "Resume offered 0 more minutes"
    assert any("2 m 00 s of 2 m 00 s training" in str(p.proto) for p in at.get("progress"))


# ----------------------------------------------------------------------------- 4. FID as a background job

FAKE_INCEPTION_EVALUATE = """
import sys, torch
from gan.metrics import fid
fake = fid.InceptionFeatures(torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(4), torch.nn.Flatten()),
                             "test pooling", "testpool", (-1.0, 1.0))
fid.load_inception = lambda device="cpu": fake
from gan.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


def _wait_for(at: AppTest, cond, timeout_s: float = 180.0) -> AppTest:
    import time

    deadline = time.time() + timeout_s
    while not cond(at):
        assert time.time() < deadline, [c.value for c in at.caption][-4:] + [e.value for e in at.error]
        time.sleep(1.0)
        at.run()  # run_every timers do not fire in AppTest
        assert not at.exception, [e.value for e in at.exception]
    return at


def test_fid_runs_as_a_background_job_and_its_result_is_kept(app_env, monkeypatch):
    """The real `python -m gan evaluate` in a subprocess (Inception swapped for a cheap pooling inside it): the page
    returns at once, shows progress, survives a reload, keeps the result by checkpoint + sizes, and the measured
    speed feeds the next estimate."""
    import sys

    from explorer import run_command
    from gan.__main__ import build_parser

    real = run_command.evaluate_command
    cmd = real("x.pt", 200, 500, "clf.pt")
    build_parser().parse_args(cmd[3:])  # the flags the app passes are ones the CLI accepts
    assert cmd[3:5] == ["evaluate", "--ckpt"] and "--fid" in cmd and "--json" in cmd
    monkeypatch.setattr(run_command, "evaluate_command",
                        lambda *a, **k: [sys.executable, "-c", FAKE_INCEPTION_EVALUATE] + real(*a, **k)[3:])

    at = open_page("metrics")
    assert any("not been measured on this machine" in c.value for c in at.caption)
    at.select_slider(key="met_fid_gen").set_value(200)
    at.select_slider(key="met_fid_real").set_value(500)
    at.button(key="met_fid_go").click().run(timeout=30)  # returns at once: the job runs in its own process
    assert not at.exception and at.button(key="met_fid_go").disabled
    assert at.get("progress") or at.dataframe

    again = AppTest.from_file(APP, default_timeout=120)  # a reload: a new session sees the same job
    again.session_state  # noqa: B018
    again = open_page("metrics", again)
    again.select_slider(key="met_fid_gen").set_value(200)
    again.select_slider(key="met_fid_real").set_value(500)
    again.run()
    _wait_for(again, lambda a: bool(a.dataframe) and any(
        str(m).startswith("FID") for m in a.dataframe[-1].value.get("metric", [])))
    metrics = list(again.dataframe[-1].value["metric"])
    assert any(m.startswith("FID") and "200 gen" in m and "real" in m for m in metrics), metrics  # the tiny data set has 200
    assert any("proxy, not FID" in m for m in metrics) and not any(m.startswith("FID") and "proxy" in m for m in metrics)

    third = open_page("metrics", AppTest.from_file(APP, default_timeout=120))
    third.select_slider(key="met_fid_gen").set_value(200)
    third.select_slider(key="met_fid_real").set_value(500)
    third.run()
    assert any("FID" in str(m) for m in third.dataframe[-1].value["metric"]), "the result is kept across sessions"
    third.select_slider(key="met_fid_gen").set_value(1000).run()
    assert any("images/s (measured here" in c.value for c in third.caption), [c.value for c in third.caption]


# ----------------------------------------------------------------------------- 6. projection wording

def test_projection_reports_recovered_attributes_mse_and_what_agreement_compares(app_env):
    from explorer.projection import progress_text

    at = open_page("project")
    at.button(key="proj_example").click().run()
    at.slider(key="proj_steps").set_value(25).run()
    at.button(key="proj_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    text = " ".join(i.value for i in at.info)
    assert "MSE" in text and "[−1, 1]" in text and "of 255" in text, text
    assert "Recovered attributes" in text, text
    assert "compares the classifier's two readings" in text, text
    rows = at.dataframe[-1].value
    assert "recovered c" in rows.columns and "readings agree" in rows.columns
    assert "about 1.5 s left" in progress_text(40, 100, 0.1, 1.0)


def test_small_fixes_signs_selectivity_axes_heatmap_labels(app_env):
    import numpy as np

    from explorer.analysis import SELECTIVITY, fmt_signed, score_row
    from explorer.charts import heatmap, latent_scatter

    assert fmt_signed(-0.00004) == "0.000" and fmt_signed(-0.25) == "−0.250" and fmt_signed(0.5) == "+0.500"
    probs = np.tile(np.linspace(0.2, 0.8, 5)[:, None], (1, 3))
    row = score_row("d", "mean difference", "a", probs, np.linspace(-2, 2, 5), ("a", "b", "c"))
    assert SELECTIVITY in row and "÷" in SELECTIVITY and "selectivity" not in set(row) - {SELECTIVITY}
    fig = latent_scatter({"g": np.zeros((4, 3))})
    assert (fig.layout.scene.xaxis.title.text, fig.layout.scene.yaxis.title.text,
            fig.layout.scene.zaxis.title.text) == ("PC1", "PC2", "PC3")
    labels = [f"saved: a long direction name {i}" for i in range(6)]
    hm = heatmap(np.eye(6), labels, labels, "cos")
    assert hm.layout.xaxis.tickangle and hm.layout.xaxis.automargin and hm.layout.yaxis.automargin


def test_interpolate_scrubber_and_endpoint_thumbnails(app_env):
    at = open_page("generate")
    click_faces(at, [0, 1, 2])
    at = open_page("interpolate", at)
    at.radio(key="interp_a_src").set_value("picked faces").run()
    captions = [img.caption for i in at.get("image") for img in i.proto.imgs]
    assert {"#0", "#1", "#2"} <= set(captions), captions  # the candidates are shown with their numbers
    assert any(c.startswith("chosen:") for c in captions)
    scrub = next(json.loads(e.proto.json) for e in at.get("bidi_component") if e.proto.component_name == "path_scrubber")
    steps = at.slider(key="interp_steps").value
    assert len(scrub["frames"]) == steps and scrub["captions"][-1] == f"t = 1.00 (step {steps - 1} of {steps - 1})"
    assert all(f.startswith("data:image/png;base64,") for f in scrub["frames"]) and scrub["start"] == 0


# ----------------------------------------------------------------------------- issue 15: arithmetic report card

class ColourReader:
    """A stand-in classifier with a known reading: Eyeglasses = red minus green above t0, Male = brightness above t1;
    Smiling and Young are never read. Features are the channel means."""

    attribute_names = ("Eyeglasses", "Male", "Smiling", "Young")

    def __init__(self, t0: float, t1: float):
        self.t0, self.t1 = t0, t1

    def predict_proba(self, img):
        import torch
        red = img[:, 0].mean((1, 2)) - img[:, 1].mean((1, 2))
        read = torch.stack([(red - self.t0) * 40, (img.mean((1, 2, 3)) - self.t1) * 40], 1)
        return torch.cat([torch.sigmoid(read), torch.full((len(img), 2), 0.2)], 1)

    def features(self, img):
        return img.mean((2, 3)) + 1


def test_arithmetic_report_card_through_the_pages_code(app_env, monkeypatch):
    """A − B of two groups that the classifier reads differently in one attribute only, measured as an edit by the
    loaders and views the Arithmetic page uses: it flips that attribute; A − A flips nothing."""
    from explorer import arithmetic_view, edit_view, loaders
    from gan.checkpoint import load_generator
    from gan.edits import sample_faces
    from gan.pixels import images_to_tensor

    path, mtime = str(app_env["gen"]), loaders.mtime(app_env["gen"])
    gen = load_generator(path)
    faces = sample_faces(gen, 400, 5)
    img = images_to_tensor(loaders.images_w(path, mtime, faces.w.numpy()))
    red = img[:, 0].mean((1, 2)) - img[:, 1].mean((1, 2))
    reader = ColourReader(red.median().item(), img.mean((1, 2, 3)).median().item())
    monkeypatch.setattr(loaders, "_classifier", lambda p, m: reader)
    cp, cm = "stand-in", 0.0
    read = loaders.probabilities_of(cp, cm, loaders.images_w(path, mtime, faces.w.numpy())) >= 0.5
    groups = {"A": read[:, 0] & ~read[:, 1], "B": ~read[:, 0] & ~read[:, 1]}   # differ in Eyeglasses only
    assert groups["A"].sum() > 20 and groups["B"].sum() > 20
    # the page: w of each group, their means and the result; the classifier's reading of each group's faces
    w_all = np.stack([loaders.w_of(path, mtime, faces.z[m].numpy(), faces.c[m].numpy()).mean(0)
                      for m in (groups["A"], groups["B"], groups["B"])])
    w_all = np.concatenate([w_all, (w_all[0] - w_all[1] + w_all[2])[None]]).astype(np.float32)
    reads = {g: loaders.probabilities_of(cp, cm, loaders.images_w(path, mtime, faces.w[m].numpy()))
             for g, m in groups.items()}
    names = list(reader.attribute_names)
    assert arithmetic_view.suggested_targets(reads["A"], reads["B"], names, names) == ["Eyeglasses"]
    targets = arithmetic_view.wanted_readings(reads["A"], reads["B"], names, ["Eyeglasses"])
    assert targets == (("Eyeglasses", True),)
    assert arithmetic_view.wanted_readings(reads["B"], reads["A"], names, ["Eyeglasses"]) == (("Eyeglasses", False),)

    def card(rows: np.ndarray, n: int) -> dict:
        space, delta = arithmetic_view.edit_delta(rows, "w")
        return loaders.arithmetic_card(path, mtime, cp, cm, space, delta, targets, int(groups["A"].sum()),
                                       int(groups["B"].sum()), n, 1)["Eyeglasses"]

    a_b, a_a = card(w_all, 200), card(w_all[[0, 0]], 200)
    i = a_b["strengths"].index(1.0)
    assert a_b["flip_rate"][i] > 0.3 and a_a["flip_rate"][i] == 0.0 and a_a["pixel_change"][i] == 0.0
    assert 0 < a_b["n_can_flip"] < 200 and set(a_b["off_target"]) == {"Male", "Smiling", "Young"}
    rows = edit_view.card_rows(arithmetic_view.card_labels({"Eyeglasses": a_b}))
    assert rows[0]["direction"] == "A − B → Eyeglasses on" and rows[0]["strength"] == 1.0
    assert rows[0]["could flip"] == a_b["n_can_flip"] and rows[0]["faces"] == 200
    assert card(w_all, 50)["n"] == 50
    # where P(Eyeglasses) after the edit sits among the real faces (the tiny cache's 200, read by the same reader)
    real = loaders.real_readings(path, mtime, cp, cm)["readings"]
    after, on = a_b["p_target_after"][i], real.labels[:, 0] == 1
    assert a_b["real"]["n"] == 200 and a_b["real"]["n_group"] == on.sum() > 0
    assert a_b["real"]["after"][i] == pytest.approx((real.probs[:, 0] < after).mean() * 100)
    assert a_b["real"]["after_group"][i] == pytest.approx((real.probs[on, 0] < after).mean() * 100)
    said = " ".join(edit_view.real_sentences(arithmetic_view.card_labels({"Eyeglasses": a_b})))
    assert (f"P(Eyeglasses) = {after:.2f} sits at the **{edit_view.ordinal(a_b['real']['after_group'][i])}** "
            f"percentile of the {on.sum()} real faces with Eyeglasses") in said
    assert "a fixed sample of 200 from the dataset cache" in said
    assert rows[0]["real percentile, all"].endswith(" of 200")
    assert edit_view.real_sentences({"x": a_b}, "no real faces to compare with (no cache)") == [
        "P(target) is not placed among real faces: no real faces to compare with (no cache)."]


def test_percentiles_read_as_english_ordinals():
    from explorer.edit_view import ordinal
    assert [ordinal(p) for p in (0, 1, 2, 3, 4, 11, 12, 13, 21, 22, 61.6, 100, 111)] == [
        "0th", "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "62nd", "100th", "111th"]
    assert ordinal(float("nan")) == "—"
