"""Thread defaults: each CLI and the app's grid at 1 and 2 torch threads and at the default (`gan.device.configure_threads`
with GAN_THREADS unset), alone and beside a competing CPU-bound process, measured in one run.

    nice -n 19 python -m bench.bench_threads [--rounds 1] [--only train,generate,…] [--no-write]

Workloads (each a fresh subprocess, wall time as a user sees it, start-up included; warmed up once first so data
caches exist):
  train     `python -m gan train --data synthetic:20000 --steps 10 --out TMP`
  generate  `python -m gan generate --n 64 --out TMP/grid.png`
  evaluate  `python -m gan evaluate --n 200 --no-record`
  project   `python -m gan project PHOTO --steps 50 --out TMP` (scikit-image's astronaut, or a rendered face)
  grid      the Generate page's 4×8 grid: `explorer.faces.render` of 32 faces of the shipped generator after
            `configure_threads()` as explorer/app.py calls it, median of 15 new seeds (ms; start-up excluded)
Settings: GAN_THREADS=1, GAN_THREADS=2, and the default (GAN_THREADS unset: the idle cores, from /proc/stat).
Conditions: alone, and beside one `while True: pass` Python process (same niceness as the bench). Order within a
workload alternates (1, 2, default / default, 2, 1) across rounds; the best of the rounds is kept. The figure per
workload and condition is default ÷ best setting (target ≤ 1.2).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.report import machine_line, write_section

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
SETTINGS = ("1", "2", "default")
TARGET = 1.2

GRID_SCRIPT = """
import json, statistics, sys, time
import numpy as np
from gan.device import configure_threads
n = configure_threads()
from gan.checkpoint import load_generator
from explorer.faces import render
from gan.generate import sample_z
gen = load_generator("checkpoints/default.pt")
rng = np.random.default_rng(0)
K = len(gen.attribute_names)
times = []
for seed in range(16):
    z = np.asarray(sample_z(32, gen.z_dim, seed), np.float32)
    c = (rng.random((32, K)) < 0.3).astype(np.float32)
    t = time.perf_counter(); render(gen.G, z, c); times.append(time.perf_counter() - t)
print(json.dumps({"s": statistics.median(times[1:]), "threads": n}))
"""


def photo(tmp: Path) -> Path:
    """A photo to project: scikit-image's astronaut when installed, else a rendered synthetic face."""
    from PIL import Image
    try:
        from skimage.data import astronaut
        img = astronaut()
    except ImportError:
        from gan.data.synthetic import render_item
        img = render_item(0, 123, 128)[0]
    path = tmp / "photo.jpg"
    Image.fromarray(img).save(path, quality=92)
    return path


def commands(tmp: Path) -> dict[str, list[str]]:
    return {
        "train": [PY, "-m", "gan", "train", "--data", "synthetic:20000", "--steps", "10", "--out", str(tmp / "run"),
                  "--no-progress"],
        "generate": [PY, "-m", "gan", "generate", "--n", "64", "--out", str(tmp / "grid.png")],
        "evaluate": [PY, "-m", "gan", "evaluate", "--n", "200", "--no-record"],
        "project": [PY, "-m", "gan", "project", str(photo(tmp)), "--steps", "50", "--out", str(tmp / "proj")],
        "grid": [PY, "-c", GRID_SCRIPT],
    }


def run_once(name: str, cmd: list[str], setting: str, tmp: Path) -> float:
    """Seconds of one run (the grid: median ms-scale render time) with GAN_THREADS set to `setting` or unset."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("GAN_THREADS", None)
    if setting != "default":
        env["GAN_THREADS"] = setting
    shutil.rmtree(tmp / "run", ignore_errors=True)  # train refuses a used run folder
    shutil.rmtree(tmp / "proj", ignore_errors=True)
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode:
        raise RuntimeError(f"{name} failed ({p.returncode}): {p.stderr[-2000:]}")
    if name == "grid":
        return json.loads(p.stdout.strip().splitlines()[-1])["s"]
    return wall


def measure(names: list[str], cmds: dict, tmp: Path, rounds: int) -> dict:
    """{workload: {setting: best seconds}} for the current condition."""
    out = {}
    for name in names:
        best: dict[str, float] = {}
        for r in range(rounds):
            for setting in SETTINGS if r % 2 == 0 else SETTINGS[::-1]:
                s = run_once(name, cmds[name], setting, tmp)
                best[setting] = min(best.get(setting, float("inf")), s)
                print(f"  {name:8s} threads={setting:7s} {s:8.3f} s", flush=True)
        out[name] = best
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--only", default="train,generate,evaluate,project,grid")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    from gan.device import busy_cores
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    tmp = Path(tempfile.mkdtemp(prefix="bench-threads-"))
    cmds = commands(tmp)
    results, seen = {}, {}
    try:
        print("warm-up", flush=True)
        for name in names:
            run_once(name, cmds[name], "1", tmp)
        for cond in ("alone", "busy"):
            competitor = None
            if cond == "busy":
                competitor = subprocess.Popen([PY, "-c", "while True: pass"])
                time.sleep(1.0)
            try:
                seen[cond] = dict(load=os.getloadavg()[0], busy=busy_cores(0.5))
                print(cond, seen[cond], flush=True)
                results[cond] = measure(names, cmds, tmp, args.rounds)
                seen[cond]["busy_after"] = busy_cores(0.5)
            finally:
                if competitor is not None:
                    competitor.kill()
                    competitor.wait()
                    time.sleep(1.0)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    rows, worst = [], 0.0
    for name in names:
        for cond in results:
            b = results[cond][name]
            best = min(b["1"], b["2"])
            ratio = b["default"] / best
            worst = max(worst, ratio)
            unit = (lambda s: f"{1000 * s:.0f} ms") if name == "grid" else (lambda s: f"{s:.1f} s")
            rows.append(f"| {name} | {cond} | {unit(b['1'])} | {unit(b['2'])} | {unit(b['default'])} | "
                        f"{b['2'] / b['1']:.2f} | **{ratio:.2f}** |")
    idle_note = ("" if seen["alone"]["busy"] < 0.5 else
                 f" Other work kept about {seen['alone']['busy']:.1f} cores busy during the \"alone\" condition too (other "
                 "processes on this shared machine), so the idle-machine case, where the default picks 2 threads, was "
                 "not measured in this run.")
    md = f"""## Thread defaults (`python -m bench.bench_threads --rounds {args.rounds}`)

{machine_line()}; niceness {os.nice(0)}. Busy cores seen by /proc/stat at the start of each condition: alone
{seen['alone']['busy']:.2f} (load average {seen['alone']['load']:.1f}), beside one CPU-bound process
{seen['busy']['busy']:.2f} (load average {seen['busy']['load']:.1f}). Each cell is the best of {args.rounds} round(s);
every CLI row is a fresh process timed end to end (start-up included), the grid row is the median render of the
Generate page's 4×8 grid in a process that called `configure_threads()` as the app does.
Default = GAN_THREADS unset: `gan.device.default_threads()` = the usable cores not already busy (two /proc/stat
readings 0.1 s apart; at least 1).

| workload | condition | 1 thread | 2 threads | default | 2 ÷ 1 | default ÷ best |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Worst default ÷ best: **{worst:.2f}** (target ≤ {TARGET}).{idle_note}
"""
    print(md)
    if not args.no_write:
        write_section("threads", md)


if __name__ == "__main__":
    main()
