"""Regenerate the README's pictures of the shipped default: request grids, a style-mixing figure, an edit strip, and
(with --screenshots) the app's Generate, Edit and Style mixing pages in headless Chromium.

    python -m bench.docs_images [--screenshots]
    python -m bench.docs_images --only app_edit_report_card   # just the pictures named (file stems)

Writes docs/default_*.png and docs/app_*.png; nothing else changes.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bench.streamlit_server import APP_SCRIPT, CHROMIUM, CHROMIUM_ARGS, IDLE, bench_env, streamlit_server
from gan import paths
from gan.checkpoint import load_generator
from gan.generate import generate_images, image_grid, sample_z
from gan.pixels import tensor_to_images

DOCS = Path(__file__).resolve().parent.parent / "docs"


def request_grid(gen, text: str, n: int = 16, seed: int = 0) -> Image.Image:
    """16 faces for a request, as `python -m gan generate --attrs TEXT --n 16 --seed 0` draws them."""
    from gan.attributes import parse_request

    req = parse_request(text, gen.attribute_names)
    c, _ = gen.labels.fill(req, n, np.random.default_rng(seed))
    return image_grid(generate_images(gen.G, sample_z(n, gen.z_dim, seed), c), nrow=8)


def mixing_figure(gen, seed: int = 3) -> Image.Image:
    """Rows: coarse, middle and fine blocks of 4 sources carried into 5 targets (top row: targets, left: sources)."""
    from gan.style_generator import block_groups, style_mix_grid

    G = gen.G
    c = torch.from_numpy(gen.labels.sample(9, np.random.default_rng(seed)))
    with torch.no_grad():
        w = G.mapping(sample_z(9, gen.z_dim, seed), c)
        src, dst = w[:4], w[4:]
        tiles = [np.full((gen.img_resolution, gen.img_resolution, 3), 255, np.uint8)]
        tiles += list(tensor_to_images(G.synthesis(G.broadcast(dst))))
        labels = ["targets"]
        for name, layers in block_groups(G.num_ws).items():
            cells = tensor_to_images(style_mix_grid(G, src, dst, layers))          # (4, 5, H, W, 3)
            srcs = tensor_to_images(G.synthesis(G.broadcast(src)))
            for i in range(4):
                tiles += [srcs[i]] + list(cells[i])
                labels.append(f"{name} from source {i + 1}")
    return image_grid(np.stack(tiles), nrow=6, row_labels=labels, label_width=150)


def edit_figure(gen, clf_path: Path) -> Image.Image:
    """W-space Smiling, Male and Eyeglasses edits on 3 faces at strengths −2, −1, 0, +1, +2, +3 (columns)."""
    from gan.edits import attribute_direction, edit_strip
    from gan.metrics.classifier import load_classifier

    clf = load_classifier(clf_path)
    strengths = (-2.0, -1.0, 0.0, 1.0, 2.0, 3.0)
    rows, labels = [], []
    for attr in ("Smiling", "Male", "Eyeglasses"):
        d = attribute_direction(gen, clf, attr, "w", n=500, seed=0)
        strip = edit_strip(gen, d, 3, 7, strengths)                                  # (3, S, H, W, 3)
        rows.append(strip.reshape(-1, *strip.shape[2:]))
        labels += [f"{attr}, face {i + 1}" for i in range(3)]
    return image_grid(np.concatenate(rows), nrow=len(strengths), row_labels=labels, label_width=130)


SCREENSHOTS = ("app_generate", "app_edit_report_card", "app_style_mixing")


def screenshots(out: Path, only: tuple[str, ...] = SCREENSHOTS) -> None:
    """The app on the shipped default in headless Chromium: Generate, Edit (report card) and Style mixing (those in
    `only`)."""
    from playwright.sync_api import sync_playwright

    ws = Path(tempfile.mkdtemp(prefix="docs-ws-"))
    env = {**bench_env(ws), "GAN_THREADS": "1"}
    with streamlit_server(APP_SCRIPT, env, ws / "streamlit.log") as (url, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1500})
        for path, name, wait in (("", "app_generate", 'h1:has-text("Generate")'),
                                 ("edit", "app_edit_report_card", 'h3:has-text("Report card")'),
                                 ("style_mixing", "app_style_mixing", 'h1:has-text("Style mixing")')):
            if name not in only:
                continue
            page.goto(f"{url}/{path}", timeout=120_000)
            page.wait_for_selector(wait, timeout=240_000)
            time.sleep(1)
            page.wait_for_selector(IDLE, timeout=240_000)
            if name == "app_generate":  # two faces picked, as a user would have them
                for i in (1, 4):
                    page.locator('[data-testid="stMain"] .fg button').nth(i).click()
                    time.sleep(1)
                    page.wait_for_selector(IDLE, timeout=240_000)
            time.sleep(2)
            page.screenshot(path=str(out / f"{name}.png"), full_page=False)
        browser.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--screenshots", action="store_true", help="also photograph the app (needs Debian's chromium)")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="regenerate only these pictures (file stems, e.g. "
                    "app_edit_report_card); the others are left as they are")
    args = ap.parse_args()
    if args.only:
        unknown = set(args.only) - set(SCREENSHOTS)
        if unknown:
            ap.error(f"--only takes {', '.join(SCREENSHOTS)}; not {', '.join(sorted(unknown))}")
        screenshots(DOCS, tuple(args.only))
        print("wrote", ", ".join(f"{n}.png" for n in args.only))
        return
    gen = load_generator(paths.DEFAULT_CHECKPOINT)
    request_grid(gen, "Smiling, Male=0").save(DOCS / "default_smiling_women.png")
    request_grid(gen, "Male, No_Beard=0, Eyeglasses").save(DOCS / "default_bearded_men_glasses.png")
    mixing_figure(gen).save(DOCS / "default_style_mixing.png")
    edit_figure(gen, paths.DEFAULT_CLASSIFIER).save(DOCS / "default_w_edits.png")
    (DOCS / "default_train_config.json").write_text(json.dumps(gen.train_config, indent=2) + "\n")
    if args.screenshots:
        screenshots(DOCS)
    print("wrote", ", ".join(sorted(p.name for p in DOCS.glob("*.png"))))


if __name__ == "__main__":
    main()
