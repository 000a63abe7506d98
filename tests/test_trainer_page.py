"""The Trainer page in AppTest: start a tiny run from the form, watch it, stop it, resume it, refuse a second one."""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from explorer import jobs
from gan import paths

APP = str(Path(__file__).resolve().parent.parent / "explorer" / "app.py")


@pytest.fixture
def page(monkeypatch):
    """The app opened on the Trainer page (fresh caches); every run it started is killed afterwards."""
    monkeypatch.setenv("GAN_THREADS", "1")
    monkeypatch.delenv("GAN_CKPT", raising=False)
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("../pages/trainer.py")
    at.run()
    yield at
    for d in paths.runs_dir().glob("*"):
        if (d / "job.json").exists():
            pid = json.loads((d / "job.json").read_text()).get("pid")
            if pid and jobs.pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
    jobs.terminate_all(timeout_s=5)


def ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def click(at: AppTest, label: str) -> AppTest:
    [b for b in at.button if b.label == label][0].click()
    return at.run()


def metric(at: AppTest, label: str):
    return next((m.value for m in at.metric if m.label == label), None)


def rerun_until(at: AppTest, cond, timeout_s: float = 60.0) -> AppTest:
    """run_every timers do not fire in AppTest: rerun the script until cond(at) holds (bounded)."""
    deadline = time.time() + timeout_s
    while True:
        at.run()
        ok(at)
        if cond(at):
            return at
        if time.time() > deadline:
            pytest.fail(f"page never reached the expected state; captions: {[c.value for c in at.caption][-5:]}")
        time.sleep(0.5)


def fill_tiny_form(at: AppTest, name: str) -> None:
    at.number_input(key="trn_synth_n").set_value(200).run()  # outside the form: it picks the attributes
    at.radio(key="trn_unit").set_value("steps").run()  # outside the form: it chooses which budget input shows
    at.text_input(key="trn_name").set_value(name)
    at.selectbox(key="trn_ngf").set_value(8)
    at.selectbox(key="trn_ndf").set_value(8)
    at.selectbox(key="trn_batch").set_value(16)
    at.number_input(key="trn_steps").set_value(100_000)
    at.number_input(key="trn_sample_every").set_value(5)
    at.number_input(key="trn_ckpt_every").set_value(5)


def test_trainer_page_start_watch_stop_resume(page):
    at = page
    ok(at)
    assert any(b.label == "Start training" for b in at.button)

    # Start a tiny run from the form.
    fill_tiny_form(at, "pagerun")
    click(at, "Start training")
    ok(at)
    assert jobs.run_info("pagerun").running
    assert any("pagerun" in s.value for s in at.success)

    # The live panel shows the step counter moving and a preview grid.
    rerun_until(at, lambda a: (metric(a, "step") or "0") not in ("0", 0) and len(a.get("image")) > 0)

    # A second start while it runs is refused, naming the active run.
    fill_tiny_form(at, "second")
    click(at, "Start training")
    assert any("pagerun" in e.value for e in at.error), [e.value for e in at.error]
    assert not (paths.runs_dir() / "second").exists()

    # Stop: the page says stopped, and the checkpoint is in the sidebar picker at once.
    at.button(key="trn_stop").click().run()
    ok(at)
    rerun_until(at, lambda a: any("Status: **stopped**" in c.value for c in a.caption))
    stopped_at = jobs.run_info("pagerun").step
    assert any("pagerun" in o for o in at.selectbox(key="app_ckpt").options)

    # Live metrics on demand: conditioning accuracy and the proxy (clearly labelled), recorded in metrics.jsonl.
    # The shipped classifier reads the synthetic attributes, so evaluation must succeed: an error shown on the page
    # (or raised) fails the test.
    at.button(key="trn_eval").click().run(timeout=120)
    ok(at)
    assert not at.error, [e.value for e in at.error]
    assert (paths.runs_dir() / "pagerun" / "metrics.jsonl").exists()
    assert metric(at, "attribute balanced accuracy") not in (None, "—")
    assert any("proxy, not FID" in m.label for m in at.metric)

    # Resume continues past the previous step.
    at.button(key="trn_resume").click().run()
    ok(at)
    assert jobs.run_info("pagerun").running
    rerun_until(at, lambda a: int(metric(a, "step") or 0) > stopped_at)
    jobs.stop("pagerun")
    assert jobs.wait("pagerun", timeout_s=60).state == "stopped"


def test_half_written_grid_falls_back_to_the_previous_one(tmp_path):
    """The trainer writes preview grids in place: the page must never hand st.image a truncated PNG."""
    from PIL import Image

    from explorer.run_view import fmt_duration, guard_rows, latest_grid, sample_grids

    Image.new("RGB", (8, 8), (255, 0, 0)).save(tmp_path / "samples_000010.png")
    full = (tmp_path / "samples_000010.png").read_bytes()
    (tmp_path / "samples_000020.png").write_bytes(full[: len(full) // 2])  # still being written
    step, data = latest_grid(sample_grids(tmp_path))
    assert step == 10 and data == full
    assert fmt_duration(65) == "1 m 05 s" and fmt_duration(None) == "—"
    rows = guard_rows([{"step": 50, "guard": [{"guard": "restore", "network": "D", "loss": 7.1, "restored_from_step": 25}]}])
    assert rows[0]["step"] == 50 and rows[0]["network"] == "D" and rows[0]["restored from step"] == 25


def test_live_variety_panel_plots_the_trainers_measurements(page):
    """A finished run whose trainer measured variety every 2 steps: the page plots those lines and the latent PCA."""
    from gan.models import ModelConfig
    from gan.train import TrainConfig, train

    out = paths.runs_dir() / "liverun"
    train(TrainConfig(data="synthetic:200", size=32, steps=4, batch=8, metrics_every=2, sample_every=2, ckpt_every=2,
                      log_every=1, out=str(out), progress=False, model=ModelConfig(ngf=8, ndf=8)))
    at = page
    at.run()
    at.selectbox(key="trn_selected").set_value("liverun").run()
    ok(at)
    charts = at.get("plotly_chart")
    assert len(charts) >= 4, len(charts)  # losses, D outputs, live variety, live PCA
    live = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in live] == [2, 4] and all("intra_condition_diversity_ratio" in r for r in live)
    assert any(w.value.startswith("Collapse warning") for w in at.warning) == (live[-1]["intra_condition_diversity_ratio"] < 0.3)
