"""Faces as the app handles them: identity (checkpoint, seed, index, condition), rendering, grids and images as files."""
from __future__ import annotations

import base64
import hashlib
import io
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from gan.attributes import ANY, AttributeRequest

GRID_MODES = ("random", "fixed z × varied conditions", "fixed condition × varied z")


@dataclass
class Face:
    """One face's identity: enough to regenerate it (`img = G(z, c)` on checkpoint `checkpoint`, or
    `img = G.synthesis(w)` when it has a w: an edit in W, a W arithmetic result, a frame of a W path)."""

    z: np.ndarray  # (z_dim,) float32
    c: np.ndarray  # (c_dim,) float32, usually multi-hot
    seed: int  # seed of the batch the z came from (-1: computed, e.g. a mean or an edit)
    index: int  # row in that batch
    checkpoint: str  # checkpoint id (sha256[:12] of the generator weights)
    names: tuple[str, ...] = field(default_factory=tuple)  # attribute names of c
    origin: str = ""  # where it came from ("grid", "collection smiling", "arithmetic" …)
    w: np.ndarray | None = field(default=None, repr=False)  # (w_dim,) float32: it renders from w (z, c: identity)
    img: np.ndarray | None = field(default=None, repr=False, compare=False)  # (H, W, 3) uint8 once rendered

    @property
    def key(self) -> str:
        """Stable id for picking: checkpoint, seed, index and a hash of z, c (and w when it has one)."""
        data = np.asarray(self.z, np.float32).tobytes() + np.asarray(self.c, np.float32).tobytes()
        if self.w is not None:
            data += b"w" + np.asarray(self.w, np.float32).tobytes()
        return f"{self.checkpoint}:{self.seed}:{self.index}:{hashlib.sha1(data).hexdigest()[:8]}"

    def caption(self, first: tuple[str, ...] | list[str] = ()) -> str:
        """Short caption under an image: seed/index and the attributes that are on, those in `first` (the requested
        ones) leading and never cut."""
        who = f"seed {self.seed} · #{self.index}" if self.seed >= 0 else (self.origin or "computed")
        return f"{who} · {describe_condition(self.c, self.names, limit=3, first=first)}"

    def identity(self) -> str:
        """Full identity as one line (tooltip / expander)."""
        return (f"checkpoint {self.checkpoint} · seed {self.seed} · index {self.index} · "
                f"c = {describe_condition(self.c, self.names)}" + (f" · from {self.origin}" if self.origin else "")
                + (" · drawn from its stored w" if self.w is not None else ""))


def describe_condition(c: np.ndarray, names: tuple[str, ...] | list[str], limit: int | None = None,
                       first: tuple[str, ...] | list[str] = ()) -> str:
    """Attributes switched on in c ("Smiling, Male"); fractional entries (means, edits) show their value.

    Names in `first` come first and are never cut by `limit` (which then counts them)."""
    c = np.asarray(c, dtype=np.float64).reshape(-1)
    names = list(names) or [f"a{i}" for i in range(len(c))]
    items, lead = [], []
    for n, v in zip(names, c):
        text = n if abs(v - 1.0) < 1e-6 else f"{n}={v:.2f}" if v > 1e-6 else None
        if text is not None:
            (lead if n in first else items).append(text)
    items = lead + items
    if not items:
        return "no attributes on"
    if limit is not None:
        limit = max(limit, len(lead))
    if limit is not None and len(items) > limit:
        return ", ".join(items[:limit]) + f" +{len(items) - limit}"
    return ", ".join(items)


def faces_from_arrays(z: np.ndarray, c: np.ndarray, seeds, indices, checkpoint: str, names, origin: str = "",
                      w: np.ndarray | None = None, has_w: np.ndarray | None = None) -> list[Face]:
    """Face records for rows of z (N, D) / c (N, K); w (N, w_dim) for the rows has_w (N,) marks (default all)."""
    z, c = np.asarray(z, np.float32), np.asarray(c, np.float32)
    if w is not None:
        w = np.asarray(w, np.float32)
        has_w = np.ones(len(z), bool) if has_w is None else np.asarray(has_w, bool)
    return [Face(z[i].copy(), c[i].copy(), int(seeds[i]), int(indices[i]), checkpoint, tuple(names), origin,
                 w=w[i].copy() if w is not None and has_w[i] else None)
            for i in range(len(z))]


def stack(faces: list[Face]) -> tuple[np.ndarray, np.ndarray]:
    """(z (N, D), c (N, K)) float32 arrays of a list of faces."""
    return (np.stack([f.z for f in faces]).astype(np.float32), np.stack([f.c for f in faces]).astype(np.float32))


def stack_w(faces: list[Face]) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(w (N, w_dim) float32 with zeros where a face has none, has_w (N,) bool), or (None, None) when none has one."""
    has_w = np.array([f.w is not None for f in faces])
    if not has_w.any():
        return None, None
    w_dim = next(len(f.w) for f in faces if f.w is not None)
    w = np.stack([np.zeros(w_dim, np.float32) if f.w is None else np.asarray(f.w, np.float32) for f in faces])
    return w, has_w


# ----------------------------------------------------------------------------- rendering

def render(G: torch.nn.Module, z: np.ndarray, c: np.ndarray, batch: int = 64) -> np.ndarray:
    """img = G(z, c) as (N, H, W, 3) uint8, in batches, without autograd. z (N, D), c (N, K)."""
    from gan.generate import generate_images

    z = np.asarray(z, np.float32).reshape(len(z), -1)
    c = np.asarray(c, np.float32).reshape(len(z), -1)
    if len(z) == 0:
        return np.zeros((0, 1, 1, 3), np.uint8)
    with torch.inference_mode():
        return generate_images(G, torch.from_numpy(z), torch.from_numpy(c), batch_size=batch)


def render_w(G: torch.nn.Module, w: np.ndarray, batch: int = 64) -> np.ndarray:
    """img = G.synthesis(w broadcast to every block) as (N, H, W, 3) uint8, in batches, without autograd. w (N, w_dim)."""
    from gan.pixels import tensor_to_images

    w = torch.from_numpy(np.asarray(w, np.float32).reshape(len(w), -1))
    if len(w) == 0:
        return np.zeros((0, 1, 1, 3), np.uint8)
    dev = next(G.parameters()).device  # G may sit on a GPU; w comes from the host
    with torch.inference_mode():
        return np.concatenate([tensor_to_images(G.synthesis(G.broadcast(w[i:i + batch].to(dev))))
                               for i in range(0, len(w), batch)])


def grid_latents(labels, request: AttributeRequest, z_dim: int, mode: str, rows: int, cols: int,
                 seed: int, truncation: float, toggles: tuple[int, ...] = ()) -> dict:
    """Latents for one grid. Returns {z (N, D), c (N, K), seeds (N,), indices (N,), col_labels, possible}.

    random: N = rows·cols independent z, conditions filled from the label distribution ("any" sampled).
    fixed z × varied conditions: one z per row; column 0 the base condition, then one column per attribute in
        `toggles` (default: the first cols − 1) with that attribute switched.
    fixed condition × varied z: one condition (filled once) for all N faces.
    """
    from gan.generate import sample_z

    rng = np.random.default_rng(seed)
    K = len(request.names)
    if mode == GRID_MODES[0]:
        n = rows * cols
        z = np.asarray(sample_z(n, z_dim, seed, truncation), np.float32)
        c, possible = labels.fill(request, n, rng)
        return dict(z=z, c=c, seeds=np.full(n, seed), indices=np.arange(n), col_labels=None, possible=possible)
    if mode == GRID_MODES[1]:
        z_rows = np.asarray(sample_z(rows, z_dim, seed, truncation), np.float32)  # (rows, D)
        base, possible = labels.fill(request, rows, rng)  # (rows, K): one base condition per row
        toggles = tuple(toggles) or tuple(range(min(K, max(1, cols - 1))))
        cols_k = len(toggles)
        z = np.repeat(z_rows, cols_k + 1, axis=0)
        c = np.repeat(base, cols_k + 1, axis=0).reshape(rows, cols_k + 1, K)
        for j, k in enumerate(toggles):
            c[:, j + 1, k] = 1.0 - c[:, j + 1, k]  # switch attribute k in column j + 1
        col_labels = ["base"] + [f"switch {request.names[k]}" for k in toggles]
        idx = np.repeat(np.arange(rows), cols_k + 1)
        return dict(z=z, c=c.reshape(-1, K).astype(np.float32), seeds=np.full(len(z), seed), indices=idx,
                    col_labels=col_labels, possible=possible)
    if mode == GRID_MODES[2]:
        n = rows * cols
        z = np.asarray(sample_z(n, z_dim, seed, truncation), np.float32)
        c1, possible = labels.fill(request, 1, rng)
        return dict(z=z, c=np.repeat(c1, n, axis=0), seeds=np.full(n, seed), indices=np.arange(n), col_labels=None,
                    possible=possible)
    raise ValueError(f"unknown grid mode {mode!r}: use one of {', '.join(GRID_MODES)}")


def request_values(choices: dict[str, str], names: tuple[str, ...]) -> np.ndarray:
    """Per-attribute radio choices {"Smiling": "on"|"off"|"any"} → request values (K,) int8."""
    table = {"on": 1, "off": 0, "any": ANY}
    return np.array([table[choices.get(n, "any")] for n in names], dtype=np.int8)


def merge_request(values: np.ndarray, text: str, names: tuple[str, ...]) -> tuple[np.ndarray, str | None]:
    """Apply a typed request ("Smiling, Male=0") on top of per-attribute control values (K,) int8.

    Returns (values, error): on a parse error the controls' values come back unchanged with a message
    naming the unknown attribute and the closest known ones.
    """
    from gan.attributes import UnknownAttributeError, parse_request

    values = np.asarray(values, np.int8).copy()
    if not (text or "").strip():
        return values, None
    try:
        req = parse_request(text, names)
    except UnknownAttributeError as e:
        hint = f" Did you mean {', '.join(e.suggestions)}?" if e.suggestions else ""
        return values, f"Unknown attribute **{e.name[:60]}**.{hint} This checkpoint knows: {', '.join(names)}."
    except ValueError as e:
        return values, str(e)
    values[req.specified] = req.values[req.specified]
    return values, None


# ----------------------------------------------------------------------------- image files

def png_bytes(img: np.ndarray) -> bytes:
    """(H, W, 3) uint8 → PNG bytes."""
    buf = io.BytesIO()
    Image.fromarray(np.asarray(img, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def data_uri(img: np.ndarray) -> str:
    """(H, W, 3) uint8 → a data: URI of its PNG (images inlined in one browser element)."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(img)).decode("ascii")


def thumbnails(images: np.ndarray, size: int = 64) -> list[bytes]:
    """PNG thumbnails (at most size×size) for (N, H, W, 3) uint8 images."""
    out = []
    for img in images:
        im = Image.fromarray(np.asarray(img, np.uint8))
        if max(im.size) > size:
            im = im.resize((size, size), Image.BILINEAR)
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


def grid_png(images: np.ndarray, ncols: int) -> bytes:
    """PNG bytes of (N, H, W, 3) uint8 tiled `ncols` per row (gan.generate.image_grid)."""
    from gan.generate import image_grid

    return png_bytes(np.asarray(image_grid(images, ncols, pad=2, pad_value=255)))


def gif_bytes(frames: np.ndarray, duration_ms: int = 120, bounce: bool = True, scale: int = 1) -> bytes:
    """Animated GIF of (S, H, W, 3) uint8 frames; bounce plays forward then back, loops forever."""
    ims = [Image.fromarray(np.asarray(f, np.uint8)) for f in frames]
    if scale > 1:
        ims = [im.resize((im.width * scale, im.height * scale), Image.NEAREST) for im in ims]
    if bounce and len(ims) > 2:
        ims = ims + ims[-2:0:-1]
    buf = io.BytesIO()
    ims[0].save(buf, format="GIF", save_all=True, append_images=ims[1:], duration=duration_ms, loop=0)
    return buf.getvalue()


def latents_npz_bytes(faces: list[Face]) -> bytes:
    """The latents `.npz` (gan.latents_file) of faces, as bytes for a download."""
    from gan import latents_file

    z, c = stack(faces)
    w, has_w = stack_w(faces)
    return latents_file.latents_npz_bytes(z, c, faces[0].names, [f.seed for f in faces], [f.index for f in faces],
                                          faces[0].checkpoint, w, has_w)


def latents_batch(faces: list[Face], images: np.ndarray):
    """The faces (with PNG thumbnails of their (N, H, W, 3) images and their origin) as a validated store batch
    (explorer.store.PreparedLatents); StoreError says what is wrong."""
    from explorer.store import prepare_latents

    z, c = stack(faces)
    w, has_w = stack_w(faces)
    return prepare_latents(z, c, list(faces[0].names), faces[0].checkpoint, [f.seed for f in faces],
                           [f.index for f in faces], thumbnails(images),
                           [{"origin": f.origin} if f.origin else None for f in faces], w=w, has_w=has_w)
