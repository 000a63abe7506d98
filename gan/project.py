"""Projection: a photo into the latent space — find faces (MTCNN), crop them like the training data, and
optimise (z, c) so that G(z, c) redraws the face. (Just over ~400 lines on purpose: detect, crop, start, optimise
and report share ProjectionResult and read best in one file, in order.)

    faces = prepare_photo(photo, gen.dataset.get("crop"), gen.img_resolution)   # [FaceCandidate], best first
    res = project(gen, faces[0].crop, encoder=enc, classifier=clf, steps=200)  # ProjectionResult
    res.z, res.c, res.reconstruction, res.pixel_error, res.summary()

Start: of z ∈ {the encoder's ẑ (one forward pass, gan/encoder.py; pulled back to the prior's shell), 0} and
c ∈ {the attribute classifier's reading of the photo (trained on real images), the encoder's ĉ (trained on
this generator's faces)}, the pair whose image is closest to the photo (without either network: z = 0 and the
most common training label row). Then Adam (lr 0.02 from ẑ, 0.05 from z = 0) on z (and, with optimise_c, on c
through sigmoid logits so it stays in [0, 1]) minimising
    pixel (L1 or L2 on [-1, 1]) + feature_weight · relative MSE of the attribute classifier's features
    + prior_weight · mean(z²)
— the classifier stands in for a perceptual network, so nothing is downloaded.

Cropping: a checkpoint trained on MTCNN crops gets the same mode; everything else (the synthetic faces, crop
"none", and centre-cropped aligned CelebA) gets `mtcnn-context`, the face box widened to 2× its size, so hair
and background are in frame like the training images (synthetic faces measure 1.1–2.0×, typically ~1.7×, their
MTCNN box).

`python -m gan project --ckpt CKPT photo.jpg [--face K] [--steps N] [--out DIR]` writes original.png,
reconstruction.png, error.png, comparison.png and latents.npz.
"""
from __future__ import annotations

import argparse
import io
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from gan import paths
from gan import cli_types as ct
from gan.data.imagefiles import DEFAULT_MAX_PIXELS, ImageFileError, open_image
from gan.pixels import images_to_tensor, tensor_to_images
from gan.schedule import cosine_decay

MAX_PHOTO_BYTES = 20 * 1024 * 1024     # uploads / files larger than this are refused before decoding
MAX_PHOTO_PIXELS = DEFAULT_MAX_PIXELS  # decoded size cap (checked from the header, see gan.data.imagefiles)
MAX_FACES = 8                          # candidates offered from one photo
MIN_PHOTO_SIDE = 40                    # MTCNN looks for faces of 20+ pixels; smaller photos cannot hold one
ERROR_VMAX = 96.0                      # error heatmaps saturate at this absolute difference (0–255 scale)


class PhotoError(ValueError):
    """A photo that cannot be projected (not an image, too large, no face); the message is for the user."""


# ----------------------------------------------------------------------------- photo → face crops


@dataclass
class FaceCandidate:
    """One face found in a photo, cropped to the generator's framing and resolution."""

    box: tuple[float, float, float, float]  # MTCNN box x1, y1, x2, y2 in photo pixels
    prob: float                             # MTCNN confidence
    crop: np.ndarray                        # (size, size, 3) uint8
    mode: str                               # crop mode used


def photo_crop_mode(manifest_crop: str | None) -> str:
    """The MTCNN crop that matches a checkpoint's training framing (see the module docstring)."""
    return "mtcnn-face" if (manifest_crop or "").strip().lower() == "mtcnn-face" else "mtcnn-context"


def load_photo(src, max_bytes: int = MAX_PHOTO_BYTES, max_pixels: int = MAX_PHOTO_PIXELS) -> Image.Image:
    """Decode a path / bytes / file object / PIL image / (H, W, 3) uint8 array into RGB, or raise PhotoError."""
    if isinstance(src, Image.Image):
        return src.convert("RGB")
    if isinstance(src, np.ndarray):
        if src.ndim != 3 or src.shape[2] != 3 or src.dtype != np.uint8:
            raise PhotoError(f"expected an (H, W, 3) uint8 RGB array, got {src.shape} {src.dtype}")
        return Image.fromarray(src)
    if hasattr(src, "read"):
        src = src.read(max_bytes + 1)
    size = len(src) if isinstance(src, (bytes, bytearray, memoryview)) else (Path(src).stat().st_size if Path(src).is_file() else 0)
    if size > max_bytes:
        raise PhotoError(f"The file is too large ({size / 2**20:.1f} MB; the limit is {max_bytes / 2**20:.0f} MB).")
    try:
        return open_image(src, max_pixels=max_pixels)
    except ImageFileError as e:
        if e.reason == "not an image":
            raise PhotoError("This file is not an image (JPEG, PNG, WebP, BMP … expected).") from None
        if e.reason.startswith("too large"):
            raise PhotoError(f"The image is too large to process {e.reason[len('too large'):].strip()}.") from None
        raise PhotoError(f"The image cannot be read: {e}.") from None


def prepare_photo(image, manifest_crop_mode: str | None, size: int, max_faces: int = MAX_FACES,
                  device=None) -> list[FaceCandidate]:
    """Faces in a photo, most confident first, each cropped like the checkpoint's training data at size×size;
    `device` is where face detection runs (None: the CPU).

    image: anything load_photo accepts. Raises PhotoError when it is not a usable image or has no face."""
    from gan.data.crop import DETECT_MAX_SIDE, crop_face, detect_faces

    img = load_photo(image)
    if min(img.size) * min(1.0, DETECT_MAX_SIDE / max(img.size)) < MIN_PHOTO_SIDE:  # as MTCNN will see it
        raise PhotoError(f"The image is too small or too narrow ({img.width}×{img.height}) to hold a face; use a photo "
                         f"at least {MIN_PHOTO_SIDE} pixels on its short side and not much wider than tall.")
    mode = photo_crop_mode(manifest_crop_mode)
    try:
        faces = detect_faces(img, device=device)[:max_faces]
    except (ValueError, RuntimeError) as e:  # MTCNN on unusual shapes (extreme aspect ratios)
        raise PhotoError(f"Face detection failed on this image ({e}).") from None
    if not faces:
        raise PhotoError("No face found in this photo. Try a photo where one face is clearly visible, "
                         "facing the camera, at least ~40 pixels across.")
    return [FaceCandidate(tuple(box), float(p), np.asarray(crop_face(img, box, mode, size), np.uint8), mode)
            for box, p in faces]


# ----------------------------------------------------------------------------- projection


@dataclass
class ProjectionResult:
    """A projected face: its latent (z, c), the redrawn face and how close it is."""

    z: np.ndarray                  # (z_dim,) float32
    c: np.ndarray                  # (c_dim,) float32 in [0, 1]
    reconstruction: np.ndarray     # (R, R, 3) uint8 = G(z, c)
    target: np.ndarray             # (R, R, 3) uint8, the face that was projected
    loss_curve: list[float]        # total loss per step
    pixel_error: float             # mean |reconstruction − target| on the 0–255 scale
    start_pixel_error: float       # the same for the starting point (encoder / zero z)
    attr_agreement: float | None   # fraction of the classifier's attributes read the same on both (None: no classifier)
    seconds: float                 # wall time of the whole projection
    start: str = "zero"            # where z started: "encoder" (ẑ), "zero", "seed" (style G) or "given"
    attribute_names: tuple[str, ...] = ()                       # the classifier's attributes
    target_probs: np.ndarray | None = None                      # (K,) classifier P on the target
    recon_probs: np.ndarray | None = None                       # (K,) classifier P on the reconstruction
    steps: int = 0                                              # optimisation steps run

    @property
    def attr_agree(self) -> tuple[int, int] | None:
        """(attributes read the same, attributes read) or None without a classifier."""
        if self.target_probs is None:
            return None
        same = (self.target_probs >= 0.5) == (self.recon_probs >= 0.5)
        return int(same.sum()), int(len(same))

    def error_map(self, vmax: float = ERROR_VMAX) -> np.ndarray:
        return error_heatmap(self.target, self.reconstruction, vmax)

    def summary(self) -> str:
        """A plain statement of how close the reconstruction is."""
        where = START_NAMES.get(self.start, self.start)
        s = (f"Mean pixel error {self.pixel_error:.1f} on a 0–255 scale (starting from {where}: "
             f"{self.start_pixel_error:.1f}; {self.steps} steps, {self.seconds:.1f} s)")
        agree = self.attr_agree
        if agree is not None:
            s += f"; the attribute classifier agrees on {agree[0]} of {agree[1]} attributes"
        return s + "."


def _classifier_reads(classifier, names) -> bool:
    return classifier is not None and set(names) <= set(classifier.attribute_names)


# How each start reads on a page or in a report.
START_NAMES = {"encoder": "the encoder's guess", "zero": "z = 0", "seed": "a fixed z from the prior", "given": "the given z"}


def start_latents(gen, target: torch.Tensor, encoder=None, classifier=None) -> tuple[list[tuple[str, torch.Tensor]], list[torch.Tensor]]:
    """Candidate starts for targets (B, 3, R, R) in [-1, 1]: [(kind, z (B, z_dim))], [c (B, c_dim) multi-hot].
    project_batch keeps, per face, the (z, c) pair that redraws it best.

    z: 0 (the prior's mean; for a style generator, whose mapping normalises z, a fixed draw from the prior) and the
    encoder's ẑ, pulled back to the prior's shell (mean ẑ² ≤ 1) — on photos unlike
    the generated faces it was trained on, the encoder extrapolates to latents G draws as noise.
    c: the attribute classifier's reading (when it reads all the generator's attributes; trained on real images,
    it reads photos best) and the encoder's ĉ (trained on this generator's faces, it reads those best); with
    neither, the most common training condition."""
    b = len(target)
    if hasattr(gen.G, "mapping"):  # a style G normalises z: 0 has no direction (its first step lands anywhere)
        from gan.generate import sample_z
        zs = [("seed", sample_z(1, gen.z_dim, 0).expand(b, -1).clone())]   # one fixed draw from the prior
    else:
        zs = [("zero", torch.zeros(b, gen.z_dim))]
    cs = []
    if encoder is not None:
        z, c_prob = encoder.predict(target)
        zs.append(("encoder", z / z.pow(2).mean(1, keepdim=True).sqrt().clamp_min(1.0)))  # (B, z_dim), mean z² ≤ 1
        cs.append((c_prob >= 0.5).float())
    if _classifier_reads(classifier, gen.attribute_names):
        p = classifier.predict_proba(target)                                  # (B, K_clf)
        idx = [list(classifier.attribute_names).index(n) for n in gen.attribute_names]
        cs.append((p[:, idx] >= 0.5).float())
    if not cs:
        mode_row = gen.labels.rows[int(np.argmax(gen.labels.counts))]       # most common training condition
        cs.append(torch.from_numpy(np.tile(mode_row.astype(np.float32), (b, 1))))
    return zs, cs


def project_batch(gen, images: np.ndarray, encoder=None, classifier=None, steps: int = 200, lr: float | None = None,
                  optimise_c: bool = False, pixel_loss: str = "l1", feature_weight: float = 0.1,
                  prior_weight: float = 1e-3, z_init=None, c_init=None,
                  progress: Callable[[int, int, float], object] | None = None) -> list[ProjectionResult]:
    """Project B faces at once (B, R, R, 3) uint8; each face's loss is its own, so this equals B separate
    projections (Adam is per element). lr: Adam's step size on z; None = 0.02 for faces starting from the
    encoder's ẑ, 0.05 from z = 0.
    progress(step, steps, mean loss) is called after every step."""
    t0 = time.perf_counter()
    images = np.asarray(images)
    r = gen.img_resolution
    if images.ndim != 4 or images.shape[1:] != (r, r, 3) or images.dtype != np.uint8:
        raise ValueError(f"expected (B, {r}, {r}, 3) uint8 faces at the generator's resolution, got {images.shape} {images.dtype}")
    if pixel_loss not in ("l1", "l2"):
        raise ValueError(f"pixel_loss must be 'l1' or 'l2', got {pixel_loss!r}")
    device = next(gen.G.parameters()).device
    target = images_to_tensor(images).to(device)                            # (B, 3, R, R)
    b = len(target)

    # Reconstruction loss: pixels + the classifier's penultimate features (relative MSE) + a pull to the prior.
    use_feat = classifier is not None and feature_weight > 0
    if use_feat:
        from gan.metrics.classifier import resize

        feat = lambda x: classifier.net.features(resize(x, classifier.input_size).to(classifier.device))  # noqa: E731
        with torch.no_grad():
            f_target = feat(target)                                           # (B, F)
            f_scale = f_target.pow(2).mean(1).clamp_min(1e-6)                 # (B,)

    def losses(z: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        img = gen.G(z, c)                                                     # (B, 3, R, R)
        diff = img - target
        per = (diff.abs() if pixel_loss == "l1" else diff.pow(2)).mean((1, 2, 3))  # (B,)
        if use_feat:
            per = per + feature_weight * (feat(img) - f_target).pow(2).mean(1) / f_scale
        return per + prior_weight * z.pow(2).mean(1), img

    # Start (see start_latents): explicit inits win; of the candidate (z, c) pairs each face keeps the one whose
    # image is closest to it. kinds[i]: where face i's z starts ("encoder", "zero", "seed", "given").
    zs, cs = start_latents(gen, target.cpu(), encoder, classifier)
    if z_init is not None:
        zs = [("given", torch.as_tensor(np.asarray(z_init, np.float32)).reshape(b, gen.z_dim))]
    if c_init is not None:
        cs = [torch.as_tensor(np.asarray(c_init, np.float32)).reshape(b, gen.c_dim)]
    pairs = [(zc.to(device), cc.to(device)) for _, zc in zs for cc in cs]
    pick, rows = torch.zeros(b, dtype=torch.long, device=device), torch.arange(b, device=device)
    if len(pairs) > 1:
        with torch.no_grad():
            pick = torch.stack([losses(zc, cc)[0] for zc, cc in pairs]).argmin(0)  # (B,) best of (n_pairs, B)
    z0 = torch.stack([zc for zc, _ in pairs])[pick, rows]                    # (B, z_dim)
    c0 = torch.stack([cc for _, cc in pairs])[pick, rows]                    # (B, c_dim)
    kinds = [zs[int(k) // len(cs)][0] for k in pick]

    # Parameters: z = z0 + step_i · δ with Adam (lr 1) on δ, i.e. Adam on z with a step size per face — 0.02
    # refines an encoder's guess, 0.05 travels from z = 0 (or `lr` for all). c through sigmoid logits, so
    # it stays in [0, 1]; a multi-hot start becomes logits ±3.9 (0.02 / 0.98).
    step_size = torch.tensor([lr if lr is not None else (0.02 if k == "encoder" else 0.05) for k in kinds],
                             device=device)[:, None]                         # (B, 1)
    delta = torch.zeros_like(z0, requires_grad=True)
    c_logit = torch.logit(c0.clamp(0.02, 0.98)).requires_grad_(optimise_c)
    latents = lambda: (z0 + step_size * delta, torch.sigmoid(c_logit) if optimise_c else c0)  # noqa: E731
    c_step = lr if lr is not None else 0.05
    opt = torch.optim.Adam([{"params": [delta], "lr": 1.0}] + ([{"params": [c_logit], "lr": c_step}] if optimise_c else []),
                           betas=(0.9, 0.99))
    sched = cosine_decay(opt, lambda step: step / max(1, steps), floor=0.1)  # big moves first, then settle

    z, c = latents()
    with torch.no_grad():
        start_img = gen.G(z, c)
    best_loss = torch.full((b,), float("inf"), device=device)
    best_z, best_c = z.detach().clone(), c.detach().clone()
    curve: list[list[float]] = []
    for step in range(steps):
        z, c = latents()
        per, _ = losses(z, c)                                                 # (B,)
        with torch.no_grad():  # keep each face's best (z, c) so far (the loss is evaluated before the update)
            better = per < best_loss
            best_loss = torch.where(better, per, best_loss)
            best_z[better], best_c[better] = z[better], c[better]
        opt.zero_grad(set_to_none=True)
        per.sum().backward()
        opt.step()
        sched.step()
        curve.append(per.detach().cpu().tolist())
        if progress is not None:
            progress(step + 1, steps, float(per.detach().mean()))
    with torch.no_grad():  # the final step's update may be the best of all
        z, c = latents()
        per, _ = losses(z, c)
        better = per < best_loss
        best_z[better], best_c[better] = z[better], c[better]
        recon = gen.G(best_z, best_c)
    seconds = time.perf_counter() - t0

    # Judge: pixel error on 0–255, and whether the classifier reads the same attributes on both faces.
    recon_u8, start_u8 = tensor_to_images(recon), tensor_to_images(start_img)
    err = np.abs(recon_u8.astype(np.int16) - images.astype(np.int16)).mean((1, 2, 3))
    err0 = np.abs(start_u8.astype(np.int16) - images.astype(np.int16)).mean((1, 2, 3))
    p_t = p_r = None
    if classifier is not None:
        p_t, p_r = classifier.predict_proba(target).numpy(), classifier.predict_proba(images_to_tensor(recon_u8)).numpy()
    curve_t = np.asarray(curve).T if curve else np.zeros((b, 0))              # (B, steps)
    out = []
    for i in range(b):
        agree = None if p_t is None else float(((p_t[i] >= 0.5) == (p_r[i] >= 0.5)).mean())
        out.append(ProjectionResult(
            z=best_z[i].cpu().numpy().astype(np.float32), c=best_c[i].cpu().numpy().astype(np.float32),
            reconstruction=recon_u8[i], target=images[i].copy(), loss_curve=[float(v) for v in curve_t[i]],
            pixel_error=float(err[i]), start_pixel_error=float(err0[i]), attr_agreement=agree, seconds=seconds,
            start=kinds[i], attribute_names=tuple(classifier.attribute_names) if classifier is not None else (),
            target_probs=None if p_t is None else p_t[i], recon_probs=None if p_r is None else p_r[i], steps=steps))
    return out


def project(gen, image: np.ndarray, encoder=None, classifier=None, steps: int = 200, lr: float | None = None,
            optimise_c: bool = False, progress: Callable[[int, int, float], object] | None = None,
            **kwargs) -> ProjectionResult:
    """Project one face (R, R, 3) uint8 at the generator's resolution; see project_batch for the options."""
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"expected one (R, R, 3) uint8 face, got shape {image.shape}")
    return project_batch(gen, image[None], encoder, classifier, steps, lr, optimise_c, progress=progress, **kwargs)[0]


# ----------------------------------------------------------------------------- pictures of the result


def error_heatmap(target: np.ndarray, recon: np.ndarray, vmax: float = ERROR_VMAX) -> np.ndarray:
    """|recon − target| averaged over RGB as a (H, W, 3) uint8 heat map: black 0 → red → yellow → white ≥ vmax."""
    err = np.abs(recon.astype(np.float32) - target.astype(np.float32)).mean(-1)  # (H, W) on 0–255
    t = np.clip(err / vmax, 0, 1)
    anchors = np.array([0, 0.33, 0.66, 1.0])
    colours = np.array([[0, 0, 0], [180, 20, 30], [250, 200, 40], [255, 255, 255]], np.float32)
    rgb = np.stack([np.interp(t, anchors, colours[:, k]) for k in range(3)], -1)
    return rgb.round().astype(np.uint8)


def comparison_image(result: ProjectionResult, scale: int = 4) -> Image.Image:
    """original | reconstruction | error, side by side, enlarged `scale`× (nearest, so pixels stay honest)."""
    row = np.concatenate([result.target, result.reconstruction, result.error_map()], axis=1)
    im = Image.fromarray(row)
    return im.resize((im.width * scale, im.height * scale), Image.NEAREST)


def png_bytes(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


# ----------------------------------------------------------------------------- CLI


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("project", help="project a photo's face into the latent space",
                              description="Find faces in a photo, crop one like the training data and optimise (z, c) so "
                                          "G(z, c) redraws it. Writes original/reconstruction/error PNGs and latents.npz.")
    p.add_argument("photo", help="photo file (JPEG, PNG, …)")
    p.add_argument("--ckpt", default=str(paths.DEFAULT_CHECKPOINT), help="generator checkpoint (default: %(default)s)")
    p.add_argument("--face", type=ct.int_range(0, 1000), default=0, help="which face, 0 = most confident (default: %(default)s)")
    p.add_argument("--steps", type=ct.int_range(0, 100_000), default=200, help="optimisation steps (default: %(default)s)")
    p.add_argument("--lr", type=ct.float_range(0, 10, lo_open=True), default=None, help="Adam learning rate on z (default: 0.02 from the encoder's start, 0.05 from z = 0)")
    p.add_argument("--optimise-c", action="store_true", help="also optimise the condition c (kept in [0, 1])")
    p.add_argument("--crop", choices=("auto", "none"), default="auto",
                   help="auto: MTCNN face crop matching the checkpoint's data; none: the image's centre square (already framed)")
    p.add_argument("--encoder", default="auto", help="encoder checkpoint, 'auto' (one trained for this generator) or 'none'")
    p.add_argument("--classifier", default="auto", help="attribute classifier, 'auto' or 'none'")
    p.add_argument("--out", type=ct.output_dir, default="projection", help="output folder (default: %(default)s)")
    ct.add_device_option(p)
    p.set_defaults(func=_cli_project)


def _cli_project(args: argparse.Namespace) -> int:
    from gan.checkpoint import CheckpointError, load_generator
    from gan.device import configure_threads, pick_device
    from gan.encoder import default_encoder_for, load_encoder
    from gan.latents_file import save_latents_npz
    from gan.metrics.classifier import default_classifier_for, load_classifier

    configure_threads()
    try:
        device = pick_device(args.device)
        gen = load_generator(args.ckpt, device=device)
        enc_path = default_encoder_for(gen) if args.encoder == "auto" else (None if args.encoder == "none" else args.encoder)
        encoder = load_encoder(enc_path, gen) if enc_path else None
        clf_path = default_classifier_for(gen) if args.classifier == "auto" else (None if args.classifier == "none" else args.classifier)
        classifier = load_classifier(clf_path, device=device) if clf_path else None
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        if args.crop == "none":
            from gan.data.crop import center_crop

            face = np.asarray(center_crop(load_photo(args.photo), gen.img_resolution), np.uint8)
            n_faces = 1
        else:
            faces = prepare_photo(args.photo, gen.dataset.get("crop"), gen.img_resolution, device=device)
            if not 0 <= args.face < len(faces):
                print(f"error: --face {args.face}: the photo has {len(faces)} face(s) (0–{len(faces) - 1})", file=sys.stderr)
                return 2
            face, n_faces = faces[args.face].crop, len(faces)
    except PhotoError as e:
        print(f"error: {args.photo}: {e}", file=sys.stderr)
        return 2
    print(f"{n_faces} face(s); projecting face {args.face} with checkpoint {gen.checkpoint_id}, "
          f"start {'encoder ' + Path(enc_path).name if encoder else 'zero z'}, "
          f"classifier {Path(clf_path).name if classifier else 'none'}", file=sys.stderr)
    res = project(gen, face, encoder=encoder, classifier=classifier, steps=args.steps, lr=args.lr,
                  optimise_c=args.optimise_c)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    Image.fromarray(res.target).save(out / "original.png")
    Image.fromarray(res.reconstruction).save(out / "reconstruction.png")
    Image.fromarray(res.error_map()).save(out / "error.png")
    comparison_image(res).save(out / "comparison.png")
    save_latents_npz(out / "latents.npz", res.z[None], res.c[None], gen.attribute_names, [-1], [0], gen.checkpoint_id)
    print(res.summary())
    print(f"wrote {out}/original.png, reconstruction.png, error.png, comparison.png, latents.npz")
    return 0
