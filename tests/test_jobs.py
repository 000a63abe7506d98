"""Training-run process control (explorer.jobs) with real `python -m gan train` subprocesses on tiny runs."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from explorer import jobs
from gan import paths
from gan.checkpoint import load_generator

# 32 px, ngf 8, 200 synthetic faces: a step takes milliseconds; a large budget so runs go on until stopped.
TINY = {"data": "synthetic:200", "size": 32, "batch": 16, "steps": 100_000, "log_every": 2, "sample_every": 5,
        "ckpt_every": 5, "model.ngf": 8, "model.ndf": 8}


@pytest.fixture(autouse=True)
def reap(monkeypatch):
    """One torch thread per run; every process a test started is ended in teardown, even when the test failed."""
    monkeypatch.setenv("GAN_THREADS", "1")
    yield
    for d in paths.runs_dir().glob("*"):
        job = (d / "job.json")
        if job.exists():
            pid = json.loads(job.read_text()).get("pid")
            if pid and jobs.pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
    jobs.terminate_all(timeout_s=5)


def poll(name: str, until, timeout_s: float = 90.0) -> jobs.RunInfo:
    """run_info(name) every 0.25 s until `until(info)` holds (fails the test after timeout_s)."""
    deadline = time.time() + timeout_s
    while True:
        info = jobs.run_info(name)
        if until(info):
            return info
        if time.time() > deadline:
            pytest.fail(f"timed out waiting on {name}: {info}\n{info.log_tail(20)}")
        if not info.running:
            pytest.fail(f"{name} ended early: {info.state} {info.message}\n{info.log_tail(20)}")
        time.sleep(0.25)


def grids(info: jobs.RunInfo) -> list:
    return sorted(p.name for p in info.path.glob("samples_*.png"))


def test_start_watch_stop_resume_and_refuse_a_second_run():
    info = jobs.start("first", TINY)
    assert info.state == "running" and info.path == paths.runs_dir() / "first"
    assert (info.path / "log.txt").exists()

    # A second concurrent start is refused, naming the active run; nothing is created for it.
    with pytest.raises(jobs.JobError, match="first"):
        jobs.start("second", TINY)
    assert not (paths.runs_dir() / "second").exists()

    # The step counter advances and preview grids appear.
    info = poll("first", lambda i: i.step >= 10 and len(grids(i)) >= 2)
    assert info.running and info.images_per_s and info.last_event.get("Loss/G") is not None

    # Stop: the run finishes its step, saves and says "stopped"; the checkpoint loads.
    jobs.stop("first")
    info = jobs.wait("first", timeout_s=60)
    assert info.state == "stopped", (info.message, info.log_tail())
    stopped_at = info.step
    gen = load_generator(info.checkpoint)
    assert gen.step == stopped_at >= 10

    # Resume continues past the previous step, in the same folder.
    info = jobs.resume("first")
    assert info.running
    info = poll("first", lambda i: i.step > stopped_at + 4)
    jobs.stop("first")
    info = jobs.wait("first", timeout_s=60)
    assert info.state == "stopped" and info.step > stopped_at
    assert load_generator(info.checkpoint).step == info.step
    assert [r.name for r in jobs.list_runs()] == ["first"]
    assert "--resume" in (info.path / "log.txt").read_text()


def test_killed_run_shows_failed_with_log_tail_and_keeps_its_checkpoint():
    jobs.start("victim", TINY)
    info = poll("victim", lambda i: i.has_checkpoint and i.step >= 6)
    os.kill(info.pid, signal.SIGKILL)
    deadline = time.time() + 10
    while jobs.run_info("victim").running and time.time() < deadline:
        time.sleep(0.1)
    info = jobs.run_info("victim")
    assert info.state == "failed"
    assert info.exit_code == -signal.SIGKILL and "SIGKILL" in info.message
    assert info.log_tail(5).strip()
    assert load_generator(info.checkpoint).step >= 5
    assert not jobs.active_runs()  # a dead run does not block the next start


def test_run_that_cannot_start_is_failed_with_exit_code():
    jobs.start("bad", dict(TINY, data="folder:/nonexistent/faces"))
    info = jobs.wait("bad", timeout_s=60)
    assert info.state == "failed"
    assert info.exit_code == 1
    assert "error" in info.log_tail(10).lower()


def test_stale_running_status_from_a_dead_process_is_failed():
    """A run started outside the app (no job.json) whose process is gone, e.g. after a reboot."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    d = paths.runs_dir() / "orphan"
    d.mkdir(parents=True)
    (d / "status.json").write_text(json.dumps({"state": "running", "pid": p.pid, "step": 7, "started": "2020-01-01T00:00:00+00:00",
                                               "updated": "2020-01-01T00:01:00+00:00"}))
    info = jobs.run_info("orphan")
    assert info.state == "failed" and info.step == 7
    assert not jobs.active_runs()


@pytest.mark.parametrize("name", ["../escape", "a/b", "/abs", "..", ".hidden", "a b", "x" * 65, "", "a\\b", "ok..no",
                                  "run;rm -rf", "naïve"])
def test_hostile_run_names_are_refused(name):
    with pytest.raises(jobs.JobError):
        jobs.start(name, TINY)
    assert not paths.runs_dir().exists()  # refused before any folder is made


def test_slug_and_suggested_names_are_safe():
    assert jobs.slugify("../My run/#1") == "My-run-1"
    assert jobs.check_name(jobs.suggest_name()).startswith("run-")
    assert jobs.check_name("celeba_64.v2") == "celeba_64.v2"


def test_train_command_is_an_argument_list_from_the_trainers_options(tmp_path):
    cmd = jobs.train_command({"data": "synthetic:200", "attrs": ["Male", "Smiling"], "guard": False, "ema": 0.0,
                              "model.spectral_norm": True, "model.d_cond": "concat", "init": ""}, tmp_path / "r")
    assert cmd[:4] == [sys.executable, "-m", "gan", "train"]
    assert "--no-guard" in cmd and "--spectral-norm" in cmd
    assert cmd[cmd.index("--attrs") + 1] == "Male,Smiling" and cmd[cmd.index("--d-cond") + 1] == "concat"
    assert cmd[-3:] == ["--out", str(tmp_path / "r"), "--no-progress"]
    with pytest.raises(jobs.JobError):
        jobs.train_command({"bogus": 1}, tmp_path / "r")
