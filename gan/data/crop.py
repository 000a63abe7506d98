"""Cropping faces to square training images: DCGAN-style centre crop, or MTCNN face / face-with-context boxes.

Modes
    none            already framed (synthetic): resize to size×size if needed
    center          shorter side → size, then centre crop (torchvision Resize(size) + CenterCrop(size));
                    for 178×218 aligned CelebA this is exactly the common 178×178 centre square
    center:N        an N×N centre square of the original first (e.g. center:140 for tighter CelebA faces)
    mtcnn-face      the MTCNN face box, squared
    mtcnn-context   the box plus `CONTEXT_MARGIN`× its size on each side (hair, chin), squared,
                    edge-padded where it leaves the image
"""
from __future__ import annotations

import threading

import numpy as np
from PIL import Image

CONTEXT_MARGIN = 0.5  # mtcnn-context: extra box size on each side (0.5 → square twice the face box)
MIN_FACE_PROB = 0.9   # detections below this are ignored
DETECT_BATCH = 32     # same-size images detected together
DETECT_MAX_SIDE = 1024  # larger photos are searched downscaled (boxes scaled back)

Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels

_mtcnn: dict = {}  # one MTCNN per device
_mtcnn_lock = threading.Lock()


def check_mode(mode: str) -> str:
    """Validate a crop mode string; returns it normalised, raises ValueError otherwise."""
    m = (mode or "").strip().lower()
    if m in ("none", "center", "mtcnn-face", "mtcnn-context"):
        return m
    if m.startswith("center:") and m[7:].isdigit() and int(m[7:]) > 0:
        return m
    raise ValueError(f"Unknown crop mode {mode!r}: use none, center, center:N (e.g. center:140), mtcnn-face or mtcnn-context")


def uses_mtcnn(mode: str) -> bool:
    return mode.startswith("mtcnn")


def center_crop(img: Image.Image, size: int, square: int | None = None) -> Image.Image:
    """Centre square (side `square`, default the shorter side) resized to size×size."""
    w, h = img.size
    s = min(w, h) if square is None else min(square, w, h)
    left, top = (w - s) / 2, (h - s) / 2
    # resize(box=…) crops and resamples in one step (antialiased when shrinking), like Resize + CenterCrop.
    return img.resize((size, size), Image.BILINEAR, box=(left, top, left + s, top + s))


def _get_mtcnn(device=None):
    """The MTCNN detector on `device` (None: the CPU), loaded once per device (weights ship in the
    facenet-pytorch wheel; offline)."""
    import torch

    device = torch.device(device or "cpu")
    with _mtcnn_lock:
        if str(device) not in _mtcnn:
            from facenet_pytorch import MTCNN
            _mtcnn[str(device)] = MTCNN(keep_all=True, device=device, post_process=False)
        return _mtcnn[str(device)]


def detect_faces(img: Image.Image, min_prob: float = MIN_FACE_PROB, device=None) -> list[tuple[Box, float]]:
    """Faces in an RGB image as [(box, probability)], most confident first; [] when none."""
    return detect_faces_batch([img], min_prob, device)[0]


def detect_faces_batch(imgs: list[Image.Image], min_prob: float = MIN_FACE_PROB,
                       device=None) -> list[list[tuple[Box, float]]]:
    """detect_faces for many images; images of equal (detection) size run through MTCNN together.

    device: where MTCNN runs (None: the CPU — `prepare` detects in CPU worker processes). Photos larger than
    DETECT_MAX_SIDE are searched at that size and the boxes scaled back, so a 12-megapixel upload takes a
    fraction of a second instead of many.
    """
    import torch

    mtcnn = _get_mtcnn(device)
    out: list[list[tuple[Box, float]]] = [[] for _ in imgs]
    scaled, scales = [], []
    for im in imgs:
        s = min(1.0, DETECT_MAX_SIDE / max(im.size))
        scales.append(s)
        scaled.append(im if s == 1.0 else im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), Image.BILINEAR))
    by_size: dict[tuple[int, int], list[int]] = {}
    for i, im in enumerate(scaled):
        by_size.setdefault(im.size, []).append(i)
    for idx in by_size.values():
        for s in range(0, len(idx), DETECT_BATCH):
            batch = idx[s:s + DETECT_BATCH]
            with torch.inference_mode():
                boxes, probs = mtcnn.detect([np.asarray(scaled[i].convert("RGB")) for i in batch])
            for i, b, p in zip(batch, boxes, probs):
                if b is None:
                    continue
                faces = [(tuple(float(v) / scales[i] for v in bb), float(pp)) for bb, pp in zip(b, p)
                         if pp is not None and pp >= min_prob]
                out[i] = sorted(faces, key=lambda f: -f[1])
    return out


def face_square(box: Box, mode: str) -> Box:
    """The square region to cut for a face box: tight (`mtcnn-face`) or with context (`mtcnn-context`)."""
    x1, y1, x2, y2 = box
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    side = max(x2 - x1, y2 - y1)
    if mode == "mtcnn-context":
        side *= 1 + 2 * CONTEXT_MARGIN
    elif mode != "mtcnn-face":
        raise ValueError(f"face crop mode must be mtcnn-face or mtcnn-context, got {mode!r}")
    return cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2


def crop_face(img: Image.Image, box: Box, mode: str = "mtcnn-context", size: int = 64) -> Image.Image:
    """Cut the square around a face box (see face_square) and resize to size×size; edge-pads outside the image."""
    x1, y1, x2, y2 = (int(round(v)) for v in face_square(box, mode))
    w, h = img.size
    if x1 >= 0 and y1 >= 0 and x2 <= w and y2 <= h:
        return img.resize((size, size), Image.BILINEAR, box=(x1, y1, x2, y2))
    # Part of the square lies outside: take the inside, replicate the border pixels outwards.
    inside = np.asarray(img.crop((max(x1, 0), max(y1, 0), min(x2, w), min(y2, h))).convert("RGB"))
    if inside.size == 0:
        raise ValueError(f"face box {box} lies outside the {w}×{h} image")
    pad = ((max(0, -y1), max(0, y2 - h)), (max(0, -x1), max(0, x2 - w)), (0, 0))
    square = Image.fromarray(np.pad(inside, pad, mode="edge"))
    return square.resize((size, size), Image.BILINEAR)


def crop_image(img: Image.Image, mode: str, size: int, faces: list[tuple[Box, float]] | None = None) -> Image.Image | None:
    """Apply a crop mode; for MTCNN modes returns None when no face is found (`faces` may be precomputed)."""
    mode = check_mode(mode)
    if mode == "none":
        return img if img.size == (size, size) else img.resize((size, size), Image.BILINEAR)
    if mode == "center":
        return center_crop(img, size)
    if mode.startswith("center:"):
        return center_crop(img, size, square=int(mode[7:]))
    faces = detect_faces(img) if faces is None else faces
    if not faces:
        return None
    return crop_face(img, faces[0][0], mode, size)
