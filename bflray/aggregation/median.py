"""Coordinate-wise median (Yin, Chen, Ramchandran, Bartlett, 2018, "Byzantine-Robust
Distributed Learning: Towards Optimal Statistical Rates"; also the SMPC paper's
Δ_k^med = median(Δ_1k, …, Δ_nk)).

Every coordinate k of the aggregate is the median of the n values x_1k, …, x_nk, each
coordinate on its own; with an even n it is the mean of the two middle values. Fewer than
half the updates, however far off, cannot move it outside the range of the honest values.

With ``weighted=True`` it is the weighted median instead: the smallest value at which the
cumulative weight reaches half the total, averaged with the next value when it lands on half
exactly (so equal weights give the ordinary median back). Hospitals with weight 0 take no
part either way.
"""

from __future__ import annotations

import numpy as np

from bflray.aggregation._arrays import ArrayInput, Float64Array, Updates, as_per_hospital, as_updates, keep_weighted, restore


def median(updates: Updates, weights: ArrayInput, *, weighted: bool = False) -> Updates:
    """Coordinate-wise median of ``updates`` (N × D) over the hospitals with positive weight."""
    x = as_updates(updates)
    x, w = keep_weighted(x, as_per_hospital("weights", weights, x.shape[0]))
    result: Float64Array = weighted_median(x, w) if weighted else np.median(x, axis=0)
    return restore(result, updates)


def weighted_median(x: Float64Array, weights: Float64Array) -> Float64Array:
    """Coordinate-wise weighted median of the rows of ``x`` with positive ``weights``."""
    n = x.shape[0]
    order = np.argsort(x, axis=0, kind="stable")
    values = np.take_along_axis(x, order, axis=0)
    cumulative = np.cumsum(weights[order], axis=0)
    half = cumulative[-1] / 2.0
    # A relative tolerance so that equal weights summing to half in float arithmetic count
    # as landing on half exactly.
    slack = 1e-12 * cumulative[-1]
    first = np.argmax(cumulative >= half - slack, axis=0)
    columns = np.arange(x.shape[1])
    on_half = np.abs(cumulative[first, columns] - half) <= slack
    following = np.minimum(first + 1, n - 1)
    low = values[first, columns]
    high = values[following, columns]
    result: Float64Array = np.where(on_half, (low + high) / 2.0, low)
    return result
