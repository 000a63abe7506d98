"""Browser latency of the app's two busiest actions against a floor page, in one run, in a real headless Chromium.

    .venv/bin/python -m bench.bench_latency [--reps 12] [--sessions 4] [--seconds 40] [--ckpt PATH]

Actions, each timed until its answer is on screen (the new caption, the script idle, every image decoded):
- Generate "new seed": type a seed into Generate's Seed box (a fresh 4×8 grid);
- Interpolate scrub: one arrow-key step of the "Scrub the path" scrubber (explorer/scrubber.py: in the browser);
- the floor page (a minimal Streamlit page, one 64×64 image per click) does the same two things: a new seed in a
  number box, a step of a Streamlit slider (a rerun).
Both servers run with the shipped .streamlit/config.toml; a second single-session pass runs both with Streamlit's
default post-script garbage collection, to show what that setting is worth.
Single session first, app and floor actions interleaved so that load falls on both alike: target app p50 ≤ 2× the
floor's p50 for each action. Then N concurrent sessions loop the two app actions: target p95 ≤ 3× the single-session
p50 of the same action. Last, a drag: the mouse holds the Interpolate scrubber and moves across it in steps without
releasing; counts how many different frames were on screen before the release (target: one per step, i.e. it
updates while dragging).

Uses checkpoints/default.pt when present, else a tiny untrained stand-in (explorer.demo), and says which. Private
temporary workspace; servers and browser always shut down. Writes the "latency" section of BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.streamlit_server import (APP_SCRIPT as APP, CHROMIUM, CHROMIUM_ARGS, IDLE, bench_env, choose_model, pct,
                                    streamlit_server)

FLOOR = '''"""Floor page: the least a Streamlit page can do per click: one 64×64 image."""
import numpy as np
import streamlit as st

seed = int(st.number_input("Seed", 0, 2**31 - 1, 0))
t = st.slider("Scrub the path", 0, 7, 0)
img = np.random.default_rng(seed * 8 + t).integers(0, 256, (64, 64, 3), dtype=np.uint8)
st.image(img, caption=f"floor seed {seed} · t = {t / 7:.2f}", width=256)
'''
IMAGES_DONE = "() => Array.from(document.images).every(i => i.complete)"
SCRUB_CAPTION = "#frame-caption"  # the caption under the Interpolate scrubber's frame (explorer/scrubber.py)
TARGET_FLOOR, TARGET_CONCURRENT = 2.0, 3.0
ACTIONS = (("seed", "Generate: new seed (4×8 grid)"), ("scrub", "Interpolate: one scrub step (client-side scrubber)"))


async def answered(page, selector: str, timeout_s: float) -> None:
    """Wait until `selector` shows, the script is idle and every image on the page is decoded."""
    await page.wait_for_selector(selector, timeout=timeout_s * 1000)
    await page.wait_for_selector(IDLE, timeout=timeout_s * 1000)
    await page.wait_for_function(IMAGES_DONE, timeout=timeout_s * 1000)


async def timed(action, page, selector: str, timeout_s: float) -> float:
    t0 = time.perf_counter()
    await action()
    await answered(page, selector, timeout_s)
    return time.perf_counter() - t0


class Actor:
    """One browser tab on one page, able to do the two actions; `seed` and `t` track what it shows."""

    def __init__(self, page, seed_caption: str, t_text: str, seed0: int):
        self.page, self.seed_caption, self.t_text = page, seed_caption, t_text
        self.seed, self.t, self.step = seed0, 0, 1

    async def new_seed(self, timeout_s: float) -> float:
        self.seed += 1
        box = self.page.get_by_label("Seed", exact=True).first

        async def act():
            await box.fill(str(self.seed))
            await box.press("Enter")
        return await timed(act, self.page, self.seed_caption.format(seed=self.seed), timeout_s)

    async def scrub(self, timeout_s: float) -> float:
        if not 0 <= self.t + self.step <= 7:
            self.step = -self.step
        self.t += self.step
        thumb = self.page.get_by_role("slider", name="Scrub the path")

        async def act():
            await thumb.focus()
            await self.page.keyboard.press("ArrowRight" if self.step > 0 else "ArrowLeft")
        return await timed(act, self.page, self.t_text.format(t=self.t / 7), timeout_s)


async def open_page(browser, url: str, title: str | None, timeout_s: float):
    ctx = await browser.new_context(viewport={"width": 1300, "height": 1600})
    page = await ctx.new_page()
    await page.goto(url, timeout=timeout_s * 1000)
    await page.wait_for_selector(IDLE, timeout=timeout_s * 1000)
    if title:
        await page.wait_for_selector('h1:has-text("Generate")', timeout=timeout_s * 1000)
        if title != "Generate":
            await page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()
            await page.wait_for_selector(f'h1:has-text("{title}")', timeout=timeout_s * 1000)
        await answered(page, IDLE, timeout_s)
    return ctx, page


def app_actor(page, seed0: int) -> Actor:
    return Actor(page, '[data-testid="stCaptionContainer"]:has-text("· seed {seed} ·")',
                 SCRUB_CAPTION + ':has-text("t = {t:.2f}")', seed0)


async def single(browser, app_url: str, floor_url: str, reps: int, timeout_s: float) -> dict[str, list[float]]:
    """One user at a time: app and floor actions interleaved; seconds per action kind."""
    out: dict[str, list[float]] = {k: [] for k in ("app seed", "floor seed", "app scrub", "floor scrub")}
    opened = [await open_page(browser, app_url, "Generate", timeout_s),
              await open_page(browser, app_url, "Interpolate", timeout_s),
              await open_page(browser, floor_url, None, timeout_s)]
    gen, interp = app_actor(opened[0][1], 10_000), app_actor(opened[1][1], 0)
    floor_seed = Actor(opened[2][1], ':text("floor seed {seed} ·")', ':text("t = {t:.2f}")', 0)
    try:
        for _ in range(reps):
            out["app seed"].append(await gen.new_seed(timeout_s))
            out["floor seed"].append(await floor_seed.new_seed(timeout_s))
            out["app scrub"].append(await interp.scrub(timeout_s))
            out["floor scrub"].append(await floor_seed.scrub(timeout_s))
    finally:
        for ctx, _ in opened:
            await ctx.close()
    return out


async def concurrent(browser, app_url: str, sessions: int, seconds: float, timeout_s: float) -> tuple[dict, list[str]]:
    """`sessions` users at once, each looping a new seed on Generate and 3 scrub steps on Interpolate."""
    out: dict[str, list[float]] = {"app seed": [], "app scrub": []}
    errors: list[str] = []

    async def user(k: int) -> None:
        try:
            g_ctx, g = await open_page(browser, app_url, "Generate", timeout_s)
            i_ctx, i = await open_page(browser, app_url, "Interpolate", timeout_s)
        except Exception as e:  # a session that cannot even open counts as an error, the others go on
            errors.append(f"session {k} open: {type(e).__name__}: {str(e).splitlines()[0][:100]}")
            return
        gen, interp = app_actor(g, 100_000 * (k + 1)), app_actor(i, 0)
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                out["app seed"].append(await gen.new_seed(timeout_s))
                for _ in range(3):
                    out["app scrub"].append(await interp.scrub(timeout_s))
        except Exception as e:
            errors.append(f"session {k}: {type(e).__name__}: {str(e).splitlines()[0][:100]}")
        finally:
            await g_ctx.close()
            await i_ctx.close()

    await asyncio.gather(*(user(k) for k in range(sessions)))
    return out, errors


async def drag(browser, app_url: str, steps: int, timeout_s: float) -> tuple[int, int]:
    """Hold the Interpolate scrubber and move across it in `steps` moves; (distinct frames seen before release, moves)."""
    ctx, page = await open_page(browser, app_url, "Interpolate", timeout_s)
    try:
        track = page.get_by_role("slider", name="Scrub the path")
        shown = page.locator(SCRUB_CAPTION)
        box = await track.bounding_box()
        if box is None:
            return 0, steps
        y = box["y"] + box["height"] / 2
        x0, x1 = box["x"] + 4, box["x"] + box["width"] - 4
        await page.mouse.move(x0, y)
        await page.mouse.down()
        seen = {await shown.inner_text()}
        for k in range(1, steps + 1):
            await page.mouse.move(x0 + (x1 - x0) * k / steps, y, steps=3)
            await page.wait_for_timeout(100)
            seen.add(await shown.inner_text())
        await page.mouse.up()
        return len(seen) - 1, steps
    finally:
        await ctx.close()


async def run(app_url: str, floor_url: str, args, full: bool) -> tuple[dict, dict, list[str], tuple[int, int]]:
    """Single session; with `full`, then the concurrent sessions and the drag."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            await single(browser, app_url, floor_url, 1, args.timeout)  # first visits fill caches
            one = await single(browser, app_url, floor_url, args.reps, args.timeout)
            many, errors = (await concurrent(browser, app_url, args.sessions, args.seconds, args.timeout)
                            if full and args.sessions else ({"app seed": [], "app scrub": []}, []))
            dragged = await drag(browser, app_url, 7, args.timeout) if full else (0, 0)
        finally:
            await browser.close()
    return one, many, errors, dragged


def measure(env: dict[str, str], tmp: Path, floor: Path, args, full: bool) -> tuple[dict, dict, list[str], tuple, int]:
    """Start the app and the floor page with `env`, run the browser; (..., server tracebacks)."""
    with streamlit_server(APP, env, tmp / "app.log") as (app_url, _), \
            streamlit_server(floor, env, tmp / "floor.log") as (floor_url, _):
        result = asyncio.run(run(app_url, floor_url, args, full))
    return *result, sum((tmp / f).read_text().count("Traceback") for f in ("app.log", "floor.log"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=12, help="single-session repetitions of each action (default 12)")
    ap.add_argument("--sessions", type=int, default=4, help="concurrent sessions (default 4)")
    ap.add_argument("--seconds", type=float, default=40, help="how long the concurrent sessions loop (default 40)")
    ap.add_argument("--ckpt", default=None, help="generator checkpoint (default checkpoints/default.pt, else a tiny one)")
    ap.add_argument("--timeout", type=float, default=60, help="seconds one action may take before the run fails")
    ap.add_argument("--no-write", action="store_true", help="print only; do not write BENCHMARKS.md")
    args = ap.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"error: {CHROMIUM} not found (apt-get install chromium)", file=sys.stderr)
        return 2

    from bench.report import machine_line, write_section

    tmp = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    env = bench_env(tmp)
    model = choose_model(env, tmp, args.ckpt)
    floor = tmp / "floor_page.py"
    floor.write_text(FLOOR)
    load = os.getloadavg()[0]
    one, many, errors, (frames_seen, moves), tracebacks = measure(env, tmp, floor, args, full=True)
    gc_env = {**env, "STREAMLIT_RUNNER_POST_SCRIPT_GC": "true"}  # Streamlit's default; .streamlit/config.toml turns it off
    gc_one, _, _, _, gc_tracebacks = measure(gc_env, tmp, floor, args, full=False)
    tracebacks += gc_tracebacks

    def ms(x: float) -> str:
        return f"{1000 * x:.0f}"

    rows, ok = [], errors == [] and tracebacks == 0
    for action, label in ACTIONS:
        app, fl, conc = one[f"app {action}"], one[f"floor {action}"], many[f"app {action}"]
        r_floor = pct(app, 0.5) / pct(fl, 0.5)
        r_conc = pct(conc, 0.95) / pct(app, 0.5)
        met_floor, met_conc = r_floor <= TARGET_FLOOR, r_conc <= TARGET_CONCURRENT
        rows.append(f"| {label} | {ms(pct(app, 0.5))} / {ms(pct(app, 0.95))} | {ms(pct(fl, 0.5))} | **{r_floor:.2f}×** "
                    f"({'met' if met_floor else 'not met'}) | {len(conc)} | {ms(pct(conc, 0.5))} / {ms(pct(conc, 0.95))} "
                    f"| **{r_conc:.2f}×** ({'met' if met_conc else 'not met'}) |")
    md = "\n".join([
        "## Browser latency against a floor page (`python -m bench.bench_latency`)",
        "",
        f"{machine_line()}; load average {load:.2f} at the start; servers GAN_THREADS={env['GAN_THREADS']}, one headless "
        "Chromium on the same machine. Model: " + model + ".",
        f"A latency runs from the key press until the answer is on screen (its caption, the script idle, every image "
        f"decoded). Single session: {args.reps} of each action, app and floor interleaved. Floor page: one 64×64 "
        f"image per click (a number box and a slider). Then {args.sessions} sessions at once for {args.seconds:g} s, "
        "each looping one new seed and 3 scrub steps.",
        "",
        f"| action | app p50 / p95 ms | floor p50 ms | app ÷ floor (≤ {TARGET_FLOOR:g}×) | served by "
        f"{args.sessions} | {args.sessions} sessions p50 / p95 ms | p95 ÷ single p50 (≤ {TARGET_CONCURRENT:g}×) |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        "With Streamlit's default `runner.postScriptGC = true` (a full gc.collect() after every run; the shipped "
        "`.streamlit/config.toml` turns it off), same machine, single session, same actions:",
        "",
        "| action | app p50 ms | floor p50 ms | app ÷ floor |",
        "|---|---|---|---|",
        *[f"| {label} | {ms(pct(gc_one[f'app {a}'], 0.5))} | {ms(pct(gc_one[f'floor {a}'], 0.5))} | "
          f"{pct(gc_one[f'app {a}'], 0.5) / pct(gc_one[f'floor {a}'], 0.5):.2f}× |" for a, label in ACTIONS],
        "",
        f"- drag: the mouse held the Interpolate scrubber and moved across it in {moves} steps; **{frames_seen} of "
        f"{moves}** new frames were on screen before the release ("
        f"{'updates while dragging' if frames_seen >= moves - 1 else 'not while dragging'}).",
        f"- errors: {len(errors)} (sessions), server tracebacks {tracebacks}" + (f": {'; '.join(errors[:3])}" if errors else ""),
    ])
    print(md)
    if not args.no_write:
        write_section("latency", md)
    if ok:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"kept {tmp}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
