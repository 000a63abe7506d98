"""The real app in a headless Chromium: `streamlit run explorer/app.py` on a tiny checkpoint, every page visited.

Screenshots go to test-output/screenshots/. Needs Debian's chromium (/usr/bin/chromium) and Playwright's
Python package; `playwright install` cannot download browsers here.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from explorer.demo import DEMO_ATTRIBUTES, make_tiny_classifier, make_tiny_generator
from gan.checkpoint import load_generator

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
SHOTS = REPO / "test-output" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
# sidebar link → page heading
PAGES = {"Generate": "Generate", "Arithmetic": "Latent arithmetic", "Directions": "Directions", "Edit": "Edit",
         "Style mixing": "Style mixing", "Interpolate": "Interpolate",
         "Latent map": "Latent map", "Metrics": "Metrics", "Trainer": "Trainer", "Project": "Project a photo",
         "Workspace": "Workspace"}
WITH_FACES = {"Generate", "Arithmetic", "Directions", "Edit", "Style mixing", "Interpolate", "Latent map"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
            return r.status == 200 and r.read().strip() == b"ok"
    except OSError:
        return False


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A streamlit server on a free port, pointed at a tiny checkpoint and a private workspace; always terminated."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (scripts/test.sh does, as root)")
    root = tmp_path_factory.mktemp("browser")
    gen = make_tiny_generator(root / "tiny_generator.pt", z_dim=16)
    clf = make_tiny_classifier(root / "tiny_classifier.pt")
    env = dict(os.environ, GAN_CKPT=str(gen), GAN_CLASSIFIER=str(clf), GAN_WORKSPACE=str(root / "workspace"),
               GAN_RUNS_DIR=str(root / "runs"), GAN_STORE=str(root / "workspace" / "latents.sqlite"), GAN_THREADS="1")
    # One saved collection so Arithmetic / Latent map / Workspace have something to show: stored under the
    # generator's weights id (what the pages filter by), not the file's sha256.
    from explorer.store import LatentStore

    rng = np.random.default_rng(0)
    LatentStore(env["GAN_STORE"]).add_latents("demo", rng.standard_normal((6, 16)).astype(np.float32),
                                              (rng.random((6, len(DEMO_ATTRIBUTES))) < 0.5).astype(np.float32),
                                              DEMO_ATTRIBUTES, load_generator(gen).checkpoint_id, seeds=np.zeros(6, int), indices=np.arange(6))
    port = _free_port()
    url = f"http://localhost:{port}"
    log = open(root / "streamlit.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(REPO / "explorer" / "app.py"),
                             "--server.headless", "true", "--server.port", str(port), "--server.address", "localhost",
                             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while not _healthy(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(f"streamlit did not come up:\n{(root / 'streamlit.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def _settle(page, timeout_s: float = 120) -> None:
    """Wait until the script run finished: the app root reports data-test-script-state="notRunning" twice in a row."""
    done = '[data-testid="stApp"][data-test-script-state="notRunning"]'
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        time.sleep(0.5)  # let a just-triggered rerun start
        page.wait_for_selector(done, timeout=timeout_s * 1000)
        time.sleep(0.5)
        if page.locator(done).count():
            return
    raise AssertionError("the page kept running")


def _loaded_images(page) -> int:
    return page.evaluate("() => Array.from(document.querySelectorAll('[data-testid=\"stMain\"] img'))"
                         ".filter(i => i.complete && i.naturalWidth > 0).length")


def _goto(page, title: str) -> None:
    page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()
    page.wait_for_selector(f'h1:has-text("{PAGES[title]}")', timeout=60_000)
    _settle(page)


FACES = '[data-testid="stMain"] .fg button'  # the faces of a face grid (explorer/face_picker.py)


def _ticked(page) -> int:
    return page.locator(FACES + '[aria-pressed="true"]').count()


def test_every_page_renders_in_chromium(server):
    from playwright.sync_api import sync_playwright

    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2200})
            page.goto(server, timeout=90_000)
            for title, heading in PAGES.items():
                if title != "Generate":
                    page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()
                page.wait_for_selector(f'h1:has-text("{heading}")', timeout=90_000)
                _settle(page)
                if title in WITH_FACES:  # images may still be decoding after the run ends
                    page.wait_for_function("() => Array.from(document.querySelectorAll('[data-testid=\"stMain\"] img'))"
                                           ".some(i => i.complete && i.naturalWidth > 0)", timeout=30_000)
                page.screenshot(path=str(SHOTS / f"{title.lower().replace(' ', '_')}.png"), full_page=True)
                assert page.locator('[data-testid="stException"]').count() == 0, f"exception on {title}"
                if title in WITH_FACES:
                    assert _loaded_images(page) > 0, f"no rendered face on {title}"
                if title == "Latent map":  # the seeded collection is mapped (its chip shows), not "nothing to map"
                    assert page.locator('[data-testid="stMain"] :text("demo")').count() > 0, f"{title} lacks 'demo'"

            # One real interaction: click a face on Generate to pick it; the sidebar counts it, the strip shows it.
            page.locator('[data-testid="stSidebarNav"] a', has_text="Generate").first.click()
            page.wait_for_selector('h1:has-text("Generate")', timeout=60_000)
            _settle(page)
            page.locator(FACES).first.click()
            _settle(page)
            page.wait_for_selector('[data-testid="stSidebar"] :text("1 picked face")', timeout=30_000)
            assert _ticked(page) == 1
            assert page.locator('[data-testid="stMain"] button', has_text="remove").count() >= 1
            assert page.locator('[data-testid="stException"]').count() == 0
            page.screenshot(path=str(SHOTS / "generate_picked.png"), full_page=True)

            # Interpolate's scrubber follows the mouse while the button is still held (no rerun, no release).
            _goto(page, "Interpolate")
            track = page.get_by_role("slider", name="Scrub the path")
            caption = page.locator("#frame-caption")
            box = track.bounding_box()
            y = box["y"] + box["height"] / 2
            page.mouse.move(box["x"] + 3, y)
            page.mouse.down()
            seen = {caption.inner_text()}
            for k in range(1, 5):
                page.mouse.move(box["x"] + 3 + (box["width"] - 6) * k / 4, y, steps=3)
                seen.add(caption.inner_text())
            page.screenshot(path=str(SHOTS / "interpolate_scrubbing.png"), full_page=True)
            page.mouse.up()
            assert len(seen) >= 4, f"the frame did not follow the drag: {seen}"
            assert any(t.startswith("t = 1.00") for t in seen), seen

            # Clicking a point on the latent map shows that face.
            page.locator('[data-testid="stSidebarNav"] a', has_text="Latent map").first.click()
            page.wait_for_selector('h1:has-text("Latent map")', timeout=60_000)
            _settle(page)
            box = page.locator(".scatterlayer .trace .points path").nth(3).bounding_box()
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            time.sleep(0.3)  # plotly needs the hover before a click selects
            page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            _settle(page)
            page.wait_for_selector('h3:has-text("Selected faces (1)")', timeout=30_000)
            assert page.locator('[data-testid="stException"]').count() == 0
            page.screenshot(path=str(SHOTS / "latent_map_selected.png"), full_page=True)

            # A broken upload on Workspace is refused with a message, not a traceback.
            page.locator('[data-testid="stSidebarNav"] a', has_text="Workspace").first.click()
            page.wait_for_selector('h1:has-text("Workspace")', timeout=60_000)
            _settle(page)
            page.locator('input[type="file"]').first.set_input_files(
                files=[{"name": "broken.npz", "mimeType": "application/octet-stream", "buffer": b"not a zip file"}])
            _settle(page)
            page.get_by_role("button", name="Import", exact=True).click()
            _settle(page)
            page.wait_for_selector(':text("Import failed, nothing was written")', timeout=30_000)
            assert page.locator('[data-testid="stException"]').count() == 0
            page.screenshot(path=str(SHOTS / "workspace_bad_import.png"), full_page=True)

            # Pick → clear → pick: after Clear, no face stays marked and the old picks never come back.
            _goto(page, "Generate")
            page.locator('[data-testid="stSidebar"] button', has_text="Clear picks").click()
            _settle(page)
            boxes = page.locator(FACES)
            for i in (0, 1):
                boxes.nth(i).click()
                _settle(page)
            page.wait_for_selector('[data-testid="stSidebar"] :text("2 picked faces")', timeout=30_000)
            page.locator('[data-testid="stSidebar"] button', has_text="Clear picks").click()
            _settle(page)
            page.wait_for_selector('[data-testid="stSidebar"] :text("0 picked faces")', timeout=30_000)
            assert _ticked(page) == 0, "faces still marked picked after Clear picks"
            boxes.nth(3).click()
            _settle(page)
            page.wait_for_selector('[data-testid="stSidebar"] :text("1 picked face")', timeout=30_000)
            assert _ticked(page) == 1, "the cleared picks came back"
            page.screenshot(path=str(SHOTS / "generate_pick_clear_pick.png"), full_page=True)

            # Bundle export → delete the collection → import: it comes back once, with its creation time.
            _goto(page, "Workspace")
            line = page.locator('[data-testid="stMain"] p', has_text="demo").first.inner_text()
            page.get_by_role("button", name="Prepare bundle").click()
            _settle(page)
            with page.expect_download() as dl:
                page.get_by_role("button", name="Download workspace.zip").click()
            bundle = Path(dl.value.path()).read_bytes()
            page.get_by_role("button", name="Delete", exact=True).first.click()
            _settle(page)
            page.get_by_role("button", name="Yes, delete").click()
            _settle(page)
            page.wait_for_selector(':text("No collections yet")', timeout=30_000)
            page.locator('input[type="file"]').nth(1).set_input_files(
                files=[{"name": "workspace.zip", "mimeType": "application/zip", "buffer": bundle}])
            _settle(page)
            page.get_by_role("button", name="Import bundle").click()
            _settle(page)
            page.wait_for_selector(':text("Imported 6 faces in 1 collections")', timeout=30_000)
            restored = page.locator('[data-testid="stMain"] p', has_text="demo").first.inner_text()
            assert restored == line, (line, restored)  # listed at once, same count and creation time
            assert page.locator('[data-testid="stMain"] :text("demo (2)")').count() == 0
            assert page.locator('[data-testid="stException"]').count() == 0
            page.screenshot(path=str(SHOTS / "workspace_bundle_restored.png"), full_page=True)
        finally:
            browser.close()


def test_edit_report_card_and_style_mixing_in_chromium(server):
    """The W-space pages with a real interaction: the Edit page's report card redraws for another method, and style
    mixing redraws when more blocks are taken from the sources."""
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2400})
            page.goto(server, timeout=90_000)
            page.wait_for_selector('h1:has-text("Generate")', timeout=90_000)
            _goto(page, "Edit")
            table = '[data-testid="stMain"] [data-testid="stDataFrame"]'
            page.wait_for_selector(table, timeout=180_000)  # the card is computed after its heading is drawn
            _settle(page)
            assert page.locator(table).count() >= 1
            page.locator('[data-testid="stMain"] label:has-text("conditional")').first.click()
            _settle(page)
            page.wait_for_selector(table, timeout=180_000)
            assert page.locator('[data-testid="stException"]').count() == 0
            page.screenshot(path=str(SHOTS / "edit_conditional.png"), full_page=True)
            _goto(page, "Style mixing")
            n_before = _loaded_images(page)
            page.locator('[data-testid="stMain"] button:has-text("middle")').first.click()
            _settle(page)
            assert page.locator('[data-testid="stMain"] :text("coarse, middle")').count() > 0
            assert page.locator('[data-testid="stException"]').count() == 0 and _loaded_images(page) >= n_before > 0
            page.screenshot(path=str(SHOTS / "style_mixing_coarse_middle.png"), full_page=True)
        finally:
            browser.close()


def _wait_text(page, text, timeout_s: float = 60) -> None:
    """Wait until the main area shows `text` (a substring of some element's text, or a compiled pattern)."""
    page.locator('[data-testid="stMain"]').get_by_text(text, exact=False).first.wait_for(timeout=timeout_s * 1000)


def _choose(page, key: str, option: str) -> None:
    """Choose `option` in the selectbox with widget key `key` (its container carries the class st-key-KEY)."""
    page.locator(f".st-key-{key} [role='combobox']").click()
    page.get_by_role("option", name=option, exact=True).click()
    _settle(page)


def test_w_faces_batch_edit_cards_and_directions_in_chromium(server):
    """Issue 15's new controls with real clicks: save W-edited faces from the Edit page to a new collection, move that
    collection along the direction into another new collection, the strip's MP4 download, the report cards with their
    real-face percentiles on Edit and Arithmetic, and a W direction built on Directions from 200 faces and saved."""
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    no_exception = '[data-testid="stException"]'
    tables = '[data-testid="stMain"] [data-testid="stDataFrame"]'
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2400})
            page.goto(server, timeout=90_000)
            page.wait_for_selector('h1:has-text("Generate")', timeout=90_000)

            # Edit: the card places P(target) among real faces; the strip offers an MP4; edited W faces are saved.
            _goto(page, "Edit")
            _wait_text(page, "Real faces: a fixed sample of 200", 180)  # the card is computed after its heading
            page.locator(tables).first.wait_for(timeout=60_000)           # the table's component loads on its own
            page.locator(".st-key-edit_dl_mp4 button", has_text="MP4 with its recipe").first.wait_for(timeout=60_000)
            page.locator(".st-key-edit_save_name input").fill("edited in W")
            page.locator('[data-testid="stMain"] button', has_text="Save these edited faces").click()
            _settle(page)
            _wait_text(page, "Saved 4 faces to collection")
            page.screenshot(path=str(SHOTS / "edit_saved_w_faces.png"), full_page=True)

            # Edit a collection: the saved W faces along the page's direction into another new collection.
            _choose(page, "edit_batch_src", "edited in W")
            _wait_text(page, "Save the 4 edited faces as a new collection")
            page.locator(".st-key-edit_batch_name input").fill("edited in W, more")
            page.locator('[data-testid="stMain"] button', has_text="Save the 4 edited faces as a new collection").click()
            _settle(page)
            _wait_text(page, "Saved 4 edited faces as")
            assert page.locator(no_exception).count() == 0
            page.screenshot(path=str(SHOTS / "edit_collection_batch_edited.png"), full_page=True)

            # Arithmetic: A − B measured as an edit, with its table and real-face percentiles.
            _goto(page, "Arithmetic")
            page.wait_for_selector('h3:has-text("Report card: A − B as an edit")', timeout=120_000)
            _wait_text(page, "Real faces: a fixed sample of 200", 180)
            page.locator(tables).nth(1).wait_for(timeout=60_000)          # the reading table, then the card's
            assert page.locator(no_exception).count() == 0
            page.screenshot(path=str(SHOTS / "arithmetic_report_card.png"), full_page=True)

            # Directions in W: build from 200 classifier-labelled faces, see its effect, save it.
            _goto(page, "Directions")
            slider = page.locator('.st-key-dir_n input[type="range"]')
            slider.focus()
            slider.press("Home")                                   # the smallest sample: 200 faces
            _settle(page)
            _wait_text(page, re.compile(r"(in \d+ of|in all of the|in none of the) 200 (random )?faces"))
            page.locator('[data-testid="stMetric"]', has_text="per unit α").first.wait_for(timeout=120_000)
            page.locator(".st-key-dir_save_name input").fill("smile in W")
            page.locator('[data-testid="stMain"] button', has_text="Save direction").click()
            _settle(page)
            _wait_text(page, "Saved direction smile in W (w)")
            assert page.locator(no_exception).count() == 0
            page.screenshot(path=str(SHOTS / "directions_w_saved.png"), full_page=True)
        finally:
            browser.close()
