"""FedAvg (McMahan et al., 2017, "Communication-Efficient Learning of Deep Networks from
Decentralized Data"): the new global model is the sample-weighted mean of the updates,

    w = Σ_i n_i w_i / Σ_i n_i.

Accumulated in float64 in hospital order, so the result does not depend on how hospitals
were packed into actors.
"""

from __future__ import annotations

import numpy as np

from bflray.errors import BflrayError


class AggregationError(BflrayError, ValueError):
    """Updates or weights cannot be aggregated as given."""


def fedavg(updates: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted mean of ``updates`` (N × D) with non-negative ``weights`` (N,)."""
    updates = np.asarray(updates)
    weights = np.asarray(weights, dtype=np.float64)
    if updates.ndim != 2 or weights.shape != (updates.shape[0],):
        raise AggregationError(f"updates {updates.shape} and weights {weights.shape} do not match")
    if np.any(weights < 0) or not np.isfinite(weights).all():
        raise AggregationError("weights must be finite and non-negative")
    total = weights.sum()
    if total <= 0:
        raise AggregationError(f"weights sum to {total}; at least one update needs weight")
    aggregate: np.ndarray = (weights @ updates.astype(np.float64)) / total
    return aggregate
