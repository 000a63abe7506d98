"""The Metrics page's FID panel: start a background FID job, watch its progress, show kept results (explorer/fid_job.py)."""
from __future__ import annotations

import streamlit as st

from explorer import fid_job
from explorer.metrics_view import distance_rows
from explorer.run_view import fmt_duration

GEN_SIZES = [200, 500, 1000, 2000, 5000]
REAL_SIZES = [500, 1000, 2000, 5000]


def estimate_text(n_gen: int, n_real: int) -> str:
    """How long the Inception part will take, from the speed measured on this machine (or saying it is unknown)."""
    r = fid_job.measured_rate()
    if r is None:
        return (f"{n_gen} + {n_real} images through Inception. Its speed has not been measured on this machine yet "
                f"(a quiet single-thread CPU does ~7 images/s; a busy one far less): the first job measures it and "
                f"shows its time left as it goes.")
    secs = fid_job.estimate_s(n_gen, n_real)
    return (f"About {fmt_duration(secs)} for {n_gen} + {n_real} images at {r['images_per_s']:.1f} images/s (measured "
            f"here {str(r.get('measured', ''))[:16].replace('T', ' ')}), plus loading; less when the real statistics "
            f"are cached. It runs in the background: reloading or leaving the page does not stop it.")


def _job_view(checkpoint_id: str, n_gen: int, n_real: int, was_running: bool) -> None:
    job = fid_job.read(checkpoint_id, n_gen, n_real)
    if was_running and (job is None or not job.running):
        st.rerun()  # finished: redraw the page once and stop the timer
    if job is None:
        return
    if job.running:
        eta = job.eta_s()
        stage = f"{job.stage}: {job.done}/{job.total}" if job.stage else "starting (loading the models)"
        text = f"{stage} · {fmt_duration(job.elapsed_s)} so far" + (
            f" · about {fmt_duration(eta)} left at {job.rate:.1f} images/s" if eta is not None else "")
        st.progress(min(1.0, job.done / job.total) if job.total else 0.0, text=text)
        if st.button("Stop FID job", key="met_fid_stop"):
            fid_job.stop(checkpoint_id, n_gen, n_real)
            st.rerun()
    elif job.state == "finished":
        took = (job.result.get("seconds") or {}).get("inception")
        st.dataframe(distance_rows(job.result), hide_index=True)
        st.caption(f"Kept from a job for checkpoint `{checkpoint_id}`, {n_gen} generated / {n_real} real images, "
                   f"{fid_job.FEATURES} features" + (f"; Inception took {fmt_duration(took)}" if took else "") + ".")
    else:
        st.error(f"The FID job {job.state}." + (" Its last output:" if job.message else ""))
        if job.message:
            st.code(job.message, language=None)


def draw(model, classifier_path: str) -> None:
    """Sizes, the start button and the job's state; the job view redraws itself every 2 s while a job runs."""
    st.subheader("FID, KID, conditional FID (background job)")
    c1, c2, c3 = st.columns([2, 2, 1])
    n_gen = int(c1.select_slider("Generated images", GEN_SIZES, value=500, key="met_fid_gen"))
    n_real = int(c2.select_slider("Real images", REAL_SIZES, value=2000, key="met_fid_real"))
    record = st.checkbox("Record the result in the checkpoint's metrics history (rewrites the file)", key="met_fid_record")
    job = fid_job.read(model.checkpoint_id, n_gen, n_real)
    running = job is not None and job.running
    label = "Compute FID again" if job is not None and job.state == "finished" else "Compute FID"
    if c3.button(label, key="met_fid_go", disabled=running):
        fid_job.start(model.path, model.checkpoint_id, n_gen, n_real, classifier_path, record)
        st.rerun()
    if job is None or not running:
        st.caption(estimate_text(n_gen, n_real))
    st.fragment(run_every=2.0 if running else None)(_job_view)(model.checkpoint_id, n_gen, n_real, running)
