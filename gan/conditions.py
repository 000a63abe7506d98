"""Condition vectors: sampling from a dataset's label distribution and filling partial requests."""
from __future__ import annotations

import numpy as np

from gan.attributes import ANY, AttributeRequest


class LabelDistribution:
    """Empirical joint distribution of attribute vectors: unique rows (M, K) uint8 with counts (M,)."""

    def __init__(self, rows: np.ndarray, counts: np.ndarray, names: tuple[str, ...]):
        self.rows = np.asarray(rows, dtype=np.uint8)
        self.counts = np.asarray(counts, dtype=np.int64)
        self.names = tuple(names)
        if self.rows.ndim != 2 or self.rows.shape[1] != len(self.names) or len(self.rows) != len(self.counts):
            raise ValueError(f"label table shape {self.rows.shape} / counts {self.counts.shape} / {len(self.names)} names disagree")

    @classmethod
    def from_labels(cls, attrs: np.ndarray, names: tuple[str, ...]) -> "LabelDistribution":
        rows, counts = np.unique(np.asarray(attrs, dtype=np.uint8), axis=0, return_counts=True)
        return cls(rows, counts, names)

    @property
    def frequencies(self) -> np.ndarray:
        """Marginal P(attribute = 1), shape (K,)."""
        w = self.counts / max(1, self.counts.sum())
        return (self.rows * w[:, None]).sum(0)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n label vectors (n, K) float32 drawn from the joint distribution."""
        p = self.counts / self.counts.sum()
        return self.rows[rng.choice(len(self.rows), size=n, p=p)].astype(np.float32)

    def fill(self, request: AttributeRequest, n: int, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
        """n condition vectors honouring `request`, with ANY entries drawn from the joint distribution
        conditioned on the fixed ones. Returns (c (n, K) float32, possible); possible is False when no
        real row matches the fixed values (then ANY entries come from the marginals)."""
        if tuple(request.names) != self.names:
            raise ValueError("request and label distribution use different attribute lists")
        fixed = request.values != ANY
        match = np.all(self.rows[:, fixed] == request.values[fixed], axis=1) if fixed.any() else np.ones(len(self.rows), bool)
        if match.any():
            counts = self.counts * match
            c = self.rows[rng.choice(len(self.rows), size=n, p=counts / counts.sum())].astype(np.float32)
            return c, True
        c = (rng.random((n, len(self.names))) < self.frequencies).astype(np.float32)
        c[:, fixed] = request.values[fixed]
        return c, False
