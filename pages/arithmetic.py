"""Arithmetic: mean(A) − mean(B) + mean(C) in W (style checkpoints) or z (+ c), read back by the classifier, with
A − B measured as an edit on a fixed sample (the Edit page's report card)."""
import numpy as np
import streamlit as st

from explorer import arithmetic_view, loaders, widgets
from explorer.edit_view import card_figure, card_rows, off_target_figure, real_sentences
from explorer.faces import Face, describe_condition, stack
from explorer.latent_ops import condition_arithmetic, latent_arithmetic

st.title("Latent arithmetic")
st.caption("Each group's *averaged face* is drawn from its mean latent. The result is mean(A) − mean(B) + mean(C) "
           "(e.g. smiling woman − neutral woman + neutral man), and the attribute classifier reads all four.")
model = widgets.require_model()
clf = widgets.require_classifier(model)
spaces = ["w", "z"] if "w" in model.gen.spaces else ["z"]
space = st.radio("Space", spaces, key="arith_space", horizontal=True,
                 format_func=lambda s: {"w": "W (where a style checkpoint's attributes live)", "z": "z and c"}[s],
                 help="In W the condition is part of w, so the arithmetic carries the attributes itself. In z the "
                      "attributes live in c (see the condition setting below); z alone changes little.")

groups = {}
for col, (g, seed) in zip(st.columns(3), (("A", 1), ("B", 2), ("C", 3))):
    with col:
        groups[g] = widgets.latent_source(f"Group {g}", f"arith_{g}", model, default_seed=seed)
        if groups[g]:
            shown = groups[g][:12]
            st.image(list(widgets.face_images(model, shown)), width=40, caption=[f"{f.seed}·#{f.index}" for f in shown])

cmode = "apply"
if space == "z":
    cmode = st.radio("Condition vector of the result", ("apply the same arithmetic to c", "hold A's c", "hold B's c",
                                                       "hold C's c"), key="arith_cmode", horizontal=True,
                     help="apply: c = clip(mean cA − mean cB + mean cC, 0, 1) · hold: keep one group's mean c; only z "
                          "carries the edit")

if not all(groups.values()):
    st.info("Choose faces for all three groups (a random seed needs no set-up).")
    st.stop()
means = {g: stack(f) for g, f in groups.items()}  # g → (z (n, D), c (n, K))
labels = [f"mean A ({len(groups['A'])})", f"− mean B ({len(groups['B'])})", f"+ mean C ({len(groups['C'])})", "= result"]
if space == "w":
    w_groups = {g: widgets.face_w(model, groups[g]) for g in "ABC"}  # stored w of edited faces, else mapped
    w_all = np.stack([w_groups[g].mean(0) for g in "ABC"])
    w_all = np.concatenate([w_all, (w_all[0] - w_all[1] + w_all[2])[None]]).astype(np.float32)  # (4, w_dim)
    imgs = loaders.images_w(model.path, model.mtime, w_all)
    for col, img, lab in zip(st.columns(4), imgs, labels):
        col.image(img, caption=lab, width=160)
    st.download_button("Download the four faces (PNG with their recipe)", arithmetic_view.w_png(model, imgs, w_all),
                       file_name="arithmetic_w.png", mime="image/png", key="arith_dl",
                       help="The PNG carries the four w vectors; the Edit page's replay box re-renders it exactly.")
    result = Face(latent_arithmetic(*(means[g][0] for g in "ABC")), condition_arithmetic(*(means[g][1] for g in "ABC")),
                  -1, 0, model.checkpoint_id, model.names, origin="arithmetic A − B + C in W", w=w_all[3])
    widgets.save_faces([result], widgets.face_images(model, [result]), "arith", label="Save the result")
    st.caption("The result is saved with its w and drawn from it; its z and c are the same arithmetic on the groups' "
               "z and c, kept for reference.")
else:
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
    for col, img, lab, c in zip(st.columns(4), imgs, labels, c_all):
        col.image(img, caption=f"{lab} · c: {describe_condition(c, model.names)}", width=160)
    with st.expander("Identity of the result"):
        st.write(result.identity())
    widgets.save_faces([result], imgs[3:], "arith", label="Save the result")

if clf is not None:
    cp, cm = loaders.classifier_key(model.path, model.mtime)
    probs = loaders.probabilities_of(cp, cm, imgs)                          # (4, K_clf)
    table, summary = arithmetic_view.reading_table(probs, list(clf.attribute_names), list(model.names))
    st.subheader("What the classifier reads")
    st.markdown(summary)
    st.dataframe(table, hide_index=True)

    st.subheader("Report card: A − B as an edit")
    card_space, delta = (arithmetic_view.edit_delta(w_all, "w") if space == "w" else
                         arithmetic_view.edit_delta(z_all, "z", c_all if cmode.startswith("apply") else None))
    shared = [n for n in model.names if n in clf.attribute_names]
    reads = {g: loaders.probabilities_of(cp, cm, widgets.face_images(model, groups[g])) for g in "AB"}  # (n_g, K_clf)
    k1, k2 = st.columns([3, 2])
    marked = k1.multiselect("Attributes A − B should change", shared, key="arith_card_targets",
                            default=arithmetic_view.suggested_targets(reads["A"], reads["B"], list(clf.attribute_names),
                                                                      shared),
                            help="Suggested: those that most of A's faces are read with and most of B's without, or "
                                 "the other way round.")
    n_card = k2.select_slider("Faces the report card is measured on", [50, 100, 200, 500], value=200,
                              key="arith_card_n")
    if not marked:
        st.info("Mark at least one attribute that A − B should change to measure it as an edit.")
    else:
        targets = arithmetic_view.wanted_readings(reads["A"], reads["B"], list(clf.attribute_names), marked)
        cards = arithmetic_view.card_labels(loaders.arithmetic_card(
            model.path, model.mtime, cp, cm, card_space, delta, targets, len(groups["A"]), len(groups["B"]),
            int(n_card), 1))
        st.dataframe(card_rows(cards), hide_index=True)
        real = loaders.real_readings(model.path, model.mtime, cp, cm)
        st.markdown("  \n".join(real_sentences(cards, real.get("problem"))))
        k1, k2 = st.columns(2)
        k1.plotly_chart(card_figure(cards), key="arith_card_fig")
        k2.plotly_chart(off_target_figure(cards), key="arith_off_fig")
        st.caption(f"Measured by the attribute classifier on {n_card} fixed random faces (not A, B or C): each moves "
                   "by strength × (mean A − mean B) " + {"w": "in W", "z": "in z (c held)", "zc": "in z and c"}[card_space]
                   + "; strength 1 is the arithmetic itself. A target's flip rate counts the faces not already reading "
                   "what A − B asks for (column *could flip*) whose reading becomes it; off-target counts every other "
                   "attribute.")
