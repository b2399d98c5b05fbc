"""Coordinate-wise trimmed mean (Yin, Chen, Ramchandran, Bartlett, 2018, "Byzantine-Robust
Distributed Learning: Towards Optimal Statistical Rates"; the SMPC paper's "the highest and
lowest β % of values are removed before averaging").

For each coordinate k, sort x_1k, …, x_nk, drop the ⌊βn⌋ smallest and the ⌊βn⌋ largest, and
average the rest; β = ``trim_fraction`` ∈ [0, ½). β = 0 is the plain mean, β → ½ the median.

With ``weighted=True`` the trimming is by weight instead of by count: along each sorted
coordinate, the first and the last β W of the total weight W are cut (a hospital straddling a
cut keeps only its part inside), and the remaining (1 − 2β) W of weight is averaged. Equal
weights and an integer βn give the unweighted rule back; as β → ½ it tends to the weighted
median. Hospitals with weight 0 take no part either way.
"""

from __future__ import annotations

import numpy as np

from bflray.aggregation._arrays import ArrayInput, Float64Array, Updates, as_per_hospital, as_updates, keep_weighted, restore
from bflray.aggregation._checks import check_real


def trimmed_mean(updates: Updates, weights: ArrayInput, *, trim_fraction: float = 0.1, weighted: bool = False) -> Updates:
    """Coordinate-wise β-trimmed mean of ``updates`` (N × D), β = ``trim_fraction`` from each side."""
    beta = check_trim_fraction(trim_fraction)
    x = as_updates(updates)
    x, w = keep_weighted(x, as_per_hospital("weights", weights, x.shape[0]))
    result = weighted_trimmed_mean(x, w, trim_fraction=beta) if weighted else count_trimmed_mean(x, trim_fraction=beta)
    return restore(result, updates)


def check_trim_fraction(trim_fraction: float) -> float:
    """β must lie in [0, ½): at ½ nothing would be left to average."""
    return check_real("trim_fraction", trim_fraction, low=0.0, high=0.5, open_high=True)


def count_trimmed_mean(x: Float64Array, *, trim_fraction: float) -> Float64Array:
    """Drop ⌊βn⌋ values from each end of every sorted coordinate and average the rest."""
    n = x.shape[0]
    cut = int(np.floor(trim_fraction * n))
    if cut == 0:
        result: Float64Array = x.mean(axis=0)
        return result
    ordered = np.sort(x, axis=0)
    result = ordered[cut : n - cut].mean(axis=0)
    return result


def weighted_trimmed_mean(x: Float64Array, weights: Float64Array, *, trim_fraction: float) -> Float64Array:
    """Cut β W of weight from each end of every sorted coordinate and average the remaining weight."""
    order = np.argsort(x, axis=0, kind="stable")
    values = np.take_along_axis(x, order, axis=0)
    sorted_weights = weights[order]
    upto = np.cumsum(sorted_weights, axis=0)
    total = upto[-1]
    lower = trim_fraction * total
    upper = total - lower
    # Each sorted value covers the weight interval (upto − w, upto]; keep its part in (lower, upper].
    kept = np.minimum(upto, upper) - np.maximum(upto - sorted_weights, lower)
    np.maximum(kept, 0.0, out=kept)
    result: Float64Array = (kept * values).sum(axis=0) / kept.sum(axis=0)
    return result
