"""`python -m gan evaluate`: measure a generator checkpoint and append the result to its metrics_history.

Always: conditioning accuracy with balanced accuracy, macro-F1, the classifier's real-image ceiling,
the shuffled-condition floor and majority chance; the classifier-feature Fréchet proxy (labelled as a
proxy, not FID). On request: FID / KID on Inception-2048 features with cached real statistics,
conditional FID, the flip-response matrix. `evaluate_checkpoint(path, progress=callback, …)` is the
library entry the app's Metrics page calls.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Callable

import numpy as np

from gan import paths
from gan import cli_types as ct
from gan.checkpoint import CheckpointError, load_checkpoint, load_generator, save_checkpoint
from gan.device import DEFAULT_DEVICE, pick_device
from gan.records import jsonable, now_iso
from gan.runfolder import RunFolder
from gan.runlock import RunLock, RunLocked, describe_owner, read_owner

LOCK_HINT = "Evaluate without recording (--no-record) meanwhile, or again once the run has finished"
Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class EvalConfig:
    """What to measure; the CLI overrides fields."""

    n: int = 2000                 # generated images for conditioning accuracy and the proxy
    seed: int = 0                 # z and condition seed
    batch: int = 100              # generation / classification batch
    truncation: float = 1.0       # ψ (1.0 = none)
    fid: bool = False             # FID on Inception-2048 features
    fid_n: int | None = None      # generated images for FID/KID/cFID (default: n)
    fid_real_n: int | None = None # real images for the cached statistics (default: fid_n)
    fid_batch: int = 50           # Inception batch
    kid: bool = False             # KID (implies the FID features)
    cfid: bool = False            # conditional FID (implies the FID features)
    cfid_min_count: int = 50      # skip a class with fewer samples on either side
    flip: bool = False            # flip-response matrix
    flip_n: int = 200             # latents per attribute for the flip matrix
    proxy: bool = True            # classifier-feature Fréchet distance (proxy, not FID) and precision/recall
    diversity: bool = True        # intra-condition diversity ratio (generated vs real faces with the same labels)
    diversity_k: int = 16         # conditions for the diversity ratio
    diversity_n: int = 64         # faces per condition on each side
    pr_k: int = 3                 # neighbourhood size of improved precision/recall
    d_probe: bool = False         # linear probe on D's features (trained vs random-init D) predicting real attributes
    data: str | None = None       # --data spec for real images (default: the checkpoint's dataset source)
    requests: list[str] = field(default_factory=list)  # hand-picked requests, e.g. "Smiling, Male=0"
    request_n: int = 100          # images per hand-picked request
    device: str = DEFAULT_DEVICE  # where to generate and measure (gan.device.pick_device)


def real_cache(loaded, cfg: EvalConfig):
    """The real images (gan.data.cache.FaceCache) behind the generator, plus a note when they differ from training."""
    from gan.data.prepare import open_source

    ds = loaded.dataset or {}
    specs = [cfg.data] if cfg.data else [s for s in dict.fromkeys([ds.get("source"), (loaded.train_config or {}).get("data")]) if s]
    if not specs:
        raise ValueError("the checkpoint does not record its dataset source; pass --data")
    size, crop = int(ds.get("size") or loaded.img_resolution), (None if cfg.data else ds.get("crop"))
    for i, spec in enumerate(specs):  # the cache's recorded source, then the training run's --data
        try:
            cache = open_source(spec, size=size, crop=crop)
            break
        except Exception:  # noqa: BLE001 — e.g. a source string that is not a --data spec
            if i == len(specs) - 1:
                raise
    if ds.get("fingerprint") not in (None, cache.fingerprint) and list(cache.attribute_names) != list(loaded.attribute_names):
        cache = open_source(spec, size=size, crop=crop, attrs=list(loaded.attribute_names))  # trained on an --attrs subset
    missing = [n for n in loaded.attribute_names if n not in cache.attribute_names]
    if missing:
        raise ValueError(f"real dataset {spec} lacks attributes {', '.join(missing)} of the generator")
    note = None
    if ds.get("fingerprint") and ds["fingerprint"] != cache.fingerprint:
        note = (f"real images ({spec}, fingerprint {cache.fingerprint}) differ from the generator's training set "
                f"(fingerprint {ds['fingerprint']})")
    return cache, note


def real_faces_for(loaded):
    """Real faces that share a label vector with the generator's conditions (gan.metrics.diversity.RealFacesByLabel):
    the renderer's for the synthetic attributes, else the training cache's faces with identical labels."""
    from gan.metrics.diversity import RealFacesByLabel

    try:
        return RealFacesByLabel(loaded.attribute_names, loaded.img_resolution)
    except ValueError:  # not the renderer's attributes: real faces come from the dataset cache
        cache, _ = real_cache(loaded, EvalConfig())
        return RealFacesByLabel(loaded.attribute_names, loaded.img_resolution, cache, tuple(cache.attribute_names))


def evaluate_checkpoint(path: str | Path = paths.DEFAULT_CHECKPOINT, classifier=None, progress: Progress | None = None,
                        append: bool = True, extractor=None, cfg: EvalConfig | None = None, **overrides) -> dict:
    """Measure the generator at `path`; returns a flat JSON-ready dict and (append=True) records it in the
    checkpoint's metrics_history (atomic rewrite) and, inside a run folder, in metrics.jsonl.

    classifier: an AttributeClassifier, a path, or None (default_classifier_for). extractor: Inception
    features override (tests). overrides: EvalConfig fields (n=…, fid=True, …)."""
    from gan.attributes import parse_request
    from gan.metrics import fid as fidlib
    from gan.metrics.classifier import default_classifier_for, load_classifier
    from gan.metrics.conditioning import classify_uint8, conditional_fid, conditioning_report, flip_response, frechet_proxy
    from gan.metrics.diversity import RealFacesByLabel, intra_condition_diversity, precision_recall

    unknown = set(overrides) - {f.name for f in fields(EvalConfig)}
    if unknown:
        raise TypeError(f"unknown evaluation setting(s): {', '.join(sorted(unknown))}")
    cfg = replace(cfg or EvalConfig(), **overrides)  # never mutate the caller's config
    path = Path(path)
    if append and read_owner(path.parent):  # refuse now, not after minutes of measuring (record() locks again)
        raise RunLocked(f"{path.parent} is in use by {describe_owner(path.parent)}; it may be saving {path.name}, so "
                        f"the result cannot be recorded now. {LOCK_HINT}.")
    device = pick_device(cfg.device)
    loaded = load_generator(path, device=device)
    if classifier is None or isinstance(classifier, (str, Path)):
        cpath = classifier or default_classifier_for(loaded)
        if cpath is None:
            raise FileNotFoundError(f"no attribute classifier reads {', '.join(loaded.attribute_names)}; train one: "
                                    f"python -m gan classifier train --data {loaded.dataset.get('source', 'DATA')}")
        classifier = load_classifier(cpath, device=device)
    clock = time.perf_counter()
    result: dict = {"checkpoint": str(path), "checkpoint_id": loaded.checkpoint_id, "step": loaded.step,
                    "classifier": str(getattr(classifier, "path", "")), "notes": []}
    cfp, gfp = (getattr(classifier, "dataset", None) or {}).get("fingerprint"), (loaded.dataset or {}).get("fingerprint")
    if cfp and gfp and cfp != gfp:
        result["notes"].append(f"the classifier was trained on dataset {cfp}, the generator on {gfp}")

    # (1) Conditioning: requested vs classifier reading, with ceiling, floor and chance.
    requests = [parse_request(r, loaded.attribute_names) for r in cfg.requests]
    cond = conditioning_report(loaded, classifier, n=cfg.n, seed=cfg.seed, batch=cfg.batch, requests=requests,
                               request_n=cfg.request_n, truncation=cfg.truncation, progress=progress, return_samples=True)
    gen_images, gen_c = cond.pop("_images"), cond.pop("_c")
    result.update(cond)
    seconds = {"conditioning": time.perf_counter() - clock}

    # (2) Real images: needed by the proxy and by every Inception metric.
    want_inception = cfg.fid or cfg.kid or cfg.cfid
    cache = None
    if cfg.proxy or want_inception or cfg.diversity or cfg.d_probe:
        try:
            cache, note = real_cache(loaded, cfg)
            if note:
                result["notes"].append(note)
        except Exception as e:  # noqa: BLE001 — the dataset may be absent on this machine
            if want_inception:
                raise
            result["notes"].append(f"proxy skipped: real images unavailable ({e})")

    # (3) Proxy: Fréchet distance in the classifier's feature space (NOT FID).
    if cfg.proxy and cache is not None:
        held = cache.indices("test")
        held = held if len(held) else cache.indices()
        held = held[:cfg.n]
        cols = [list(classifier.attribute_names).index(nm) for nm in loaded.attribute_names]
        _, gen_cf = classify_uint8(classifier, gen_images, cols, want_features=True)
        _, real_cf = classify_uint8(classifier, np.asarray(cache.images[held]), cols, want_features=True)
        result.update(frechet_proxy(gen_cf, real_cf))
        pr = precision_recall(real_cf, gen_cf, k=cfg.pr_k)
        result.update(precision_classifier=pr["precision"], recall_classifier=pr["recall"],
                      pr_classifier_n_gen=pr["pr_n_gen"], pr_classifier_n_real=pr["pr_n_real"], pr_k=cfg.pr_k)
        seconds["proxy"] = time.perf_counter() - clock - sum(seconds.values())

    # (4) Variety within a condition: generated vs real faces with the same labels (pixels and classifier features).
    if cfg.diversity and cache is not None:
        cols = [list(classifier.attribute_names).index(nm) for nm in loaded.attribute_names]
        real_faces = RealFacesByLabel(loaded.attribute_names, loaded.img_resolution, cache, tuple(cache.attribute_names))
        try:
            result.update(intra_condition_diversity(
                loaded.G, loaded.labels, real_faces, k=cfg.diversity_k, n=cfg.diversity_n, seed=cfg.seed,
                features=lambda imgs: classify_uint8(classifier, imgs, cols, want_features=True)[1],
                truncation=cfg.truncation))
        except ValueError as e:  # e.g. no label vector has diversity_n real faces in a small dataset
            result["notes"].append(f"intra-condition diversity skipped: {e}")
        seconds["diversity"] = time.perf_counter() - clock - sum(seconds.values())

    # (5) Inception: FID / KID / conditional FID with cached real statistics.
    if want_inception:
        extractor = extractor if extractor is not None else fidlib.load_inception(device)
        fid_n = int(cfg.fid_n or cfg.n)
        if fid_n <= len(gen_images):
            fimg, fc = gen_images[:fid_n], gen_c[:fid_n]
        else:
            from gan.generate import generate_images, sample_z, truncation_split
            fc = loaded.labels.sample(fid_n, np.random.default_rng(cfg.seed + 7919))
            z_scale, w_psi = truncation_split(loaded.G, cfg.truncation)
            fimg = generate_images(loaded.G, sample_z(fid_n, loaded.z_dim, cfg.seed + 7919, z_scale), fc, cfg.batch,
                                   w_truncation=w_psi)
        real = fidlib.real_statistics(cache, int(cfg.fid_real_n or fid_n), extractor, batch=cfg.fid_batch,
                                      progress=(lambda d, t: progress("fid real", d, t)) if progress else None)
        gen_feats = fidlib.extract_features(extractor, fimg, batch=cfg.fid_batch, device=fidlib.device_of(extractor),
                                            progress=(lambda d, t: progress("fid generated", d, t)) if progress else None)
        pr = precision_recall(real.feats, gen_feats, k=cfg.pr_k)
        result.update(precision=pr["precision"], recall=pr["recall"], pr_n_gen=pr["pr_n_gen"], pr_n_real=pr["pr_n_real"],
                      pr_features="Inception-2048", pr_k=cfg.pr_k)
        result.update(fid=fidlib.fid_from_features(gen_feats, real.feats), fid_n=len(gen_feats),
                      fid_real_n=real.n, fid_label=fidlib.fid_label(len(gen_feats), real.n),
                      fid_features=getattr(extractor, "description", fidlib.FEATURES_NAME),
                      fid_resize=fidlib.RESIZE_NOTE, fid_real_stats_cached=real.from_cache,
                      fid_real_fingerprint=real.fingerprint)
        if cfg.kid:
            result["kid"], result["kid_std"] = fidlib.kid(gen_feats, real.feats, subsets=100, subset_size=1000, seed=cfg.seed)
            result["kid_subset_size"] = min(1000, len(gen_feats), real.n)
        if cfg.cfid:
            cols_real = [list(cache.attribute_names).index(nm) for nm in loaded.attribute_names]
            result.update(conditional_fid(gen_feats, fc, real.feats, real.attrs[:, cols_real], loaded.attribute_names,
                                          min_count=cfg.cfid_min_count))
        seconds["inception"] = time.perf_counter() - clock - sum(seconds.values())

    # (6) What D learned: a linear probe on its features of real faces, beside a random-init D.
    if cfg.d_probe and cache is not None:
        from gan.metrics.probe import d_probe
        result.update(d_probe(load_checkpoint(path), cache, loaded.attribute_names, seed=cfg.seed))
        seconds["d_probe"] = time.perf_counter() - clock - sum(seconds.values())

    # (7) Flip response.
    if cfg.flip:
        result.update(flip_response(loaded, classifier, n=cfg.flip_n, seed=cfg.seed, batch=cfg.batch, progress=progress))
        seconds["flip"] = time.perf_counter() - clock - sum(seconds.values())
    result["seconds"] = {k: round(v, 2) for k, v in seconds.items()}

    result = jsonable(result)
    if append:
        record(path, result, cfg)
    return result


def record(path: Path, result: dict, cfg: EvalConfig) -> dict:
    """Append {date, settings, metrics} to the checkpoint's metrics_history (atomic rewrite) and, when the
    checkpoint sits in a run folder, one JSON line to its metrics.jsonl."""
    entry = {"date": now_iso(), "kind": "evaluate", "settings": jsonable(asdict(cfg)), "metrics": result}
    with RunLock(path.parent, "evaluate", hint=LOCK_HINT):  # never while a run (or another evaluate) may be saving this file
        ckpt = load_checkpoint(path)
        ckpt["metrics_history"] = list(ckpt.get("metrics_history", [])) + [entry]
        save_checkpoint(path, ckpt)
        if (path.parent / "status.json").exists():
            RunFolder(path.parent).append_metrics(entry)
    return entry


def is_shipped(path: str | Path) -> bool:
    """Whether `path` is one of the repository's shipped files (under checkpoints/): read-only unless asked."""
    real = Path(path).resolve()
    return paths.CHECKPOINTS_DIR.resolve() in real.parents


# ----------------------------------------------------------------------------- printing


def format_report(r: dict) -> str:
    """The human table: per attribute requested rate, accuracy, balanced accuracy, macro-F1, chance,
    shuffled floor and the classifier's real ceiling; then every distance labelled with its features and counts."""
    def f(v):
        return "   —  " if v is None else f"{v:6.3f}"

    names = r["attribute_names"]
    lines = [f"checkpoint {r['checkpoint']} (id {r['checkpoint_id']}, step {r['step']}), classifier {r['classifier']}",
             f"conditioning: {r['n']} generated images, conditions drawn from the training label distribution, seed {r['seed']}",
             f"{'attribute':20s} {'asked':>6s} {'acc':>6s} {'bal':>6s} {'F1mac':>6s} {'chance':>6s} {'floor':>6s} {'real':>6s}",
             ]
    real_bal = r.get("classifier_real_balanced_accuracy", {})
    for nm in names:
        lines.append(f"{nm:20s} {f(r['requested_rate'][nm])} {f(r['attr_accuracy'][nm])} {f(r['attr_balanced_accuracy'][nm])} "
                     f"{f(r['attr_f1'][nm])} {f(r['attr_accuracy_chance'][nm])} {f(r['shuffled_floor_balanced_accuracy'][nm])} "
                     f"{f(real_bal.get(nm))}")
    lines.append(f"{'mean':20s} {'':6s} {f(r['attr_accuracy_mean'])} {f(r['attr_balanced_accuracy_mean'])} {f(r['attr_f1_macro'])} "
                 f"{f(r['attr_accuracy_chance_mean'])} {f(r['shuffled_floor_balanced_accuracy_mean'])} "
                 f"{f(r.get('classifier_real_balanced_accuracy_mean'))}")
    lines.append("  acc/bal/F1mac: classifier reading vs request; chance: always the majority value; floor: balanced acc. "
                 "vs shuffled requests; real: classifier's balanced acc. on held-out real images (ceiling)")
    for q in r.get("requests", []):
        lines.append(f"request [{q['request']}] n={q['n']}: all fixed attributes shown {q['all_match']:.3f} "
                     f"(unasked floor {q['all_match_floor']:.3f})" + ("" if q["possible"] else " — no real image has this combination"))
    if "proxy_fd_classifier" in r:
        lines.append(f"{r['proxy_fd_classifier_label']}, {r['proxy_fd_n']} gen / {r['proxy_fd_real_n']} real: {r['proxy_fd_classifier']:.3f}")
    if "recall_classifier" in r:
        lines.append(f"precision / recall (k={r['pr_k']}, classifier features, {r['pr_classifier_n_gen']} gen / "
                     f"{r['pr_classifier_n_real']} real): {r['precision_classifier']:.3f} / {r['recall_classifier']:.3f}")
    if "intra_condition_diversity_ratio" in r:
        lines.append(f"intra-condition diversity ratio ({r['intra_condition_conditions']} conditions × {r['intra_condition_n']} "
                     f"faces, real: {r['intra_condition_real_source']}): face region {r['intra_condition_diversity_ratio']:.3f}, "
                     f"whole image {r['intra_condition_diversity_ratio_overall']:.3f}, classifier features "
                     f"{r.get('intra_condition_diversity_ratio_features', float('nan')):.3f}  (1 = as varied as real faces)")
    if "fid" in r:
        lines.append(f"{r['fid_label']} = {r['fid']:.2f}   [features: {r['fid_features']}; resize: {r['fid_resize']}; "
                     f"real statistics {'cached' if r['fid_real_stats_cached'] else 'computed'}]")
    if "recall" in r:
        lines.append(f"precision / recall (k={r['pr_k']}, Inception-2048, {r['pr_n_gen']} gen / {r['pr_n_real']} real): "
                     f"{r['precision']:.3f} / {r['recall']:.3f}")
    if "kid" in r:
        lines.append(f"KID(Inception-2048, {r['fid_n']} gen / {r['fid_real_n']} real, 100 subsets of {r['kid_subset_size']}) "
                     f"= {r['kid']:.5f} ± {r['kid_std']:.5f}")
    if "cfid" in r:
        lines.append(f"conditional FID (Inception-2048, {r['fid_n']} gen / {r['fid_real_n']} real, split per attribute): "
                     f"within-class {_num(r['cfid'])}, between-class {_num(r['cfid_between'])} over {r['cfid_attributes']} attributes"
                     + (f"; skipped {len(r['cfid_skipped'])} classes under {r['cfid_min_count']} samples "
                        f"({', '.join(r['cfid_skipped'][:4])}{', …' if len(r['cfid_skipped']) > 4 else ''})"
                        if r["cfid_skipped"] else ""))
    if "d_probe_balanced_accuracy_mean" in r:
        lines.append(f"D-feature linear probe on real faces ({r['d_probe_n_train']} train / {r['d_probe_n_test']} held out): "
                     f"balanced accuracy {r['d_probe_balanced_accuracy_mean']:.3f} (random-init D: "
                     f"{r['d_probe_random_balanced_accuracy_mean']:.3f})")
    if "flip_matrix" in r:
        lines.append(f"flip response (n={r['flip_n']} per attribute): diagonal mean {r['flip_diagonal_mean']:.3f}, "
                     f"off-diagonal mean {r['flip_offdiagonal_mean']:.3f}, correct flips {r['flip_correct_mean']:.3f}")
    lines += [f"note: {n}" for n in r.get("notes", [])]
    if r.get("seconds"):
        lines.append("time: " + ", ".join(f"{k} {v:.1f} s" for k, v in r["seconds"].items()))
    return "\n".join(lines)


def _num(v) -> str:
    return "—" if v is None else f"{v:.2f}"


def add_cli(subparsers) -> None:
    d = EvalConfig()
    p = subparsers.add_parser("evaluate", help="measure a generator checkpoint (conditioning accuracy, FID, …)",
                              description="Measure a generator; the result is appended to the checkpoint's metrics_history "
                                          "(not for the shipped checkpoints/ files unless --record).")
    p.add_argument("--ckpt", default=str(paths.DEFAULT_CHECKPOINT), help="generator checkpoint (default: %(default)s)")
    p.add_argument("--classifier", default=None, help="attribute classifier (default: checkpoints/default_classifier.pt "
                                                      "or another whose attributes match)")
    p.add_argument("--n", type=ct.int_range(1, 100_000), default=d.n, help="generated images for conditioning (default: %(default)s)")
    p.add_argument("--seed", type=ct.SEED, default=d.seed)
    p.add_argument("--batch", type=ct.int_range(1, 4096), default=d.batch)
    p.add_argument("--truncation", type=ct.float_range(0, 10), default=d.truncation)
    p.add_argument("--fid", action="store_true", help="FID on Inception-2048 features (~7 images/s on a CPU)")
    p.add_argument("--fid-n", type=ct.int_range(2, 100_000), default=None, help="generated images for FID/KID/cFID (default: --n)")
    p.add_argument("--fid-real-n", type=ct.int_range(2, 100_000), default=None, help="real images for the statistics (default: --fid-n)")
    p.add_argument("--kid", action="store_true", help="KID on the same features")
    p.add_argument("--cfid", action="store_true", help="conditional FID (within/between attribute classes)")
    p.add_argument("--flip", action="store_true", help="flip-response matrix")
    p.add_argument("--flip-n", type=ct.int_range(1, 100_000), default=d.flip_n)
    p.add_argument("--d-probe", action="store_true", help="linear probe on D's features of real faces (needs D in the checkpoint)")
    p.add_argument("--data", type=ct.data_spec, default=None, help="real images (--data spec; default: the checkpoint's dataset source)")
    p.add_argument("--request", action="append", default=[], help='hand-picked request, e.g. "Smiling, Male=0" (repeatable)')
    p.add_argument("--no-proxy", action="store_true", help="skip the classifier-feature proxy and precision/recall")
    p.add_argument("--no-diversity", action="store_true", help="skip the intra-condition diversity ratio")
    p.add_argument("--diversity-k", type=ct.int_range(1, 10_000), default=d.diversity_k, help="conditions for the diversity ratio (default: %(default)s)")
    p.add_argument("--diversity-n", type=ct.int_range(2, 10_000), default=d.diversity_n, help="faces per condition (default: %(default)s)")
    rec = p.add_mutually_exclusive_group()
    rec.add_argument("--record", dest="record", action="store_true", default=None,
                     help="append the result to the checkpoint's metrics_history (default: yes in run folders, "
                          "no for the shipped files under checkpoints/, which change only when you ask)")
    rec.add_argument("--no-record", "--no-append", dest="record", action="store_false",
                     help="do not rewrite the checkpoint")
    ct.add_device_option(p, d.device)
    p.add_argument("--json", action="store_true", help="print the result as one JSON object on the last line")
    p.set_defaults(func=_cli)


def _cli(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from gan.device import configure_threads

    configure_threads()
    cfg = EvalConfig(n=args.n, seed=args.seed, batch=args.batch, truncation=args.truncation, fid=args.fid,
                     fid_n=args.fid_n, fid_real_n=args.fid_real_n, kid=args.kid, cfid=args.cfid, flip=args.flip,
                     flip_n=args.flip_n, proxy=not args.no_proxy, diversity=not args.no_diversity,
                     diversity_k=args.diversity_k, diversity_n=args.diversity_n, d_probe=args.d_probe, data=args.data, requests=list(args.request),
                     device=args.device)
    bars: dict[str, tqdm] = {}

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=stage, file=sys.stderr, leave=False)
        bar.update(done - bar.n)

    record_it = args.record if args.record is not None else not is_shipped(args.ckpt)
    try:
        r = evaluate_checkpoint(args.ckpt, classifier=args.classifier, progress=progress, append=record_it, cfg=cfg)
    except (CheckpointError, FileNotFoundError, ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        for bar in bars.values():
            bar.close()
    print(format_report(r))
    if record_it:
        print(f"recorded in {args.ckpt} metrics_history")
    elif args.record is None:
        print(f"not recorded: {args.ckpt} is a shipped file (pass --record to append to its metrics_history)")
    if args.json:
        print(json.dumps(r))
    return 0
