"""Style mixing: coarse, middle or fine blocks of one face's w carried into another (the StyleGAN figure)."""
import streamlit as st

from explorer import loaders, widgets
from explorer.faces import grid_png

st.title("Style mixing")
st.caption("Each block of the style-based generator takes its own w: coarse blocks (4–8 px) set pose and face shape, "
           "middle ones (16–32 px) features and hair, the fine one (64 px) colour and texture. Cell (row i, column j) "
           "is target j with the chosen blocks taken from source i.")
model = widgets.require_model()
if "w" not in model.gen.spaces:
    st.info("This checkpoint is a DCGAN: it has no mapping network and no per-block w, so there is nothing to mix. "
            "Pick a style checkpoint (`--arch style`, the default since the W-space release) in the sidebar.")
    st.stop()

groups = loaders.block_groups(model.gen.G.num_ws)
c1, c2 = st.columns(2)
with c1:
    sources = widgets.face_set("Sources (rows)", "mix_src", model, default_seed=1, default_n=4)
with c2:
    targets = widgets.face_set("Targets (columns)", "mix_dst", model, default_seed=2, default_n=5)
take = st.segmented_control("Blocks taken from the source", list(groups), default=["coarse"], selection_mode="multi",
                            key="mix_groups", format_func=lambda g: f"{g} ({', '.join(str(4 * 2 ** i) for i in groups[g])} px)")
if not sources or not targets:
    st.stop()
sources, targets = sources[:8], targets[:8]
layers = tuple(sorted(i for g in (take or []) for i in groups[g]))
src_w, dst_w = widgets.face_w(model, sources), widgets.face_w(model, targets)  # (S | T, w_dim): stored w where edited
mix = loaders.style_mix(model.path, model.mtime, src_w, dst_w, layers)  # (S+1, T+1, H, W, 3)

st.caption(f"Blocks from the source: {', '.join(take) if take else 'none (the targets unchanged)'} — ws indices "
           f"{list(layers)} of {model.gen.G.num_ws}. Top row: the targets; left column: the sources.")
S, T = mix.shape[:2]
for i in range(S):
    cols = st.columns(T)
    for j in range(T):
        if i == 0 and j == 0:
            cols[j].markdown("&nbsp;")
            continue
        who = ("target " + str(j)) if i == 0 else ("source " + str(i)) if j == 0 else f"{i}×{j}"
        cols[j].image(mix[i, j], caption=who, width=80)
flat = mix[1:, 1:].reshape(-1, *mix.shape[2:])
st.download_button("Download the mixed grid (PNG)", grid_png(flat, T - 1), file_name="style_mixing.png",
                   mime="image/png", key="mix_dl")
