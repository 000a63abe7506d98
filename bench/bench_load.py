"""Bounded load test: N browser sessions against a real `streamlit run explorer/app.py` for a fixed time.

    .venv/bin/python -m bench.bench_load [--sessions 4] [--seconds 60] [--baseline 20] [--ckpt PATH]

Each session is its own headless-Chromium context (its own Streamlit session) and loops: new seed on Generate →
open Interpolate → step the "Scrub the path" scrubber 3 times (in the browser, explorer/scrubber.py) → back to Generate.
Every action waits for its own result on screen (the new seed in the caption, the scrubber's new "t = …" caption, the
page title), so a latency is the time
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
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.streamlit_server import (APP_SCRIPT as APP, CHROMIUM, CHROMIUM_ARGS, IDLE, bench_env, choose_model, pct,
                                    proc_status, streamlit_server)


class Stats:
    def __init__(self):
        self.latency: dict[str, list[float]] = {}
        self.errors: list[str] = []

    def add(self, kind: str, seconds: float) -> None:
        self.latency.setdefault(kind, []).append(seconds)

    @property
    def served(self) -> int:
        return sum(len(v) for v in self.latency.values())


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
            await timed(stats, "open Interpolate", page, nav.click, '#frame-caption:has-text("t = 0.00")', timeout_s)
            thumb = page.get_by_role("slider", name="Scrub the path")
            for t in (1, 2, 3):
                async def move():
                    await thumb.focus()
                    await page.keyboard.press("ArrowRight")
                await timed(stats, "Interpolate: move slider", page, move, f'#frame-caption:has-text("t = {t / 7:.2f}")',
                            timeout_s)

            back = page.locator('[data-testid="stSidebarNav"] a', has_text="Generate").first
            await timed(stats, "open Generate", page, back.click, caption(f"· seed {seed} ·"), timeout_s)  # kept seed
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

    tmp = Path(tempfile.mkdtemp(prefix="bench-load-"))
    env = {**bench_env(tmp), "BENCH_LOAD_LOG": str(tmp / "loads.txt")}
    model = choose_model(env, tmp, args.ckpt)

    log_path = tmp / "streamlit.log"
    try:
        with streamlit_server(APP, env, log_path) as (url, server):
            rss_start = proc_status(server.pid, "VmRSS")
            base = asyncio.run(drive(url, 1, args.baseline, args.timeout)) if args.baseline > 0 else None
            t0 = time.monotonic()
            stats = asyncio.run(drive(url, args.sessions, args.seconds, args.timeout))
            wall = time.monotonic() - t0
            peak_sampled = proc_status(server.pid, "VmHWM")
            alive = server.poll() is None
    except RuntimeError as e:  # the server did not start
        print(e, file=sys.stderr)
        return 1

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
