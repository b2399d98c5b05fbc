"""Geometric median by the smoothed Weiszfeld algorithm (Pillutla, Kakade, Harchaoui, 2022,
"Robust Aggregation for Federated Learning", RFA).

The weighted geometric median minimises the weighted sum of (unsquared) distances,

    z* = argmin_z Σ_i α_i ‖z − x_i‖,     α_i = w_i / Σ_j w_j,

which has breakdown point ½: fewer than half the weight cannot drag it arbitrarily far.
Smoothed Weiszfeld iterates a reweighted mean, starting from the weighted mean,

    β_i = α_i / max(ν, ‖z − x_i‖),     z ← Σ_i β_i x_i / Σ_i β_i,

where ν = ``smoothing`` > 0 keeps the weights finite when z lands on an update. It stops
after ``max_iterations`` or once the objective changes by at most ``tolerance`` times its
value. Hospitals with weight 0 take no part.
"""

from __future__ import annotations

import numpy as np

from bflray.aggregation._arrays import ArrayInput, Float64Array, Updates, as_per_hospital, as_updates, keep_weighted, restore
from bflray.aggregation._checks import check_int, check_positive
from bflray.aggregation.fedavg import weighted_mean


def geometric_median(
    updates: Updates,
    weights: ArrayInput,
    *,
    max_iterations: int = 100,
    tolerance: float = 1e-6,
    smoothing: float = 1e-6,
) -> Updates:
    """Weighted geometric median of ``updates`` (N × D) by smoothed Weiszfeld."""
    iterations = check_int("max_iterations", max_iterations, minimum=1)
    tol = check_positive("tolerance", tolerance)
    nu = check_positive("smoothing", smoothing)
    x = as_updates(updates)
    x, w = keep_weighted(x, as_per_hospital("weights", weights, x.shape[0]))
    return restore(weiszfeld(x, w, max_iterations=iterations, tolerance=tol, smoothing=nu), updates)


def weiszfeld(x: Float64Array, weights: Float64Array, *, max_iterations: int, tolerance: float, smoothing: float) -> Float64Array:
    """Smoothed Weiszfeld iterations from the weighted mean (float64 core)."""
    alpha = weights / weights.sum()
    z = weighted_mean(x, alpha)
    distances = np.linalg.norm(x - z, axis=1)
    objective = float(alpha @ distances)
    for _ in range(max_iterations):
        beta = alpha / np.maximum(distances, smoothing)
        z = weighted_mean(x, beta)
        distances = np.linalg.norm(x - z, axis=1)
        previous, objective = objective, float(alpha @ distances)
        if abs(previous - objective) <= tolerance * objective:
            break
    return z
