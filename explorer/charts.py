"""Plotly figures of the app (pure builders; pages only pass them to st.plotly_chart)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from gan.metrics.conditioning import PROXY_LABEL


def effect_lines(strengths, probs: np.ndarray, names, target: str | None, title: str = "") -> go.Figure:
    """Classifier P(attribute) along a direction: one line per attribute, the target drawn thick."""
    fig = go.Figure()
    for j, n in enumerate(names):
        is_t = n == target
        fig.add_trace(go.Scatter(x=list(strengths), y=probs[:, j].tolist(), mode="lines+markers", name=n,
                                 line=dict(width=4 if is_t else 1.2), opacity=1.0 if is_t else 0.6))
    fig.update_layout(title=title, xaxis_title="strength α (latent std units)", yaxis_title="classifier P(attribute)",
                      yaxis_range=[0, 1], height=340, margin=dict(l=10, r=10, t=40, b=10), legend=dict(font=dict(size=9)))
    return fig


def heatmap(matrix: np.ndarray, x_labels, y_labels, title: str, zmin: float = -1.0, zmax: float = 1.0,
            colorscale: str = "RdBu", x_title: str = "", y_title: str = "") -> go.Figure:
    """Annotated heatmap (cosine similarities, flip response)."""
    m = np.asarray(matrix, dtype=float)
    fig = go.Figure(go.Heatmap(z=m, x=list(x_labels), y=list(y_labels), zmin=zmin, zmax=zmax, colorscale=colorscale,
                               text=np.round(m, 2), texttemplate="%{text}" if m.size <= 400 else None))
    # Long or many labels: slant the x labels and let both axes take the margin they need, so none overlap.
    longest = max([len(str(s)) for s in list(x_labels) + list(y_labels)] or [0])
    font = 11 if len(x_labels) <= 12 else 9
    fig.update_layout(title=title, height=max(300, 28 * len(y_labels) + 120 + 4 * min(longest, 40)),
                      margin=dict(l=10, r=10, t=40, b=10), xaxis_title=x_title, yaxis_title=y_title,
                      yaxis_autorange="reversed")
    fig.update_xaxes(tickangle=-40 if longest > 6 or len(x_labels) > 8 else 0, automargin=True, tickfont=dict(size=font))
    fig.update_yaxes(automargin=True, tickfont=dict(size=font))
    return fig


def grouped_bars(categories, series: dict[str, list[float]], title: str, y_title: str, y_range=None) -> go.Figure:
    """Bars per category, one colour per series (e.g. generated vs classifier-on-real accuracy)."""
    fig = go.Figure([go.Bar(name=k, x=list(categories), y=list(v)) for k, v in series.items()])
    fig.update_layout(barmode="group", title=dict(text=title, y=0.97), yaxis_title=y_title, height=380,
                      margin=dict(l=10, r=10, t=80, b=10), legend=dict(orientation="h", y=1.02, yanchor="bottom"))
    if y_range:
        fig.update_yaxes(range=y_range)
    return fig


HISTORY_NAMES = {  # legend names: every FID says its features, the proxy says it is one
    "fid": "FID (Inception-2048; counts on hover)", "kid": "KID (Inception-2048)",
    "cfid": "conditional FID within-class (Inception-2048)", "cfid_between": "conditional FID between-class",
    "proxy_fd_classifier": PROXY_LABEL,
    "attr_balanced_accuracy_mean": "balanced accuracy", "attr_f1_macro": "macro-F1", "attr_accuracy_mean": "plain accuracy",
    "shuffled_floor_balanced_accuracy_mean": "shuffled floor (balanced)", "flip_diagonal_mean": "flip diagonal",
    "flip_offdiagonal_mean": "flip off-diagonal",
}


def history_lines(history: list[dict], keys: list[str], title: str) -> go.Figure:
    """Metric values across training steps from a flattened metrics_history (explorer.metrics_view.flatten_history)."""
    fig = go.Figure()
    for k in keys:
        pts = [(h.get("step", i), h[k], h) for i, h in enumerate(history) if isinstance(h.get(k), (int, float))]
        if pts:
            hover = [f"{k}: {v:.4g} ({int(h['fid_n'])} gen / {int(h.get('fid_real_n', 0))} real)" if "fid_n" in h
                     and k in ("fid", "kid", "cfid", "cfid_between") else f"{k}: {v:.4g}" for _, v, h in pts]
            fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers",
                                     name=HISTORY_NAMES.get(k, k), text=hover, hovertemplate="step %{x}: %{text}<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="training step", height=340, margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(orientation="h", y=-0.3))
    return fig


def latent_scatter(coords: dict[str, np.ndarray], color: dict[str, np.ndarray] | None = None,
                   color_title: str = "", hover: dict[str, list[str]] | None = None) -> go.Figure:
    """PCA map: one trace per group (curve_number ↔ group, point_index ↔ row), 2-D or 3-D."""
    fig = go.Figure()
    three = next(iter(coords.values())).shape[1] == 3
    for i, (name, xy) in enumerate(coords.items()):
        marker: dict = dict(size=5 if three else 8, line=dict(width=0.5, color="white"))
        if color is not None:
            marker.update(color=color[name].tolist(), colorscale="Viridis", cmin=0, cmax=1,
                          showscale=i == 0, colorbar=dict(title=color_title), symbol=["circle", "diamond", "square",
                                                                                      "cross", "x"][i % 5])
        text = hover.get(name) if hover else None
        if three:
            fig.add_trace(go.Scatter3d(x=xy[:, 0], y=xy[:, 1], z=xy[:, 2], mode="markers", name=name, marker=marker,
                                       text=text, hovertemplate="%{text}<extra>" + name + "</extra>"))
        else:
            fig.add_trace(go.Scatter(x=xy[:, 0], y=xy[:, 1], mode="markers", name=name, marker=marker,
                                     text=text, hovertemplate="%{text}<extra>" + name + "</extra>"))
    fig.update_layout(height=520, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=1.05),
                      xaxis_title="PC1", yaxis_title="PC2", dragmode="zoom" if not three else None)
    if three:  # a 3-D scene has its own axes (they read x / y / z unless named)
        fig.update_layout(scene=dict(xaxis_title="PC1", yaxis_title="PC2", zaxis_title="PC3"))
    return fig
