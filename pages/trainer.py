"""Trainer: start, watch, stop and resume short training runs (separate processes writing to runs/NAME)."""
import streamlit as st

from explorer import jobs, loaders, run_view, state, train_form, widgets
from explorer.train_form import D_CONDS, LOSSES, SYNTHETIC_ATTRIBUTES, default

st.title("Trainer")
st.caption("Each run is its own process (`python -m gan train --out runs/NAME`): it goes on when you reload, close "
           "the tab or open another one, and every tab sees the same runs. Its checkpoint shows up in the sidebar "
           "picker of every page.")

flash = st.session_state.pop("trn_flash", None)
if flash:
    getattr(st, flash[0])(flash[1])

SYNTHETIC = "synthetic faces (built in)"


# ----------------------------------------------------------------------------- where the run starts from
runs = jobs.list_runs()
active = [r.name for r in runs if r.running]
with st.expander("New run", expanded=not active):
    if len(active) >= jobs.max_active():
        st.info(f"Run **{active[0]}** is training; this machine trains one run at a time — stop it (below) or wait "
                f"before starting another.", icon=":material/info:")
    c1, c2 = st.columns(2)
    caches = train_form.dataset_caches()
    data_choice = c1.selectbox("Dataset", [SYNTHETIC] + [c["label"] for c in caches], key="trn_data",
                               help="The built-in renderer, or a CelebA / folder cache prepared with "
                                    "`python -m gan prepare` (found under the workspace's cache/ folder).")
    cache = next((c for c in caches if c["label"] == data_choice), None)
    if cache is None:
        n_faces = int(c1.number_input("Synthetic faces", 200, 200_000, int(str(default("data")).split(":")[1]), 200,
                                      key="trn_synth_n", help="Rendered once per size, then reused from the cache."))
        data, names_all, fixed_size = f"synthetic:{n_faces}", list(SYNTHETIC_ATTRIBUTES), None
    else:
        data, names_all, fixed_size = cache["spec"], cache["attribute_names"], cache["size"]

    ckpts = loaders.checkpoint_options()
    init_paths = [""] + [o["path"] for o in ckpts]
    info_by_path = {o["path"]: o for o in ckpts}
    init = c2.selectbox("Start from", init_paths, key="trn_init",
                        format_func=lambda p: "scratch (random weights)" if not p else
                        "fine-tune " + loaders.describe_checkpoint(info_by_path[p]),
                        help="Fine-tuning (`--init`) copies a checkpoint's weights; attributes and architecture "
                             "must match it, so they are taken from the checkpoint.")
    init_gen, mc = None, None
    if init:
        try:
            init_gen = loaders.generator(init)
        except widgets.CheckpointError as e:  # refuse it here rather than in the run's log
            st.error(f"Cannot use `{init}`: {e}")
            init = ""
    if init_gen is not None:
        missing = [n for n in init_gen.attribute_names if n not in names_all]
        if missing:
            st.warning(f"This dataset lacks {', '.join(missing)} of the checkpoint's attributes; the run would fail.")
        mc = train_form.model_config(init_gen)
        if fixed_size and fixed_size != init_gen.img_resolution:
            st.warning(f"The cache is {fixed_size} px but the checkpoint makes {init_gen.img_resolution} px faces.")

    unit = st.radio("Budget in", ["minutes", "steps"], 0 if default("minutes") else 1, key="trn_unit",
                    horizontal=True, help="Outside the form so that only the matching input shows.")
    with st.form("trn_form", border=False):
        st.session_state.setdefault("trn_name", jobs.suggest_name())  # once: a default that changed every second
        name = st.text_input("Run name", key="trn_name", max_chars=64,                   # would reset the widget
                             help="Folder runs/NAME: letters, digits, '_', '-', '.'.")
        f1, f2, f3, f4 = st.columns(4)
        if init_gen is not None:
            attrs = f1.multiselect("Attributes", list(init_gen.attribute_names), list(init_gen.attribute_names),
                                   key="trn_attrs_ft", disabled=True, help="Fixed by the checkpoint.")
            size = f2.selectbox("Resolution", [init_gen.img_resolution], key="trn_size_ft", disabled=True)
        else:
            attrs = f1.multiselect("Attributes", names_all, names_all, key=f"trn_attrs_{data_choice}",
                                   help="Attributes to condition on (all of the dataset's by default).")
            sizes = [fixed_size] if fixed_size else [32, 64, 128]
            size = f2.selectbox("Resolution", sizes, index=sizes.index(default("size")) if default("size") in sizes else 0,
                                key=f"trn_size_{fixed_size}", disabled=bool(fixed_size),
                                help="Fixed by a prepared cache." if fixed_size else "Image side in pixels.")
        widths = [8, 16, 32, 64, 128]
        lock = init_gen is not None
        ngf = f3.selectbox("G width (ngf)", widths, index=widths.index(mc.ngf if lock else default("model.ngf")),
                           key="trn_ngf", disabled=lock)
        ndf = f4.selectbox("D width (ndf)", widths, index=widths.index(mc.ndf if lock else default("model.ndf")),
                           key="trn_ndf", disabled=lock)

        f1, f2, f3, f4 = st.columns(4)
        d_cond = f1.selectbox("Conditioning of D", D_CONDS, index=D_CONDS.index(mc.d_cond if lock else default("model.d_cond")),
                              key="trn_dcond", disabled=lock,
                              help="projection: c·embedding dot product; concat: label maps as input channels; "
                                   "acgan: auxiliary attribute head; projection+acgan: both.")
        loss = f2.selectbox("Loss", LOSSES, index=LOSSES.index(default("loss")), key="trn_loss",
                            help="nonsat: non-saturating BCE (DCGAN); hinge: hinge loss.")
        batch = f3.selectbox("Batch", [16, 32, 64, 128], index=[16, 32, 64, 128].index(default("batch")), key="trn_batch")
        seed = int(f4.number_input("Seed", 0, 2**31 - 1, default("seed"), key="trn_seed"))

        st.markdown("**Stabilisers**")
        f1, f2, f3, f4 = st.columns(4)
        sn = f1.checkbox("Spectral norm in D", mc.spectral_norm if lock else default("model.spectral_norm"),
                         key="trn_sn", disabled=lock)
        smooth = f2.checkbox("One-sided label smoothing (0.9)", default("smoothing") < 1.0, key="trn_smooth",
                             help="Real images' target 0.9 instead of 1 (nonsat loss only).")
        ema = f3.checkbox("EMA generator", default("ema") > 0, key="trn_ema",
                          help=f"G_ema (decay {train_form.defaults().ema}) is what the checkpoint ships; off = the raw G.")
        guard = f4.checkbox("Collapse guard", default("guard"), key="trn_guard",
                            help="Roll a network back to its last healthy snapshot when its loss leaves its band.")
        f1, f2, f3, f4 = st.columns(4)
        lr_g = f1.number_input("lr G", 1e-5, 1e-2, float(default("lr_g")), 1e-5, format="%.5f", key="trn_lr_g")
        lr_d = f2.number_input("lr D", 1e-5, 1e-2, float(default("lr_d")), 1e-5, format="%.5f", key="trn_lr_d",
                               help="TTUR: give D a higher rate than G (e.g. 4e-4 vs 1e-4).")
        d_steps = int(f3.number_input("D steps per G step", 1, 5, default("d_steps"), key="trn_dsteps"))

        st.markdown("**Budget**")
        f1, f2, f3, f4 = st.columns(4)
        f1.caption(f"in **{unit}** (chosen above the form)")
        minutes, steps = float(default("minutes") or 2.0), int(default("steps") or 500)
        if unit == "minutes":
            minutes = f2.number_input("Minutes", 0.1, 10_000.0, minutes, 0.5, key="trn_minutes",
                                      help="Training time over the whole run, resumes included (loading the data "
                                           "is not counted).")
        else:
            steps = int(f2.number_input("Steps", 1, 10_000_000, steps, 50, key="trn_steps"))
        sample_every = int(f3.number_input("Preview grid every (steps)", 1, 100_000, default("sample_every"),
                                           key="trn_sample_every"))
        ckpt_every = int(f4.number_input("Checkpoint every (steps)", 1, 100_000, default("ckpt_every"),
                                         key="trn_ckpt_every"))
        submitted = st.form_submit_button("Start training", icon=":material/play_arrow:", type="primary")

    if submitted:
        settings = train_form.settings(
            {"data": data, "attrs": attrs, "size": size, "batch": batch, "loss": loss, "seed": seed, "lr_g": lr_g,
             "lr_d": lr_d, "d_steps": d_steps, "smooth": smooth, "ema": ema, "guard": guard, "unit": unit,
             "minutes": minutes, "steps": steps, "sample_every": sample_every, "ckpt_every": ckpt_every,
             "ngf": ngf, "ndf": ndf, "d_cond": d_cond, "sn": sn}, names_all, init, init_gen)
        if not attrs:
            st.error("Pick at least one attribute.")
        else:
            try:
                started = jobs.start(name, settings)
            except jobs.JobError as e:
                st.error(str(e))
            else:
                st.session_state["trn_selected"] = started.name
                st.session_state["trn_flash"] = ("success", f"Started run **{started.name}**.")
                del st.session_state["trn_name"]  # a fresh suggestion next time
                state.forget_setting("trn_name")
                st.rerun()

# ----------------------------------------------------------------------------- runs on disk
st.subheader("Runs", anchor=False)
if not runs:
    st.caption(f"No runs yet under `{train_form.runs_dir()}`.")
    st.stop()
run_view.runs_section(runs)
