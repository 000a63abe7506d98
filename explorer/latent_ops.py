"""The latent maths the pages use (owned by gan.latent), so pages import explorer/ only."""
from __future__ import annotations

import numpy as np

from gan.latent import (apply_direction, condition_arithmetic, cosine_similarity_matrix, interpolation_path,
                        latent_arithmetic, orthogonalize, pca_map, score_direction)

__all__ = ["apply_direction", "condition_arithmetic", "cosine_similarity_matrix", "interpolation_path",
           "latent_arithmetic", "orthogonalize", "pca_map", "score_direction", "w_path_recipe", "path_exports"]


def w_path_recipe(model, fa, fb, steps: int) -> dict:
    """The gan.recipe `interpolate` recipe of a straight W path between two faces (replayable bit for bit); a face
    with a stored w (explorer.faces.Face) starts or ends the path there, others at mapping(z, c)."""
    from gan.recipe import floats, make

    def end(f) -> dict:
        return {"z": floats(f.z), "c": floats(f.c), "w": None if f.w is None else floats(f.w)}

    return make("interpolate", model.checkpoint_id, space="w", steps=int(steps), a=end(fa), b=end(fb))


def path_exports(frames: np.ndarray, steps: int, recipe: dict | None) -> tuple[bytes, bytes]:
    """(strip PNG, animated GIF) of an interpolation path, carrying its recipe when there is one."""
    from explorer.faces import gif_bytes, grid_png
    from gan.generate import image_grid
    from gan.recipe import gif_with_recipe, png_with_recipe

    if recipe is None:
        return grid_png(frames, steps), gif_bytes(frames, scale=max(1, 128 // frames.shape[1]))
    return png_with_recipe(np.asarray(image_grid(frames, nrow=steps)), recipe), gif_with_recipe(frames, recipe)
