"""Edit: attribute directions in the latent space the checkpoint offers (W by default), each with its report card."""
import streamlit as st

from explorer import batch_edit, edit_view, loaders, widgets
from explorer.edit_view import (OFF_TARGET_LIMIT, SPACE_NAMES, card_figure, card_rows, off_target_figure,
                                space_sentence)
from explorer.store import StoreError

st.title("Edit")
st.caption("Build an attribute direction from faces the classifier has labelled, move faces along it, and read the "
           "report card: how often the target flips, what else changes, and how much of the face stays.")
model = widgets.require_model()
clf = widgets.require_classifier(model)
if clf is None:
    st.stop()
cp, cm = loaders.classifier_key(model.path, model.mtime)
spaces = [s for s in ("w", "z", "c") if s in model.gen.spaces]

c1, c2, c3 = st.columns([2, 2, 2])
space = c1.selectbox("Latent space", spaces, key="edit_space", format_func=lambda s: SPACE_NAMES[s],
                     help="W is where a style-based generator's attributes live; z is its input noise; c edits the "
                          "condition itself. A DCGAN checkpoint offers z and c only.")
default_target = next((n for n in ("Smiling", "Male", "Eyeglasses") if n in model.names), model.names[0])
target = c2.selectbox("Attribute", model.names, index=model.names.index(default_target), key="edit_target")
n_build = c3.select_slider("Faces to build it from", [200, 500, 1000, 2000], value=500, key="edit_n")
effect = loaders.space_effect(model.path, model.mtime, space)
(st.warning if effect["ratio"] < 0.25 else st.info)(space_sentence(effect), icon=":material/insights:")

methods = ["mean"] if space != "w" else ["mean", "conditional", "condition"]
labels = {"mean": "mean difference", "conditional": "conditional (other attributes held)",
          "condition": "W's response to c", "axis": "the attribute's own axis"}
if space == "c":
    methods = ["mean"]  # in c the direction is the attribute's axis whatever the method
method = st.radio("Direction", methods, key="edit_method", horizontal=True, format_func=lambda m: labels[m],
                  help="mean difference: faces read with the attribute minus faces read without it. conditional: the "
                       "same with the other attributes' readings held fixed (orthogonalised against them). W's "
                       "response: what the generator learned the attribute to be (flip c, watch w).")
try:
    d = loaders.edit_direction(model.path, model.mtime, cp, cm, target, space, method, int(n_build), 0)
except ValueError as e:
    st.error(str(e))
    st.stop()

if d.split == "median":
    st.warning(f"The classifier reads **{target}** in all or none of the {n_build} faces; the direction compares the "
               f"half most like it with the half least like it (split at the median of P({target})).")
strengths = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0)
n_card = st.select_slider("Faces the report card is measured on", [50, 100, 200, 500], value=100, key="edit_card_n")
cards = {labels[d.method]: loaders.edit_card(model.path, model.mtime, cp, cm, d, (target, space, d.method, int(n_build)),
                                             int(n_card), 1, strengths)}
first = next(iter(cards.values()))
if space == "w" and d.method == "mean" and first["off_target_mean_at_chosen"] > OFF_TARGET_LIMIT:
    st.info(f"The mean-difference direction changes other attributes in {first['off_target_mean_at_chosen']:.0%} of "
            "faces on average; its conditional variant (other attributes held fixed) is shown beside it.",
            icon=":material/call_split:")
    d2 = loaders.edit_direction(model.path, model.mtime, cp, cm, target, space, "conditional", int(n_build), 0)
    cards[labels["conditional"]] = loaders.edit_card(model.path, model.mtime, cp, cm, d2,
                                                     (target, space, "conditional", int(n_build)), int(n_card), 1, strengths)

st.subheader("Report card")
st.dataframe(card_rows(cards), hide_index=True)
real = loaders.real_readings(model.path, model.mtime, cp, cm)
st.markdown("  \n".join(edit_view.real_sentences(cards, real.get("problem"))))
c1, c2 = st.columns(2)
c1.plotly_chart(card_figure(cards), key="edit_card_fig")
c2.plotly_chart(off_target_figure(cards), key="edit_off_fig")
st.caption(f"Measured by the attribute classifier on {n_card} faces not used to build the direction; faces without "
           f"{target} move toward it, faces with it move away. Strength is in standard deviations of the "
           f"{n_build} building faces along the direction; the chosen strength is the smallest reaching 70% flips.")

st.subheader("On four faces")
strip_strengths, strip_seed = (-2.0, -1.0, 0.0, 1.0, 2.0, 3.0), 7
strip = loaders.edit_strip(model.path, model.mtime, d, (target, space, d.method, int(n_build)), 4, strip_seed,
                           strip_strengths)
cols = st.columns(len(strip_strengths))
for j, a in enumerate(strip_strengths):
    cols[j].image([strip["images"][i, j] for i in range(len(strip["images"]))], caption=[f"{a:+g}"] * 4, width=96)
st.download_button("Download the strip (PNG with its recipe)", edit_view.strip_png(strip), key="edit_dl",
                   file_name=f"edit_{target}_{space}.png", mime="image/png",
                   help="The PNG carries a JSON recipe (checkpoint id, z / c / w of each face, the direction, the "
                        "strengths); importing it below replays the same pixels.")
widgets.mp4_download(st, "Download the strip (MP4 with its recipe)", edit_view.strip_frames(strip), strip["recipe"],
                     f"edit_{target}_{space}.mp4", "edit_dl_mp4",
                     help="One frame per strength, the four faces side by side. The video is lossy; the recipe in "
                          "its metadata re-renders the exact frames (import it below).")

edit_dir = batch_edit.from_edit(d)
strip_faces, strip_w = batch_edit.recipe_faces(strip["recipe"], strip_seed, model.checkpoint_id, model.names)
alpha = st.select_slider("Strength of the faces to save (σ)", strip_strengths, value=1.0, key="edit_save_alpha")
edited = batch_edit.edit_faces(strip_faces, strip_w, edit_dir, alpha, origin=f"edit {edit_dir.describe(alpha)}")
edited_images = widgets.face_images(model, edited)
st.image(list(edited_images), caption=[f"{alpha:+g} σ"] * len(edited), width=96)
widgets.save_faces(edited, edited_images, "edit", label="Save these edited faces")
if space == "w":
    st.caption("Faces edited in W are saved with their w and drawn from it; their z and c stay as who they were.")

st.subheader("Edit a collection")
infos = {i.name: i for i in widgets.collections()}
if not infos:
    st.caption("No collections yet — save faces on Generate, then move them all along a direction here.")
else:
    store = widgets.require_store()
    saved = {f"saved: {x.name}": x for x in store.list_directions(checkpoint_id=model.checkpoint_id)}
    c1, c2, c3 = st.columns(3)
    source = c1.selectbox("Collection", list(infos), key="edit_batch_src")
    which = c2.selectbox("Direction", [edit_dir.label] + list(saved), key="edit_batch_dir",
                         help="This page's direction (strength in σ), or one saved on Directions (latent units).")
    strength = c3.slider("Strength", -4.0, 4.0, 1.0, 0.25, key="edit_batch_strength")
    batch_dir = batch_edit.from_saved(saved[which]) if which in saved else edit_dir
    problem = batch_edit.collection_problem(infos[source], model.checkpoint_id)
    try:
        faces = [] if problem else widgets.collection_faces(source, model)
    except ValueError as e:
        problem = str(e)
    problem = problem or batch_edit.edit_problem(faces, batch_dir, model.dims, f"Collection **{source}**")
    if problem:
        st.error(problem)
    else:
        w = widgets.face_w(model, faces) if batch_dir.space == "w" else None
        note = f"{source} edited along {batch_dir.describe(strength)}"
        batch = batch_edit.edit_faces(faces, w, batch_dir, strength, origin=note)
        shown = slice(0, 8)
        st.image(list(widgets.face_images(model, faces[shown])), caption=["before"] * len(faces[shown]), width=64)
        st.image(list(widgets.face_images(model, batch[shown])), caption=[f"{strength:+g}"] * len(batch[shown]), width=64)
        with st.form("edit_batch_form"):
            new_name = st.text_input("New collection name", key="edit_batch_name", placeholder=f"{source} edited")
            if st.form_submit_button(f"Save the {len(batch)} edited faces as a new collection"):
                clash = batch_edit.name_problem(new_name, list(infos))
                if clash:
                    st.error(clash)
                else:
                    try:
                        batch_edit.save_collection(store, new_name.strip(), batch, widgets.face_images(model, batch), note)
                        st.success(f"Saved {len(batch)} edited faces as **{new_name.strip()}** ({note}).")
                    except StoreError as e:  # a name taken meanwhile, a face that cannot be stored: nothing written
                        st.error(f"Could not save: {e}")

st.subheader("Replay a recipe")
up = st.file_uploader("A PNG, GIF or MP4 exported by this app", type=["png", "gif", "mp4", "json"],
                      key="edit_replay", max_upload_size=16)
if up is not None:
    data = up.getvalue()
    out = loaders.replay(model.path, model.mtime, data)
    if "error" in out:
        st.error(out["error"])
    else:
        st.image(list(out["images"]), width=64)
        st.caption(edit_view.replay_caption(data, out["images"], out["recipe"]))
