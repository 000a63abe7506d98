"""Rerun time of every app page after a widget change (AppTest), and a 64-face grid's generation time.

    .venv/bin/python -m bench.bench_pages [--repeats 5]

Uses checkpoints/default.pt (and the classifier default_classifier_for finds) when present, else a tiny
untrained stand-in (explorer.demo), and says which. Runs on a private temporary workspace. Writes the
"pages" section of BENCHMARKS.md. Target: ≤ 300 ms per rerun on Generate and Interpolate.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "explorer" / "app.py")
TARGET_MS = 300

def click_event(at, i: int) -> None:
    """What a click on face i of Generate's grid sends (explorer/face_picker.py): the grid's picked keys after it."""
    items = next(json.loads(e.proto.json) for e in at.get("bidi_component") if e.proto.id.endswith("-gen_grid"))["items"]
    picked = {it["key"] for it in items if it["picked"]} ^ {items[i]["key"]}
    at.session_state["gen_grid"] = {"picked": {"seq": f"bench-{time.perf_counter_ns()}", "grid": [it["key"] for it in items],
                                               "keys": [it["key"] for it in items if it["key"] in picked]}}


# page → (label of the change, function(at, i) applying the i-th change before at.run())
CHANGES = {
    "generate": [
        ("move Rows 4 ↔ 3 (cached grids after the first visit)", lambda at, i: at.slider(key="gen_rows").set_value([3, 4][i % 2])),
        ("click a face to pick it", lambda at, i: click_event(at, i % 4)),
        ("new seed (generates a fresh 4×8 grid)", lambda at, i: at.number_input(key="gen_seed").set_value(100 + i)),
    ],
    "arithmetic": [("new seed for group A (a new mean)", lambda at, i: at.number_input(key="arith_A_seed").set_value(10 + i))],
    "directions": [("move strength α", lambda at, i: at.slider(key="dir_alpha").set_value([1.0, 2.0][i % 2]))],
    "interpolate": [
        ("move the frame-to-save slider (a fragment)", lambda at, i: at.slider(key="interp_t").set_value(i % 8)),
        ("new end seed (renders a new 8-step path)", lambda at, i: at.number_input(key="interp_b_seed").set_value(200 + i)),
    ],
    "latent_map": [("switch 2-D / 3-D", lambda at, i: at.radio(key="map_dims").set_value(["3-D", "2-D"][i % 2]))],
    "metrics": [("move the FID sample-size slider", lambda at, i: at.select_slider(key="met_fid_gen").set_value([1000, 500][i % 2]))],
    "workspace": [("type a collection name", lambda at, i: at.text_input(key="ws_import_name").input(f"name{i}"))],
}


def setup_env(tmp: Path, ckpt: str | None = None) -> str:
    """Private workspace; `ckpt`, else the default checkpoint, else a tiny stand-in. Returns a description of the model."""
    os.environ.update(GAN_WORKSPACE=str(tmp / "workspace"), GAN_RUNS_DIR=str(tmp / "runs"),
                      GAN_STORE=str(tmp / "workspace" / "latents.sqlite"))
    from gan import paths

    if ckpt:
        os.environ["GAN_CKPT"] = str(Path(ckpt).resolve())
        return f"`{ckpt}`"
    if paths.DEFAULT_CHECKPOINT.is_file():
        os.environ["GAN_CKPT"] = str(paths.DEFAULT_CHECKPOINT)
        return "`checkpoints/default.pt`"
    from explorer.demo import make_tiny_classifier, make_tiny_generator

    os.environ["GAN_CKPT"] = str(make_tiny_generator(tmp / "tiny_generator.pt"))
    os.environ["GAN_CLASSIFIER"] = str(make_tiny_classifier(tmp / "tiny_classifier.pt"))
    return "a tiny untrained stand-in (32×32, ngf 8; checkpoints/default.pt was missing)"


def time_grid(repeats: int) -> tuple[float, str]:
    """Median ms to generate 64 faces with the benchmarked generator (gan.generate.generate_images)."""
    import numpy as np

    from gan.checkpoint import load_generator
    from gan.generate import generate_images, sample_z

    gen = load_generator(os.environ["GAN_CKPT"])
    z = sample_z(64, gen.z_dim, 0)
    c = gen.labels.sample(64, np.random.default_rng(0))
    generate_images(gen.G, z, c)  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        generate_images(gen.G, z, c)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), f"{gen.img_resolution}×{gen.img_resolution}, ngf {gen.model_config.ngf}"


def bench_pages(repeats: int) -> list[tuple[str, str, float, float, float]]:
    """(page, change, first open ms, median rerun ms, max rerun ms) per page and change."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    rows = []
    for page, changes in CHANGES.items():
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_file(APP, default_timeout=600)
        if page != "generate":  # the shell opens on Generate; the page's own first visit is what is timed
            at.run()
            at.switch_page(f"../pages/{page}.py")
        t = time.perf_counter()
        at.run()
        first = (time.perf_counter() - t) * 1000
        if at.exception:
            raise SystemExit(f"{page}: exception {at.exception[0].value}")
        for label, change in changes:
            times = []
            for i in range(repeats + 1):
                change(at, i)
                t = time.perf_counter()
                at.run()
                times.append((time.perf_counter() - t) * 1000)
                if at.exception:
                    raise SystemExit(f"{page} / {label}: exception {at.exception[0].value}")
            times = times[1:]  # the first change may fill caches a real user already has
            rows.append((page, label, first, statistics.median(times), max(times)))
            print(f"{page:12s} {label:55s} open {first:7.0f} ms  rerun median {rows[-1][3]:6.0f} ms  max {rows[-1][4]:6.0f} ms",
                  flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5, help="reruns per change (median reported)")
    ap.add_argument("--ckpt", default=None, help="generator checkpoint to use (default: checkpoints/default.pt)")
    ap.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = ap.parse_args(argv)
    import torch

    from bench.report import machine_line, write_section
    from gan.device import configure_threads

    configure_threads()
    with tempfile.TemporaryDirectory() as tmp:
        model = setup_env(Path(tmp), args.ckpt)
        grid_ms, grid_desc = time_grid(args.repeats)
        print(f"64-face grid: {grid_ms:.0f} ms ({grid_desc})")
        rows = bench_pages(args.repeats)
    lines = [
        "## App pages (`bench/bench_pages.py`)",
        "",
        f"Machine: {machine_line()}; torch threads {torch.get_num_threads()}. Model: {model}.",
        "Rerun = AppTest `run()` after one widget change (includes AppTest's own overhead), median of "
        f"{args.repeats} after a first change; open = first visit with empty caches. Target ≤ {TARGET_MS} ms per rerun "
        "on Generate and Interpolate.",
        "",
        f"64-face grid (`generate_images`, {grid_desc}): **{grid_ms:.0f} ms**",
        "",
        "| page | widget change | first open (ms) | rerun median (ms) | rerun max (ms) | target |",
        "|---|---|---|---|---|---|",
    ]
    for page, label, first, med, mx in rows:
        target = ("✅" if med <= TARGET_MS else "❌") if page in ("generate", "interpolate") else ""
        lines.append(f"| {page} | {label} | {first:.0f} | {med:.0f} | {mx:.0f} | {target} |")
    md = "\n".join(lines)
    print(md)
    if not args.no_write:
        write_section("pages", md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
