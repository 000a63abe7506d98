"""Generation: deterministic latents, batched G_ema inference to uint8 images, grids, `python -m gan generate`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from gan import paths
from gan import cli_types as ct
from gan.attributes import UnknownAttributeError, parse_request
from gan.latents_file import save_latents_npz
from gan.pixels import tensor_to_images


def sample_z(n: int, z_dim: int, seed: int, truncation: float = 1.0) -> torch.Tensor:
    """n latents (n, z_dim) float32 from N(0, I) with their own generator seeded by `seed`, scaled by ψ."""
    g = torch.Generator().manual_seed(int(seed))
    return torch.randn(n, z_dim, generator=g) * float(truncation)


def truncation_split(G: torch.nn.Module, truncation: float) -> tuple[float, float]:
    """Where truncation ψ acts: (scale of z, ψ in W). A DCGAN scales z; a style generator normalises z, so there ψ
    pulls w toward the mean w of the face's condition instead (StyleGAN's truncation trick, per condition)."""
    return (1.0, float(truncation)) if hasattr(G, "mapping") else (float(truncation), 1.0)


def generate_images(G: torch.nn.Module, z: torch.Tensor, c: torch.Tensor | np.ndarray | None,
                    batch_size: int = 64, w_truncation: float = 1.0) -> np.ndarray:
    """Run G over (z, c) in batches; returns (N, H, W, 3) uint8. G should be in eval mode (G_ema).
    w_truncation ψ (style generators only): w ← mean_w(c) + ψ·(w − mean_w(c))."""
    device = next(G.parameters()).device
    z = torch.as_tensor(z, dtype=torch.float32)
    c = None if c is None else torch.as_tensor(c, dtype=torch.float32)
    for name, t in (("z", z), ("c", c)):  # NaN would come out as an undefined uint8 cast (a black face), silently
        if t is not None and not bool(torch.isfinite(t).all()):
            rows = torch.nonzero(~torch.isfinite(t.reshape(len(t), -1)).all(1)).flatten().tolist()
            raise ValueError(f"{name} holds NaN or infinite values (rows {rows[:8]}{' …' if len(rows) > 8 else ''}); "
                             f"refusing to generate from it")
    out = []
    with torch.inference_mode():
        for i in range(0, len(z), batch_size):
            cb = None if c is None else c[i:i + batch_size].to(device)
            zb = z[i:i + batch_size].to(device)
            if w_truncation != 1.0 and hasattr(G, "mapping"):
                from gan.style_generator import truncate
                img = G.synthesis(G.broadcast(truncate(G, G.mapping(zb, cb), cb, w_truncation)))
            else:
                img = G(zb, cb)                                          # (b, 3, H, W) in [-1, 1]
            out.append(tensor_to_images(img))                            # (b, H, W, 3) uint8
    return np.concatenate(out) if out else np.zeros((0, G.img_resolution, G.img_resolution, 3), np.uint8)


def image_grid(images: np.ndarray, nrow: int, pad: int = 2, pad_value: int = 0,
               row_labels: list[str] | None = None, label_width: int = 0) -> Image.Image:
    """Tile (N, H, W, 3) uint8 images into a PIL grid with `nrow` images per row (torchvision's convention).

    row_labels: optional text drawn in a left margin of `label_width` pixels (chosen automatically if 0)."""
    images = np.asarray(images)
    n, h, w = images.shape[:3]
    ncol = max(1, min(nrow, n))
    nrows = (n + ncol - 1) // ncol
    grid = np.full((pad + nrows * (h + pad), pad + ncol * (w + pad), 3), pad_value, np.uint8)
    for i in range(n):
        r, col = divmod(i, ncol)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[y:y + h, x:x + w] = images[i]
    img = Image.fromarray(grid)
    if row_labels:
        label_width = label_width or 6 * max(len(s) for s in row_labels) + 8
        canvas = Image.new("RGB", (img.width + label_width, img.height), (255, 255, 255))
        canvas.paste(img, (label_width, 0))
        draw = ImageDraw.Draw(canvas)
        for r, text in enumerate(row_labels[:nrows]):
            draw.text((4, pad + r * (h + pad) + h // 2 - 5), text, fill=(0, 0, 0))
        img = canvas
    return img


def main_generate(args: argparse.Namespace) -> int:
    from gan.checkpoint import CheckpointError, load_generator
    from gan.device import configure_threads, pick_device

    configure_threads()  # GAN_THREADS, else the idle cores
    try:
        gen = load_generator(args.ckpt, device=pick_device(args.device))
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        request = parse_request(args.attrs, gen.attribute_names)
    except UnknownAttributeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    # Latents: one seed, row i of its stream; attributes left as "any" drawn from the training labels.
    z_scale, w_psi = truncation_split(gen.G, args.truncation)
    z = sample_z(args.n, gen.z_dim, args.seed, z_scale)
    c, possible = gen.labels.fill(request, args.n, np.random.default_rng(args.seed))
    if not possible:
        print(f"warning: no training image has {request}; the other attributes come from the marginals", file=sys.stderr)
    images = generate_images(gen.G, z, c, w_truncation=w_psi)
    if w_psi != 1.0:
        print(f"note: ψ = {w_psi:g} acts in W (toward each condition's mean w); the .npz holds the untruncated z",
              file=sys.stderr)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    image_grid(images, nrow=args.nrow).save(out)
    npz = save_latents_npz(out.with_suffix(".npz"), z.numpy(), c, gen.attribute_names,
                           np.full(args.n, args.seed), np.arange(args.n), gen.checkpoint_id)
    print(f"wrote {out} and {npz} ({args.n} images, {request}, checkpoint {gen.checkpoint_id}, step {gen.step})")
    return 0


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("generate", help="generate a grid of faces from a checkpoint",
                              description="Generate faces with given attributes; writes OUT (PNG grid) and OUT.npz (latents).")
    p.add_argument("--ckpt", default=str(paths.DEFAULT_CHECKPOINT), help="generator checkpoint (default: %(default)s)")
    p.add_argument("--attrs", default="", help='attributes, e.g. "Smiling, Male=0, Eyeglasses=any"; unnamed ones are drawn '
                                               "from the training label distribution (default: all any)")
    p.add_argument("--n", type=ct.int_range(1, 4096), default=64, help="number of images (default: %(default)s)")
    p.add_argument("--nrow", type=ct.int_range(1, 4096), default=8, help="images per grid row (default: %(default)s)")
    p.add_argument("--seed", type=ct.SEED, default=0, help="latent and condition seed (default: %(default)s)")
    p.add_argument("--truncation", type=ct.float_range(0, 10), default=1.0, help="truncation ψ: scales z for a DCGAN, pulls w toward the condition's mean w for a style "
                   "generator; 1.0 = none (default: %(default)s)")
    ct.add_device_option(p)
    p.add_argument("--out", type=ct.output_file, default="grid.png", help="output PNG; latents go next to it as .npz (default: %(default)s)")
    p.set_defaults(func=main_generate)
