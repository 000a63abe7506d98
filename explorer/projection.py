"""The Project page's logic: the example photo, face detection per upload, the encoder for a checkpoint, figures."""
from __future__ import annotations

import hashlib
from pathlib import Path

import plotly.graph_objects as go

from explorer import loaders
from explorer.loaders import boxes_preview, example_photo, find_faces  # noqa: F401 - the page's names for them
from gan.project import MAX_PHOTO_BYTES, PhotoError, project  # noqa: F401 - re-exported for pages/project.py

MAX_UPLOAD_MB = MAX_PHOTO_BYTES // 2**20  # st.file_uploader cap (the library checks the bytes again)
EXAMPLE_NAME = "astronaut.png (scikit-image example)"


def photo_key(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()[:16]


def load_encoder_for(model):
    """(encoder or None, message) for the page's model; the message says what the start will be."""
    from gan.encoder import load_encoder

    p = loaders.encoder_path(model.path, model.mtime)
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

