"""The Edit page's pictures and words: report-card charts (flip rate and off-target change against strength, the
off-target change per attribute), the card's headline table, where P(target) sits among real faces, and the
space-effect sentence; the Arithmetic page's card of A − B uses the same charts, table and sentences. Also the strip's exports and what a replayed recipe is said to show."""
from __future__ import annotations

import io

import numpy as np
import plotly.graph_objects as go

OFF_TARGET_LIMIT = 0.10  # mean off-target change above this: offer the conditional (orthogonalised) variant
SPACE_NAMES = {"w": "W (the mapping network's output)", "z": "z (the input noise)", "c": "c (the condition, continuous)"}


def space_sentence(effect: dict) -> str:
    """'z changes the face region by 13% of real variety at fixed c' — and what that means."""
    pct = effect["ratio"] * 100
    what = {"z": "z changes the face region", "w": "moving in W changes the face region",
            "c": "changing c at a fixed z changes the face region"}[effect["space"]]
    where = "at fixed c" if effect["space"] != "c" else "across conditions"
    verdict = ("— little happens here: edits in this space will look like null results" if pct < 25 else
               "— a space where edits have room to act")
    return (f"{what} by **{pct:.0f}%** of real variety {where} ({effect['k']} × {effect['n']} faces, vs "
            f"{effect['versus']}) {verdict}.")


def card_figure(cards: dict[str, dict]) -> go.Figure:
    """Flip rate (solid) and mean off-target change (dotted) against strength, one colour per card."""
    fig = go.Figure()
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
    for i, (label, card) in enumerate(cards.items()):
        col = palette[i % len(palette)]
        fig.add_trace(go.Scatter(x=card["strengths"], y=card["flip_rate"], name=f"{label}: target flips",
                                 mode="lines+markers", line=dict(color=col)))
        fig.add_trace(go.Scatter(x=card["strengths"], y=card["off_target_mean"], name=f"{label}: off-target (mean)",
                                 mode="lines+markers", line=dict(color=col, dash="dot")))
    fig.add_hline(y=0.7, line_dash="dash", line_color="grey", annotation_text="70% flips")
    fig.add_hline(y=OFF_TARGET_LIMIT, line_dash="dash", line_color="lightgrey", annotation_text="10% off-target")
    arithmetic = any(c["method"] == "arithmetic" for c in cards.values())
    fig.update_layout(xaxis_title="strength (× mean A − mean B)" if arithmetic else
                      "strength (std of the faces along the direction)", yaxis_title="share of faces",
                      yaxis_range=[0, 1], height=360, margin=dict(l=10, r=10, t=30, b=10),
                      legend=dict(orientation="h", y=-0.3))
    return fig


def off_target_figure(cards: dict[str, dict]) -> go.Figure:
    """Per other attribute: share of faces whose reading changed at each card's chosen strength."""
    fig = go.Figure()
    for label, card in cards.items():
        i = card["strengths"].index(card["chosen_strength"])
        names = list(card["off_target"])
        fig.add_trace(go.Bar(x=names, y=[card["off_target"][m][i] for m in names],
                             name=f"{label} at strength {card['chosen_strength']:g}"))
    fig.update_layout(barmode="group", yaxis_title="reading changed", yaxis_range=[0, 1], height=320,
                      xaxis_tickangle=-40, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=1.1))
    return fig


def _p(v: float) -> str:
    """A probability, or — when no face lacked the attribute to move toward it."""
    return "—" if v != v else f"{v:.2f}"


def ordinal(pct: float) -> str:
    """A percentile as English: 1st, 2nd, 3rd, 11th, 62nd, 100th; — for NaN (nothing to place)."""
    if pct != pct:
        return "—"
    n = int(round(pct))
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _group(c: dict) -> str:
    """The real faces a card's target is compared with: 'real faces with Smiling' (or without, for a removal)."""
    return f"real faces {'with' if c['real']['group_has'] else 'without'} {c['attribute']}"


def real_columns(c: dict, i: int) -> dict:
    """Table cells: P(target)'s percentile before → after (strength index i) among all real faces and among those
    with the label the edit aims for; empty when the card was measured without real faces."""
    if "real" not in c:
        return {}
    r = c["real"]
    label = f"{'with' if r['group_has'] else 'without'} {c['attribute']}"
    return {"real percentile, all": f"{ordinal(r['before'])} → {ordinal(r['after'][i])} of {r['n']}",
            "real percentile, aimed label":
                f"{ordinal(r['before_group'])} → {ordinal(r['after_group'][i])} of {r['n_group']} {label}"}


def real_sentences(cards: dict[str, dict], problem: str | None = None) -> list[str]:
    """One sentence per card that has real faces to compare with: where the edited faces' mean P(target) sits at the
    chosen strength, e.g. 'after the edit, P(Smiling) sits at the 62nd percentile of real faces with Smiling';
    then what the real faces are. problem: why there are none (loaders.real_readings), said instead."""
    if problem:
        return [f"P(target) is not placed among real faces: {problem}."]
    out = []
    for label, c in cards.items():
        if "real" not in c:
            continue
        r, i = c["real"], c["strengths"].index(c["chosen_strength"])
        if c["p_target_after"][i] != c["p_target_after"][i]:
            out.append(f"**{label}**: no face of the sample lacked the aimed reading of {c['attribute']}, so there is "
                       "nothing to place among real faces.")
            continue
        if r["n_group"] == 0:
            among = f"none of the {r['n']} real faces is labelled {'with' if r['group_has'] else 'without'} it"
        else:
            among = (f"the **{ordinal(r['after_group'][i])}** percentile of the {r['n_group']} {_group(c)} "
                     f"(before: {ordinal(r['before_group'])})")
        out.append(f"**{label}**, strength {c['chosen_strength']:g}: after the edit, P({c['attribute']}) = "
                   f"{_p(c['p_target_after'][i])} sits at {among}; among all {r['n']} real faces at the "
                   f"**{ordinal(r['after'][i])}** percentile (before: {ordinal(r['before'])}).")
    if out:
        r = next(c["real"] for c in cards.values() if "real" in c)
        out.append(f"Real faces: a fixed sample of {r['n']} from {r['source']}, read by the same classifier; a "
                   "percentile is the share of them whose P is lower (ties count half). P after is the mean over the "
                   "faces moved toward the aimed reading.")
    return out


def card_rows(cards: dict[str, dict]) -> list[dict]:
    """The headline of each card at its chosen strength, as table rows (an arithmetic card also says how many faces
    could flip: those not already reading what A − B asks for; a card measured with real faces says where P(target)
    sits among them)."""
    rows = []
    for label, c in cards.items():
        i = c["strengths"].index(c["chosen_strength"])
        arithmetic = c["method"] == "arithmetic"
        built = (f"{c['direction_n_with']} in A / {c['direction_n_without']} in B" if arithmetic else
                 f"{c['direction_n_with']} with / {c['direction_n_without']} without")
        rows.append({"direction": label, "strength": c["chosen_strength"],
                     "target flips": f"{c['flip_rate'][i]:.0%}" + ("" if c["chosen_reaches_target"] else " (below 70%)"),
                     "off-target, mean": f"{c['off_target_mean'][i]:.1%}", "off-target, worst": f"{c['off_target_max'][i]:.1%}",
                     f"P({c['attribute']}) before → after": _p(c["p_target_before"]) + " → " + _p(c["p_target_after"][i]),
                     **real_columns(c, i),
                     "pixels changed": f"{c['pixel_change'][i] * 255:.1f}/255",
                     "features changed (1 − cos)": f"{c['feature_change'][i]:.3f}",
                     "faces": c["n"], **({"could flip": c["n_can_flip"]} if arithmetic else {}), "built from": built})
    return rows


def strip_png(strip: dict) -> bytes:
    """The edit strip (faces × strengths) as one PNG grid carrying its recipe."""
    from gan.generate import image_grid
    from gan.recipe import png_with_recipe

    images = strip["images"]                                        # (n, S, H, W, 3)
    grid = np.asarray(image_grid(images.reshape(-1, *images.shape[2:]), nrow=images.shape[1]))
    return png_with_recipe(grid, strip["recipe"])


def strip_frames(strip: dict) -> np.ndarray:
    """The edit strip as video frames (gan.recipe.video_frames): one per strength, the faces side by side."""
    from gan.recipe import video_frames

    images = strip["images"]                                        # (n, S, H, W, 3)
    return video_frames(strip["recipe"], images.reshape(-1, *images.shape[2:]))


def replay_caption(data: bytes, images: np.ndarray, recipe: dict) -> str:
    """What the replay box says under a replayed recipe: its size and origin, and whether the file's pixels match
    (a PNG's are compared; an MP4 is lossy, so only its recipe is exact)."""
    from gan.mp4 import is_mp4

    text = f"{len(images)} images from a {recipe['kind']} recipe of checkpoint `{recipe['checkpoint_id']}`"
    if is_mp4(data):
        return text + (" · the MP4 itself is lossy (H.264), so its pixels are not compared; its recipe re-renders "
                       "the exact frames that were encoded")
    same = same_pixels(data, images, recipe)
    return text + ("" if same is None else f" · identical to the file's pixels: {'yes' if same else 'NO'}")


def same_pixels(data: bytes, images: np.ndarray, recipe: dict) -> bool | None:
    """Whether a replayed recipe gives exactly the pixels of the uploaded PNG (None for GIF/JSON: not comparable)."""
    from PIL import Image

    from gan.generate import image_grid

    from gan.untrusted import UntrustedFileError, check_png

    try:
        check_png(data, max_pixels=4096 * 4096)  # an upload: never decode a declared bomb
    except UntrustedFileError:
        return None
    with Image.open(io.BytesIO(data)) as im:
        have = np.asarray(im.convert("RGB"))
    ncol = len(recipe.get("strengths", [])) or len(images)
    return bool(np.array_equal(have, np.asarray(image_grid(images, nrow=ncol))))
