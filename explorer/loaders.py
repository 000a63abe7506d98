"""Every Streamlit cache of the app: models (st.cache_resource, keyed on path + mtime) and pure results (st.cache_data).

Environment: GAN_CKPT picks the initial generator checkpoint, GAN_CLASSIFIER the attribute classifier
(default: gan.metrics.classifier.default_classifier_for the generator), GAN_STORE / GAN_WORKSPACE / GAN_RUNS_DIR the user data
(see gan.paths). Cached models are shared by every session: they are only ever called, never changed.
"""
from __future__ import annotations

import json
import logging
import os
from datetime import datetime
from pathlib import Path

import numpy as np
import streamlit as st

from explorer.metrics_view import headline
from gan import paths

logger = logging.getLogger(__name__)

TRAIN_COMMAND = "python -m gan train --data synthetic:20000 --minutes 65 --out runs/default"
CLASSIFIER_COMMAND = "python -m gan classifier train --data synthetic:20000 --out workspace/classifier.pt --minutes 4"


def mtime(path: str | Path) -> float:
    """Modification time of a file (-1 if missing): part of every cache key, so a rewritten file is reloaded."""
    try:
        return os.path.getmtime(path)
    except OSError:
        return -1.0


# ----------------------------------------------------------------------------- which checkpoints exist

def env_checkpoint() -> Path | None:
    """GAN_CKPT, if set (the app's way to start on a given checkpoint; AppTest cannot pass argv)."""
    v = os.environ.get("GAN_CKPT", "").strip()
    return Path(v).expanduser().resolve() if v else None


def candidate_checkpoints() -> list[Path]:
    """GAN_CKPT, the shipped default, every other *.pt in its folder (`python -m gan export … checkpoints/NAME.pt`)
    and every *.pt under the runs folder (newest first), existing ones only; checkpoint_options drops non-generators."""
    out: list[Path] = []
    env = env_checkpoint()
    if env is not None and env.is_file():
        out.append(env)
    if paths.DEFAULT_CHECKPOINT.is_file():
        out.append(paths.DEFAULT_CHECKPOINT.resolve())
    shipped = paths.DEFAULT_CHECKPOINT.parent
    if shipped.is_dir():  # classifier / encoder files are named so: skip loading them just to refuse them
        found = [p for p in shipped.glob("*.pt") if "classifier" not in p.name and "encoder" not in p.name]
        out += [p.resolve() for p in sorted(found, key=mtime, reverse=True)]
    runs = paths.runs_dir()
    if runs.is_dir():
        found = sorted(runs.rglob("*.pt"), key=mtime, reverse=True)
        out += [p.resolve() for p in found]
    return list(dict.fromkeys(out))


def allowed_roots() -> list[Path]:
    """Where the app may read checkpoints: gan.paths.allowed_checkpoint_roots(), plus the file GAN_CKPT names
    (trusted wherever it lives, since whoever starts the app chose it)."""
    env = env_checkpoint()
    return paths.allowed_checkpoint_roots() + ([env] if env is not None else [])


@st.cache_data(show_spinner=False, max_entries=256)
def _checkpoint_info(path: str, mtime: float) -> dict | None:
    """Name, dataset, step, date and headline metrics of a generator checkpoint; None if it is not one."""
    from gan.checkpoint import CheckpointError, load_checkpoint

    try:
        ck = load_checkpoint(path, expected_kind="generator", allowed_roots=allowed_roots())
    except (CheckpointError, OSError):  # a classifier, an encoder, a half-written file, a link to outside: not offered
        return None
    except Exception:  # last resort: every *.pt under runs/ is tried, and a file failing in a way load_checkpoint does
        # not yet translate must not take the picker (every page) down; not offered, with the traceback in the log
        logger.exception("checkpoint %s could not be read; it is not offered", path)
        return None
    p = Path(path)
    name = p.parent.name if p.name == "checkpoint.pt" else p.stem
    ds = ck.get("dataset") or {}
    headline_ = headline(ck.get("metrics_history") or [])
    created = str(ck.get("created") or datetime.fromtimestamp(mtime).isoformat())[:16].replace("T", " ")
    return dict(path=path, name=name, dataset=str(ds.get("source", "?")), step=int(ck.get("step", 0) or 0),
                date=created, headline=headline_)


def checkpoint_options() -> list[dict]:
    """Info dicts for every loadable generator checkpoint (see candidate_checkpoints)."""
    infos = [_checkpoint_info(str(p), mtime(p)) for p in candidate_checkpoints()]
    return [i for i in infos if i is not None]


def short_checkpoint_label(info: dict) -> str:
    """What fits in the sidebar picker: name · step (the full line is shown under it)."""
    return f"{info['name']} · step {info['step']}"


def describe_checkpoint(info: dict) -> str:
    """One line for the picker: name · dataset · step · date · metrics."""
    parts = [info["name"], info["dataset"], f"step {info['step']}", info["date"]]
    if info["headline"]:
        parts.append(info["headline"])
    return " · ".join(parts)


# ----------------------------------------------------------------------------- models

@st.cache_resource(show_spinner="Loading generator…", max_entries=4)
def _generator(path: str, mtime: float):
    from gan.checkpoint import load_generator

    from gan.device import app_device

    return load_generator(path, device=app_device(), allowed_roots=allowed_roots())  # CUDA when present (GAN_APP_DEVICE)


def generator(path: str | Path):
    """The LoadedGenerator for `path` (loaded once per file version). Raises CheckpointError."""
    return _generator(str(path), mtime(path))


@st.cache_data(show_spinner=False, max_entries=16, ttl=60)  # a newly trained classifier shows up within a minute
def _classifier_for(gen_path: str, gen_mtime: float, env: str) -> str:
    """Path of the classifier to judge this generator with: GAN_CLASSIFIER, else one that reads all its attributes."""
    if env:
        return str(Path(env).expanduser().resolve()) if Path(env).expanduser().is_file() else ""
    from gan.metrics.classifier import default_classifier_for

    found = default_classifier_for(_generator(gen_path, gen_mtime))
    return str(found) if found else ""


def classifier_key(gen_path: str, gen_mtime: float) -> tuple[str, float]:
    """(path, mtime) of the classifier for a generator checkpoint; ("", -1) when there is none."""
    p = _classifier_for(gen_path, gen_mtime, os.environ.get("GAN_CLASSIFIER", "").strip())
    return (p, mtime(p)) if p else ("", -1.0)


@st.cache_resource(show_spinner="Loading attribute classifier…", max_entries=2)
def _classifier(path: str, mtime: float):
    from gan.metrics.classifier import load_classifier

    from gan.device import app_device

    return load_classifier(path, device=app_device())  # beside the generator; it returns its readings on the host


def classifier(gen_path: str, gen_mtime: float):
    """The attribute classifier for a generator, or None when there is none. Raises CheckpointError."""
    p, m = classifier_key(gen_path, gen_mtime)
    return _classifier(p, m) if p else None


@st.cache_resource(show_spinner=False, max_entries=8)
def _store(path: str):
    from explorer.store import LatentStore

    return LatentStore(path)


def store():
    """The SQLite latent store at gan.paths.store_path(). Shared across sessions: LatentStore opens a fresh
    connection per operation, so one object is safe in every script thread."""
    return _store(str(paths.store_path()))


# ----------------------------------------------------------------------------- cached results
# Each takes (checkpoint path, mtime) so a retrained file gets new results; models are fetched inside.

@st.cache_data(show_spinner=False, max_entries=64)
def grid(path: str, mtime: float, request: tuple[int, ...], mode: str, rows: int, cols: int, seed: int,
         truncation: float, toggles: tuple[int, ...] = ()) -> dict:
    """Latents and images of one Generate grid (see explorer.faces.grid_latents)."""
    from gan.attributes import AttributeRequest
    from explorer.faces import grid_latents, render

    gen = _generator(path, mtime)
    req = AttributeRequest(tuple(gen.attribute_names), np.array(request, dtype=np.int8))
    out = grid_latents(gen.labels, req, gen.z_dim, mode, rows, cols, seed, truncation, toggles)
    out["images"] = render(gen.G, out["z"], out["c"])
    return out


@st.cache_data(show_spinner=False, max_entries=256)
def images(path: str, mtime: float, z: np.ndarray, c: np.ndarray) -> np.ndarray:
    """img = G(z, c) as (N, H, W, 3) uint8 for any latents (means, paths, edits)."""
    from explorer.faces import render

    return render(_generator(path, mtime).G, z, c)


@st.cache_data(show_spinner=False, max_entries=256)
def probabilities(path: str, mtime: float, clf_path: str, clf_mtime: float, z: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Classifier P(attribute) (N, K_clf) for the faces G(z, c)."""
    from explorer.analysis import classify

    return classify(_classifier(clf_path, clf_mtime), images(path, mtime, z, c))


@st.cache_data(show_spinner=False, max_entries=256)
def w_of(path: str, mtime: float, z: np.ndarray, c: np.ndarray) -> np.ndarray:
    """w = G.mapping(z, c) (N, w_dim) float32 for a style checkpoint."""
    import torch

    G = _generator(path, mtime).G
    dev = next(G.parameters()).device
    with torch.inference_mode():
        return G.mapping(torch.from_numpy(np.asarray(z, np.float32)).to(dev),
                         torch.from_numpy(np.asarray(c, np.float32)).to(dev)).cpu().numpy()


@st.cache_data(show_spinner=False, max_entries=256)
def images_w(path: str, mtime: float, w: np.ndarray) -> np.ndarray:
    """img = G.synthesis(w broadcast to every block) as (N, H, W, 3) uint8 (explorer.faces.render_w)."""
    from explorer.faces import render_w

    return render_w(_generator(path, mtime).G, w)


@st.cache_data(show_spinner=False, max_entries=64)
def data_uris(images: np.ndarray) -> list[str]:
    """PNG data: URIs of (N, H, W, 3) uint8 images, as face grids and the scrubber inline them (encoded once per
    image set, not on every rerun)."""
    from explorer.faces import data_uri

    return [data_uri(img) for img in images]


@st.cache_data(show_spinner=False, max_entries=256)
def probabilities_of(clf_path: str, clf_mtime: float, images: np.ndarray) -> np.ndarray:
    """Classifier P(attribute) (N, K_clf) of uint8 images."""
    from explorer.analysis import classify

    return classify(_classifier(clf_path, clf_mtime), images)


@st.cache_data(show_spinner="Labelling random faces with the classifier…", max_entries=16)
def labelled_sample(path: str, mtime: float, clf_path: str, clf_mtime: float, n: int, seed: int,
                    hold: tuple[tuple[int, float], ...] = ()) -> dict:
    """n random faces (z, c from the label distribution, `hold` entries fixed) and the classifier's reading of them."""
    from explorer.analysis import labelled_sample as sample

    return sample(_generator(path, mtime), _classifier(clf_path, clf_mtime), n, seed, hold)


@st.cache_data(show_spinner="Measuring the direction…", max_entries=128)
def effect(path: str, mtime: float, clf_path: str, clf_mtime: float, x: np.ndarray, c: np.ndarray,
           d: np.ndarray, strengths: tuple[float, ...], space: str = "z") -> np.ndarray:
    """Classifier probabilities (S, K_clf) along x + α·d, averaged over faces (gan.latent.direction_effect);
    x (F, D) is the faces' z (drawn with their c) or, with space="w", their w (c unused)."""
    from gan.latent import direction_effect
    from explorer.analysis import classify
    from explorer.faces import render, render_w

    gen, clf = _generator(path, mtime), _classifier(clf_path, clf_mtime)
    draw = (lambda xx, cc: render_w(gen.G, xx)) if space == "w" else (lambda xx, cc: render(gen.G, xx, cc))
    return direction_effect(lambda xx, cc: classify(clf, draw(xx, cc)), x, c, d, np.array(strengths))


@st.cache_data(show_spinner="Building the direction from classifier-labelled faces…", max_entries=64)
def edit_direction(path: str, mtime: float, clf_path: str, clf_mtime: float, attribute: str, space: str, method: str,
                   n: int, seed: int):
    """gan.edits.attribute_direction for this checkpoint (a Direction: unit vector, strength unit, group sizes)."""
    from gan.edits import attribute_direction

    return attribute_direction(_generator(path, mtime), _classifier(clf_path, clf_mtime), attribute, space, n, seed, method)


REAL_SAMPLE = 500  # real faces a report card places P(target) among


@st.cache_data(show_spinner="Reading real faces with the classifier…", max_entries=8)
def real_readings(path: str, mtime: float, clf_path: str, clf_mtime: float, n: int = REAL_SAMPLE, seed: int = 0) -> dict:
    """gan.edits.real_readings: {"readings": RealReadings} for a fixed sample of n real faces (the renderer's, else
    the dataset cache's), or {"problem": why there are none} (e.g. no dataset cache for these attributes)."""
    from gan.data.cache import CacheError
    from gan.edits import real_readings as read

    try:
        return {"readings": read(_generator(path, mtime), _classifier(clf_path, clf_mtime), n, seed)}
    except (OSError, ValueError, CacheError) as e:  # no real faces for these attributes: a card without percentiles
        return {"problem": f"no real faces to compare with ({e})"}


@st.cache_data(show_spinner="Measuring the edit on a fixed sample…", max_entries=64)
def edit_card(path: str, mtime: float, clf_path: str, clf_mtime: float, _direction, direction_key: tuple, n: int,
              seed: int, strengths: tuple[float, ...]) -> dict:
    """gan.edits.edit_report (the edit report card, with P(target)'s standing among real_readings' faces when there
    are any); direction_key identifies the direction for the cache."""
    from gan.edits import edit_report

    real = real_readings(path, mtime, clf_path, clf_mtime).get("readings")
    return edit_report(_generator(path, mtime), _classifier(clf_path, clf_mtime), _direction, n=n, seed=seed,
                       strengths=strengths, real=real)


@st.cache_data(show_spinner="Measuring A − B as an edit on a fixed sample…", max_entries=64)
def arithmetic_card(path: str, mtime: float, clf_path: str, clf_mtime: float, space: str, delta: np.ndarray,
                    targets: tuple[tuple[str, bool], ...], n_with: int, n_without: int, n: int, seed: int) -> dict:
    """gan.edits.delta_report: the report cards (target → card) of the Arithmetic page's mean(A) − mean(B) as an
    edit of n fixed faces, judged on `targets` (attribute, reading it should give), placed among real_readings' faces."""
    from gan.edits import delta_report

    real = real_readings(path, mtime, clf_path, clf_mtime).get("readings")
    return delta_report(_generator(path, mtime), _classifier(clf_path, clf_mtime), space, delta, dict(targets), n=n,
                        seed=seed, n_with=n_with, n_without=n_without, real=real)


@st.cache_data(show_spinner=False, max_entries=64)
def edit_strip(path: str, mtime: float, _direction, direction_key: tuple, n: int, seed: int,
               strengths: tuple[float, ...]) -> dict:
    """n fixed faces edited at every strength, rendered from their recipe (gan.recipe) so the exported PNG replays
    bit for bit: {"images": (n, S, H, W, 3) uint8, "recipe": dict}."""
    from gan.edits import sample_faces
    from gan.recipe import make, render

    gen = _generator(path, mtime)
    faces = sample_faces(gen, n, seed)
    recipe = make("direction", gen.checkpoint_id, space=_direction.space, z=faces.z, c=faces.c, w=faces.w,
                  direction=_direction.vector, sigma=_direction.sigma, strengths=list(strengths),
                  attribute=_direction.attribute, method=_direction.method)
    images = render(gen, recipe)
    return {"images": images.reshape(n, len(strengths), *images.shape[1:]), "recipe": recipe}


@st.cache_data(show_spinner=False, max_entries=64, hash_funcs={dict: lambda d: json.dumps(d, sort_keys=True)})
def recipe_images(path: str, mtime: float, recipe: dict) -> np.ndarray:
    """The images of a gan.recipe recipe on this checkpoint (what its export replays)."""
    from gan.recipe import render

    return render(_generator(path, mtime), recipe)


@st.cache_data(show_spinner="Encoding the MP4…", max_entries=32,
               hash_funcs={dict: lambda d: json.dumps(d, sort_keys=True)})
def video(frames: np.ndarray, recipe: dict | None) -> bytes:
    """gan.recipe.mp4_with_recipe: MP4 bytes of the frames carrying the recipe (raises gan.mp4.VideoError when the
    ffmpeg binary is missing, gan.recipe.RecipeError when the recipe is too large)."""
    from gan.recipe import mp4_with_recipe

    return mp4_with_recipe(frames, recipe)


@st.cache_data(show_spinner="Replaying the recipe…", max_entries=16)
def replay(path: str, mtime: float, data: bytes) -> dict:
    """Images of the recipe embedded in an exported PNG/GIF/MP4; {"error": …} when it cannot be replayed here."""
    from gan.recipe import RecipeError, read_recipe, render

    try:
        recipe = read_recipe(data)
        return {"recipe": recipe, "images": render(_generator(path, mtime), recipe)}
    except RecipeError as e:
        return {"error": str(e)}


@st.cache_data(show_spinner="Measuring what this latent space changes…", max_entries=32)
def space_effect(path: str, mtime: float, space: str) -> dict:
    """gan.metrics.diversity.space_effect against real faces (renderer or the dataset cache)."""
    from gan.metrics.diversity import space_effect as effect_of
    from gan.metrics.evaluate import real_faces_for

    gen = _generator(path, mtime)
    return effect_of(gen.G, gen.labels, real_faces_for(gen), space)


@st.cache_data(show_spinner=False, max_entries=64)
def style_mix(path: str, mtime: float, src_w: np.ndarray, dst_w: np.ndarray, layers: tuple[int, ...]) -> np.ndarray:
    """(S+1, T+1, H, W, 3) uint8: row 0 the targets, column 0 the sources, cell (i, j) target j with `layers` of
    source i (gan.style_generator.style_mix_grid); corner blank. src_w (S, w_dim), dst_w (T, w_dim)."""
    import torch

    from gan.pixels import tensor_to_images as to8
    from gan.style_generator import style_mix_grid

    G = _generator(path, mtime).G
    dev = next(G.parameters()).device
    with torch.inference_mode():
        ws_src, ws_dst = (torch.from_numpy(np.asarray(w, np.float32)).to(dev) for w in (src_w, dst_w))
        cells = style_mix_grid(G, ws_src, ws_dst, list(layers))                           # (S, T, 3, R, R)
        edge_src = G.synthesis(G.broadcast(ws_src))
        edge_dst = G.synthesis(G.broadcast(ws_dst))
    S, T = len(src_w), len(dst_w)
    R = G.img_resolution
    out = np.zeros((S + 1, T + 1, R, R, 3), np.uint8)
    out[0, 1:], out[1:, 0], out[1:, 1:] = to8(edge_dst), to8(edge_src), to8(cells)
    return out


def block_groups(num_ws: int) -> dict[str, list[int]]:
    """Coarse / middle / fine ws indices (gan.style_generator.block_groups), without importing torch in pages."""
    from gan.style_generator import block_groups as groups

    return {k: v for k, v in groups(num_ws).items() if v}



@st.cache_data(show_spinner=False, max_entries=256)
def direction(method: str, z_with: np.ndarray, z_without: np.ndarray, pca_index: int = 0) -> np.ndarray:
    """A unit direction (D,) by one of explorer.analysis.DIRECTION_METHODS (cached: SVMs take a moment)."""
    from explorer.analysis import build_direction

    return build_direction(method, z_with, z_without, pca_index=pca_index)


@st.cache_resource
def results() -> dict:
    """Long computations finished in any session (metrics reports, FID), keyed on (checkpoint sha, kind, settings).

    Filled by the pages after running with a progress bar (cached functions cannot drive one); values are
    plain dicts that are never modified after being stored.
    """
    return {}


# ----------------------------------------------------------------------------- the Project page

@st.cache_data(show_spinner=False, max_entries=1)
def example_photo() -> bytes:
    """scikit-image's astronaut portrait (512×512, public domain NASA photo) as PNG bytes."""
    import io

    from PIL import Image
    from skimage import data

    buf = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buf, format="PNG")
    return buf.getvalue()


@st.cache_data(show_spinner="Looking for faces…", max_entries=8)
def find_faces(data: bytes, manifest_crop: str | None, size: int) -> list:
    """MTCNN faces (gan.project.FaceCandidate) of a photo cropped for the checkpoint (gan.project.prepare_photo); raises PhotoError."""
    from gan.project import prepare_photo

    return prepare_photo(data, manifest_crop, size)


@st.cache_data(show_spinner=False, max_entries=8)
def boxes_preview(data: bytes, boxes: tuple[tuple[float, float, float, float], ...], max_side: int = 480):
    """The photo (PIL image), shrunk to max_side, with each face box (x1, y1, x2, y2) and its number drawn on it."""
    from PIL import Image, ImageDraw

    from gan.project import load_photo

    img = load_photo(data)
    s = min(1.0, max_side / max(img.size))
    img = img.resize((max(1, round(img.width * s)), max(1, round(img.height * s))), Image.BILINEAR) if s < 1 else img.copy()
    draw = ImageDraw.Draw(img)
    for i, box in enumerate(boxes):
        x1, y1, x2, y2 = (v * s for v in box)
        draw.rectangle((x1, y1, x2, y2), outline=(255, 220, 0), width=3)
        draw.text((x1 + 4, y1 + 2), str(i + 1), fill=(255, 220, 0))
    return img


@st.cache_data(show_spinner=False, max_entries=16, ttl=60)  # a newly trained encoder shows up within a minute
def encoder_path(gen_path: str, gen_mtime: float) -> str:
    """Path of an encoder trained for this exact generator file, or "" (gan.encoder.default_encoder_for)."""
    from gan.encoder import default_encoder_for

    found = default_encoder_for(generator(gen_path))
    return str(found) if found else ""
