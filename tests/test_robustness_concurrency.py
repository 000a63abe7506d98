"""Threat: two processes writing one run folder, and commands that rewrite shipped files (issue 13, classes 3, 4).

A second `gan train` on a folder a live run holds stops at once with one message naming the owner; a lock left
by a dead process is taken over; `evaluate` never records into a checkpoint whose run is live; the shipped
checkpoints change only when the user names them and asks (`--record`)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gan import paths
from gan.__main__ import build_parser, main
from gan.runlock import LOCK_NAME, RunLock, RunLocked, proc_start, read_owner

REPO = Path(__file__).resolve().parent.parent


def _tiny_cache(root: Path) -> Path:
    from gan.data.cache import write_cache
    rng = np.random.default_rng(0)
    return write_cache(root, rng.integers(0, 255, (24, 32, 32, 3), dtype=np.uint8),
                       rng.integers(0, 2, (24, 2), dtype=np.uint8), np.zeros(24, np.uint8),
                       [f"t{i}" for i in range(24)], {"source": "t", "crop": None, "attribute_names": ["Smiling", "Male"]})


def _train_argv(cache: Path, out: Path, steps: int) -> list[str]:
    return [sys.executable, "-m", "gan", "train", "--data", f"cache:{cache}", "--size", "32", "--steps", str(steps),
            "--batch", "8", "--ngf", "8", "--ndf", "8", "--z-dim", "8", "--c-embed-dim", "8", "--arch", "dcgan",
            "--log-every", "1", "--sample-every", "1000000", "--ckpt-every", "1000000", "--metrics-every", "0",
            "--no-progress", "--device", "cpu", "--out", str(out)]


@pytest.mark.slow
def test_second_train_on_a_live_run_folder_fails_at_once(tmp_path):
    cache = _tiny_cache(tmp_path / "cache")
    out = tmp_path / "run"
    env = dict(os.environ, GAN_THREADS="1")
    first = subprocess.Popen(_train_argv(cache, out, 10 ** 6), cwd=REPO, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (out / "events.jsonl").exists():
            assert first.poll() is None, first.communicate()
            time.sleep(0.2)
        owner = read_owner(out)
        assert owner and owner["pid"] == first.pid
        for extra in ([], ["--resume"]):
            t0 = time.time()
            second = subprocess.run(_train_argv(cache, out, 3) + extra, cwd=REPO, env=env, capture_output=True,
                                    text=True, timeout=120)
            assert second.returncode != 0, second.stdout
            assert "in use by another process" in second.stderr and f"pid {first.pid}" in second.stderr
            assert "Traceback" not in second.stderr and time.time() - t0 < 60
        assert json.loads((out / "status.json").read_text())["pid"] == first.pid  # the live run's status untouched
        (out / "STOP").touch()
        first.wait(timeout=120)
        assert first.returncode == 0
    finally:
        if first.poll() is None:
            first.kill()
    steps = [json.loads(line)["step"] for line in (out / "events.jsonl").read_text().splitlines()
             if "step" in json.loads(line)]
    assert steps == sorted(steps) and len(steps) == len(set(steps))  # one writer: no duplicates, no reversals
    assert not (out / LOCK_NAME).exists()  # released on exit


def test_stale_lock_files_are_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": int(dead.stdout), "proc_start": 1, "command": "train"}))
    assert read_owner(tmp_path) is None
    me = {"pid": os.getpid(), "proc_start": proc_start(os.getpid())}
    (tmp_path / LOCK_NAME).write_text(json.dumps({**me, "proc_start": (me["proc_start"] or 0) + 12345}))
    assert read_owner(tmp_path) is None  # a reused pid: same number, another start time
    (tmp_path / LOCK_NAME).write_text("garbage from a crash mid-write")
    with RunLock(tmp_path, "train"):
        assert read_owner(tmp_path)["pid"] == os.getpid()
        with pytest.raises(RunLocked, match=f"pid {os.getpid()}"):
            RunLock(tmp_path, "train").acquire()
    assert not (tmp_path / LOCK_NAME).exists()


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """A checkpoints/ folder of tiny stand-ins (the real shipped files are never written by tests)."""
    from explorer.demo import make_tiny_classifier, make_tiny_generator
    ck = tmp_path / "checkpoints"
    monkeypatch.setattr(paths, "CHECKPOINTS_DIR", ck)
    return make_tiny_generator(ck / "default.pt"), make_tiny_classifier(ck / "default_classifier.pt")


def _evaluate(gpath, cpath, *extra) -> int:
    return main(["evaluate", "--ckpt", str(gpath), "--classifier", str(cpath), "--n", "8", "--no-proxy",
                 "--no-diversity", *extra])


def test_evaluate_leaves_shipped_checkpoints_alone_unless_asked(shipped, capsys):
    gpath, cpath = shipped
    before = gpath.read_bytes()
    assert _evaluate(gpath, cpath) == 0
    assert gpath.read_bytes() == before
    assert "not recorded" in capsys.readouterr().out
    assert _evaluate(gpath, cpath, "--record") == 0
    assert gpath.read_bytes() != before


def test_evaluate_will_not_record_while_a_run_holds_the_folder(shipped, tmp_path, capsys):
    gpath, cpath = shipped
    run = tmp_path / "runs" / "live"
    run.mkdir(parents=True)
    ckpt = run / "checkpoint.pt"
    ckpt.write_bytes(gpath.read_bytes())
    before = ckpt.read_bytes()
    with RunLock(run, "train"):
        assert _evaluate(ckpt, cpath) == 2
        assert "in use by another process" in capsys.readouterr().err
        assert ckpt.read_bytes() == before
        assert _evaluate(ckpt, cpath, "--no-record") == 0  # measuring alone is fine
    assert _evaluate(ckpt, cpath) == 0  # the run has finished: recorded by default in a run folder
    assert ckpt.read_bytes() != before


def test_classifier_and_encoder_training_do_not_default_to_shipped_files():
    for cmd in (["classifier", "train"], ["encoder", "train"]):
        args = build_parser(cmd[0]).parse_args(cmd)
        assert args.out is None or "checkpoints" not in str(args.out)
    help_text = build_parser("classifier").format_help() + build_parser("encoder").format_help()
    assert "checkpoints/default_classifier.pt" not in help_text
