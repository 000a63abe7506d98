"""The Arithmetic page's reading of its own result: the classifier's P(attribute) of A, B, C and the result beside
the reading the arithmetic asks for (A − B + C), with the attributes it should change marked; and what its report
card judges: mean(A) − mean(B) as an edit (gan.edits.delta_report), on the attributes A's and B's faces are read
to differ in."""
from __future__ import annotations

import numpy as np


def reading_table(probs: np.ndarray, clf_names: list[str], names: list[str]) -> tuple[list[dict], str]:
    """Rows per attribute (of the generator's) and a one-line verdict. probs (4, K_clf): A, B, C, result.
    Expected = reading(A) − reading(B) + reading(C) on the 0/1 readings, clipped to 0/1; an attribute is *targeted*
    when the expected reading differs from C's (the arithmetic should change it)."""
    cols = [clf_names.index(n) for n in names if n in clf_names]
    read = probs[:, cols] >= 0.5                                             # (4, K)
    expected = np.clip(read[0].astype(int) - read[1] + read[2], 0, 1).astype(bool)
    rows, targeted, hit, kept, others = [], 0, 0, 0, 0
    for j, n in enumerate(n for n in names if n in clf_names):
        target = expected[j] != read[2, j]
        ok = read[3, j] == expected[j]
        targeted += int(target)
        hit += int(target and ok)
        others += int(not target)
        kept += int(not target and ok)
        rows.append({"attribute": ("▶ " if target else "") + n, "A": f"{probs[0, cols[j]]:.2f}",
                     "B": f"{probs[1, cols[j]]:.2f}", "C": f"{probs[2, cols[j]]:.2f}",
                     "result": f"{probs[3, cols[j]]:.2f}", "expected": "yes" if expected[j] else "no",
                     "as expected": "✓" if ok else "✗"})
    rows.sort(key=lambda r: not r["attribute"].startswith("▶"))
    summary = (f"The arithmetic should change **{targeted}** attribute{'s' * (targeted != 1)} of C (marked ▶); the "
               f"result shows **{hit} of {targeted}** and keeps **{kept} of {others}** of the others."
               if targeted else f"A − B changes no attribute the classifier reads; the result keeps {kept} of {others}.")
    return rows, summary


def w_png(model, images: np.ndarray, w: np.ndarray) -> bytes:
    """The four faces side by side as a PNG carrying a `faces` recipe with their w."""
    from gan.generate import image_grid
    from gan.recipe import make, png_with_recipe

    recipe = make("faces", model.checkpoint_id, z=np.zeros((len(w), model.gen.z_dim), np.float32),
                  c=np.zeros((len(w), len(model.names)), np.float32), w=w, note="arithmetic A − B + C in W")
    return png_with_recipe(np.asarray(image_grid(images, nrow=len(images))), recipe)


def suggested_targets(probs_a: np.ndarray, probs_b: np.ndarray, clf_names: list[str], names: list[str]) -> list[str]:
    """The attributes A − B should change: those that most of one group's faces are read with and most of the
    other's without (shares of readings ≥ 0.5 differing by at least a half), else the one whose mean P differs most.
    probs_a (n_A, K_clf), probs_b (n_B, K_clf): the classifier's reading of each group's faces."""
    shared = [n for n in names if n in clf_names]
    if not shared:
        return []
    cols = [clf_names.index(n) for n in shared]
    share = (probs_a[:, cols] >= 0.5).mean(0) - (probs_b[:, cols] >= 0.5).mean(0)          # (K,)
    differ = [n for n, d in zip(shared, share) if abs(d) >= 0.5]
    return differ or [shared[int(np.argmax(np.abs(probs_a[:, cols].mean(0) - probs_b[:, cols].mean(0))))]]


def wanted_readings(probs_a: np.ndarray, probs_b: np.ndarray, clf_names: list[str],
                    targets: list[str]) -> tuple[tuple[str, bool], ...]:
    """(attribute, the reading A − B should give it): present where A's faces read it more than B's (mean P)."""
    return tuple((n, bool(probs_a[:, clf_names.index(n)].mean() > probs_b[:, clf_names.index(n)].mean()))
                 for n in targets)


def edit_delta(rows: np.ndarray, space: str, c_rows: np.ndarray | None = None) -> tuple[str, np.ndarray]:
    """mean(A) − mean(B) as an edit for gan.edits.delta_report: (its space, the displacement). rows (≥ 2, D): the
    groups' mean w (space "w") or z (space "z"), A first, then B; c_rows: their mean c when the arithmetic also
    applies to c (the displacement then moves z and c together, space "zc"), None when c is held."""
    if space == "w" or c_rows is None:
        return space, (rows[0] - rows[1]).astype(np.float32)
    return "zc", np.concatenate([rows[0] - rows[1], c_rows[0] - c_rows[1]]).astype(np.float32)


def card_labels(cards: dict[str, dict]) -> dict[str, dict]:
    """The report cards of gan.edits.delta_report (target → card) under the labels the Edit page's table and charts
    show: "A − B → Smiling on"."""
    return {f"A − B → {t} {'on' if card['targets'][t] else 'off'}": card for t, card in cards.items()}
