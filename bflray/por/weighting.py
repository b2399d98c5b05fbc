"""Aggregation by rank: PoR's replacement for FedAvg's unverifiable sample counts.

Given the ranks (1 = best) and reduced scores of the N validated classifiers, each rule
returns aggregation weights that sum to 1:

- ``top_k_mean``: the mean of the k best (k = ``top_k``; 0 means half, rounded up);
- ``rank_weighted``: weights ∝ N − rank + 1 (Borda weights);
- ``softmax``: weights ∝ exp(z / T), z the standardised reduced scores, T = ``temperature``
  (standardising makes T independent of the score's scale and of M).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from bflray.errors import ConfigError

RankRule = Literal["top_k_mean", "rank_weighted", "softmax"]


def rank_weights(
    ranks: np.ndarray, scores: np.ndarray, *, rule: str, top_k: int = 0, temperature: float = 1.0
) -> np.ndarray:
    """Aggregation weights (sum 1) of N ranked classifiers."""
    n = len(ranks)
    if n == 0:
        return np.zeros(0)
    if rule == "top_k_mean":
        k = top_k if top_k > 0 else -(-n // 2)
        weights = (ranks <= k).astype(np.float64)
    elif rule == "rank_weighted":
        weights = (n - ranks + 1).astype(np.float64)
    elif rule == "softmax":
        if temperature <= 0:
            raise ConfigError(f"por.temperature = {temperature}: must be > 0")
        spread = scores.std()
        z = (scores - scores.mean()) / spread if spread > 0 else np.zeros(n)
        weights = np.exp((z - z.max()) / temperature)
    else:
        raise ConfigError(f"por.aggregation = {rule!r}: known rules are top_k_mean, rank_weighted, softmax")
    return weights / weights.sum()
