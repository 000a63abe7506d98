"""The latent maths the pages use (owned by gan.latent), so pages import explorer/ only."""
from __future__ import annotations

from gan.latent import (apply_direction, condition_arithmetic, cosine_similarity_matrix, interpolation_path,
                        latent_arithmetic, orthogonalize, pca_map, score_direction)

__all__ = ["apply_direction", "condition_arithmetic", "cosine_similarity_matrix", "interpolation_path",
           "latent_arithmetic", "orthogonalize", "pca_map", "score_direction"]
