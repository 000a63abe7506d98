"""Interpolate: a path between two faces in W (style checkpoints) or z + c, scrubbed with a slider, saved as a strip
PNG, a GIF or an MP4 (each carrying a replayable recipe)."""
import numpy as np
import streamlit as st

from explorer import loaders, widgets
from explorer.faces import Face
from explorer.latent_ops import interpolation_path, path_exports, w_path_recipe
from explorer.scrubber import scrubber

st.title("Interpolate")
model = widgets.require_model()

left, right = st.columns(2)
with left:
    a = widgets.latent_source("Start", "interp_a", model, default_seed=0, single=True)
with right:
    b = widgets.latent_source("End", "interp_b", model, default_seed=1, single=True, default_which=1)

spaces = ["w", "z"] if "w" in model.gen.spaces else ["z"]
space = st.radio("Space", spaces, key="interp_space", horizontal=True,
                 format_func=lambda s: {"w": "W (a straight line between the two faces' w)", "z": "z and c"}[s])
c1, c2, c3 = st.columns(3)
method, cmode = "linear", "interpolate"
if space == "z":
    method = c1.radio("Path for z", ("spherical", "linear"), key="interp_method", horizontal=True,
                      help="spherical keeps intermediate z at a typical Gaussian norm; linear passes closer to the origin")
    cmode = c3.radio("Condition vector", ("interpolate", "hold start's", "hold end's"), key="interp_cmode",
                     horizontal=True)
steps = c2.slider("Steps", 2, 32, 8, key="interp_steps")

if not (a and b):
    st.info("Choose both endpoints (random seeds need no set-up).")
    st.stop()
fa, fb = a[0], b[0]
try:
    z_path = interpolation_path(fa.z, fb.z, steps, method)  # (S, D)
    if cmode == "interpolate":
        c_path = interpolation_path(fa.c, fb.c, steps, "linear")  # (S, K)
    else:
        c_path = np.repeat((fa.c if cmode == "hold start's" else fb.c)[None], steps, axis=0).astype(np.float32)
except ValueError as e:
    st.error(str(e))
    st.stop()
recipe = None
if space == "w":  # drawn from its recipe, so the downloads replay these exact pixels
    recipe = w_path_recipe(model, fa, fb, steps)
    frames = loaders.recipe_images(model.path, model.mtime, recipe)
else:
    frames = model.images(z_path, c_path)  # (S, H, W, 3)
png, gif = path_exports(frames, steps, recipe)

captions = [f"t = {i / (steps - 1):.2f} (step {i} of {steps - 1})" for i in range(steps)]
big, info = st.columns([1, 2])
with big:
    scrubber(frames, captions, key="interp_scrub")
info.markdown(f"**Start**: {fa.identity()}\n\n**End**: {fb.identity()}\n\nDrag the slider under the face to "
              "scrub the path (it follows the mouse), or press Play to loop it.")

st.image(list(frames), caption=[f"{i / (steps - 1):.2f}" for i in range(steps)], width=64)
d1, d2, d3 = st.columns(3)
d1.download_button("Download strip PNG", png, file_name=f"path_{model.checkpoint_id}.png",
                   mime="image/png", key="interp_dl_png", help="A W path's PNG carries its recipe: the Edit page's replay "
                   "box re-renders the same pixels.")
d2.download_button("Download animated GIF", gif, file_name=f"path_{model.checkpoint_id}.gif", mime="image/gif",
                   key="interp_dl_gif")
widgets.mp4_download(d3, "Download MP4", frames, recipe, f"path_{model.checkpoint_id}.mp4", "interp_dl_mp4",
                     help="H.264 video of the path. A W path's MP4 carries its recipe in its metadata: the video is "
                          "lossy, but the Edit page's replay box re-renders the exact frames.")


@st.fragment
def save_frame() -> None:
    """Pick one frame of the path and save it; moving this slider reruns only this block."""
    st.subheader("Save a frame")
    t = st.slider("Frame to save", 0, steps - 1, 0, key="interp_t", format="step %d")
    w_t = interpolation_path(*widgets.face_w(model, [fa, fb]), steps, "linear")[t] if space == "w" else None  # (w_dim,)
    face_t = Face(z_path[t], c_path[t], -1, t, model.checkpoint_id, model.names,
                  origin=f"{'W' if space == 'w' else method} path step {t}/{steps - 1}", w=w_t)
    left, right = st.columns([1, 3])
    left.image(frames[t], caption=f"t = {t / (steps - 1):.2f}", width=128)
    right.markdown(f"**This frame**: {face_t.identity()}")
    if space == "w":
        right.caption("A frame of a W path is saved with its w and drawn from it; its z and c are the same path "
                      "through the ends' z and c, kept for reference.")
    widgets.save_faces([face_t], widgets.face_images(model, [face_t]), "interp", label="Save this frame")


save_frame()
