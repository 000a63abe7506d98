"""Arithmetic: mean(A) − mean(B) + mean(C) on z (and optionally on c), shown as faces and saved to a collection."""
import numpy as np
import streamlit as st

from explorer import widgets
from explorer.faces import Face, describe_condition, stack
from explorer.latent_ops import condition_arithmetic, latent_arithmetic

st.title("Latent arithmetic")
st.caption("Each group's *averaged face* is G(mean z, mean c). The result is mean(A) − mean(B) + mean(C) "
           "(e.g. smiling woman − neutral woman + neutral man).")
model = widgets.require_model()

groups = {}
for col, (g, seed) in zip(st.columns(3), (("A", 1), ("B", 2), ("C", 3))):
    with col:
        groups[g] = widgets.latent_source(f"Group {g}", f"arith_{g}", model, default_seed=seed)
        if groups[g]:
            shown = groups[g][:12]
            st.image(list(widgets.face_images(model, shown)), width=40, caption=[f"{f.seed}·#{f.index}" for f in shown])

cmode = st.radio("Condition vector of the result", ("apply the same arithmetic to c", "hold A's c", "hold B's c", "hold C's c"),
                 key="arith_cmode", horizontal=True,
                 help="apply: c = clip(mean cA − mean cB + mean cC, 0, 1) · hold: keep one group's mean c; only z carries the edit")

if all(groups.values()):
    means = {g: stack(f) for g, f in groups.items()}  # g → (z (n, D), c (n, K))
    try:
        z_res = latent_arithmetic(means["A"][0], means["B"][0], means["C"][0])
        if cmode.startswith("apply"):
            c_res = condition_arithmetic(means["A"][1], means["B"][1], means["C"][1], mode="apply")
        else:
            c_res = condition_arithmetic(None, None, None, mode="hold", hold=means[cmode[5]][1].mean(0))
    except ValueError as e:
        st.error(str(e))
        st.stop()
    z_all = np.stack([means[g][0].mean(0) for g in "ABC"] + [z_res])  # (4, D)
    c_all = np.stack([means[g][1].mean(0) for g in "ABC"] + [c_res])  # (4, K)
    imgs = model.images(z_all, c_all)
    result = Face(z_res, c_res, -1, 0, model.checkpoint_id, model.names, origin="arithmetic A − B + C")
    labels = [f"mean A ({len(groups['A'])})", f"− mean B ({len(groups['B'])})", f"+ mean C ({len(groups['C'])})", "= result"]
    for col, img, lab, c in zip(st.columns(4), imgs, labels, c_all):
        col.image(img, caption=f"{lab} · c: {describe_condition(c, model.names)}", width=160)
    with st.expander("Identity of the result"):
        st.write(result.identity())
    widgets.save_faces([result], imgs[3:], "arith", label="Save the result")
else:
    st.info("Choose faces for all three groups (a random seed needs no set-up).")
