"""Threat: faults — SIGKILL mid-write, NaN/inf losses, a full disk, concurrent writers, a dying training process,
damaged files left behind (run folders, the store).

Nothing saved is lost: the last complete checkpoint always loads and resumes, no NaN checkpoint is ever written,
every acknowledged latent is in the store. Already proved elsewhere (not repeated here):
  tests/test_train.py::test_sigkill_leaves_loadable_checkpoint       (kill at an arbitrary step)
  tests/test_train.py::test_guard_restores_after_nan, ::test_guard_stops_after_too_many_restores
  tests/test_train.py::test_graceful_stop_exits_zero_with_status_stopped
  tests/test_store.py::test_two_processes_write_concurrently, ::test_threads_share_one_store_object
  tests/test_jobs.py::test_killed_run_shows_failed_with_log_tail_and_keeps_its_checkpoint  (the app's view of a
      training process that died: state failed, exit code, log tail, checkpoint kept)
  tests/test_prepare.py::test_interrupted_prepare_resumes_from_finished_chunks
"""
from __future__ import annotations

import errno
import io
import json
import os
import random
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.store import LatentStore
from gan import losses
from gan.checkpoint import load_checkpoint, load_generator, save_checkpoint, sha256
from gan.data.cache import write_cache
from gan.guard import GuardStop
from gan.models import ModelConfig
from gan.train import TrainConfig, train

REPO = Path(__file__).resolve().parent.parent
NAMES = ["Smiling", "Male", "Eyeglasses"]
G_LOSS = losses.g_loss
ENV = {**os.environ, "GAN_THREADS": "1", "PYTHONPATH": str(REPO)}


@pytest.fixture
def cache(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    attrs = rng.integers(0, 2, (48, 3), dtype=np.uint8)
    images = rng.integers(0, 255, (48, 32, 32, 3), dtype=np.uint8)
    return write_cache(tmp_path / "cache", images, attrs, np.zeros(48, np.uint8), [f"t:{i}" for i in range(48)],
                       {"source": "test", "crop": None, "attribute_names": NAMES})


def cfg(cache: Path, out: Path, **kw) -> TrainConfig:
    base = TrainConfig(data=f"cache:{cache}", size=32, steps=6, batch=8, log_every=1, sample_every=100, ckpt_every=2,
                       out=str(out), progress=False, model=ModelConfig(ngf=8, ndf=8))
    return replace(base, **kw)


def _finite(ck: dict) -> bool:
    """Every floating tensor of the networks *and* the optimiser states is finite (a NaN Adam moment poisons a resume)."""
    def ok(x) -> bool:
        if isinstance(x, torch.Tensor):
            return not x.is_floating_point() or bool(torch.isfinite(x).all())
        if isinstance(x, dict):
            return all(ok(v) for v in x.values())
        if isinstance(x, (list, tuple)):
            return all(ok(v) for v in x)
        return True
    return all(ok(ck[k]) for k in ("G", "G_ema", "D", "opt_G", "opt_D") if k in ck)


def _temps(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.tmp"))


# ----------------------------------------------------------------------------- SIGKILL during a checkpoint write

SAVER = """
import sys, torch
from gan.checkpoint import save_checkpoint
path, step = sys.argv[1], int(sys.argv[2])
big = torch.arange(6_000_000, dtype=torch.float32)  # 24 MB: a write takes long enough for kills to land inside it
while True:
    step += 1
    save_checkpoint(path, {"format_version": 1, "kind": "blob", "step": step, "data": big + step})
    print(step, flush=True)
"""


@pytest.mark.slow
def test_sigkill_at_random_moments_of_checkpoint_writes_never_loses_the_last_one(tmp_path):
    path = tmp_path / "ckpt" / "checkpoint.pt"
    rng = random.Random(0)
    acked, landed_mid_write = 0, 0
    for _ in range(4):
        proc = subprocess.Popen([sys.executable, "-c", SAVER, str(path), str(acked)], cwd=REPO, env=ENV,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            first = proc.stdout.readline()  # one complete save in this round, then a kill at a random moment
            assert first.strip(), proc.stderr.read()
            time.sleep(rng.uniform(0.0, 0.6))
        finally:
            proc.kill()
            out, _ = proc.communicate(timeout=30)
        acked = int(([first] + out.split())[-1])
        landed_mid_write += bool(_temps(path.parent))
        ck = load_checkpoint(path)  # the last complete file, whole
        assert ck["step"] >= acked
        data = ck["data"]
        assert data.shape == (6_000_000,) and data[0] == ck["step"] and data[-1] == 5_999_999 + ck["step"]
        acked = ck["step"]
    save_checkpoint(path, {"format_version": 1, "kind": "blob", "step": -1})
    assert _temps(path.parent) == []  # temp files of killed writers are cleaned up by the next save
    print(f"{landed_mid_write}/4 kills landed during a write")


KILL_MID_WRITE = """
import io, sys, time, torch
real, calls = torch.save, [0]
def save(obj, f, *a, **k):  # the 3rd checkpoint: write half of it, say so, then hang until killed
    calls[0] += 1
    if calls[0] < 3:
        return real(obj, f, *a, **k)
    buf = io.BytesIO()
    real(obj, buf, *a, **k)
    f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
    f.flush()
    open(sys.argv[1], "w").write(str(obj["step"]))
    time.sleep(600)
torch.save = save
from gan.__main__ import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.slow
def test_kill_landing_inside_a_checkpoint_write_keeps_the_previous_one_and_resume_works(cache, tmp_path):
    out, marker = tmp_path / "run", tmp_path / "writing"
    args = ["train", "--data", f"cache:{cache}", "--size", "32", "--batch", "8", "--ngf", "8", "--ndf", "8",
            "--log-every", "1", "--ckpt-every", "2", "--steps", "0", "--sample-every", "100", "--out", str(out),
            "--no-progress"]
    proc = subprocess.Popen([sys.executable, "-c", KILL_MID_WRITE, str(marker), *args], cwd=REPO, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read()
            assert time.time() < deadline, "the third checkpoint write never started"
            time.sleep(0.05)
        assert _temps(out), "the half-written temp file is there while the kill lands"
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    writing_step = int(marker.read_text())
    gen = load_generator(out / "checkpoint.pt")
    assert gen.step == writing_step - 2  # the previous checkpoint, complete
    result = train(cfg(cache, out, resume=True, steps=gen.step + 4))
    assert result["state"] == "finished" and result["step"] == gen.step + 4
    assert load_checkpoint(out / "checkpoint.pt")["step"] == gen.step + 4
    assert _temps(out) == []  # the killed writer's half file is gone


# ----------------------------------------------------------------------------- NaN / inf losses

def _record_saves(monkeypatch) -> list[bool]:
    """Finiteness of every checkpoint payload train() writes."""
    import gan.train as T

    seen: list[bool] = []
    real = T.save_checkpoint

    def spy(path, payload):
        seen.append(_finite(payload))
        return real(path, payload)
    monkeypatch.setattr(T, "save_checkpoint", spy)
    return seen


def _poison(monkeypatch, name: str, when) -> None:
    real = getattr(losses, name)
    calls = {"n": 0}

    def poisoned(*a, **k):
        out = real(*a, **k)
        calls["n"] += 1
        if when(calls["n"]):
            bad = float("nan") if name == "g_loss" else float("inf")
            return tuple(x * bad for x in out) if isinstance(out, tuple) else out * bad
        return out
    monkeypatch.setattr(losses, name, poisoned)


def test_inf_d_loss_is_rolled_back_and_training_goes_on(cache, tmp_path, monkeypatch):
    seen = _record_saves(monkeypatch)
    _poison(monkeypatch, "d_loss", lambda n: n == 3)
    out = tmp_path / "run"
    result = train(cfg(cache, out))
    assert result["state"] == "finished"
    events = [json.loads(x) for x in (out / "events.jsonl").read_text().splitlines()]
    assert any(a.get("guard") == "restore" and a["network"] == "D" for e in events for a in e.get("guard", []))
    assert seen and all(seen) and _finite(load_checkpoint(out / "checkpoint.pt"))


def test_persistent_nan_stops_the_run_with_a_message_and_no_nan_checkpoint(cache, tmp_path, monkeypatch):
    seen = _record_saves(monkeypatch)
    _poison(monkeypatch, "g_loss", lambda n: n >= 3)
    out = tmp_path / "run"
    with pytest.raises(GuardStop, match="restores within"):
        train(cfg(cache, out, steps=40, guard_max_restores=3))
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "failed" and "collapse guard" in status["message"] and "learning rate" in status["message"]
    assert seen and all(seen), "a checkpoint with NaN weights was written"
    ck = load_checkpoint(out / "checkpoint.pt")
    assert _finite(ck) and ck["step"] >= 2
    monkeypatch.setattr(losses, "g_loss", G_LOSS)  # the cause fixed (e.g. a lower learning rate): the run resumes
    assert train(cfg(cache, out, resume=True, steps=ck["step"] + 2))["state"] == "finished"


def test_without_the_guard_nan_weights_are_never_checkpointed(cache, tmp_path, monkeypatch):
    seen = _record_saves(monkeypatch)
    _poison(monkeypatch, "g_loss", lambda n: n >= 3)
    out = tmp_path / "run"
    result = train(cfg(cache, out, guard=False))
    assert result["state"] == "failed" and "non-finite weights" in result["message"]
    assert "last good checkpoint.pt is kept" in json.loads((out / "status.json").read_text())["message"]
    assert seen == [True]  # only the step-2 checkpoint, from before the poison took hold
    ck = load_checkpoint(out / "checkpoint.pt")
    assert ck["step"] == 2 and _finite(ck)


# ----------------------------------------------------------------------------- a full disk

def test_disk_full_during_a_checkpoint_keeps_the_old_one_and_fails_the_run(cache, tmp_path, monkeypatch):
    """ENOSPC injected into the write of the second checkpoint (after half the bytes went out)."""
    out = tmp_path / "run"
    real = torch.save
    state = {"calls": 0, "sha": None}

    def full_disk(obj, f, *a, **k):
        state["calls"] += 1
        if state["calls"] == 1:
            return real(obj, f, *a, **k)
        state["sha"] = sha256(out / "checkpoint.pt")
        buf = io.BytesIO()
        real(obj, buf, *a, **k)
        f.write(buf.getvalue()[:1000])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError, match="No space left"):
        train(cfg(cache, out))
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "failed" and "No space left on device" in status["message"]
    assert sha256(out / "checkpoint.pt") == state["sha"]  # byte-for-byte the checkpoint from before
    assert load_generator(out / "checkpoint.pt").step == 2
    assert _temps(out) == []


def _mount_tmpfs(where: Path, size: int) -> bool:
    where.mkdir(parents=True)
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


@pytest.mark.slow
def test_real_full_disk_on_a_tiny_tmpfs(cache, tmp_path):
    """The same on a real file system that fills up: room for one checkpoint, not two (old + new during the swap)."""
    probe = tmp_path / "probe"
    train(cfg(cache, probe, steps=2))
    size = (probe / "checkpoint.pt").stat().st_size
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, int(size * 1.5) + 256 * 1024):
        pytest.skip("tmpfs cannot be mounted here (needs root); "
                    "test_disk_full_during_a_checkpoint_keeps_the_old_one_and_fails_the_run proves the same path")
    try:
        out = disk / "run"
        with pytest.raises(OSError, match="No space left"):
            train(cfg(cache, out))
        status = json.loads((out / "status.json").read_text())
        assert status["state"] == "failed" and "No space left on device" in status["message"]
        assert load_generator(out / "checkpoint.pt").step == 2
        assert _temps(out) == []
    finally:
        subprocess.run(["umount", str(disk)], stdin=subprocess.DEVNULL, capture_output=True, timeout=30)


# ----------------------------------------------------------------------------- the store under kills and contention

STORE_WRITER = """
import sys, numpy as np
from explorer.store import LatentStore
store, rng, n = LatentStore(sys.argv[1]), np.random.default_rng(int(sys.argv[2])), 0
while True:
    store.add_latents("batches", rng.standard_normal((50, 8)).astype("f4"), np.zeros((50, 2), "f4"), ["a", "b"], "ck")
    n += 1
    print(n, flush=True)
"""


def test_sigkill_in_the_middle_of_store_writes_keeps_every_committed_batch_whole(tmp_path):
    path = tmp_path / "s.sqlite"
    LatentStore(path)
    rng = random.Random(1)
    acked = 0
    for seed in range(3):
        proc = subprocess.Popen([sys.executable, "-c", STORE_WRITER, str(path), str(seed)], cwd=REPO, env=ENV,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip(), proc.stderr.read()
            time.sleep(rng.uniform(0.0, 0.4))
        finally:
            proc.kill()
            out, _ = proc.communicate(timeout=30)
        acked += 1 + len(out.split())
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        n = len(LatentStore(path).get_latents("batches"))
        assert n % 50 == 0 and n >= acked * 50  # whole batches only, none acknowledged is missing


APP_WRITER = """
import sys, time, numpy as np
from explorer import widgets
from explorer.faces import faces_from_arrays
rng, n, end = np.random.default_rng(int(sys.argv[1])), 0, time.time() + float(sys.argv[2])
img = np.zeros((1, 32, 32, 3), np.uint8)
while time.time() < end:
    faces = faces_from_arrays(rng.standard_normal((1, 8)), np.zeros((1, 2)), [int(sys.argv[1])], [n], "ck", ("a", "b"))
    widgets.store_faces("shared from two tabs", faces, img)  # what the Save form does
    n += 1
print(n)
"""


@pytest.mark.slow
def test_two_app_processes_saving_to_one_collection_lose_nothing(tmp_path):
    """The app-level variant of test_store.py's two writers: the save form's path (loaders.store + store_faces,
    collection created on first save) from two processes at once, for a few seconds."""
    env = {**ENV, "GAN_STORE": str(tmp_path / "s.sqlite"), "GAN_WORKSPACE": str(tmp_path / "ws")}
    procs = [subprocess.Popen([sys.executable, "-c", APP_WRITER, str(seed), "3"], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
    acked = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
        acked.append(int(out.strip().splitlines()[-1]))
    s = LatentStore(tmp_path / "s.sqlite").get_latents("shared from two tabs")
    assert all(a > 0 for a in acked)
    assert [int((s.seeds == seed).sum()) for seed in (1, 2)] == acked
    assert all(t is not None for t in s.thumbnails)


# ----------------------------------------------------------------------------- damaged files left behind

DAMAGED_RUN_FILES = {
    "binary status.json": {"status.json": b"\x00\xffgarbage"},
    "status.json is a list": {"status.json": b"[1, 2, 3]"},
    "status.json with wrong types": {"status.json": json.dumps({"state": "weird", "pid": "abc", "step": "x",
                                                                "started": [], "updated": None}).encode()},
    "job.json is not JSON": {"job.json": b"{{{", "status.json": b'{"state": "running", "pid": 1}'},
    "job.json with wrong types": {"job.json": json.dumps({"pid": "1", "started": "yesterday",
                                                          "elapsed_before": "x"}).encode()},
    "torn events.jsonl": {"events.jsonl": b"\xff\xfe\n{\"step\": \"a\"}\n[1]\n{\"st", "status.json": b'{"state": "finished"}'},
    "odd event values, fake PNG, binary log": {
        "status.json": b'{"state": "finished", "step": 5, "pid": 1, "started": "2020-01-01T00:00:00+00:00"}',
        "events.jsonl": b'{"step": 1, "Loss/G": "abc", "guard": [1, {"guard": "restore"}]}\n{"step": "x", "Loss/G": 1e400}\n',
        "samples_000001.png": b"not a png", "log.txt": b"\xff\xfe binary log \x00"},
}


def test_damaged_run_folders_are_listed_as_failed_not_a_crash(monkeypatch):
    """A run folder whose JSON files were damaged (disk full, hand-edited, another version): the Trainer page's
    list of runs still loads, and such a run reads as failed / finished instead of raising."""
    from explorer import jobs
    from gan import paths

    for k, files in enumerate(DAMAGED_RUN_FILES.values()):
        d = paths.runs_dir() / f"damaged-{k}"
        d.mkdir(parents=True)
        for name, data in files.items():
            (d / name).write_bytes(data)
    runs = jobs.list_runs()
    assert len(runs) == len(DAMAGED_RUN_FILES)
    assert {r.state for r in runs} <= {"failed", "finished"}
    assert not jobs.active_runs()  # none of them blocks a new start
    # The Trainer page lists them and shows each one's panel without a traceback.
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "explorer" / "app.py"), default_timeout=120)
    at.switch_page("../pages/trainer.py").run()
    assert not at.exception, [e.value for e in at.exception]
    for r in runs:
        at.session_state["trn_selected"] = r.name
        at.run()
        assert not at.exception, (r.name, [e.value for e in at.exception])


def test_a_store_file_that_is_not_a_database_is_a_message_and_other_pages_still_work(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from explorer.demo import make_tiny_generator
    from explorer.store import StoreError
    from gan import paths

    paths.store_path().parent.mkdir(parents=True, exist_ok=True)
    paths.store_path().write_bytes(b"this is not an SQLite database" * 100)
    with pytest.raises(StoreError, match="store"):
        LatentStore()
    monkeypatch.setenv("GAN_CKPT", str(make_tiny_generator(tmp_path / "g.pt")))
    monkeypatch.setenv("GAN_CLASSIFIER", str(tmp_path / "none.pt"))
    at = AppTest.from_file(str(REPO / "explorer" / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception and list(at.get("image")), "Generate works without the store"
    at.switch_page("../pages/workspace.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Cannot open the latent store" in e.value for e in at.error)
