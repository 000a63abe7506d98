"""Metrics page helpers: progress-bar runner, history grouping, FID/KID/cFID result tables (the FID job is explorer/fid_job.py)."""
from __future__ import annotations

from typing import Callable

import streamlit as st


def run_with_progress(fn: Callable[[Callable[[str, int, int], None]], dict], label: str) -> dict:
    """Run fn(progress) under a progress bar; a library error comes back as {"error": message} (shown, not raised).

    Bugs (TypeError, KeyError, AttributeError…) are not caught: they surface as exceptions, so tests see them."""
    bar = st.progress(0.0, text=f"{label}…")

    def progress(stage: str, done: int, total: int) -> None:
        bar.progress(min(1.0, done / max(1, total)), text=f"{stage}: {done}/{total}")

    try:
        out = fn(progress)
    except (OSError, ValueError, RuntimeError) as e:  # the library's errors: CheckpointError, RunLocked,
        # InceptionUnavailableError (RuntimeError), no classifier for these attributes (FileNotFoundError), bad
        # settings (ValueError): say so on the page
        out = {"error": f"{label} failed: {e}"}
    bar.empty()
    return out


def flatten_history(history: list[dict]) -> list[dict]:
    """metrics_history entries ({date, kind, settings, metrics: {...}} from gan.metrics.evaluate, or flat dicts) as flat
    dicts of numbers with their training step, in order."""
    out = []
    for i, entry in enumerate(history or []):
        m = entry.get("metrics", entry) if isinstance(entry, dict) else {}
        flat = {k: v for k, v in m.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        flat["step"] = m.get("step", entry.get("step", i)) if isinstance(entry, dict) else i
        out.append(flat)
    return out


def headline(history: list[dict]) -> str:
    """Latest balanced accuracy and FID of a checkpoint, for the checkpoint picker ("" when never evaluated)."""
    flat = flatten_history(history)
    if not flat:
        return ""
    last, parts = flat[-1], []
    if "attr_balanced_accuracy_mean" in last:
        parts.append(f"bal. acc {last['attr_balanced_accuracy_mean']:.2f}")
    if "fid" in last:
        parts.append(f"FID {last['fid']:.1f} ({int(last.get('fid_n', 0))} gen)")
    return ", ".join(parts)


# Variety keys of gan.metrics.evaluate: diversity within a condition and improved precision / recall.
VARIETY_KEYS = ("intra_condition_diversity_ratio", "intra_condition_diversity_ratio_features", "precision", "recall",
                "precision_classifier", "recall_classifier")


def variety_report(gen, clf, k: int, n: int, seed: int, progress: Callable[[str, int, int], None]) -> dict:
    """Intra-condition diversity (pixels and classifier features) of the generator against real faces with the same
    labels: the renderer's for the synthetic attributes, else the training cache's faces with identical labels."""
    from gan.metrics.conditioning import classifier_columns, classify_uint8
    from gan.metrics.diversity import intra_condition_diversity
    from gan.metrics.evaluate import real_faces_for

    cols = classifier_columns(clf, gen.attribute_names)
    real = real_faces_for(gen)
    progress("variety", 0, 1)
    out = intra_condition_diversity(gen.G, gen.labels, real, k=k, n=n, seed=seed,
                                    features=lambda imgs: classify_uint8(clf, imgs, cols, want_features=True)[1])
    progress("variety", 1, 1)
    return out


def history_groups(flat: list[dict]) -> dict[str, list[str]]:
    """Numeric keys of a flattened history split into distance charts (FID, KID, proxy) and score charts."""
    skip = {"step", "time", "n", "seed", "truncation", "flip_n", "proxy_fd_n", "proxy_fd_real_n", "fid_n", "fid_real_n",
            "kid_subset_size", "kid_std", "cfid_min_count", "cfid_attributes", "request_n", "classifier_real_n"}
    keys = sorted({k for h in flat for k in h} - skip)
    dist = [k for k in keys if k in ("fid", "kid", "cfid", "cfid_between", "proxy_fd_classifier")]
    score = [k for k in keys if k in ("attr_balanced_accuracy_mean", "attr_f1_macro", "attr_accuracy_mean",
                                      "shuffled_floor_balanced_accuracy_mean", "flip_diagonal_mean", "flip_offdiagonal_mean")]
    variety = [k for k in keys if k in VARIETY_KEYS]
    out = {}
    if dist:
        out["Distances (lower is better)"] = dist
    if variety:
        out["Variety (real faces = 1)"] = variety
    if score:
        out["Conditioning scores"] = score
    return out


def distance_rows(r: dict) -> list[dict]:
    """Table rows: every FID labelled with its features and counts; the proxy labelled as a proxy, never as FID."""
    from gan.metrics.conditioning import PROXY_LABEL

    rows = []
    counts = f"{r.get('fid_n', '?')} gen / {r.get('fid_real_n', '?')} real"
    if r.get("fid") is not None:
        rows.append({"metric": r.get("fid_label") or f"FID (Inception-2048, {counts})", "value": f"{r['fid']:.2f}",
                     "notes": f"features: {r.get('fid_features', '')}; real statistics "
                              f"{'cached' if r.get('fid_real_stats_cached') else 'computed'}"})
    if r.get("kid") is not None:
        rows.append({"metric": f"KID (Inception-2048, {counts}, subsets of {r.get('kid_subset_size', '?')})",
                     "value": f"{r['kid']:.5f} ± {r.get('kid_std') or 0:.5f}", "notes": ""})
    if r.get("cfid") is not None:
        rows.append({"metric": f"conditional FID, within-class (Inception-2048, {counts})", "value": f"{r['cfid']:.2f}",
                     "notes": f"{r.get('cfid_attributes', 0)} attributes"
                              + (f"; skipped {', '.join(r['cfid_skipped'])}" if r.get("cfid_skipped") else "")})
    if r.get("cfid_between") is not None:
        rows.append({"metric": f"conditional FID, between-class (Inception-2048, {counts})",
                     "value": f"{r['cfid_between']:.2f}", "notes": ""})
    if r.get("proxy_fd_classifier") is not None:
        rows.append({"metric": f"{r.get('proxy_fd_classifier_label', PROXY_LABEL)}"
                               f" ({r.get('proxy_fd_n', '?')} gen / {r.get('proxy_fd_real_n', '?')} real)",
                     "value": f"{r['proxy_fd_classifier']:.3f}", "notes": "a proxy in the classifier's feature space — not FID"})
    for note in r.get("notes", []):
        rows.append({"metric": "note", "value": "", "notes": note})
    return rows


def conditioning_report(gen, clf, **kw) -> dict:
    """gan.metrics.conditioning.conditioning_report (imported on first use: it pulls in the metrics stack)."""
    from gan.metrics.conditioning import conditioning_report as report

    return report(gen, clf, **kw)


def flip_response(gen, clf, **kw) -> dict:
    """gan.metrics.conditioning.flip_response (imported on first use)."""
    from gan.metrics.conditioning import flip_response as flips

    return flips(gen, clf, **kw)
