"""Projection quality and cost: how closely G(z, c) redraws held-out faces, and how long one projection takes.

    python -m bench.bench_project                        # writes the "project" section of BENCHMARKS.md
    python -m bench.bench_project --n 16 --steps 100 --no-write

Two sets of held-out faces, each projected three ways (the encoder's start alone; that start + `--steps`
optimisation; z = 0 + the same optimisation, no encoder). With an encoder, each face starts from ẑ or z = 0,
whichever draws it closer (gan.project.start_latents); the last column says how often ẑ won.
  * generated faces G(z, c) with fresh z (true latent known): pixel MAE, classifier attribute agreement
    between target and reconstruction, latent error ‖ẑ − z‖²/z_dim (z = 0 scores 1.0, a random z 2.0) and
    whether the recovered c equals the true c;
  * real images of the checkpoint's dataset, test split (never trained on): pixel MAE, attribute agreement,
    and the classifier's reading of the reconstruction against the images' true labels.
Time: one face (batch 1) end to end on this machine, plus MTCNN detection on a 512×512 photo.
Batches of faces are projected together for the quality numbers; each face's loss is its own, so this
equals projecting them one by one.
"""
from __future__ import annotations

import argparse
import io
import time

import numpy as np
import torch

from bench.report import machine_line, write_section
from gan import paths
from gan.generate import generate_images, sample_z
from gan.pixels import images_to_tensor as to_tensor
from gan.project import prepare_photo, project, project_batch

HELD_OUT_SEED = 20_261_126  # latents of the generated test faces (training draws its own random z)


def _agree(clf, a: np.ndarray, b: np.ndarray) -> float:
    """Mean fraction of the classifier's attributes read the same on images a and b (N, R, R, 3) uint8."""
    pa, pb = clf.predict_proba(to_tensor(a)).numpy(), clf.predict_proba(to_tensor(b)).numpy()
    return float(((pa >= 0.5) == (pb >= 0.5)).mean())


def _label_acc(clf, images: np.ndarray, labels: np.ndarray, names) -> float:
    """Classifier reading of images vs true labels (only the generator's attributes)."""
    idx = [list(clf.attribute_names).index(n) for n in names]
    p = clf.predict_proba(to_tensor(images)).numpy()[:, idx]
    return float(((p >= 0.5) == (labels >= 0.5)).mean())


def _runs(gen, targets: np.ndarray, enc, clf, steps: int) -> dict[str, list]:
    """The three ways of projecting the same targets → {name: [ProjectionResult]}."""
    out = {}
    if enc is not None:
        out["encoder, no optimisation"] = project_batch(gen, targets, encoder=enc, classifier=clf, steps=0)
        out[f"encoder + {steps} steps"] = project_batch(gen, targets, encoder=enc, classifier=clf, steps=steps)
    start = "a fixed prior z" if hasattr(gen.G, "mapping") else "z = 0"  # see gan.project.start_latents
    out[f"{start} + {steps} steps"] = project_batch(gen, targets, classifier=clf, steps=steps)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", default=str(paths.DEFAULT_CHECKPOINT))
    ap.add_argument("--encoder", default="auto", help="encoder checkpoint, 'auto' or 'none'")
    ap.add_argument("--classifier", default="auto", help="classifier checkpoint or 'auto'")
    ap.add_argument("--data", default=None, help="real images (default: the checkpoint's dataset source)")
    ap.add_argument("--n", type=int, default=64, help="faces per set (default: %(default)s)")
    ap.add_argument("--steps", type=int, default=200, help="optimisation steps (default: %(default)s)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    ap.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from gan.checkpoint import load_generator
    from gan.data.prepare import open_source
    from gan.encoder import default_encoder_for, load_encoder
    from gan.metrics.classifier import default_classifier_for, load_classifier

    gen = load_generator(args.ckpt)
    enc_path = default_encoder_for(gen) if args.encoder == "auto" else (None if args.encoder == "none" else args.encoder)
    enc = load_encoder(enc_path, gen) if enc_path else None
    clf_path = default_classifier_for(gen) if args.classifier == "auto" else args.classifier
    if not clf_path:
        raise SystemExit("no attribute classifier for this checkpoint; train one: python -m gan classifier train")
    clf = load_classifier(clf_path)
    names, n = list(gen.attribute_names), args.n

    # Held-out generated faces: fresh z, c from the label distribution; the truth is known.
    z_true = sample_z(n, gen.z_dim, HELD_OUT_SEED)
    c_true = gen.labels.sample(n, np.random.default_rng(HELD_OUT_SEED))
    gen_targets = generate_images(gen.G, z_true, c_true)
    t0 = time.perf_counter()
    gen_runs = _runs(gen, gen_targets, enc, clf, args.steps)
    rows_gen = []
    for name, res in gen_runs.items():
        z_hat, c_hat = np.stack([r.z for r in res]), np.stack([r.c for r in res])
        rows_gen.append((name, np.mean([r.pixel_error for r in res]), np.mean([r.attr_agreement for r in res]),
                         float(((z_hat - z_true.numpy()) ** 2).mean()), float(((c_hat >= 0.5) == (c_true >= 0.5)).mean()),
                         np.mean([r.start == "encoder" for r in res])))
    z_rand = sample_z(n, gen.z_dim, HELD_OUT_SEED + 1)  # reference: a random face with the true condition
    rand_imgs = generate_images(gen.G, z_rand, c_true)
    rand_mae = float(np.abs(rand_imgs.astype(np.int16) - gen_targets).mean())
    rand_agree = _agree(clf, gen_targets, rand_imgs)
    zero_imgs = generate_images(gen.G, torch.zeros_like(z_true), c_true)
    zero_mae = float(np.abs(zero_imgs.astype(np.int16) - gen_targets).mean())
    print(f"generated set done ({time.perf_counter() - t0:.0f} s)", flush=True)

    # Held-out real images: the dataset's test split at the generator's resolution.
    cache = open_source(args.data or gen.dataset.get("source") or "synthetic:2000", size=gen.img_resolution)
    test = cache.indices("test")
    test = test[np.random.default_rng(0).permutation(len(test))[:n]]
    real = np.asarray(cache.images[np.sort(test)])
    real_labels = cache.attrs[np.sort(test)][:, [list(cache.attribute_names).index(a) for a in names]]
    t0 = time.perf_counter()
    real_runs = _runs(gen, real, enc, clf, args.steps)
    rows_real = []
    for name, res in real_runs.items():
        recon = np.stack([r.reconstruction for r in res])
        c_hat = np.stack([r.c for r in res])
        rows_real.append((name, np.mean([r.pixel_error for r in res]), np.mean([r.attr_agreement for r in res]),
                          _label_acc(clf, recon, real_labels, names), float(((c_hat >= 0.5) == real_labels).mean()),
                          np.mean([r.start == "encoder" for r in res])))
    clf_real_acc = _label_acc(clf, real, real_labels, names)
    print(f"real set done ({time.perf_counter() - t0:.0f} s)", flush=True)

    # Time: one face, batch 1, as the page and the CLI run it; and MTCNN on a 512×512 photo.
    from PIL import Image
    from skimage import data

    buf = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buf, format="PNG")
    photo = buf.getvalue()
    prepare_photo(photo, gen.dataset.get("crop"), gen.img_resolution)  # load MTCNN once
    t0 = time.perf_counter()
    face = prepare_photo(photo, gen.dataset.get("crop"), gen.img_resolution)[0].crop
    t_detect = time.perf_counter() - t0
    times, times0 = [], []
    for i in range(3):
        times.append(project(gen, real[i], encoder=enc, classifier=clf, steps=args.steps).seconds)
        if enc is not None:
            times0.append(project(gen, real[i], encoder=enc, classifier=clf, steps=0).seconds)
    astro = project(gen, face, encoder=enc, classifier=clf, steps=args.steps)

    enc_desc = f"`{enc_path}` ({enc.metrics.get('n', '?')} held-out pairs at training: z MSE {enc.metrics.get('z_mse', float('nan')):.3f})" if enc else "none"
    md = [
        "## Projection (photo → latent)", "",
        f"`python -m bench.bench_project --n {n} --steps {args.steps}` — generator `{args.ckpt}` "
        f"(`{gen.checkpoint_id}`, step {gen.step}, {gen.img_resolution}px, z_dim {gen.z_dim}), encoder {enc_desc}, "
        f"classifier `{clf_path}`. {machine_line()}, {torch.get_num_threads()} torch threads.", "",
        f"**Held-out generated faces** (n = {n}, fresh z, true latent known). References: a random z with the true c "
        f"scores pixel MAE {rand_mae:.1f} and attribute agreement {rand_agree:.3f}; z = 0 with the true c scores pixel MAE "
        f"{zero_mae:.1f}; latent error of z = 0 is 1.0, of a random z 2.0.", "",
        "| projection | pixel MAE (0–255) | attribute agreement | latent error ‖ẑ−z‖²/d | c recovered | started from ẑ |",
        "|---|---|---|---|---|---|",
        *[f"| {a} | {b:.2f} | {c:.3f} | {d:.3f} | {e:.3f} | {f:.0%} |" for a, b, c, d, e, f in rows_gen], "",
        f"**Held-out real images** ({cache.manifest.get('source')} test split, n = {len(real)}). The classifier reads "
        f"the real images' true labels with accuracy {clf_real_acc:.3f} (its ceiling).", "",
        "| projection | pixel MAE (0–255) | attribute agreement | classifier on reconstruction vs true labels | c vs true labels | started from ẑ |",
        "|---|---|---|---|---|---|",
        *[f"| {a} | {b:.2f} | {c:.3f} | {d:.3f} | {e:.3f} | {f:.0%} |" for a, b, c, d, e, f in rows_real], "",
        f"**Time** (one face, batch 1): {args.steps} steps {np.median(times):.2f} s"
        + (f", encoder alone {np.median(times0) * 1000:.0f} ms" if times0 else "")
        + f"; MTCNN on the 512×512 astronaut {t_detect * 1000:.0f} ms. The astronaut: pixel MAE {astro.pixel_error:.1f} "
          f"(start {astro.start_pixel_error:.1f}), attributes agree {astro.attr_agree[0]} of {astro.attr_agree[1]}.",
    ]
    text = "\n".join(md)
    print(text)
    if not args.no_write:
        write_section("project", text)


if __name__ == "__main__":
    main()
