"""Generate: faces for chosen attributes in a grid; pick faces, save them, download the grid and its latents."""
import streamlit as st

from explorer import live_sliders as live, loaders, state, widgets
from explorer.faces import GRID_MODES, faces_from_arrays, latents_npz_bytes, merge_request, grid_png, request_values

st.title("Generate")
model = widgets.require_model()
names = model.names


def grid_panel(values: list[int]) -> None:
    """The grid, its controls and the continuous sliders."""
    c1, c2, c3, c4, c5 = st.columns([3, 2, 2, 2, 2])
    mode = c1.selectbox("Grid", GRID_MODES, key="gen_mode",
                        help="random: every face its own z and condition · fixed z × varied conditions: each row one "
                             "z, each column one attribute switched · fixed condition × varied z: one condition for all")
    rows = c2.slider("Rows", 1, 10, 4, key="gen_rows")
    cols = c3.slider("Columns", 1, 10, 8, key="gen_cols")
    seed = int(c4.number_input("Seed", 0, 2**31 - 1, 0, key="gen_seed"))
    style = "w" in model.gen.spaces
    truncation = c5.slider("Truncation ψ", 0.1, 1.5, 1.0, 0.05, key="gen_trunc", disabled=style,
                           help="z = ψ·z; below 1 trades variety for quality" if not style else
                           "This style checkpoint normalises z, so scaling it does nothing; its truncation acts in W "
                           "(`python -m gan generate --truncation 0.7`). The grid draws ψ = 1 so saved faces "
                           "re-render exactly.")
    if style:
        truncation = 1.0

    toggles: tuple[int, ...] = ()
    if mode == GRID_MODES[1]:
        default = list(names[:min(len(names), max(1, cols - 1))])
        chosen = st.multiselect("Attributes to switch (one column each)", names, default=default, key="gen_toggles")
        toggles = tuple(names.index(n) for n in chosen)

    g = loaders.grid(model.path, model.mtime, tuple(int(v) for v in values), mode, rows, cols, seed, float(truncation),
                     toggles)
    if not g["possible"]:
        st.warning("No training face has exactly this combination of fixed attributes; the 'any' ones were drawn "
                   "from the attribute frequencies instead of the joint distribution.")
    faces = faces_from_arrays(g["z"], g["c"], g["seeds"], g["indices"], model.checkpoint_id, names, origin="Generate")
    ncols = len(g["col_labels"]) if g["col_labels"] else cols
    st.caption(f"Checkpoint `{model.checkpoint_id}` · seed {seed} · ψ {truncation:g} · request: "
               + (", ".join(f"{n}={'on' if v == 1 else 'off'}" for n, v in zip(names, values) if v != -1) or "all any")
               + " · click a face to pick it")
    requested = tuple(n for n, v in zip(names, values) if v != -1)
    widgets.face_grid(faces, g["images"], ncols, "gen", col_labels=g["col_labels"], first=requested)
    widgets.identity_table(faces)

    d1, d2 = st.columns(2)
    d1.download_button("Download grid PNG", lambda: grid_png(g["images"], ncols),
                       file_name=f"grid_{model.checkpoint_id}_{seed}.png", mime="image/png", key="gen_dl_png")
    d2.download_button("Download latents .npz", lambda: latents_npz_bytes(faces),
                       file_name=f"latents_{model.checkpoint_id}_{seed}.npz", mime="application/octet-stream",
                       key="gen_dl_npz")

    st.subheader("Continuous attributes")
    st.caption("Every attribute of c as a slider from −0.5 to 1.5 (0 = off, 1 = on, in between and beyond: how far the "
               "generator goes), applied to the picked faces or the first row of the grid, redrawn as you move them.")
    live.continuous_sliders(model, state.picked_for(model.checkpoint_id) or faces[:cols], "gen_cs")


text = st.text_input("Attributes as text", key="gen_text", placeholder="Smiling, Male=0, Eyeglasses",
                     help="Comma-separated: `Name` (on), `Name=0` / `-Name` (off), `Name=any`. Overrides the controls "
                          "below.")
with st.expander("Per-attribute controls (on / off / any — any samples from the training data's label distribution)"):
    grid_cols = st.columns(4)
    choices = {n: grid_cols[i % 4].radio(n, ("any", "on", "off"), key=f"gen_attr_{n}", horizontal=True)
               for i, n in enumerate(names)}
values, error = merge_request(request_values(choices, names), text, names)
if error:
    st.error(error)

grid_panel(values)

st.subheader("Picked faces")
picked = state.picked_for(model.checkpoint_id)
if picked:
    picked_images = widgets.face_images(model, picked)
    widgets.picked_strip(picked, picked_images, "gen")
    widgets.save_faces(picked, picked_images, "gen")
else:
    st.caption("Click faces in the grid to pick them; picks stay across pages and grids.")
