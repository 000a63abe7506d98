"""Threat: running code or touching files through the app — unsafe calls in the code, exposed server, stray writes.

Code that would run attacker input is found by reading the syntax tree (a comment or a string cannot fool it);
the server config binds to localhost; a full workflow with hostile names writes only under its workspace and runs
folders. The refusals of pickled checkpoints / .npz are proved in test_robustness_checkpoints.py and
test_robustness_uploads.py (and test_checkpoint.py::test_refuses_pickled_code).
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("gan", "explorer", "pages")
SUBPROCESS_CALLS = {"run", "Popen", "call", "check_call", "check_output"}


def _dotted(node: ast.AST) -> str:
    """'os.system' for Attribute(Name('os'), 'system'); '' for anything else."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def _kw(call: ast.Call, name: str):
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_true(node) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def unsafe_calls(source: str, filename: str = "<src>") -> list[str]:
    """Every call in `source` that can run code or unpickle data, as 'file:line what'."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        last = name.rsplit(".", 1)[-1]
        where = f"{filename}:{node.lineno}"
        if name in ("eval", "exec", "__import__", "builtins.eval", "builtins.exec"):
            found.append(f"{where} {name}()")
        elif name in ("os.system", "os.popen", "os.spawnl", "os.spawnlp", "os.execl", "os.execlp", "os.execv", "os.execvp"):
            found.append(f"{where} {name}()")
        elif name in ("pickle.load", "pickle.loads", "cPickle.load", "marshal.load", "marshal.loads", "dill.load",
                      "joblib.load", "shelve.open") or name.endswith("Unpickler"):
            found.append(f"{where} {name}()")
        elif name in ("yaml.load", "yaml.unsafe_load") and not _kw(node, "Loader"):
            found.append(f"{where} {name}() without a safe Loader")
        elif _is_true(_kw(node, "allow_pickle")):
            found.append(f"{where} {name}(allow_pickle=True)")
        elif name == "torch.load" or name.endswith(".torch.load"):
            if not _is_true(_kw(node, "weights_only")):
                found.append(f"{where} torch.load without weights_only=True")
        elif _is_true(_kw(node, "shell")):
            found.append(f"{where} {name}(shell=True)")
        if name.startswith("subprocess.") and last in SUBPROCESS_CALLS or name in ("Popen", "check_output"):
            first = node.args[0] if node.args else _kw(node, "args")
            if isinstance(first, (ast.Constant, ast.JoinedStr, ast.BinOp)):
                found.append(f"{where} {name}() with a command string instead of an argument list")
    return found


def _sources() -> list[Path]:
    files = [p for pkg in PACKAGES for p in sorted((REPO / pkg).rglob("*.py"))]
    assert len(files) > 30
    return files


def test_the_scanner_sees_calls_not_text():
    bad = ("import os, pickle, subprocess, torch, numpy as np\n"
           "eval(x)\nos.system('ls')\npickle.loads(b)\ntorch.load(p)\ntorch.load(p, weights_only=False)\n"
           "np.load(f, allow_pickle=True)\nsubprocess.run('ls -l', shell=True)\nsubprocess.Popen(f'ls {x}')\n")
    assert len(unsafe_calls(bad)) == 9
    harmless = ("# eval(x) os.system('rm') pickle.loads torch.load(p)\n"
                "s = 'eval(x); os.system(1); torch.load(p); shell=True'\n"
                "import torch, subprocess, numpy as np\ntorch.load(p, map_location='cpu', weights_only=True)\n"
                "np.load(f, allow_pickle=False)\nsubprocess.run(['ls', '-l'], check=True)\nmodel.eval()\n")
    assert unsafe_calls(harmless) == []


def test_no_module_can_run_code_or_unpickle_data():
    problems = [p for f in _sources() for p in unsafe_calls(f.read_text(), str(f.relative_to(REPO)))]
    assert problems == []


def test_every_torch_load_is_weights_only_and_every_np_load_refuses_pickles():
    """Positive check of the same rule: the calls exist and each carries the safe flag explicitly."""
    torch_loads, np_loads = [], []
    for f in _sources():
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Call):
                name = _dotted(node.func)
                if name == "torch.load":
                    torch_loads.append(_is_true(_kw(node, "weights_only")))
                elif name in ("np.load", "numpy.load"):
                    flag = _kw(node, "allow_pickle")
                    np_loads.append(flag is None or (isinstance(flag, ast.Constant) and flag.value is False))
    assert torch_loads and all(torch_loads)
    assert np_loads and all(np_loads)


def test_server_binds_to_localhost_and_sends_no_usage_statistics():
    cfg = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert cfg["server"]["address"] == "localhost"
    assert cfg["browser"]["gatherUsageStats"] is False
    assert cfg["server"].get("enableXsrfProtection", True) is True  # defaults kept on
    assert cfg["server"].get("enableCORS", True) is True
    assert 0 < cfg["server"].get("maxUploadSize", 200) <= 50  # MB per upload (Streamlit's default is 200)


WORKFLOW = r"""
import io, sys
from pathlib import Path
import numpy as np
from explorer import jobs
from explorer.bundle import export_bundle, import_bundle
from explorer.store import LatentStore, StoreError
from gan import paths
from gan.data.prepare import prepare
from gan.train import TrainConfig, train
from gan.models import ModelConfig

HOSTILE = ["../../escape-marker", "/tmp/escape-marker", "'; DROP TABLE latents; --", "😀 $(touch escape-marker)"]
store = LatentStore()
rng = np.random.default_rng(0)
for name in HOSTILE:
    store.add_latents(name, rng.standard_normal((2, 8)).astype("f4"), np.zeros((2, 1), "f4"), ["Smiling"], "ck")
    store.save_direction(name, np.ones(8, "f4"), "mean", [name], "ck")
    store.set_setting(name, name)
buf = io.BytesIO()
export_bundle(store, buf)
import_bundle(store, buf.getvalue())
exports = paths.workspace_dir() / "exports"
exports.mkdir()
store.export_collection_npz(HOSTILE[0], exports / "one.npz")
store.import_collection_npz(exports / "one.npz", HOSTILE[1])
cache = prepare(f"folder:{sys.argv[1]}", size=32, progress=False)
for name in HOSTILE:
    try:
        jobs.run_path(name)
        raise SystemExit(f"run name {name!r} was accepted")
    except jobs.JobError:
        pass
out = jobs.run_path("ok-run")
train(TrainConfig(data=f"cache:{cache.root}", size=32, steps=2, batch=4, log_every=1, sample_every=1, ckpt_every=1,
                  out=str(out), progress=False, model=ModelConfig(ngf=8, ndf=8)))
print("done")
"""


@pytest.mark.slow
def test_a_hostile_workflow_writes_only_under_workspace_and_runs(tmp_path):
    """Store, bundles, .npz export/import, prepare and a 2-step training run, all with hostile names, in a process
    whose cwd, HOME and TMPDIR are empty folders: afterwards files exist only under the workspace and runs folders,
    and the dataset folder is exactly as it was."""
    from test_data_readers import write_jpeg

    data = tmp_path / "data"
    (data / "img").mkdir(parents=True)
    for k in range(6):
        write_jpeg(data / "img" / f"{k}.jpg", k)
    (data / "attributes.csv").write_text("file,Smiling\n" + "".join(f"img/{k}.jpg,{k % 2}\n" for k in range(6)))
    before = {p: p.stat().st_mtime_ns for p in data.rglob("*")}
    cwd, home, tmpdir, roots = tmp_path / "cwd", tmp_path / "home", tmp_path / "tmp", tmp_path / "roots"
    for d in (cwd, home, tmpdir, roots):
        d.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GAN_", "XDG_"))}
    env.update(HOME=str(home), TMPDIR=str(tmpdir), PYTHONPATH=str(REPO), GAN_THREADS="1",
               GAN_WORKSPACE=str(roots / "workspace"), GAN_RUNS_DIR=str(roots / "runs"),
               MPLCONFIGDIR=str(roots / "workspace" / ".mpl"))
    r = subprocess.run([sys.executable, "-c", WORKFLOW, str(data)], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0 and "done" in r.stdout, r.stderr[-3000:]
    assert list(cwd.iterdir()) == []
    for d in (home, tmpdir):  # (torch makes an empty $TMPDIR/torchinductor_USER folder on import)
        assert [p for p in d.rglob("*") if p.is_file()] == []
    assert {p: p.stat().st_mtime_ns for p in data.rglob("*")} == before
    written = [p.relative_to(roots) for p in roots.rglob("*") if p.is_file()]
    assert written and all(p.parts[0] in ("workspace", "runs") for p in written)
    assert any(p.parts[:2] == ("runs", "ok-run") and p.name == "checkpoint.pt" for p in written)
    assert not Path("/tmp/escape-marker").exists() and not (REPO / "escape-marker").exists()
    assert not [p for p in tmp_path.rglob("escape-marker")]
