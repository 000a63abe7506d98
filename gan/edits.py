"""Attribute edits and how well they work, in the latent space a generator offers (w, z or continuous c).

A direction is built from classifier-labelled samples (mean of the latents the classifier reads as having the
attribute minus the mean of the others), applied with a strength in units of the samples' spread along it, and
judged by the edit report card: on a fixed sample, how often the classifier's reading of the target flips, how
often each other attribute's reading changes, and how much of the face stays the same. The same card judges a raw
displacement (`delta_report`: e.g. mean(A) − mean(B) of the Arithmetic page) on the attributes it should change.
Given the classifier's reading of real faces (`real_readings`), a card also says where P(target) before and after
sits among real faces: all of them, and those whose true label is the reading the edit aims for.
`python -m gan edits` prints the card for every attribute.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass

import numpy as np
import torch

from gan import cli_types as ct
from gan.generate import sample_z
from gan.pixels import tensor_to_images

SPACES = ("w", "z", "c")
# plain mean difference | mean difference with the other attributes held fixed | W's response to flipping c_k
METHODS = ("mean", "conditional", "condition")
STRENGTHS = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0)  # in standard deviations of the samples along the direction
DELTA_STRENGTHS = (0.25, 0.5, 1.0, 1.5, 2.0)  # multiples of a raw displacement (1.0: the displacement itself)
TARGET_FLIP = 0.7                             # the smallest strength reaching this flip rate is "the" strength


@dataclass
class Faces:
    """A fixed sample of faces: z (n, z_dim), c (n, C) and, for a style generator, w (n, w_dim); float32 tensors."""

    z: torch.Tensor
    c: torch.Tensor
    w: torch.Tensor | None

    def latents(self, space: str) -> torch.Tensor:
        """The sample's coordinates in `space` (n, D); "zc" is z and c side by side (n, z_dim + C)."""
        if space == "w":
            if self.w is None:
                raise ValueError("this generator has no W space (no mapping network); use z or c")
            return self.w
        return {"z": self.z, "c": self.c, "zc": torch.cat([self.z, self.c], 1)}[space]


def sample_faces(loaded, n: int, seed: int) -> Faces:
    """n faces with conditions from the training label distribution and z from `sample_z(n, z_dim, seed)`."""
    c = torch.from_numpy(loaded.labels.sample(n, np.random.default_rng(seed)))
    z = sample_z(n, loaded.z_dim, seed)
    w = None
    if hasattr(loaded.G, "mapping"):
        dev = next(loaded.G.parameters()).device
        with torch.inference_mode():
            w = torch.cat([loaded.G.mapping(z[i:i + 256].to(dev), c[i:i + 256].to(dev)).cpu() for i in range(0, n, 256)])
    return Faces(z, c, w)


@torch.inference_mode()
def render(G: torch.nn.Module, faces: Faces, space: str, latents: torch.Tensor, batch: int = 128) -> np.ndarray:
    """Images (n, H, W, 3) uint8 of the faces with their `space` coordinates replaced by `latents`."""
    out, dev = [], next(G.parameters()).device  # latents live on the CPU; G may be on a GPU
    for i in range(0, len(latents), batch):
        part = slice(i, i + batch)
        if space == "w":
            img = G.synthesis(G.broadcast(latents[part].to(dev)))
        elif space == "z":
            img = G(latents[part].to(dev), faces.c[part].to(dev))
        elif space == "zc":
            zc = latents[part].to(dev)
            img = G(zc[:, :faces.z.shape[1]], zc[:, faces.z.shape[1]:])
        else:
            img = G(faces.z[part].to(dev), latents[part].to(dev))
        out.append(tensor_to_images(img))
    return np.concatenate(out)


def _read(classifier, cols: list[int], images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from gan.metrics.conditioning import classify_uint8
    return classify_uint8(classifier, images, cols, want_features=True)


@dataclass
class RealReadings:
    """The classifier's reading of a fixed sample of m real faces, over the generator's attributes."""

    probs: np.ndarray   # (m, C) float: P(attribute) as the classifier reads it
    labels: np.ndarray  # (m, C) uint8: the faces' true labels
    source: str         # where the faces came from: "the synthetic renderer" or "the dataset cache"


def real_readings(loaded, classifier, n: int = 500, seed: int = 0) -> RealReadings:
    """n real faces chosen by gan.metrics.evaluate.real_faces_for (the renderer for the synthetic attributes, else the
    dataset cache: at most its size), with their labels and the classifier's reading. Raises ValueError / OSError
    when there are no real faces to read (no dataset cache for these attributes)."""
    from gan.metrics.evaluate import real_faces_for

    names = list(loaded.attribute_names)
    real = real_faces_for(loaded)
    images, labels = real.labelled_faces(n, np.random.default_rng(seed))
    probs, _ = _read(classifier, _columns(classifier, names), images)
    return RealReadings(probs, labels, "the synthetic renderer" if real.rendered else "the dataset cache")


def percentile_among(sample: np.ndarray, value: float) -> float:
    """Where `value` sits among `sample`, 0–100: the share of the sample below it, ties counted half (so the middle
    of ten distinct values sits at 50); NaN for an empty sample or a NaN value."""
    s = np.asarray(sample, np.float64)
    if s.size == 0 or value != value:
        return float("nan")
    return float(((s < value).mean() + (s == value).mean() / 2) * 100)


def real_standing(real: RealReadings, k: int, has: bool, before: float, after: list[float]) -> dict:
    """Where P(attribute k) before and after (per strength) sits among the real faces: all of them, and the group whose
    true label is `has` (the reading the edit aims for). Percentiles 0–100 (percentile_among)."""
    p, group = real.probs[:, k], real.labels[:, k] == int(has)
    return {"n": int(len(p)), "n_group": int(group.sum()), "group_has": bool(has), "source": real.source,
            "before": percentile_among(p, before), "before_group": percentile_among(p[group], before),
            "after": [percentile_among(p, a) for a in after], "after_group": [percentile_among(p[group], a) for a in after]}


@dataclass
class Direction:
    """A unit direction (D,) in a space, with the samples' standard deviation along it (strength unit)."""

    attribute: str
    space: str
    method: str
    vector: np.ndarray
    sigma: float
    n_with: int
    n_without: int
    split: str = "reading"  # "reading": the classifier's 0.5 threshold; "median": it read all or none, split at the median


def attribute_direction(loaded, classifier, attribute: str, space: str = "w", n: int = 1000, seed: int = 0,
                        method: str = "mean") -> Direction:
    """Direction of `attribute` in `space` from n samples labelled by the classifier's reading: "mean" is the mean
    of the latents read with the attribute minus the mean of the others; "conditional" is the same difference with
    the other attributes' readings held fixed (the attribute's coefficient in a least-squares fit of the latents
    on all readings), so correlated attributes (Male and Wearing_Lipstick) are not dragged along.
    "condition" (W only) needs no classifier: the mean of mapping(z, c with the attribute on) − mapping(z, c with it
    off) over the samples, i.e. what the generator itself learned the attribute to be in W.
    In c the direction is the attribute's own axis (c is the condition itself)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "condition" and space != "w":
        raise ValueError("the condition method needs the W space (a mapping network)")
    names = list(loaded.attribute_names)
    k = names.index(attribute)
    faces = sample_faces(loaded, n, seed)
    x = faces.latents(space).double().numpy()
    if space == "c":
        v = np.zeros(len(names))
        v[k] = 1.0
        return Direction(attribute, space, "axis", v.astype(np.float32), 1.0, int(faces.c[:, k].sum()),
                         int(n - faces.c[:, k].sum()))
    if method == "condition":
        on, off = faces.c.clone(), faces.c.clone()
        on[:, k], off[:, k] = 1.0, 0.0
        dev = next(loaded.G.parameters()).device
        z = faces.z.to(dev)
        with torch.inference_mode():
            d = (loaded.G.mapping(z, on.to(dev)) - loaded.G.mapping(z, off.to(dev))).double().mean(0).cpu().numpy()
        u = d / np.linalg.norm(d)
        return Direction(attribute, space, method, u.astype(np.float32), float((x @ u).std()),
                         int(faces.c[:, k].sum()), int(n - faces.c[:, k].sum()))
    cols = _columns(classifier, names)
    probs, _ = _read(classifier, cols, render(loaded.G, faces, space, faces.latents(space)))
    has, split = probs[:, k] >= 0.5, "reading"
    if has.all() or not has.any():  # e.g. a rare attribute: compare the faces most and least like it instead
        has, split = probs[:, k] >= np.median(probs[:, k]), "median"
        if has.all() or not has.any():
            raise ValueError(f"the classifier gives {attribute} the same probability on all {n} samples; "
                             "no direction can be built from them")
    if method == "mean":
        d = x[has].mean(0) - x[~has].mean(0)
    else:
        design = np.concatenate([np.ones((n, 1)), (probs >= 0.5).astype(np.float64)], axis=1)  # (n, 1 + C)
        coef = np.linalg.lstsq(design, x, rcond=None)[0]                                         # (1 + C, D)
        d = coef[1 + k]
    u = d / np.linalg.norm(d)
    return Direction(attribute, space, method, u.astype(np.float32), float((x @ u).std()), int(has.sum()),
                     int((~has).sum()), split)


def _columns(classifier, names) -> list[int]:
    from gan.metrics.conditioning import classifier_columns
    return classifier_columns(classifier, names)


def edit_report(loaded, classifier, direction: Direction, n: int = 200, seed: int = 1,
                strengths=STRENGTHS, real: RealReadings | None = None) -> dict:
    """The edit report card of a direction on a fixed sample of n faces (another seed than the direction's).

    Each face moves toward the other value of the target: faces read without the attribute by +α·σ·d, faces read
    with it by −α·σ·d. Per strength α: flip rate (target reading changed), off-target change rate per other
    attribute and their mean and max, pixel change (mean |Δ|/255) and classifier-feature change (1 − cosine)
    as preservation, and P(target) before/after (mean over the faces moving toward the attribute); with `real`, where
    those sit among real faces (card["real"], real_standing: the group is the real faces with the attribute)."""
    built = {"method": direction.method, "split": direction.split, "direction_n_with": direction.n_with,
             "direction_n_without": direction.n_without}
    cards = _report_cards(loaded, classifier, direction.space, direction.sigma * direction.vector,
                          {direction.attribute: None}, n, seed, strengths, built, real=real)
    return cards[direction.attribute]


def delta_report(loaded, classifier, space: str, delta: np.ndarray, targets: dict[str, bool], n: int = 200,
                 seed: int = 1, strengths=DELTA_STRENGTHS, n_with: int = 0, n_without: int = 0,
                 real: RealReadings | None = None) -> dict[str, dict]:
    """Edit report cards of a raw displacement `delta` (D,) in `space` ("w", "z", "c" or "zc": z and c side by side),
    e.g. the Arithmetic page's mean(A) − mean(B), added α times to every face of a fixed sample: one card per target
    attribute (name → the reading the displacement should give), in edit_report's format. A target's flip rate
    counts the faces whose reading was not yet the wanted one and became it; the other targets are not off-target;
    the headline ("chosen") strength is 1.0, the displacement itself. n_with / n_without: the group sizes it came from.
    real: as in edit_report (the group of a target that should read False is the real faces without it)."""
    if not targets:
        raise ValueError("name at least one attribute the displacement should change")
    if 1.0 not in strengths:
        raise ValueError("the strengths must include 1.0, the displacement itself")
    built = {"method": "arithmetic", "split": "groups", "direction_n_with": n_with, "direction_n_without": n_without}
    return _report_cards(loaded, classifier, space, np.asarray(delta, np.float32), dict(targets), n, seed, strengths,
                         built, chosen=1.0, real=real)


def _report_cards(loaded, classifier, space: str, step: np.ndarray, targets: dict[str, bool | None], n: int, seed: int,
                  strengths, built: dict, chosen: float | None = None, real: RealReadings | None = None) -> dict[str, dict]:
    """What edit_report and delta_report share. Faces move by α·step (D,) per strength α. A target whose wanted
    reading is None is two-sided (one target only): each face moves toward the reading it lacks (−step for faces
    that have it), so every face can flip; True / False: every face moves by +step and the faces already reading
    that value cannot flip. chosen: the headline strength (default: the smallest reaching TARGET_FLIP). real: the
    classifier's reading of real faces, for each card's "real" standing (real_standing)."""
    names = list(loaded.attribute_names)
    two_sided = None in targets.values()
    if two_sided and len(targets) != 1:
        raise ValueError("a two-sided edit has exactly one target")
    tk = {t: names.index(t) for t in targets}
    cols = _columns(classifier, names)
    faces = sample_faces(loaded, n, seed)
    base = faces.latents(space)
    images0 = render(loaded.G, faces, space, base)
    p0, f0 = _read(classifier, cols, images0)
    r0 = p0 >= 0.5
    k0 = next(iter(tk.values()))
    sign = np.where(r0[:, k0], -1.0, 1.0) if two_sided else np.ones(n)
    move = torch.from_numpy((sign[:, None] * step[None]).astype(np.float32))              # (n, D) at strength 1
    # per target: the reading each face should reach, which faces can flip, which move toward the attribute
    want = {t: ~r0[:, k] if targets[t] is None else np.full(n, bool(targets[t])) for t, k in tk.items()}
    able = {t: r0[:, k] != want[t] for t, k in tk.items()}
    toward = {t: ~r0[:, k] if targets[t] is None else able[t] for t, k in tk.items()}
    others = [j for j in range(len(names)) if j not in tk.values()]
    cards = {t: {"attribute": t, "space": space, **built, "n": n, "seed": seed, "strengths": list(strengths),
                 "targets": dict(targets), "n_can_flip": int(able[t].sum()),
                 "flip_rate": [], "off_target_mean": [], "off_target_max": [],
                 "off_target": {names[j]: [] for j in others}, "pixel_change": [], "feature_change": [],
                 "p_target_after": [],
                 # over the faces moving toward the wanted reading: P(target) before and after
                 "p_target_before": float(p0[toward[t], k].mean()) if toward[t].any() else float("nan")}
             for t, k in tk.items()}
    for a in strengths:
        images = render(loaded.G, faces, space, base + a * move)
        p, f = _read(classifier, cols, images)
        r = p >= 0.5
        changed = (r != r0).mean(0)                                                          # (C,)
        pixels = float(np.abs(images.astype(np.int16) - images0).mean() / 255)
        cos = (f * f0).sum(1) / (np.linalg.norm(f, axis=1) * np.linalg.norm(f0, axis=1) + 1e-12)
        for t, k in tk.items():
            card = cards[t]
            card["flip_rate"].append(float((r[able[t], k] == want[t][able[t]]).mean()) if able[t].any() else 0.0)
            for j in others:
                card["off_target"][names[j]].append(float(changed[j]))
            card["off_target_mean"].append(float(changed[others].mean()) if others else 0.0)
            card["off_target_max"].append(float(changed[others].max()) if others else 0.0)
            card["pixel_change"].append(pixels)
            card["feature_change"].append(float((1 - cos).mean()))
            card["p_target_after"].append(float(p[toward[t], k].mean()) if toward[t].any() else float("nan"))
    for t, card in cards.items():
        if real is not None:  # the group to compare with: real faces whose label is the reading the edit aims for
            card["real"] = real_standing(real, tk[t], targets[t] is not False, card["p_target_before"],
                                         card["p_target_after"])
        hit = [i for i, fr in enumerate(card["flip_rate"]) if fr >= TARGET_FLIP]
        i = (list(strengths).index(chosen) if chosen is not None else hit[0] if hit else
             int(np.argmax(card["flip_rate"])))
        card.update(chosen_strength=strengths[i], chosen_reaches_target=card["flip_rate"][i] >= TARGET_FLIP,
                    flip_at_chosen=card["flip_rate"][i], off_target_mean_at_chosen=card["off_target_mean"][i],
                    off_target_max_at_chosen=card["off_target_max"][i])
    return cards


def edit_strip(loaded, direction: Direction, n: int, seed: int, strengths) -> np.ndarray:
    """(n, S, H, W, 3) uint8: n faces of a fixed sample moved along the direction by each strength (in σ units)."""
    faces = sample_faces(loaded, n, seed)
    base = faces.latents(direction.space)
    d = torch.from_numpy(direction.vector)[None]
    rows = [render(loaded.G, faces, direction.space, base + (a * direction.sigma) * d) for a in strengths]
    return np.stack(rows, axis=1)


def report_all(loaded, classifier, space: str = "w", n_direction: int = 1000, n: int = 200, seed: int = 0,
               method: str = "mean") -> dict:
    """Edit report cards for every attribute in `space`, with the summary the targets are judged on."""
    cards = []
    for name in loaded.attribute_names:
        d = attribute_direction(loaded, classifier, name, space, n_direction, seed, method)
        cards.append(edit_report(loaded, classifier, d, n=n, seed=seed + 1))
    ok = [c["chosen_reaches_target"] and c["off_target_mean_at_chosen"] <= 0.10 for c in cards]
    return {"space": space, "method": cards[0]["method"] if cards else method, "n_direction": n_direction, "n": n, "target_flip": TARGET_FLIP, "cards": cards,
            "attributes_meeting_target": int(sum(ok)), "attributes": len(cards),
            "flip_at_chosen_mean": float(np.mean([c["flip_at_chosen"] for c in cards])),
            "off_target_mean_at_chosen_mean": float(np.mean([c["off_target_mean_at_chosen"] for c in cards]))}


def format_cards(summary: dict) -> str:
    lines = [f"edits in {summary['space']} ({summary['method']} directions): directions from {summary['n_direction']} classifier-labelled samples, "
             f"report on {summary['n']} other faces; strength in std of the samples along the direction",
             f"{'attribute':20s} {'strength':>8s} {'flip':>6s} {'off-mean':>8s} {'off-max':>8s} {'pixels':>7s} {'target':>6s}"]
    for c in summary["cards"]:
        i = c["strengths"].index(c["chosen_strength"])
        worst = max(c["off_target"], key=lambda m: c["off_target"][m][i]) if c["off_target"] else "-"
        ok = c["chosen_reaches_target"] and c["off_target_mean_at_chosen"] <= 0.10
        lines.append(f"{c['attribute']:20s} {c['chosen_strength']:8.1f} {c['flip_at_chosen']:6.3f} "
                     f"{c['off_target_mean_at_chosen']:8.3f} {c['off_target_max_at_chosen']:8.3f} "
                     f"{c['pixel_change'][i]:7.3f} {'met' if ok else 'NOT':>6s}  (most changed: {worst})")
    lines.append(f"{summary['attributes_meeting_target']} of {summary['attributes']} attributes flip in ≥ "
                 f"{summary['target_flip']:.0%} of faces with a mean off-target change ≤ 10%")
    return "\n".join(lines)


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("edits", help="attribute directions and their edit report cards (flip rate, off-target)")
    p.add_argument("--ckpt", default=None, help="generator checkpoint (default: checkpoints/default.pt)")
    p.add_argument("--classifier", default=None, help="attribute classifier (default: the one that reads its attributes)")
    p.add_argument("--space", choices=SPACES, default=None, help="latent space (default: w when the generator has one, else c)")
    p.add_argument("--method", choices=METHODS, default="mean", help="mean difference, or conditional on the other "
                   "attributes' readings (default: %(default)s)")
    p.add_argument("--n-direction", type=int, default=1000, help="samples to build each direction (default: %(default)s)")
    p.add_argument("--n", type=int, default=200, help="faces each report card is measured on (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the cards as one JSON object on the last line")
    ct.add_device_option(p)
    p.set_defaults(func=_cli)


def _cli(args: argparse.Namespace) -> int:
    from gan import paths
    from gan.checkpoint import CheckpointError, load_generator
    from gan.device import configure_threads, pick_device
    from gan.metrics.classifier import default_classifier_for, load_classifier

    configure_threads()
    try:
        device = pick_device(args.device)
        loaded = load_generator(args.ckpt or paths.DEFAULT_CHECKPOINT, device=device)
        cpath = args.classifier or default_classifier_for(loaded)
        if cpath is None:
            raise FileNotFoundError("no attribute classifier reads this generator's attributes; pass --classifier")
        space = args.space or ("w" if "w" in loaded.spaces else "c")
        summary = report_all(loaded, load_classifier(cpath, device=device), space, args.n_direction, args.n, args.seed, args.method)
    except (CheckpointError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_cards(summary))
    if args.json:
        print(json.dumps(summary))
    return 0
