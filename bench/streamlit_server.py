"""A real `streamlit run` server for browser benchmarks: started on a free port, polled until healthy, always stopped."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
APP_SCRIPT = REPO / "explorer" / "app.py"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'

# Streamlit in this very process, with every generator load logged to $BENCH_LOAD_LOG when that is set.
SERVER = """
import os, sys
import gan.checkpoint as C
real = C.load_generator
def counted(path, *a, **k):
    if os.environ.get("BENCH_LOAD_LOG"):
        with open(os.environ["BENCH_LOAD_LOG"], "a") as f:
            f.write(f"{path}\\n")
    return real(path, *a, **k)
C.load_generator = counted
from streamlit.web.cli import main
sys.argv = ["streamlit", "run", *sys.argv[1:]]
sys.exit(main())
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
            return r.status == 200 and r.read().strip() == b"ok"
    except OSError:
        return False


def proc_status(pid: int, key: str) -> int:
    """A kB field (VmRSS, VmHWM) of /proc/PID/status, 0 when unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pct(xs: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of xs; NaN when empty."""
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))] if xs else float("nan")


@contextlib.contextmanager
def streamlit_server(script: str | Path, env: dict[str, str], log_path: Path,
                     start_timeout_s: float = 120) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run `streamlit run script` headless on a free localhost port; yields (url, process); stops it on exit."""
    port = free_port()
    url = f"http://localhost:{port}"
    with open(log_path, "w") as log:
        server = subprocess.Popen([sys.executable, "-c", SERVER, str(script), "--server.headless", "true",
                                   "--server.port", str(port), "--server.address", "localhost",
                                   "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
                                  cwd=REPO, env={**env, "PYTHONPATH": str(REPO)}, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + start_timeout_s
            while not healthy(url):
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    raise RuntimeError(f"streamlit did not start; log tail:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.5)
            yield url, server
        finally:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(5)


def bench_env(tmp: Path) -> dict[str, str]:
    """The environment for an app server: a private workspace under tmp, one torch thread unless GAN_THREADS says."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAN_")}
    env.update(GAN_WORKSPACE=str(tmp / "workspace"), GAN_RUNS_DIR=str(tmp / "runs"),
               GAN_STORE=str(tmp / "workspace" / "latents.sqlite"), GAN_THREADS=os.environ.get("GAN_THREADS", "1"))
    return env


def choose_model(env: dict[str, str], tmp: Path, ckpt: str | None) -> str:
    """Point env's GAN_CKPT at `ckpt`, else the shipped default, else a tiny stand-in made under tmp (with its own
    classifier); returns how a report names the model."""
    from gan import paths

    if ckpt:
        env["GAN_CKPT"] = str(Path(ckpt).resolve())
        return f"`{ckpt}`"
    if paths.DEFAULT_CHECKPOINT.is_file():
        env["GAN_CKPT"] = str(paths.DEFAULT_CHECKPOINT)
        return "`checkpoints/default.pt`"
    from explorer.demo import make_tiny_classifier, make_tiny_generator

    env["GAN_CKPT"] = str(make_tiny_generator(tmp / "tiny_generator.pt"))
    env["GAN_CLASSIFIER"] = str(make_tiny_classifier(tmp / "tiny_classifier.pt"))
    return "a tiny untrained stand-in (32×32, ngf 8; checkpoints/default.pt was missing)"
