"""Latent map: PCA of saved collections and random samples (2-D/3-D), coloured by collection or a classifier reading; select points to see faces."""
import numpy as np
import plotly.graph_objects as go
import streamlit as st

from explorer import loaders, widgets
from explorer.charts import latent_scatter
from explorer.faces import describe_condition, stack
from explorer.latent_ops import apply_direction, pca_map
from explorer.store import StoreError

st.title("Latent map")
model = widgets.require_model()
spaces = ["w", "z"] if "w" in model.gen.spaces else ["z"]
space = st.radio("Space", spaces, key="map_space", horizontal=True,
                 format_func=lambda s: {"w": "W (the mapping network's output: attributes and identity)",
                                        "z": "z (the input noise)"}[s],
                 help="For a style checkpoint W is where faces differ meaningfully; z is normalised noise whose "
                      "principal components each explain about the same small share.")

infos = [i for i in widgets.collections() if model.checkpoint_id in i.checkpoint_ids]
c1, c2, c3, c4 = st.columns([3, 2, 1, 2])
chosen = c1.multiselect("Collections", [i.name for i in infos], default=[i.name for i in infos][:8], key="map_colls",
                        help="Only collections with faces of this checkpoint are listed.")
n_random = c2.slider("Random samples", 0, 2000, 300, 50, key="map_n")
dims = c3.radio("Map", ("2-D", "3-D"), key="map_dims")
clf_ok = bool(loaders.classifier_key(model.path, model.mtime)[0])
clf = widgets.require_classifier(model) if clf_ok else None
color_options = ["collection"] + ([f"P({n})" for n in clf.attribute_names] if clf is not None else [])
default_color = next((f"P({n})" for n in ("Smiling", "Male") if f"P({n})" in color_options and not infos), "collection")
color_by = c4.selectbox("Colour by", color_options, index=color_options.index(default_color), key="map_color")

groups = {}
for name in chosen:
    try:
        faces = widgets.collection_faces(name, model)
    except (StoreError, ValueError) as e:  # unreadable / mixed collection, or sizes / names of another checkpoint
        st.error(str(e))
        continue
    if faces:
        groups[name] = faces
if n_random:
    groups["random"] = widgets.random_faces(model, n_random, 12345)
if not groups or sum(len(f) for f in groups.values()) < 3:
    st.info("Nothing to map yet — add random samples or save faces on Generate.")
    st.stop()

zc = {k: stack(f) for k, f in groups.items()}  # name → (z (n, D), c (n, K))
vecs = {k: (widgets.face_w(model, groups[k]) if space == "w" else v[0]) for k, v in zc.items()}  # stored w where edited
coords, evr, pca = pca_map(vecs, 3 if dims == "3-D" else 2)
color = None
if color_by != "collection":
    j = list(clf.attribute_names).index(color_by[2:-1])
    cp, cm = loaders.classifier_key(model.path, model.mtime)
    color = {k: loaders.probabilities_of(cp, cm, widgets.face_images(model, f))[:, j] for k, f in groups.items()}
hover = {k: [f.caption() for f in f_list] for k, f_list in groups.items()}
fig = latent_scatter(coords, color, color_by, hover)
event = st.plotly_chart(fig, on_select="rerun", selection_mode=("points", "box", "lasso"), key="map_chart")

names = list(groups)
points = (event.selection.points if event and getattr(event, "selection", None) else []) or []
sel = [groups[names[p["curve_number"]]][p["point_index"]] for p in points
       if "curve_number" in p and "point_index" in p and p["curve_number"] < len(names)]
st.subheader(f"Selected faces ({len(sel)})")
if sel:
    shown = sel[:40]
    widgets.face_grid(shown, widgets.face_images(model, shown), 10, "map")
    if len(sel) > len(shown):
        st.caption(f"First {len(shown)} of {len(sel)} shown.")
else:
    st.caption("Click a point, or choose the box / lasso tool at the chart's top right and drag, to see those faces "
               "(3-D maps cannot select).")

left, right = st.columns(2)
with left:
    bar = go.Figure(go.Bar(x=[f"PC{i + 1}" for i in range(len(evr))], y=evr.tolist()))
    bar.update_layout(title="Explained variance ratio", height=280, margin=dict(l=10, r=10, t=40, b=10), yaxis_tickformat=".1%")
    st.plotly_chart(bar, key="map_evr")
with right:
    st.markdown("**Walking along PC1 and PC2** (from the mean face of the mapped latents)")
    xs, cs = np.concatenate(list(vecs.values())), np.concatenate([v[1] for v in zc.values()])
    steps = np.linspace(-2.5, 2.5, 7) * np.sqrt(pca.explained_variance_[:2])[:, None]  # (2, 7) in latent units
    c_mean = (cs.mean(0) > 0.5).astype(np.float32)
    st.caption(f"checkpoint `{model.checkpoint_id}` · {space} = mean of the mapped latents + s·PC (s in PC standard "
               "deviations)" + ("" if space == "w" else f" · c = {describe_condition(c_mean, model.names)} "
                                                          "(majority of the mapped faces)"))
    for k in range(2):
        path = apply_direction(xs.mean(0), pca.components_[k], steps[k])  # (7, D)
        walk = (loaders.images_w(model.path, model.mtime, path) if space == "w"
                else model.images(path, np.repeat(c_mean[None], len(path), 0)))
        st.image(list(walk), width=56, caption=[f"PC{k + 1} {s:+.1f}σ" for s in np.linspace(-2.5, 2.5, 7)])
