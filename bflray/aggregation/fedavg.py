"""FedAvg (McMahan et al., 2017, "Communication-Efficient Learning of Deep Networks from
Decentralized Data"): the new global update is the weighted mean of the hospitals' updates,

    x̄ = Σ_i w_i x_i / Σ_i w_i,

with w_i ≥ 0 (usually sample counts). Accumulated in float64 in hospital order, so the result
does not depend on how hospitals were packed into actors. It is a weighted sum with public
weights, so it can run on additive secret shares.

:func:`weighted_mean` is the float64 core that the other mean-based rules reuse.
"""

from __future__ import annotations

from bflray.aggregation._arrays import ArrayInput, Float64Array, Updates, as_per_hospital, as_updates, restore
from bflray.aggregation.errors import AggregationError

__all__ = ["AggregationError", "fedavg", "scaled_fedavg", "weighted_mean"]


def weighted_mean(x: Float64Array, weights: Float64Array) -> Float64Array:
    """Σ w_i x_i / Σ w_i over the rows of a float64 matrix; raises if the weights sum to 0."""
    total = float(weights.sum())
    if not total > 0:
        raise AggregationError(f"weights sum to {total}; at least one update needs positive weight")
    mean: Float64Array = (weights @ x) / total
    return mean


def fedavg(updates: Updates, weights: ArrayInput) -> Updates:
    """Weighted mean of ``updates`` (N × D) with finite non-negative ``weights`` (N,).

    Parameters
    ----------
    updates:
        One row per hospital, numpy array or torch tensor.
    weights:
        One non-negative weight per hospital; they must not all be 0.

    Returns
    -------
    The aggregate (D,), numpy float64 for numpy input, a tensor of the input's device and
    dtype for torch input.
    """
    x = as_updates(updates)
    w = as_per_hospital("weights", weights, x.shape[0])
    return restore(weighted_mean(x, w), updates)


def scaled_fedavg(updates: Updates, weights: ArrayInput, *, factor_name: str, factors: ArrayInput) -> Updates:
    """FedAvg with each weight multiplied by a per-hospital factor: Σ w_i r_i x_i / Σ w_i r_i.

    The shared body of reputation and stake weighting; ``factor_name`` names the factors in errors.
    """
    x = as_updates(updates)
    w = as_per_hospital("weights", weights, x.shape[0])
    r = as_per_hospital(factor_name, factors, x.shape[0])
    effective = w * r
    total = float(effective.sum())
    if not total > 0:
        raise AggregationError(
            f"weights × {factor_name} sum to {total}; at least one update needs positive weight and {factor_name}"
        )
    return restore(weighted_mean(x, effective), updates)
