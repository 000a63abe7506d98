"""Metrics: conditioning accuracy (with ceiling, floor and chance), flip response, FID/KID on demand, training history, bias."""
import numpy as np
import streamlit as st

from explorer import fid_panel, loaders, widgets
from explorer.charts import grouped_bars, heatmap, history_lines
from explorer.metrics_view import (conditioning_report, flatten_history, flip_response, history_groups,
                                   run_with_progress, variety_report)

st.title("Metrics")
model = widgets.require_model()
gen = model.gen
st.caption(f"Checkpoint `{model.checkpoint_id}` · step {gen.step} · trained on {gen.dataset.get('source', '?')} "
           f"({gen.dataset.get('count', '?')} images, {gen.img_resolution}×{gen.img_resolution}) · "
           f"{len(model.names)} attributes")
results = loaders.results()

# ---- history
st.subheader("Across training")
hist = flatten_history(gen.metrics_history)
if hist:
    groups = history_groups(hist)
    cols = st.columns(max(1, len(groups)))
    for col, (title, keys) in zip(cols, groups.items()):
        col.plotly_chart(history_lines(hist, keys, title), key=f"met_hist_{title}")
else:
    st.caption("No evaluations stored in this checkpoint yet (`python -m gan evaluate CHECKPOINT` appends one).")

clf = widgets.require_classifier(model)
cp, cm = loaders.classifier_key(model.path, model.mtime)

# ---- conditioning accuracy
st.subheader("Conditioning: does the face show what was asked?")
report = None
if clf is not None:
    c1, c2, c3 = st.columns([2, 2, 1])
    n = c1.select_slider("Generated faces", [100, 200, 500, 1000, 2000, 5000], value=200, key="met_n")
    seed = int(c2.number_input("Seed", 0, 2**31 - 1, 0, key="met_seed"))
    key = (model.checkpoint_id, cp, cm, "conditioning", int(n), seed)
    if c3.button("Compute", key="met_cond_go") or (key not in results and n <= 200):  # small n: show on open
        results[key] = run_with_progress(lambda p: conditioning_report(gen, clf, n=int(n), seed=seed, progress=p),
                                         "conditioning")
    report = results.get(key)
    if report is None:
        st.caption(f"Press **Compute** to score {n} generated faces.")
if report is not None and "error" in report:
    st.error(report["error"])
elif report is not None:
    m = st.columns(5)
    m[0].metric("balanced accuracy", f"{report['attr_balanced_accuracy_mean']:.3f}",
                help="mean over attributes of (TPR + TNR)/2 — the headline; plain accuracy flatters rare attributes")
    m[1].metric("macro-F1", f"{report['attr_f1_macro']:.3f}")
    m[2].metric("plain accuracy", f"{report['attr_accuracy_mean']:.3f}",
                help=f"always answering the majority value would score {report['attr_accuracy_chance_mean']:.3f}")
    m[3].metric("shuffled floor (balanced)", f"{report['shuffled_floor_balanced_accuracy_mean']:.3f}",
                help=report["shuffled_floor_method"])
    ceiling = report.get("classifier_real_balanced_accuracy_mean")
    m[4].metric("classifier on real images", "—" if ceiling is None else f"{ceiling:.3f}",
                help="the judge's own balanced accuracy on held-out real images: the ceiling")
    names = report["attribute_names"]
    series = {"generated · balanced acc": [report["attr_balanced_accuracy"][a] for a in names],
              "generated · accuracy": [report["attr_accuracy"][a] for a in names],
              "generated · macro-F1": [report["attr_f1"][a] for a in names]}
    if report.get("classifier_real_balanced_accuracy"):
        series["classifier on real · balanced acc"] = [report["classifier_real_balanced_accuracy"].get(a, np.nan) for a in names]
    series["shuffled floor · balanced acc"] = [report["shuffled_floor_balanced_accuracy"][a] for a in names]
    st.plotly_chart(grouped_bars(names, series, f"Per attribute ({report['n']} generated faces, seed {report['seed']})",
                                 "score", [0, 1]), key="met_cond_bars")

# ---- variety within a condition
st.subheader("Variety: do different z give different faces?")
st.caption("For conditions drawn from the label distribution: the per-pixel spread of generated faces with one "
           "condition, divided by the spread of real faces with the same labels (face region; and in the "
           "classifier's feature space). 1 = as varied as real faces; near 0 = one face per condition (collapse), "
           "which accuracy alone cannot see.")
if clf is not None:
    c1, c2, c3 = st.columns([2, 2, 1])
    vk = c1.select_slider("Conditions", [4, 8, 16, 32], value=8, key="met_var_k")
    vn = c2.select_slider("Faces per condition", [16, 32, 64], value=32, key="met_var_n")
    vkey = (model.checkpoint_id, cp, cm, "variety", int(vk), int(vn))
    if c3.button("Compute", key="met_var_go"):
        results[vkey] = run_with_progress(lambda p: variety_report(gen, clf, int(vk), int(vn), 0, p), "variety")
    var = results.get(vkey)
    if var is None:
        st.caption(f"Press **Compute** to draw {vk} × {vn} faces on each side (a few seconds on a CPU).")
    elif "error" in var:
        st.error(var["error"])
    elif var is not None:
        m = st.columns(3)
        m[0].metric("diversity ratio · face pixels", f"{var['intra_condition_diversity_ratio']:.3f}",
                    help=f"generated {var['intra_condition_std_face_gen'] * 255:.1f}/255 vs real "
                         f"{var['intra_condition_std_face_real'] * 255:.1f}/255 per-pixel std in the face box")
        m[1].metric("diversity ratio · whole image", f"{var['intra_condition_diversity_ratio_overall']:.2f}")
        m[2].metric("diversity ratio · classifier features", f"{var.get('intra_condition_diversity_ratio_features', float('nan')):.2f}")
        st.caption(f"{var['intra_condition_conditions']} conditions × {var['intra_condition_n']} faces on each side; "
                   f"real faces from the {var['intra_condition_real_source']}. Precision / recall "
                   "(Kynkäänniemi et al. 2019) are recorded by `python -m gan evaluate` and plotted above.")

# ---- flip response
st.subheader("Flip response")
st.caption("Row a: switch attribute a off→on with z and the other attributes fixed; cell b: fraction of faces whose "
           "classifier reading of b changes. A strong diagonal and a quiet rest mean clean, separate controls.")
if clf is not None:
    c1, c2 = st.columns([3, 1])
    fn = c1.select_slider("Faces per attribute", [50, 100, 200, 500], value=100, key="met_flip_n")
    fkey = (model.checkpoint_id, cp, cm, "flip", int(fn))
    if c2.button("Compute flip response", key="met_flip_go"):
        results[fkey] = run_with_progress(lambda p: flip_response(gen, clf, n=int(fn), progress=p), "flip")
    flip = results.get(fkey)
    if flip and "error" in flip:
        st.error(flip["error"])
    elif flip:
        fnames = flip["flip_attribute_names"]
        st.plotly_chart(heatmap(np.array(flip["flip_matrix"]), fnames, fnames,
                                f"Flip response ({flip['flip_n']} faces; diagonal mean {flip['flip_diagonal_mean']:.2f}, "
                                f"off-diagonal {flip['flip_offdiagonal_mean']:.2f})", 0, 1, "Blues",
                                "reading that changed", "attribute switched"), key="met_flip_map")

# ---- FID / KID / conditional FID: a background job (explorer/fid_panel.py)
fid_panel.draw(model, cp)

# ---- bias
st.subheader("Bias: attribute frequencies")
train_freq = gen.dataset.get("label_frequencies") or {}
names = list(model.names)
series = {"training data": [float(train_freq.get(a, np.nan)) for a in names]}
if report is not None and "requested_rate" in report:
    series["requested (label distribution)"] = [report["requested_rate"][a] for a in names]
    series["classifier reads in generated"] = [report["generated_rate"][a] for a in names]
else:
    series["requested (label distribution)"] = gen.labels.frequencies.tolist()
st.plotly_chart(grouped_bars(names, series, "How often each attribute is on", "frequency", [0, 1]), key="met_bias")
if report is None:
    st.caption("Compute the conditioning report to add what the classifier reads in generated faces.")
