"""The Project page's logic: the example photo, face detection per upload, the encoder for a checkpoint, figures."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import plotly.graph_objects as go

from explorer import loaders
from explorer.loaders import boxes_preview, example_photo, find_faces  # noqa: F401 - the page's names for them
from gan.pixels import to_unit
from gan.project import MAX_PHOTO_BYTES, START_NAMES, PhotoError, project  # noqa: F401 - re-exported for pages/project.py

MAX_UPLOAD_MB = MAX_PHOTO_BYTES // 2**20  # st.file_uploader cap (the library checks the bytes again)
EXAMPLE_NAME = "astronaut.png (scikit-image example)"


def photo_key(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()[:16]


def load_encoder_for(model):
    """(encoder or None, message) for the page's model; the message says what the start will be."""
    from gan.checkpoint import CheckpointError
    from gan.encoder import load_encoder

    p = loaders.encoder_path(model.path, model.mtime)
    if not p:
        return None, ("No encoder trained for this checkpoint: projection starts from z = 0 (it needs more steps). "
                      f"Train one with `python -m gan encoder train --ckpt {model.path} --minutes 10`.")
    try:
        return load_encoder(p, model.gen), f"Start: encoder `{Path(p).name}` (one forward pass), then optimisation."
    except CheckpointError as e:  # another generator's encoder, damaged file
        return None, f"Encoder `{p}` not used ({e}); starting from z = 0."


def loss_figure(curve: list[float]) -> go.Figure:
    """Reconstruction loss per optimisation step."""
    fig = go.Figure(go.Scatter(x=list(range(1, len(curve) + 1)), y=list(curve), mode="lines", name="loss"))
    fig.update_layout(title="Reconstruction loss (pixels + classifier features + prior)", xaxis_title="step",
                      yaxis_title="loss", height=280, margin=dict(l=10, r=10, t=40, b=10))
    return fig


def mse_pm1(result) -> float:
    """Reconstruction MSE with images on [−1, 1] (the unit inversion papers report), from the uint8 target and
    reconstruction (R, R, 3)."""
    t, r = to_unit(result.target), to_unit(result.reconstruction)
    return float(np.mean((t - r) ** 2))


def summary_lines(result, names: tuple[str, ...]) -> list[str]:
    """What the projection found and how close it is, in words that say what each number compares."""
    from explorer.faces import describe_condition

    where = START_NAMES.get(result.start, result.start)
    lines = [f"**Reconstruction error**: MSE {mse_pm1(result):.4f} with pixels on [−1, 1] (the unit inversion papers "
             f"report) · mean absolute error {result.pixel_error:.1f} of 255 (from {where}: "
             f"{result.start_pixel_error:.1f}) · {result.steps} steps in {fmt_seconds(result.seconds)}.",
             f"**Recovered attributes** (the condition c the projection settled on): "
             f"{describe_condition(np.round(result.c, 2), names)}."]
    agree = result.attr_agree
    if agree is not None:
        lines.append(f"**Classifier agreement**: the attribute classifier reads the photo and the reconstruction the "
                     f"same way on {agree[0]} of {agree[1]} attributes. This compares the classifier's two readings with "
                     f"each other, not with the truth: it can be wrong about both (see the table).")
    return lines


def fmt_seconds(s: float) -> str:
    return f"{s:.1f} s" if s < 60 else f"{int(s // 60)} min {int(round(s % 60)):02d} s"


def progress_text(step: int, total: int, loss: float, elapsed: float) -> str:
    """'step 40/200 · loss 0.1234 · 12.0 s so far, about 48.0 s left' — the time left from this run's own pace."""
    text = f"step {step}/{total} · loss {loss:.4f} · {fmt_seconds(elapsed)} so far"
    if step > 0 and total > step:
        text += f", about {fmt_seconds(elapsed / step * (total - step))} left at this machine's current pace"
    return text


def attribute_rows(result, names: tuple[str, ...] = ()) -> list[dict]:
    """Per classifier attribute: its P on the photo and on the reconstruction, whether the two readings agree, and
    the value the projection recovered for it in c (when the generator has that attribute)."""
    if result.target_probs is None:
        return []
    c = dict(zip(names, np.asarray(result.c, np.float64)))
    return [{"attribute": n, "P(photo)": round(float(pt), 2), "P(reconstruction)": round(float(pr), 2),
             "readings agree": bool((pt >= 0.5) == (pr >= 0.5)),
             "recovered c": round(float(c[n]), 2) if n in c else None}
            for n, pt, pr in zip(result.attribute_names, result.target_probs, result.recon_probs)]

