"""The Trainer page's live variety panel: the trainer's live metrics (metrics.jsonl records of kind "live") as lines
over training steps, beside a PCA map of the run's fixed latent samples, so collapse shows while it happens."""
from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go

from gan.records import read_jsonl

# metric key → legend name; all are on a 0–1(+) scale where real faces score 1 (diversity) or the ceiling (accuracy).
LIVE_SERIES = {
    "intra_condition_diversity_ratio": "diversity ratio, face pixels (real = 1)",
    "intra_condition_diversity_ratio_features": "diversity ratio, classifier features (real = 1)",
    "attr_balanced_accuracy_mean": "attribute balanced accuracy",
    "recall_classifier": "recall (classifier features)",
    "precision_classifier": "precision (classifier features)",
}


def live_records(folder: str | Path) -> list[dict]:
    """The run's live-metrics records in step order (empty when the run measures none)."""
    recs = [r for r in read_jsonl(Path(folder) / "metrics.jsonl") if r.get("kind") == "live" and "step" in r]
    return sorted(recs, key=lambda r: r["step"])


def live_figure(records: list[dict]) -> go.Figure:
    """Variety and accuracy over training steps, with the real-faces level (1.0) drawn as a dotted line."""
    fig = go.Figure()
    for key, name in LIVE_SERIES.items():
        pts = [(r["step"], r[key]) for r in records if isinstance(r.get(key), (int, float))]
        if pts:
            fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers", name=name))
    fig.add_hline(y=1.0, line_dash="dot", line_color="grey", annotation_text="real faces",
                  annotation_position="bottom right")
    n = records[-1].get("intra_condition_n") if records else None
    k = records[-1].get("intra_condition_conditions") if records else None
    sub = f"diversity: {k} conditions × {n} faces vs real faces with the same labels" if n else ""
    fig.update_layout(title=f"Live variety and accuracy<br><sup>{sub}</sup>", xaxis_title="training step",
                      height=360, margin=dict(l=10, r=10, t=60, b=10), legend=dict(orientation="h", y=-0.3))
    return fig


def pca_figure(record: dict) -> go.Figure | None:
    """Scatter of the latest PCA of the run's fixed latent samples (w for a style generator, z otherwise)."""
    pca = record.get("pca") or {}
    xy = pca.get("xy") or []
    if not xy:
        return None
    ev = pca.get("explained") or [float("nan"), float("nan")]
    fig = go.Figure(go.Scatter(x=[p[0] for p in xy], y=[p[1] for p in xy], mode="markers",
                               marker=dict(size=6, line=dict(width=0.5, color="white"))))
    fig.update_layout(title=f"PCA of {len(xy)} fixed samples in {pca.get('space', '?')} at step {record.get('step')}",
                      xaxis_title=f"PC1 ({ev[0]:.0%} of variance)", yaxis_title=f"PC2 ({ev[1]:.0%})", height=360,
                      margin=dict(l=10, r=10, t=40, b=10))
    return fig
