"""The Project page's logic: the example photo, face detection per upload, the encoder for a checkpoint, figures."""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

import plotly.graph_objects as go
import streamlit as st
from PIL import Image, ImageDraw

from gan.project import MAX_PHOTO_BYTES, FaceCandidate, load_photo, prepare_photo

MAX_UPLOAD_MB = MAX_PHOTO_BYTES // 2**20  # st.file_uploader cap (the library checks the bytes again)
EXAMPLE_NAME = "astronaut.png (scikit-image example)"


@st.cache_data(show_spinner=False, max_entries=1)
def example_photo() -> bytes:
    """scikit-image's astronaut portrait (512×512, public domain NASA photo) as PNG bytes."""
    from skimage import data

    buf = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buf, format="PNG")
    return buf.getvalue()


def photo_key(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()[:16]


@st.cache_data(show_spinner="Looking for faces…", max_entries=8)
def find_faces(data: bytes, manifest_crop: str | None, size: int) -> list[FaceCandidate]:
    """MTCNN faces of a photo cropped for the checkpoint (gan.project.prepare_photo); raises PhotoError."""
    return prepare_photo(data, manifest_crop, size)


@st.cache_data(show_spinner=False, max_entries=8)
def boxes_preview(data: bytes, boxes: tuple[tuple[float, float, float, float], ...], max_side: int = 480) -> Image.Image:
    """The photo, shrunk to max_side, with each face box (x1, y1, x2, y2) and its number drawn on it."""
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
    from explorer import loaders
    from gan.encoder import default_encoder_for

    found = default_encoder_for(loaders.generator(gen_path))
    return str(found) if found else ""


def load_encoder_for(model):
    """(encoder or None, message) for the page's model; the message says what the start will be."""
    from gan.encoder import load_encoder

    p = encoder_path(model.path, model.mtime)
    if not p:
        return None, ("No encoder trained for this checkpoint: projection starts from z = 0 (it needs more steps). "
                      f"Train one with `python -m gan encoder train --ckpt {model.path} --minutes 10`.")
    try:
        return load_encoder(p, model.gen), f"Start: encoder `{Path(p).name}` (one forward pass), then optimisation."
    except Exception as e:  # CheckpointError: another generator's encoder, damaged file
        return None, f"Encoder `{p}` not used ({e}); starting from z = 0."


def loss_figure(curve: list[float]) -> go.Figure:
    """Reconstruction loss per optimisation step."""
    fig = go.Figure(go.Scatter(x=list(range(1, len(curve) + 1)), y=list(curve), mode="lines", name="loss"))
    fig.update_layout(title="Reconstruction loss (pixels + classifier features + prior)", xaxis_title="step",
                      yaxis_title="loss", height=280, margin=dict(l=10, r=10, t=40, b=10))
    return fig


def attribute_rows(result) -> list[dict]:
    """Per attribute: the classifier's P on the photo and on the reconstruction, and whether they agree."""
    if result.target_probs is None:
        return []
    return [{"attribute": n, "P(photo)": round(float(pt), 2), "P(reconstruction)": round(float(pr), 2),
             "agree": bool((pt >= 0.5) == (pr >= 0.5))}
            for n, pt, pr in zip(result.attribute_names, result.target_probs, result.recon_probs)]

