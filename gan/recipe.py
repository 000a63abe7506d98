"""Replayable exports: a JSON recipe (checkpoint id, space, the faces' z / c / w, the edit and its strengths) that is
embedded in every exported PNG (a tEXt chunk), GIF (its comment) and MP4 (its comment tag, gan/mp4.py) and re-renders
those images bit for bit (an MP4 is lossy: its recipe re-renders the exact frames that were encoded).

Recipe kinds (all latents are lists of float32 values, exact through JSON):
    faces:       {"z": [[…]], "c": [[…]], "w": [[…]] | null}                     → one image per face
    direction:   faces + {"space": "w"|"z"|"c", "direction": […], "sigma": s, "strengths": […]}
                                                                                → faces × strengths, row-major
    interpolate: {"space": "w"|"z", "a": {z, c, w}, "b": {z, c, w}, "steps": n} → n frames (linear)
    mix:         {"sources": {z, c}, "targets": {z, c}, "layers": […]}           → sources × targets, row-major
"""
from __future__ import annotations

import io
import json

import numpy as np
import torch
from PIL import Image, PngImagePlugin

from gan import mp4
from gan.pixels import tensor_to_images

FORMAT = "gan-recipe/1"
PNG_KEY = "gan-recipe"
MAX_RECIPE_BYTES = 8 << 20  # a recipe larger than this is refused on import
KINDS = ("faces", "direction", "interpolate", "mix")


class RecipeError(ValueError):
    """A recipe that cannot be replayed; the message says why."""


def floats(x) -> list:
    """A float32 array as nested lists of Python floats (exact: every float32 is a float64)."""
    return np.asarray(x, np.float32).astype(np.float64).tolist()


def make(kind: str, checkpoint_id: str, **fields) -> dict:
    """A recipe dict of one kind (arrays converted with `floats`)."""
    if kind not in KINDS:
        raise RecipeError(f"recipe kind must be one of {KINDS}, got {kind!r}")
    conv = {k: floats(v) if isinstance(v, (np.ndarray, torch.Tensor)) else v for k, v in fields.items()}
    return {"format": FORMAT, "kind": kind, "checkpoint_id": checkpoint_id, **conv}


def _t(x, name: str, dim: int | None = None) -> torch.Tensor:
    try:
        t = torch.tensor(x, dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError):
        raise RecipeError(f"recipe field {name} is not a numeric array") from None
    if t.ndim == 1:
        t = t[None]
    if t.ndim != 2 or (dim is not None and t.shape[1] != dim) or not torch.isfinite(t).all():
        raise RecipeError(f"recipe field {name} must be finite rows of {dim} values, got shape {tuple(t.shape)}")
    return t


@torch.inference_mode()
def render(loaded, recipe: dict) -> np.ndarray:
    """The recipe's images (N, H, W, 3) uint8 on this checkpoint (its id must match the recipe's)."""
    if not isinstance(recipe, dict) or recipe.get("format") != FORMAT:
        raise RecipeError(f"not a {FORMAT} recipe")
    if recipe.get("checkpoint_id") != loaded.checkpoint_id:
        raise RecipeError(f"the recipe was made with checkpoint {recipe.get('checkpoint_id')}, this is "
                          f"{loaded.checkpoint_id}; load that checkpoint to replay it")
    G, kind = loaded.G, recipe.get("kind")
    style, dev = hasattr(G, "mapping"), next(loaded.G.parameters()).device

    def T(x, name: str, dim: int | None = None) -> torch.Tensor:  # validated, on G's device (never move G)
        return _t(x, name, dim).to(dev)

    def W(part: dict, name: str) -> torch.Tensor:
        """w of a {z, c, w} part: the stored w when present, else mapping(z, c)."""
        if part.get("w") is not None:
            return T(part["w"], f"{name}.w", G.w_dim)
        return G.mapping(T(part["z"], f"{name}.z", G.z_dim), T(part["c"], f"{name}.c", G.c_dim))

    try:
        if kind == "faces":
            if style and recipe.get("w") is not None:
                img = G.synthesis(G.broadcast(T(recipe["w"], "w", G.w_dim)))
            else:
                img = G(T(recipe["z"], "z", G.z_dim), T(recipe["c"], "c", G.c_dim))
        elif kind == "direction":
            space, strengths = recipe["space"], [float(a) for a in recipe["strengths"]]
            d, sigma = T(recipe["direction"], "direction")[0], float(recipe["sigma"])
            z, c = T(recipe["z"], "z", G.z_dim), T(recipe["c"], "c", G.c_dim)
            if space not in ("w", "z", "c"):
                raise RecipeError(f"unknown space {space!r}")
            base = ((T(recipe["w"], "w", G.w_dim) if recipe.get("w") is not None else G.mapping(z, c))
                    if space == "w" else {"z": z, "c": c}[space])           # the faces' coordinates, read once
            rows = []
            for a in strengths:
                moved = base + a * sigma * d
                rows.append(G.synthesis(G.broadcast(moved)) if space == "w" else
                            G(moved, c) if space == "z" else G(z, moved))
            img = torch.stack(rows, 1).flatten(0, 1)                           # faces × strengths, row-major
        elif kind == "interpolate":
            steps = int(recipe["steps"])
            if not 2 <= steps <= 1000:
                raise RecipeError("interpolate needs 2–1000 steps")
            t = torch.linspace(0, 1, steps, device=dev)[:, None]
            if recipe["space"] == "w":
                wa, wb = W(recipe["a"], "a"), W(recipe["b"], "b")
                img = G.synthesis(G.broadcast((1 - t) * wa + t * wb))
            else:
                za, zb = T(recipe["a"]["z"], "a.z", G.z_dim), T(recipe["b"]["z"], "b.z", G.z_dim)
                ca, cb = T(recipe["a"]["c"], "a.c", G.c_dim), T(recipe["b"]["c"], "b.c", G.c_dim)
                img = G((1 - t) * za + t * zb, (1 - t) * ca + t * cb)
        elif kind == "mix":
            from gan.style_generator import style_mix_grid
            if not style:
                raise RecipeError("style mixing needs a style generator")
            cells = style_mix_grid(G, W(recipe["sources"], "sources"), W(recipe["targets"], "targets"),
                                   [int(i) for i in recipe["layers"]])
            img = cells.flatten(0, 1)
        else:
            raise RecipeError(f"recipe kind must be one of {KINDS}, got {kind!r}")
    except KeyError as e:
        raise RecipeError(f"recipe of kind {kind!r} lacks the field {e}") from None
    return tensor_to_images(img)


# ----------------------------------------------------------------------------- files


def png_with_recipe(image: np.ndarray, recipe: dict) -> bytes:
    """PNG bytes of one (H, W, 3) uint8 image (a grid or a face) carrying the recipe as a tEXt chunk."""
    info = PngImagePlugin.PngInfo()
    info.add_text(PNG_KEY, json.dumps(recipe, separators=(",", ":")))
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def gif_with_recipe(frames: np.ndarray, recipe: dict, duration_ms: int = 120) -> bytes:
    """Animated GIF bytes of (N, H, W, 3) uint8 frames carrying the recipe as its comment."""
    buf = io.BytesIO()
    imgs = [Image.fromarray(f) for f in frames]
    imgs[0].save(buf, format="GIF", save_all=True, append_images=imgs[1:], duration=duration_ms, loop=0,
                 comment=json.dumps(recipe, separators=(",", ":")).encode())
    return buf.getvalue()


def video_frames(recipe: dict, images: np.ndarray) -> np.ndarray:
    """The frames (S, H', W', 3) uint8 a video of the recipe's rendered images shows: one per strength with the faces
    side by side for a direction (faces × strengths, row-major), one per image for every other kind."""
    if recipe.get("kind") != "direction":
        return images
    from gan.generate import image_grid

    strengths = len(recipe["strengths"])
    per_face = images.reshape(-1, strengths, *images.shape[1:])                    # (n, S, H, W, 3)
    return np.stack([np.asarray(image_grid(per_face[:, j], nrow=len(per_face))) for j in range(strengths)])


def mp4_with_recipe(frames: np.ndarray, recipe: dict | None, fps: float = 8.0) -> bytes:
    """MP4 bytes (H.264, yuv420p) of (N, H, W, 3) uint8 frames carrying the recipe as its comment tag (none when
    recipe is None). Frames are enlarged (nearest neighbour) to about 256 px high and padded to even sizes.
    Raises mp4.VideoError (no ffmpeg binary, encoder failure) and RecipeError (recipe too large)."""
    comment = None
    if recipe is not None:
        comment = json.dumps(recipe, separators=(",", ":"))
        if len(comment) > MAX_RECIPE_BYTES:
            raise RecipeError("the recipe is too large to export")
    return mp4.encode(frames, fps, comment, scale=max(1, 256 // np.asarray(frames).shape[1]))


def read_recipe(data: bytes) -> dict:
    """The recipe embedded in PNG, GIF or MP4 bytes (or a bare JSON recipe); RecipeError when there is none."""
    if len(data) > MAX_RECIPE_BYTES * 8:
        raise RecipeError("file too large to hold a recipe")
    text = None
    if data[:1] == b"{":
        text = data
    elif mp4.is_mp4(data):
        try:
            text = mp4.read_comment(data)  # walks box headers only: nothing is decoded
        except mp4.VideoError as e:
            raise RecipeError(str(e)) from None
    else:
        try:
            with Image.open(io.BytesIO(data)) as im:  # reads headers and text chunks, not the pixels
                text = im.info.get(PNG_KEY) if im.format == "PNG" else im.info.get("comment")
        except (OSError, Image.DecompressionBombError, ValueError):
            raise RecipeError("not a PNG, GIF, MP4 or JSON file") from None
    if not text:
        raise RecipeError("this file carries no recipe (export it from the app to get one)")
    if len(text) > MAX_RECIPE_BYTES:
        raise RecipeError("the recipe is too large")
    from gan.untrusted import UntrustedFileError, parse_json
    try:
        recipe = parse_json(text.encode() if isinstance(text, str) else bytes(text), "recipe", max_depth=8)
    except UntrustedFileError:
        raise RecipeError("the recipe is not valid JSON (or nested too deeply)") from None
    if not isinstance(recipe, dict) or recipe.get("format") != FORMAT:
        raise RecipeError(f"not a {FORMAT} recipe")
    return recipe
