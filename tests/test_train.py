"""Training: a few-step run on tiny data writes the run folder; resume is bit-exact; stop, kill, guard and DDP."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from gan import losses
from gan.__main__ import main
from gan.checkpoint import CheckpointError, load_checkpoint, load_generator
from gan.data.cache import write_cache
from gan.guard import CollapseGuard, GuardConfig, GuardStop
from gan.models import ModelConfig
from gan.train import TrainConfig, train

REPO = Path(__file__).resolve().parent.parent
NAMES = ["Smiling", "Male", "Eyeglasses"]


@pytest.fixture
def tiny_cache(tmp_path) -> Path:
    """64 patterned 32x32 faces-to-be with 3 attributes; bright top half when Smiling."""
    rng = np.random.default_rng(0)
    attrs = rng.integers(0, 2, (64, 3), dtype=np.uint8)
    images = rng.integers(0, 80, (64, 32, 32, 3), dtype=np.uint8)
    images[attrs[:, 0] == 1, :16] += 150
    split = np.zeros(64, np.uint8)
    split[-8:] = 1
    return write_cache(tmp_path / "cache", images, attrs, split, [f"t:{i}" for i in range(64)],
                       {"source": "test", "crop": None, "attribute_names": NAMES})


def tiny_cfg(cache: Path, out: Path, **kw) -> TrainConfig:
    base = TrainConfig(data=f"cache:{cache}", size=32, steps=4, batch=8, log_every=1, sample_every=2, ckpt_every=2,
                       out=str(out), progress=False, model=ModelConfig(ngf=8, ndf=8))
    return replace(base, **kw)


def cli_args(cache: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--data", f"cache:{cache}", "--size", "32", "--batch", "8", "--ngf", "8", "--ndf", "8",
            "--log-every", "1", "--out", str(out), "--no-progress", *extra]


def test_smoke_run_writes_run_folder(tiny_cache, tmp_path):
    out = tmp_path / "run"
    result = train(tiny_cfg(tiny_cache, out))
    assert result["state"] == "finished" and result["step"] == 4
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["c_dim"] == 3 and config["model"]["img_resolution"] == 32 and config["steps"] == 4
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "finished" and status["step"] == 4 and status["pid"] == os.getpid()
    assert status["images_per_s"] > 0 and status["total_steps"] == 4
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert [e["step"] for e in events] == [1, 2, 3, 4]
    for key in ("time", "Loss/D/real", "Loss/D/fake", "Loss/G", "D(x)", "D(G(z))", "lr/G", "lr/D", "images_per_s"):
        assert key in events[0]
    assert sorted(p.name for p in out.glob("samples_*.png")) == [f"samples_00000{i}.png" for i in (0, 2, 4)]
    ckpt = load_checkpoint(out / "checkpoint.pt", expected_kind="generator")
    assert ckpt["step"] == 4 and ckpt["attribute_names"] == NAMES
    assert ckpt["label_rows"].shape[1] == 3 and int(ckpt["label_counts"].sum()) == 56  # train split only
    assert ckpt["train_config"]["data"] == f"cache:{tiny_cache}"
    gen = load_generator(out / "checkpoint.pt")
    assert gen.G(torch.randn(2, 100), torch.ones(2, 3)).shape == (2, 3, 32, 32)


def test_cli_help_and_refusals(tiny_cache, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--data", "--attrs", "--steps", "--minutes", "--resume", "--init", "--d-cond", "--guard-d-band"):
        assert flag in text
    out = tmp_path / "run"
    assert main(cli_args(tiny_cache, out, "--steps", "2", "--attrs", "Smiling,Male")) == 0
    assert load_checkpoint(out / "checkpoint.pt")["attribute_names"] == ["Smiling", "Male"]
    # A second run into the same folder without --resume is refused (nothing overwritten).
    assert main(cli_args(tiny_cache, out, "--steps", "2")) == 1
    # --init from a checkpoint with other attributes is refused, naming the difference.
    assert main(cli_args(tiny_cache, tmp_path / "ft", "--steps", "2", "--init", str(out / "checkpoint.pt"))) == 1
    assert "Eyeglasses" in capsys.readouterr().err
    # --init with matching attributes fine-tunes from step 0.
    assert main(cli_args(tiny_cache, tmp_path / "ft2", "--steps", "1", "--attrs", "Smiling,Male",
                         "--init", str(out / "checkpoint.pt"))) == 0


def _weights(path: Path) -> dict:
    ckpt = load_checkpoint(path)
    return {f"{net}.{k}": v for net in ("G", "G_ema", "D") for k, v in ckpt[net].items()}


@pytest.mark.parametrize("workers", [0, 1])
def test_resume_is_bit_exact(tiny_cache, tmp_path, workers):
    # 5 steps straight vs 3 + resume + 2 (the data order crosses an epoch boundary after 3 batches of 16).
    cfg = dict(steps=5, batch=16, workers=workers, ckpt_every=100, sample_every=100)
    train(tiny_cfg(tiny_cache, tmp_path / "straight", **cfg))
    train(tiny_cfg(tiny_cache, tmp_path / "split", **{**cfg, "steps": 3}))
    result = train(tiny_cfg(tiny_cache, tmp_path / "split", **{**cfg, "resume": True}))
    assert result["step"] == 5
    a, b = _weights(tmp_path / "straight" / "checkpoint.pt"), _weights(tmp_path / "split" / "checkpoint.pt")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_guard_restores_after_nan(tiny_cache, tmp_path, monkeypatch):
    calls = {"n": 0}
    g_loss = losses.g_loss

    def poisoned(fake_logit, kind="nonsat"):
        calls["n"] += 1
        loss = g_loss(fake_logit, kind)
        return loss * float("nan") if calls["n"] == 3 else loss

    monkeypatch.setattr(losses, "g_loss", poisoned)
    out = tmp_path / "run"
    result = train(tiny_cfg(tiny_cache, out, steps=5))
    assert result["state"] == "finished"
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    actions = [a for e in events for a in e.get("guard", [])]
    assert any(a["guard"] == "restore" and a["network"] == "G" and a["restored_from_step"] == 2 for a in actions)
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert all(torch.isfinite(v).all() for net in ("G", "G_ema", "D") for v in ckpt[net].values() if v.is_floating_point())


def test_guard_stops_after_too_many_restores():
    net = torch.nn.Linear(2, 2)
    guard = CollapseGuard(GuardConfig(max_restores=2, window=100))
    nets = {"D": {"D": net}}
    assert guard.check(1, {"D": 1.0}, nets) == []
    for step in (2, 3):
        assert guard.check(step, {"D": float("nan")}, nets)[0]["guard"] == "restore"
    with pytest.raises(GuardStop, match="3 restores within 100 steps"):
        guard.check(4, {"D": 99.0}, nets)


def _spawn(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "GAN_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "gan", *args], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_for(pred, proc, timeout=60.0):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        if proc.poll() is not None:
            raise AssertionError(f"training exited early: {proc.stderr.read()[-2000:]}")
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("timed out waiting for the training process")


@pytest.mark.parametrize("how", ["STOP file", "SIGTERM"])
def test_graceful_stop_exits_zero_with_status_stopped(tiny_cache, tmp_path, how):
    out = tmp_path / "run"
    proc = _spawn(cli_args(tiny_cache, out, "--steps", "0", "--ckpt-every", "1000"))
    _wait_for(lambda: (out / "events.jsonl").exists(), proc)
    if how == "SIGTERM":
        proc.send_signal(signal.SIGTERM)
    else:
        (out / "STOP").touch()
    assert proc.wait(timeout=60) == 0
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "stopped" and status["step"] >= 1
    assert load_checkpoint(out / "checkpoint.pt")["step"] == status["step"]


def test_sigkill_leaves_loadable_checkpoint(tiny_cache, tmp_path):
    out = tmp_path / "run"
    proc = _spawn(cli_args(tiny_cache, out, "--steps", "0", "--ckpt-every", "1"))
    _wait_for(lambda: len((out / "events.jsonl").read_text().splitlines()) >= 3 if (out / "events.jsonl").exists() else False, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    gen = load_generator(out / "checkpoint.pt")
    assert gen.step >= 2
    assert json.loads((out / "status.json").read_text())["state"] == "running"  # nobody could say otherwise


WORKER = """
import os, sys, torch
import gan.train as T
seen = {}
update, wrap = T.update_ema, T.wrap_for_training
def spy_update(G_ema, G, beta):
    seen["G_ema"] = G_ema
    update(G_ema, G, beta)
def spy_wrap(G, D, *args):
    seen["G"], seen["D"] = G, D
    G_step, D_step = wrap(G, D, *args)
    seen["wrapped"] = [type(m).__name__ for m in (G_step, D_step)]
    return G_step, D_step
T.update_ema, T.wrap_for_training = spy_update, spy_wrap
cfg = T.TrainConfig.from_dict({**T.TrainConfig().to_dict(), "data": sys.argv[1], "size": 32, "steps": 3, "batch": 8,
                               "log_every": 1, "out": sys.argv[2], "progress": False, "model": {"ngf": 8, "ndf": 8}})
T.train(cfg)
torch.save({"wrapped": seen["wrapped"], **{k: seen[k].state_dict() for k in ("G", "D", "G_ema")}},
           f"{sys.argv[2]}.rank{os.environ['RANK']}.pt")
"""


@pytest.mark.slow
def test_ddp_two_processes_hold_identical_weights_and_buffers(tiny_cache, tmp_path):
    """torchrun, 2 gloo ranks, the default (style G with mixing, batch-norm D): both ranks run G and D under
    DistributedDataParallel and end with the same G, D and G_ema, batch-norm statistics included, equal to the
    checkpoint rank 0 wrote; every batch norm counted one update per forward (G 1, D 3 per step) and moved."""
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(WORKER))
    out = tmp_path / "run"
    env = {**os.environ, "GAN_THREADS": "1", "PYTHONPATH": str(REPO)}
    torchrun = Path(sys.executable).parent / "torchrun"
    proc = subprocess.Popen([str(torchrun), "--nproc_per_node=2", "--standalone", str(script), f"cache:{tiny_cache}",
                             str(out)], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        _, err = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # torchrun and both workers
        raise
    assert proc.returncode == 0, err[-3000:]
    r0, r1 = (torch.load(f"{out}.rank{r}.pt", weights_only=True) for r in (0, 1))
    assert r0["wrapped"] == r1["wrapped"] == ["DistributedDataParallel", "DistributedDataParallel"]
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt["step"] == 3
    for net, forwards_per_step in (("G", 1), ("D", 3), ("G_ema", 1)):
        assert r0[net].keys() == r1[net].keys() == ckpt[net].keys()
        for k, v in r0[net].items():
            assert torch.equal(v, r1[net][k]), f"{net}.{k} differs between ranks"
            assert torch.equal(v, ckpt[net][k]), f"{net}.{k} differs from the checkpoint"
            if k.endswith("num_batches_tracked"):
                assert int(v) == 3 * forwards_per_step, f"{net}.{k}"
            if k.endswith("running_mean"):
                assert v.abs().sum() > 0, f"{net}.{k} never updated"
        assert any(k.endswith("running_var") for k in r0[net]), f"{net} has no batch norm to check"


def test_live_metrics_are_measured_during_training(tiny_cache, tmp_path):
    out = tmp_path / "run"
    train(tiny_cfg(tiny_cache, out, steps=4, metrics_every=2))
    live = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in live] == [2, 4] and all(r["kind"] == "live" for r in live)
    r = live[-1]
    assert 0 <= r["intra_condition_diversity_ratio"] and r["intra_condition_real_source"].startswith("dataset cache")
    assert r["pca"]["space"] == "w" and len(r["pca"]["xy"]) == 128 and len(r["pca"]["explained"]) == 2
