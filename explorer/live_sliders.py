"""Continuous attribute sliders: every attribute of c from −0.5 to 1.5 on a set of faces, redrawn live in a fragment
(only this block reruns while a slider moves), savable as faces with their continuous c.

A face that carries a stored w (edited in W: Face.w) is drawn from that w; its z and c are only where it came from.
G(z, c_slider) would redraw the unedited face, so such faces are left out, with one caption saying so."""
from __future__ import annotations

import numpy as np
import streamlit as st

from explorer.faces import Face

LOW, HIGH, STEP = -0.5, 1.5, 0.05


@st.fragment
def continuous_sliders(model, faces: list[Face], prefix: str, max_faces: int = 8) -> None:
    """Sliders for c (starting at the first face's c) and the faces redrawn with that c and their own z; faces drawn
    from a stored w are left out (they have no (z, c) of their own whose c could change)."""
    from explorer import widgets

    in_w = [f for f in faces if f.w is not None]
    faces = [f for f in faces if f.w is None]
    if in_w:
        st.caption(f"Left out: {len(in_w)} face(s) edited in W. Each is drawn from its stored w, so it has no c of its "
                   "own to change — G(z, c) would redraw the face as it was before the edit. (Edit a collection on the "
                   "Edit page moves saved W faces along attribute directions.)")
    if not faces:
        st.caption("No faces to edit yet." if not in_w else "No face with its own (z, c) to redraw.")
        return
    faces = faces[:max_faces]
    base = np.asarray(faces[0].c, np.float32)
    if st.button("Reset to the first face's c", key=f"{prefix}_reset"):
        for i, n in enumerate(model.names):
            st.session_state[f"{prefix}_{n}"] = float(np.clip(base[i], LOW, HIGH))
    cols = st.columns(4)
    c = np.array([cols[i % 4].slider(n, LOW, HIGH, float(np.clip(base[i], LOW, HIGH)), STEP, key=f"{prefix}_{n}")
                  for i, n in enumerate(model.names)], np.float32)
    z = np.stack([f.z for f in faces]).astype(np.float32)
    cc = np.repeat(c[None], len(faces), axis=0)
    images = model.images(z, cc)
    edited = [Face(f.z, c.copy(), f.seed, f.index, f.checkpoint, f.names, origin="continuous c") for f in faces]
    st.image(list(images), caption=[f.caption() for f in edited], width=96)
    widgets.save_faces(edited, images, prefix, label="Save these faces (continuous c)")
