"""Centered clipping (Karimireddy, He, Jaggi, 2021, "Learning from History for Byzantine
Robust Optimization").

Starting from a centre v₀ = ``center`` (in the paper, the previous round's aggregate, i.e. the
server momentum), repeat L = ``iterations`` times

    v_{l+1} = v_l + Σ_i w_i (x_i − v_l) min(1, τ / ‖x_i − v_l‖) / Σ_i w_i,

with τ = ``radius`` > 0: each update pulls the centre towards itself by at most τ, so f
Byzantine updates move it by at most about (f/n) τ per iteration however large they are. The
paper finds L = 1 enough when the centre carries momentum. Hospitals with weight 0 take no part.
"""

from __future__ import annotations

from bflray.aggregation._arrays import ArrayInput, Float64Array, Updates, as_per_hospital, as_updates, as_vector, keep_weighted, restore
from bflray.aggregation._checks import check_int, check_positive
from bflray.aggregation.fedavg import weighted_mean
from bflray.aggregation.norm_bounding import clip_rows


def centered_clipping(
    updates: Updates,
    weights: ArrayInput,
    *,
    center: ArrayInput,
    radius: float,
    iterations: int = 1,
) -> Updates:
    """Centered clipping of ``updates`` (N × D) around ``center`` (D,) with clipping ``radius``."""
    tau = check_positive("radius", radius)
    rounds = check_int("iterations", iterations, minimum=1)
    x = as_updates(updates)
    v = as_vector("center", center, x.shape[1])
    x, w = keep_weighted(x, as_per_hospital("weights", weights, x.shape[0]))
    return restore(clip_around(x, w, center=v, radius=tau, iterations=rounds), updates)


def clip_around(x: Float64Array, weights: Float64Array, *, center: Float64Array, radius: float, iterations: int) -> Float64Array:
    """The centered-clipping iterations (float64 core)."""
    v = center
    for _ in range(iterations):
        v = v + weighted_mean(clip_rows(x - v, radius), weights)
    return v
