"""Bounded load test: N browser sessions against a real `streamlit run explorer/app.py` for a fixed time.

    .venv/bin/python -m bench.bench_load [--sessions 4] [--seconds 60] [--baseline 20] [--ckpt PATH]

Each session is its own headless-Chromium context (its own Streamlit session) and loops: new seed on Generate →
open Interpolate → move the "Scrub the path" slider 3 times → back to Generate. Every action waits for its own
result on screen (the new seed in the caption, the new "t = …" caption, the page title), so a latency is the time
until the user sees the answer. Reports requests served, errors (exceptions on a page, timeouts — must be 0),
p50 / p95 latency per kind, the server's peak RSS (VmHWM from /proc) and how many times the generator was loaded
(the server runs with gan.checkpoint.load_generator wrapped to log each call: it must be once per checkpoint,
because explorer/loaders.py caches it in st.cache_resource for every session).

Uses checkpoints/default.pt when present, else a tiny untrained stand-in (explorer.demo), and says which. Private
temporary workspace; the server and the browser are always shut down. Writes the "load" section of BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "explorer" / "app.py"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'

# The server: streamlit in this very process, with every generator load logged to $BENCH_LOAD_LOG.
SERVER = """
import os, sys
import gan.checkpoint as C
real = C.load_generator
def counted(path, *a, **k):
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


class Stats:
    def __init__(self):
        self.latency: dict[str, list[float]] = {}
        self.errors: list[str] = []

    def add(self, kind: str, seconds: float) -> None:
        self.latency.setdefault(kind, []).append(seconds)

    @property
    def served(self) -> int:
        return sum(len(v) for v in self.latency.values())


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))] if xs else float("nan")


def caption(text: str) -> str:
    """Selector of a caption containing `text` (Generate's "Checkpoint `…` · seed N · ψ …" line)."""
    return f'[data-testid="stCaptionContainer"]:has-text("{text}")'


async def settle(page, timeout_s: float) -> None:
    await page.wait_for_selector(IDLE, timeout=timeout_s * 1000)


async def timed(stats: Stats, kind: str, page, action, done_selector: str, timeout_s: float) -> None:
    """Run `action`, wait until `done_selector` is visible and the script is idle; record the latency or an error."""
    t0 = time.perf_counter()
    try:
        await action()
        await page.wait_for_selector(done_selector, timeout=timeout_s * 1000)
        stats.add(kind, time.perf_counter() - t0)
        await settle(page, timeout_s)
        if await page.locator('[data-testid="stException"]').count():
            stats.errors.append(f"{kind}: exception on the page")
    except Exception as e:  # a timeout or a lost page: an error, and the session goes on
        stats.errors.append(f"{kind}: {type(e).__name__}: {str(e).splitlines()[0][:120]}")


async def session(browser, url: str, index: int, deadline: float, stats: Stats, timeout_s: float) -> None:
    ctx = await browser.new_context(viewport={"width": 1300, "height": 1600})
    page = await ctx.new_page()
    try:
        await page.goto(url, timeout=timeout_s * 1000)
        await page.wait_for_selector('h1:has-text("Generate")', timeout=timeout_s * 1000)
        await settle(page, timeout_s)
        i = 0
        while time.monotonic() < deadline:
            i += 1
            seed = 1000 * (index + 1) + i
            box = page.get_by_label("Seed", exact=True)

            async def new_seed():
                await box.fill(str(seed))
                await box.press("Enter")
            await timed(stats, "Generate: new seed", page, new_seed, caption(f"· seed {seed} ·"), timeout_s)

            nav = page.locator('[data-testid="stSidebarNav"] a', has_text="Interpolate").first
            await timed(stats, "open Interpolate", page, nav.click, 'text="t = 0.00"', timeout_s)
            thumb = page.get_by_role("slider", name="Scrub the path")
            for t in (1, 2, 3):
                async def move():
                    await thumb.focus()
                    await page.keyboard.press("ArrowRight")
                await timed(stats, "Interpolate: move slider", page, move, f'text="t = {t / 7:.2f}"', timeout_s)

            back = page.locator('[data-testid="stSidebarNav"] a', has_text="Generate").first
            await timed(stats, "open Generate", page, back.click, caption("· seed 0 ·"), timeout_s)
    except Exception as e:
        stats.errors.append(f"session {index}: {type(e).__name__}: {str(e).splitlines()[0][:120]}")
    finally:
        await ctx.close()


async def drive(url: str, sessions: int, seconds: float, timeout_s: float) -> Stats:
    from playwright.async_api import async_playwright

    stats = Stats()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            deadline = time.monotonic() + seconds
            await asyncio.gather(*(session(browser, url, k, deadline, stats, timeout_s) for k in range(sessions)))
        finally:
            await browser.close()
    return stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=4, help="concurrent browser sessions (default 4)")
    ap.add_argument("--seconds", type=float, default=60, help="how long the sessions loop (default 60)")
    ap.add_argument("--ckpt", default=None, help="generator checkpoint (default checkpoints/default.pt, else a tiny one)")
    ap.add_argument("--baseline", type=float, default=20,
                    help="seconds of one session alone first, for comparison (0 = skip; default 20)")
    ap.add_argument("--timeout", type=float, default=60, help="seconds one action may take before it counts as an error")
    ap.add_argument("--no-write", action="store_true", help="print only; do not write BENCHMARKS.md")
    args = ap.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"error: {CHROMIUM} not found (apt-get install chromium)", file=sys.stderr)
        return 2

    from bench.report import machine_line, write_section
    from gan import paths

    tmp = Path(tempfile.mkdtemp(prefix="bench-load-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAN_")}
    env.update(GAN_WORKSPACE=str(tmp / "workspace"), GAN_RUNS_DIR=str(tmp / "runs"), PYTHONPATH=str(REPO),
               GAN_STORE=str(tmp / "workspace" / "latents.sqlite"), GAN_THREADS=os.environ.get("GAN_THREADS", "1"),
               BENCH_LOAD_LOG=str(tmp / "loads.txt"))
    if args.ckpt:
        ckpt, model = Path(args.ckpt).resolve(), f"`{args.ckpt}`"
    elif paths.DEFAULT_CHECKPOINT.is_file():
        ckpt, model = paths.DEFAULT_CHECKPOINT, "`checkpoints/default.pt`"
    else:
        from explorer.demo import make_tiny_classifier, make_tiny_generator

        ckpt = make_tiny_generator(tmp / "tiny_generator.pt")
        env["GAN_CLASSIFIER"] = str(make_tiny_classifier(tmp / "tiny_classifier.pt"))
        model = "a tiny untrained stand-in (32×32, ngf 8; checkpoints/default.pt was missing)"
    env["GAN_CKPT"] = str(ckpt)

    port = free_port()
    url = f"http://localhost:{port}"
    log_path = tmp / "streamlit.log"
    log = open(log_path, "w")
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(APP), "--server.headless", "true",
                               "--server.port", str(port), "--server.address", "localhost",
                               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
                              cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    peak_sampled = 0
    try:
        deadline = time.monotonic() + 120
        while not healthy(url):
            if server.poll() is not None or time.monotonic() > deadline:
                log.flush()
                print(log_path.read_text()[-3000:], file=sys.stderr)
                return 1
            time.sleep(0.5)
        rss_start = proc_status(server.pid, "VmRSS")
        base = asyncio.run(drive(url, 1, args.baseline, args.timeout)) if args.baseline > 0 else None
        t0 = time.monotonic()
        stats = asyncio.run(drive(url, args.sessions, args.seconds, args.timeout))
        wall = time.monotonic() - t0
        peak_sampled = proc_status(server.pid, "VmHWM")
        alive = server.poll() is None
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)
        log.close()

    loads = [line for line in (tmp / "loads.txt").read_text().splitlines() if line] if (tmp / "loads.txt").exists() else []
    per_ckpt = {p: loads.count(p) for p in sorted(set(loads))}
    tracebacks = log_path.read_text().count("Traceback")
    all_lat = [x for v in stats.latency.values() for x in v]
    rows = [f"| {kind} | {len(v)} | {1000 * pct(v, 0.5):.0f} | {1000 * pct(v, 0.95):.0f} | {1000 * max(v):.0f} |"
            for kind, v in stats.latency.items()]
    rows.append(f"| **all** | **{stats.served}** | **{1000 * pct(all_lat, 0.5):.0f}** | "
                f"**{1000 * pct(all_lat, 0.95):.0f}** | **{1000 * max(all_lat, default=0):.0f}** |")
    errors = len(stats.errors) + tracebacks + (0 if alive else 1) + (len(base.errors) if base else 0)
    base_lat = [x for v in base.latency.values() for x in v] if base else []
    baseline = (f"- for comparison, one session alone ({args.baseline:g} s first, same server): {len(base_lat)} requests, "
                f"p50 {1000 * pct(base_lat, 0.5):.0f} ms, p95 {1000 * pct(base_lat, 0.95):.0f} ms; the machine's CPU "
                f"is the limit, so {args.sessions} sessions share it" if base_lat else None)
    md = "\n".join([
        f"## Load: {args.sessions} concurrent browser sessions for {args.seconds:g} s (`python -m bench.bench_load`)",
        "",
        f"{machine_line()}; server GAN_THREADS={env['GAN_THREADS']}, sessions in one headless Chromium "
        f"(separate contexts), all on the same machine (CPU shared with the browser and other jobs).",
        f"Model: {model}.",
        "Each session loops: new seed on Generate → open Interpolate → move the path slider 3× → back to Generate; "
        "a latency is the time until the action's result is on screen.",
        "",
        "| request | served | p50 ms | p95 ms | max ms |",
        "|---|---|---|---|---|",
        *rows,
        "",
        f"- requests served: **{stats.served}** in {wall:.0f} s ({stats.served / max(wall, 1e-9):.2f}/s); "
        f"errors: **{errors}** (page exceptions / timeouts {len(stats.errors)}, server tracebacks {tracebacks}, "
        f"server {'alive' if alive else 'DIED'})",
        *([baseline] if baseline else []),
        f"- server peak RSS (VmHWM): **{peak_sampled / 1024:.0f} MB** (after start-up {rss_start / 1024:.0f} MB)",
        f"- generator loads: {sum(per_ckpt.values())} for {len(per_ckpt)} checkpoint(s) "
        f"({'once per checkpoint' if per_ckpt and all(n == 1 for n in per_ckpt.values()) else per_ckpt})",
    ] + ([f"- first errors: {'; '.join(stats.errors[:5])}"] if stats.errors else []))
    print(md)
    if not args.no_write:
        write_section("load", md)
    ok = errors == 0 and stats.served > 0 and bool(per_ckpt) and all(n == 1 for n in per_ckpt.values())
    if ok:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"kept {tmp} (server log: {log_path})", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
