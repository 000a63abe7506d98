"""Directions: build attribute directions (mean difference, linear boundary, PCA) in W or z, apply them and measure what
they change."""
import numpy as np
import streamlit as st

from explorer import batch_edit, loaders, state, widgets
from explorer.analysis import DIRECTION_METHODS, SELECTIVITY_HELP, fmt_signed, score_row, split_by_label, target_index
from explorer.charts import effect_lines, heatmap
from explorer.faces import stack
from explorer.latent_ops import apply_direction, cosine_similarity_matrix, orthogonalize, score_direction
from explorer.store import StoreError

st.title("Directions")
st.caption("A direction is a unit vector d in the latent space; editing is w + α·d in W (or z + α·d in z), α in latent "
           "units. Its effect is measured by the attribute classifier on the generated faces.")
model = widgets.require_model()
clf = widgets.require_classifier(model)
cp, cm = loaders.classifier_key(model.path, model.mtime)
clf_names = tuple(clf.attribute_names) if clf is not None else ()
store = widgets.require_store()
spaces = ["w", "z"] if "w" in model.gen.spaces else ["z"]
space = st.radio("Space", spaces, key="dir_space", horizontal=True,
                 format_func=lambda s: {"w": "W (where a style checkpoint's attributes live)", "z": "z (the input noise)"}[s],
                 help="Directions are built, applied, measured, saved and compared in this space; saved directions of "
                      "the other space are listed there.")
dim = model.dims[space]

# ---- 1. Build
st.subheader("1 · Build")
sources = (("classifier-labelled random faces",) if clf is not None else ()) + ("two collections",)
source = st.radio("Build from", sources, key="dir_source", horizontal=True)
default_target = next((n for n in ("Smiling", "Male", "Eyeglasses") if n in model.names), model.names[0])
target = st.selectbox("Target attribute", model.names, index=model.names.index(default_target), key="dir_target")

x_with = x_without = np.zeros((0, dim), np.float32)  # the two groups' coordinates in `space`
sources_used: list[str] = []
if source.startswith("classifier"):
    c1, c2, c3 = st.columns([2, 1, 2])
    n = c1.select_slider("Random faces to label", [200, 500, 1000, 2000, 4000], value=500, key="dir_n")
    seed = int(c2.number_input("Seed", 0, 2**31 - 1, 0, key="dir_seed"))
    cond = c3.radio(f"{target} in their condition c", ("from the label distribution", "held off", "held on"),
                    key="dir_hold", horizontal=True,
                    help="The generator is told the attribute through c. Holding it fixed leaves z as the only "
                         "thing that changes the classifier's reading, so the direction captures z's own part.")
    hold = () if cond.startswith("from") else ((model.names.index(target), 1.0 if cond == "held on" else 0.0),)
    sample = loaders.labelled_sample(model.path, model.mtime, cp, cm, int(n), seed, hold)
    j = target_index(target, sample["names"])
    if j is None:
        st.error(f"The classifier does not read {target}.")
        st.stop()
    x = model.w_of(sample["z"], sample["c"]) if space == "w" else sample["z"]  # (n, dim)
    x_with, x_without, fallback = split_by_label(x, sample["probs"], j)
    sources_used = [f"auto:{n}@{seed}"]
    if fallback:
        st.warning(f"The classifier reads **{target}** in {fallback} of the {n} faces; "
                   f"split at the median of P({target}) instead (top half vs bottom half).")
    else:
        st.caption(f"The classifier reads **{target}** in {len(x_with)} of {n} random faces and not in {len(x_without)}.")
else:
    names = widgets.collection_names()
    if len(names) < 1:
        st.info("No collections yet — save faces with and without the attribute on Generate.")
        st.stop()
    c1, c2 = st.columns(2)
    with_name = c1.selectbox(f"Faces WITH {target}", names, key="dir_with")
    without_name = c2.selectbox(f"Faces WITHOUT {target}", names, index=min(1, len(names) - 1), key="dir_without")
    try:
        fw, fo = widgets.collection_faces(with_name, model), widgets.collection_faces(without_name, model)
        if fw:
            x_with = widgets.face_latents(model, fw, space)
        if fo:
            x_without = widgets.face_latents(model, fo, space)
    except (StoreError, ValueError) as e:  # unreadable / mixed collection, another checkpoint's sizes, z of W faces
        st.error(str(e))
        st.stop()
    sources_used = [with_name, without_name]
if len(x_with) < 1 or len(x_without) < 1:
    st.warning("Both groups need at least one face (pick other collections, more samples or another attribute).")
    st.stop()

c1, c2, c3 = st.columns([3, 1, 3])
methods = c1.multiselect("Methods (side by side)", DIRECTION_METHODS, default=list(DIRECTION_METHODS[:2]), key="dir_methods")
pca_index = int(c2.number_input("PCA component", 0, max(0, min(dim, len(x_with) + len(x_without)) - 1), 0,
                                key="dir_pca_k")) if "PCA component" in methods else 0
saved = [d for d in store.list_directions(checkpoint_id=model.checkpoint_id, space=space) if len(d.vector) == dim]
ortho = c3.multiselect("Orthogonalise against saved directions", [d.name for d in saved], key="dir_ortho",
                       help="Removes their components, e.g. 'smile, but not age'")
others = [d.vector for d in saved if d.name in ortho]
built: dict[str, np.ndarray] = {}
for m in methods:
    try:
        d = loaders.direction(m, x_with, x_without, pca_index)
        built[m] = orthogonalize(d, others) if others else d
    except ValueError as e:
        st.error(f"{m}: {e}")
if not built:
    st.info("Choose at least one method.")
    st.stop()

# ---- 2. Apply and measure
st.subheader("2 · Apply and measure")
picked = state.picked_for(model.checkpoint_id)
c1, c2, c3 = st.columns(3)
on_picked = c1.toggle(f"Apply to picked faces ({len(picked)})", value=bool(picked), key="dir_on_picked",
                      disabled=not picked)
max_s = c2.slider("Strength range ±α", 0.5, 6.0, 3.0, 0.5, key="dir_range")
alpha = c3.slider("Strength α shown", -max_s, max_s, max_s / 2, 0.25, key="dir_alpha")
faces = picked if on_picked and picked else widgets.random_faces(model, 8, 7)
try:
    x0 = widgets.face_latents(model, faces, space)  # (F, dim): w (stored or mapped) or z
except ValueError as e:  # picked faces edited in W, measured in z
    st.error(str(e))
    st.stop()
c0 = stack(faces)[1]
strengths = tuple(float(s) for s in np.linspace(-max_s, max_s, 7))

cols = st.columns(len(built))
scores = {}
for col, (m, d) in zip(cols, built.items()):
    with col:
        st.markdown(f"**{m}**")
        row_faces = batch_edit.edit_faces(faces[:4], x0[:4], batch_edit.EditDirection(m, space, d), alpha,
                                          origin=f"{m} α={alpha:g}")  # x + α·d, as faces (drawn from w in W)
        st.image(list(widgets.face_images(model, faces[:4])), caption=[f"{f.seed}·#{f.index}" for f in faces[:4]], width=64)
        st.image(list(widgets.face_images(model, row_faces)), caption=[f"α = {alpha:+g}"] * len(row_faces), width=64)
        walk = apply_direction(x0[0], d, strengths)  # (S, dim): the first face along the whole range
        st.image(list(model.images_in(space, walk, np.repeat(c0[:1], len(walk), 0))),
                 caption=[f"{a:+.1f}" for a in strengths], width=44)
        with st.expander("Identity"):
            st.write("\n\n".join(f.identity() for f in row_faces))
        if clf is not None:
            probs = loaders.effect(model.path, model.mtime, cp, cm, x0, c0, d, strengths, space)  # (S, K_clf)
            st.plotly_chart(effect_lines(strengths, probs, clf_names, target, title=f"{m} on {len(faces)} faces"),
                            key=f"dir_chart_{m}")
            j = target_index(target, clf_names)
            if j is not None:
                s = score_direction(probs, strengths, j, clf_names)
                scores[m] = s
                a, b = st.columns(2)
                a.metric(f"Δ P({target}) per unit α", fmt_signed(s["target_slope"]))
                b.metric("leakage (mean |slope| others)", f"{s['leakage_mean']:.3f}",
                         help=f"largest: {s['leakage_max_attribute']} {s['leakage_max']:.3f}")

# ---- 3. Save
st.subheader("3 · Save")
with st.form("dir_save_form"):
    c1, c2 = st.columns(2)
    which = c1.selectbox("Direction to save", list(built), key="dir_save_method")
    name = c2.text_input("Name", key="dir_save_name", placeholder=f"{target} ({which})")
    overwrite = st.checkbox("Replace a saved direction of the same name", key="dir_save_over")
    if st.form_submit_button("Save direction"):
        name = name.strip() or f"{target} ({which})"
        try:
            store.save_direction(name, built[which], which, sources_used, model.checkpoint_id, target_attribute=target,
                                 meta={"orthogonal_to": ortho, "n_with": int(len(x_with)), "n_without": int(len(x_without)),
                                       "score": {k: v for k, v in scores.get(which, {}).items() if k != "slopes"}},
                                 overwrite=overwrite, space=space)
            st.success(f"Saved direction **{name}** ({space}).")
            saved = [d for d in store.list_directions(checkpoint_id=model.checkpoint_id, space=space) if len(d.vector) == dim]
        except StoreError as e:  # name taken, bad name
            st.error(f"Could not save: {e}")

# ---- 4. Compare
st.subheader("4 · Compare saved directions")
if not saved:
    st.caption(f"No saved directions in {space} for this checkpoint yet.")
else:
    if clf is not None:
        rows = [score_row(d.name, d.method, d.target_attribute,
                          loaders.effect(model.path, model.mtime, cp, cm, x0, c0, d.vector, strengths, space),
                          strengths, clf_names) for d in saved]
        st.dataframe(rows, hide_index=True)
        st.caption(f"Scored the same way on the same {len(faces)} faces, strengths {strengths[0]:g}…{strengths[-1]:g}. "
                   + SELECTIVITY_HELP)
vecs = {f"saved: {d.name}": d.vector for d in saved}
vecs.update({f"new: {m}": v for m, v in built.items()})
if len(vecs) >= 2:
    labels = list(vecs)
    st.plotly_chart(heatmap(cosine_similarity_matrix(list(vecs.values())), labels, labels, "Cosine similarity of directions"),
                    key="dir_cos")
