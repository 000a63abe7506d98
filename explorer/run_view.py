"""Trainer page views: the runs table, loss figures, and the self-refreshing live panel of one run (read from disk)."""
from __future__ import annotations

import io
import re
from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

from explorer import jobs
from gan.metrics.conditioning import PROXY_LABEL
from gan.records import read_jsonl

STATE_ICONS = {"running": ":material/autorenew:", "finished": ":material/check_circle:",
               "stopped": ":material/pause_circle:", "failed": ":material/error:"}


# ----------------------------------------------------------------------------- pure helpers

def fmt_duration(seconds: float | None) -> str:
    """'1 h 02 m', '3 m 05 s', '42 s' ('—' when unknown)."""
    if seconds is None:
        return "—"
    s = int(round(max(0.0, seconds)))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} m"
    if s >= 60:
        return f"{s // 60} m {s % 60:02d} s"
    return f"{s} s"


def _num(v, fmt: str = ".3f") -> str:
    return format(v, fmt) if isinstance(v, (int, float)) and not isinstance(v, bool) else "—"


def run_rows(runs: list[jobs.RunInfo]) -> list[dict]:
    """One table row per run: name, status, step, elapsed, speed and the latest losses."""
    rows = []
    for r in runs:
        e = r.last_event
        d_loss = (e.get("Loss/D/real") or 0) + (e.get("Loss/D/fake") or 0) if "Loss/D/real" in e else None
        status = r.state + (" (stopping)" if r.stopping else "")
        if r.state == "failed" and r.exit_code is not None:
            status += f" ({jobs.describe_exit(r.exit_code)})"
        rows.append({"run": r.name, "status": status,
                     "step": f"{r.step}" + (f" / {r.total_steps}" if r.total_steps else ""),
                     "elapsed": fmt_duration(r.elapsed_s), "images/s": _num(r.images_per_s, ".0f"),
                     "D loss": _num(d_loss), "G loss": _num(e.get("Loss/G")), "D(x)": _num(e.get("D(x)")),
                     "D(G(z))": _num(e.get("D(G(z))")), "data": str(r.config.get("data", "")),
                     "checkpoint": "yes" if r.has_checkpoint else "no"})
    return rows


def _lines(events: list[dict], keys: dict[str, str], title: str, y_title: str, y_range=None) -> go.Figure:
    fig = go.Figure()
    for key, label in keys.items():
        pts = [(e["step"], e[key]) for e in events if isinstance(e.get(key), (int, float)) and "step" in e]
        if pts:
            fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines", name=label))
    for e in events:  # collapse-guard restores, as vertical marks
        for a in e.get("guard") or []:
            if isinstance(a, dict) and a.get("guard") == "restore":
                fig.add_vline(x=e.get("step", 0), line=dict(color="red", dash="dot", width=1))
    fig.update_layout(title=title, xaxis_title="training step", yaxis_title=y_title, height=320,
                      margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.25))
    if y_range:
        fig.update_yaxes(range=y_range)
    return fig


def loss_figure(events: list[dict]) -> go.Figure:
    """D's real / fake halves and G's loss over steps (red dotted lines: collapse-guard restores)."""
    return _lines(events, {"Loss/D/real": "D loss, real", "Loss/D/fake": "D loss, fake", "Loss/G": "G loss",
                           "Loss/D/aux": "D attribute loss", "Loss/G/aux": "G attribute loss"}, "Losses", "loss")


def d_figure(events: list[dict]) -> go.Figure:
    """Mean D(x) and D(G(z)) (sigmoid of the logits): a healthy run keeps them apart but not at 1 / 0."""
    return _lines(events, {"D(x)": "D(x) on real", "D(G(z))": "D(G(z)) on generated"},
                  "Discriminator outputs", "mean sigmoid(D)", y_range=[0, 1])


def guard_rows(events: list[dict]) -> list[dict]:
    """Collapse-guard actions (restores, out-of-band warnings, skipped checkpoints) as table rows."""
    rows = []
    for e in events:
        for a in e.get("guard") or []:
            if isinstance(a, dict):
                loss = a.get("loss")
                rows.append({"step": e.get("step"), "action": a.get("guard", ""), "network": a.get("network", ""),
                             "loss": _num(loss), "restored from step": a.get("restored_from_step", ""),
                             "note": a.get("note", "")})
    return rows


def sample_grids(folder: Path) -> list[tuple[int, Path]]:
    """(step, path) of every preview grid samples_{step:06d}.png, in step order."""
    out = []
    for p in Path(folder).glob("samples_*.png"):
        m = re.fullmatch(r"samples_(\d+)\.png", p.name)
        if m:
            out.append((int(m.group(1)), p))
    return sorted(out)


def read_grid(path: Path) -> bytes | None:
    """A preview grid's PNG bytes, or None while it is still being written (the trainer saves grids in place)."""
    from PIL import Image

    try:
        data = Path(path).read_bytes()
        with Image.open(io.BytesIO(data)) as im:
            im.load()  # decodes fully: a truncated file raises here, not inside st.image
    except (OSError, ValueError, SyntaxError):
        return None
    return data


def latest_grid(grids: list[tuple[int, Path]]) -> tuple[int, bytes] | None:
    """(step, PNG bytes) of the newest complete grid (a half-written newest one falls back to the one before)."""
    for step, path in reversed(grids[-3:]):
        data = read_grid(path)
        if data is not None:
            return step, data
    return None


def latest_metrics(folder: Path) -> dict:
    """The newest evaluation recorded in the run's metrics.jsonl (flat metrics with their step), {} if none."""
    entries = [e for e in read_jsonl(Path(folder) / "metrics.jsonl") if e.get("kind") != "live"]  # live: own panel
    if not entries:
        return {}
    last = entries[-1]
    m = last.get("metrics", last)
    return dict(m, date=last.get("date", ""))


# ----------------------------------------------------------------------------- Streamlit views

def runs_table(runs: list[jobs.RunInfo]) -> None:
    st.dataframe(run_rows(runs), hide_index=True, width="stretch")


def budget_text(info: jobs.RunInfo) -> str:
    """'step 120 / 500 · 2 m 00 s of 2 m 00 s training (2 m 14 s with start-up)': the budget clock (what a minutes
    budget counts; it excludes loading the data) next to the wall time, in the same units."""
    parts = [f"step {info.step}" + (f" / {info.total_steps}" if info.total_steps else "")]
    if info.minutes:
        clock = f"{fmt_duration(info.budget_clock)} of {fmt_duration(60 * info.minutes)} training"
        if info.budget_elapsed_s is not None and info.elapsed_s - info.budget_elapsed_s >= 1:
            clock += f" ({fmt_duration(info.elapsed_s)} with start-up)"
        parts.append(clock)
    else:
        parts.append(f"{fmt_duration(info.elapsed_s)} elapsed")
    return " · ".join(parts)


def _progress(info: jobs.RunInfo) -> None:
    parts = [budget_text(info)]
    if info.running and info.eta_s is not None:
        parts.append(f"about {fmt_duration(info.eta_s)} left" if info.eta_s >= 1 else "finishing")
    frac = info.progress
    if frac is not None:
        st.progress(frac, text=" · ".join(parts))
    else:
        st.caption(" · ".join(parts) + " · no budget: runs until stopped")


def _actions(info: jobs.RunInfo) -> None:
    """Stop (running) or Resume (stopped / failed / finished with a checkpoint); both rerun the whole page."""
    if info.running:
        if info.stopping:
            st.info("Stopping: the run finishes its step, saves a checkpoint and exits…", icon=":material/hourglass_top:")
        elif st.button("Stop", key="trn_stop", icon=":material/stop_circle:", type="primary",
                       help="Finish the current step, save the checkpoint and exit (STOP file + SIGTERM)."):
            jobs.stop(info.name)
            st.rerun()
        return
    if not info.has_checkpoint:
        return
    c1, c2, c3 = st.columns([1, 1, 1])
    by_time = bool(info.minutes) and not info.total_steps
    if by_time:
        left = max(0.0, 60 * info.minutes - info.budget_clock) / 60  # the rest of its budget, if stopped early
        more = c1.number_input("train for (minutes)", 0.5, 600.0, round(left * 2) / 2 if left >= 0.5 else 2.0, 0.5,
                               key="trn_more_min", help="Minutes of training from where the run is now; the budget "
                                                        "becomes the time used so far plus this.")
    else:
        left = max(0, (info.total_steps or 0) - info.step)
        more = c1.number_input("train for (steps)", 1, 1_000_000, left or 200, 50, key="trn_more_steps",
                               help="Steps from where the run is now; the budget becomes its step plus this.")
    if c2.button("Resume", key="trn_resume", icon=":material/play_circle:",
                 help="Continue from checkpoint.pt, bit for bit (`--resume --out runs/NAME`)."):
        try:
            if by_time:
                jobs.resume(info.name, more_minutes=float(more))
            else:
                jobs.resume(info.name, more_steps=int(more))
        except jobs.JobError as e:
            st.session_state["trn_flash"] = ("error", str(e))
        st.rerun()
    c3.caption(f"Checkpoint: `{info.checkpoint}` — listed in the sidebar picker of every page.")


def _live_variety(info: jobs.RunInfo) -> None:
    """The trainer's own live measurements (every --metrics-every steps): variety and accuracy lines, latest PCA."""
    from explorer.live_view import live_figure, live_records, pca_figure

    records = live_records(info.path)
    if not records:
        st.caption("No live variety measurements yet (the trainer writes one every `--metrics-every` steps).")
        return
    last = records[-1]
    c1, c2 = st.columns([3, 2])
    c1.plotly_chart(live_figure(records), key="trn_live_fig")
    pca = pca_figure(last)
    if pca is not None:
        c2.plotly_chart(pca, key="trn_live_pca")
    if last.get("intra_condition_diversity_ratio", 1.0) < 0.3:
        st.warning(f"Collapse warning: at step {last['step']} faces with one condition vary only "
                   f"{last['intra_condition_diversity_ratio']:.0%} as much as real faces with the same labels.")


def _live_metrics(info: jobs.RunInfo) -> None:
    _live_variety(info)
    m = latest_metrics(info.path)
    if m:
        c = st.columns(3)
        c[0].metric("evaluated at step", m.get("step", "?"))
        c[1].metric("attribute balanced accuracy", _num(m.get("attr_balanced_accuracy_mean")),
                    help="classifier's reading of generated faces vs the requested attributes, mean over attributes")
        c[2].metric(PROXY_LABEL, _num(m.get("proxy_fd_classifier"), ".2f"),
                    help="Fréchet distance in the attribute classifier's feature space — a cheap proxy, not FID; "
                         "only comparable between runs judged by the same classifier")
    if not info.has_checkpoint:
        return
    if st.button("Evaluate latest checkpoint", key="trn_eval", icon=":material/monitoring:",
                 help="Attribute accuracy of 200 generated faces and the classifier-feature proxy (gan.metrics.evaluate); "
                      "the result is appended to metrics.jsonl and the checkpoint's history."):
        from explorer.metrics_view import run_with_progress
        from gan.metrics.evaluate import evaluate_checkpoint

        out = run_with_progress(lambda p: evaluate_checkpoint(info.checkpoint, progress=p, n=200, proxy=True),
                                "evaluate")
        if "error" in out:
            st.error(out["error"])
        else:
            st.rerun()


def _panel(name: str, was_running: bool) -> None:
    try:
        info = jobs.run_info(name)
    except jobs.JobError as e:
        st.error(str(e))
        return
    if was_running and not info.running:
        st.rerun()  # the run ended: redraw the whole page (runs table, picker) and stop the timer
    st.subheader(f"{info.name}: {info.state}" + (" (stopping)" if info.stopping else ""),
                 anchor=False)
    st.caption(f"Status: **{info.state}** · {info.message or '—'}")
    _progress(info)
    if info.state == "failed":
        st.error(f"Run failed: {info.message or 'see the log'}"
                 + (f" — {jobs.describe_exit(info.exit_code)}" if info.exit_code is not None else "")
                 + (". The last checkpoint is kept and can be resumed." if info.has_checkpoint else "."))
        st.code(info.log_tail(15) or "(log.txt is empty)", language=None)
    _actions(info)

    events = read_jsonl(info.path / "events.jsonl")
    e = info.last_event
    c = st.columns(5)
    c[0].metric("step", info.step)
    c[1].metric("images/s", _num(info.images_per_s, ".0f"))
    c[2].metric("ETA", fmt_duration(info.eta_s) if info.running else "—")
    c[3].metric("D(x)", _num(e.get("D(x)")))
    c[4].metric("D(G(z))", _num(e.get("D(G(z))")))

    grids = sample_grids(info.path)
    left, right = st.columns([3, 2])
    with left:
        latest = latest_grid(grids)
        if latest is not None:
            st.image(latest[1], caption=f"preview grid at step {latest[0]} (fixed z per column, one attribute "
                                        f"combination per row; G_ema)", width="stretch")
            if len(grids) > 1 and not info.running:
                with st.expander("Earlier grids"):
                    pick = st.select_slider("step", [g[0] for g in grids], value=grids[0][0], key="trn_grid_step")
                    data = read_grid(dict(grids)[pick])
                    if data is not None:
                        st.image(data, caption=f"step {pick}", width="stretch")
        else:
            st.caption("No preview grid yet.")
    with right:
        if events:
            st.plotly_chart(d_figure(events), key="trn_d_fig")
    if events:
        st.plotly_chart(loss_figure(events), key="trn_loss_fig")
    rows = guard_rows(events)
    if rows:
        st.markdown("**Collapse guard**")
        st.dataframe(rows, hide_index=True, width="stretch")
    st.markdown("**Live metrics**")
    _live_metrics(info)
    if info.state != "failed":
        with st.expander("Log (last lines)"):
            st.code(info.log_tail(20) or "(empty)", language=None)


def _label(runs: list[jobs.RunInfo]):
    states = {r.name: r.state + (" (stopping)" if r.stopping else "") for r in runs}
    return lambda n: f"{n} · {states.get(n, '?')}"


def _runs_section(was_active: tuple[str, ...]) -> None:
    runs = jobs.list_runs()  # read afresh on every tick: table, picker labels and panel agree
    active = tuple(r.name for r in runs if r.running)
    if set(was_active) - set(active):
        st.rerun()  # a run ended: redraw the whole page (sidebar picker, New-run form) and stop the timer
    runs_table(runs)
    names = [r.name for r in runs]
    if st.session_state.get("trn_selected") not in names:
        st.session_state["trn_selected"] = active[0] if active else names[0]
    selected = st.selectbox("Run", names, key="trn_selected", format_func=_label(runs))
    _panel(selected, selected in active)


def runs_section(runs: list[jobs.RunInfo], every_s: float = 2.0) -> None:
    """Runs table, run picker and the chosen run's panel; while any run trains they redraw every `every_s`
    seconds (a fragment, not the whole page), so the table never lags the panel."""
    active = tuple(r.name for r in runs if r.running)
    st.fragment(run_every=every_s if active else None)(_runs_section)(active)
