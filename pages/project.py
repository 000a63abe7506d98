"""Project: your own photo in the latent space — find a face, project it to (z, c), save it for every other page."""
import time

import streamlit as st

from explorer import projection as proj
from explorer import widgets
from explorer.faces import Face
from explorer.projection import PhotoError, project

st.title("Project a photo")
st.caption("Upload a photo: MTCNN finds the faces, the one you pick is cropped like the training images and "
           "projected — the encoder gives a starting latent, a short optimisation refines it. Saved to a collection, "
           "the projected face works on every other page (arithmetic, directions, interpolation…).")
model = widgets.require_model()
clf = widgets.require_classifier(model)


def _use_example() -> None:
    st.session_state["proj_use_example"] = True


def _uploaded() -> None:
    st.session_state["proj_use_example"] = False


c1, c2 = st.columns([3, 1])
upload = c1.file_uploader("Photo (JPEG, PNG, WebP, BMP)", type=["jpg", "jpeg", "png", "webp", "bmp"], key="proj_upload",
                          max_upload_size=proj.MAX_UPLOAD_MB, on_change=_uploaded)
c2.button("Use example photo", key="proj_example", on_click=_use_example,
          help="scikit-image's astronaut portrait (Eileen Collins, NASA, public domain)")

if st.session_state.get("proj_use_example"):
    name, data = proj.EXAMPLE_NAME, proj.example_photo()
elif upload is not None:
    name, data = upload.name, upload.getvalue()
else:
    st.info("Upload a photo with a face, or use the example photo.")
    st.stop()

try:
    faces = proj.find_faces(data, model.gen.dataset.get("crop"), model.gen.img_resolution)
except PhotoError as e:
    st.error(f"**{name}**: {e}")
    st.stop()

st.subheader(f"{len(faces)} face{'s' * (len(faces) != 1)} in {name}")
p1, p2 = st.columns([2, 3])
p1.image(proj.boxes_preview(data, tuple(f.box for f in faces)), width="stretch")
with p2:
    for r in range(0, len(faces), 4):  # thumbnails, four per row
        for col, (i, f) in zip(st.columns(4), enumerate(faces[r:r + 4], start=r)):
            col.image(f.crop, caption=f"face {i + 1} · p {f.prob:.2f}", width="stretch")
    which = st.radio("Face to project", list(range(len(faces))), key="proj_face", horizontal=True,
                     format_func=lambda i: f"face {i + 1}")
    face = faces[which]
    st.caption(f"Crop `{face.mode}` ({model.gen.img_resolution}×{model.gen.img_resolution}) to match the checkpoint's "
               f"training framing (dataset crop `{model.gen.dataset.get('crop', '?')}`).")

encoder, start_note = proj.load_encoder_for(model)
s1, s2, s3 = st.columns([2, 1, 1])
steps = s1.slider("Optimisation steps", 0, 600, 200, 25, key="proj_steps", help="0 = the encoder's guess alone")
optimise_c = s2.checkbox("Also optimise c", key="proj_opt_c", help="let the condition vector move too (kept in [0, 1])")
run = s3.button("Project", key="proj_go", type="primary")
st.caption(start_note)

key = (proj.photo_key(data), which, model.checkpoint_id, steps, optimise_c)
if run:
    bar = st.progress(0.0, text="Projecting… (the first steps measure this machine's pace)")
    t0 = time.perf_counter()

    def _progress(step: int, total: int, loss: float) -> None:
        if step % 5 == 0 or step == total:
            bar.progress(step / total, text=proj.progress_text(step, total, loss, time.perf_counter() - t0))

    result = project(model.gen, face.crop, encoder=encoder, classifier=clf, steps=steps, optimise_c=optimise_c,
                     progress=_progress)
    bar.empty()
    st.session_state["proj_result"] = (key, result)

stored = st.session_state.get("proj_result")
if not stored or stored[0] != key:
    st.stop()
result = stored[1]

st.subheader("Result")
r1, r2, r3 = st.columns(3)
r1.image(result.target, caption="original (crop)", width=192)
r2.image(result.reconstruction, caption="reconstruction G(z, c)", width=192)
r3.image(result.error_map(), caption="|difference|: black 0 → white ≥ 96 of 255", width=192)
st.info("\n\n".join(proj.summary_lines(result, model.names)))
if result.loss_curve:
    st.plotly_chart(proj.loss_figure(result.loss_curve), key="proj_loss")
rows = proj.attribute_rows(result, model.names)
if rows:
    with st.expander("Attributes: the classifier's reading of the photo and of the reconstruction, and the recovered c"):
        st.dataframe(rows, hide_index=True)

projected = Face(result.z, result.c, -1, 0, model.checkpoint_id, model.names, origin=f"projected {name} face {which + 1}")
widgets.save_faces([projected], result.reconstruction[None], "proj", label="Save the projected face")
