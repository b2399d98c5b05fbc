"""Bulyan (El Mhamdi, Guerraoui, Rouault, 2018, "The Hidden Vulnerability of Distributed
Learning in Byzantium").

With n updates of which at most f = ``num_byzantine`` are Byzantine, and n ≥ 4f + 3:

1. Selection: apply Krum θ = n − 2f times, each time to the updates not yet chosen, and move
   the winner into the selected set S (|S| = θ).
2. Aggregation: for every coordinate k, take the β = θ − 2f values x_ik, i ∈ S, closest to
   their median and average them.

Step 1 bounds how far a selected update can be; step 2 bounds each coordinate, which Krum
alone does not. Krum on the shrinking remainder keeps the paper's n' − f − 2 neighbours, but
at least one, so that the last picks (n' ≤ f + 2) are still made by closeness rather than by
index. Step 1 only needs the squared-distance matrix (:func:`select_bulyan`); step 2 is
coordinate-wise on the updates, so the rule needs them in the clear. It is unweighted; hospitals
with weight 0 take no part and do not count in n. Step 1 costs θ Krum rounds on up to n
updates, O(n³) in all: meant for a few hundred updates, not ten thousand.
"""

from __future__ import annotations

import numpy as np

from bflray.aggregation._arrays import (
    ArrayInput,
    Float64Array,
    IndexArray,
    Updates,
    as_per_hospital,
    as_square,
    as_updates,
    keep_weighted,
    restore,
)
from bflray.aggregation._checks import check_int
from bflray.aggregation.errors import AggregationError
from bflray.aggregation.krum import rank_by_krum_score
from bflray.aggregation.pairwise import pairwise_squared_distances


def bulyan(updates: Updates, weights: ArrayInput, *, num_byzantine: int) -> Updates:
    """Bulyan over ``updates`` (N × D) tolerating ``num_byzantine`` Byzantine updates."""
    f = check_int("num_byzantine", num_byzantine, minimum=0)
    x = as_updates(updates)
    x, _ = keep_weighted(x, as_per_hospital("weights", weights, x.shape[0]))
    selected = x[select_bulyan(pairwise_squared_distances(x), num_byzantine=f)]
    return restore(closest_to_median_mean(selected, count=selected.shape[0] - 2 * f), updates)


def select_bulyan(sq_distances: ArrayInput, *, num_byzantine: int) -> IndexArray:
    """Sorted indices of the θ = n − 2f updates chosen by repeated Krum on the remainder."""
    d = as_square("sq_distances", sq_distances)
    n = d.shape[0]
    f = check_int("num_byzantine", num_byzantine, minimum=0)
    if n < 4 * f + 3:
        raise AggregationError(f"num_byzantine={f} needs n ≥ 4f+3 = {4 * f + 3} for Bulyan, got n={n}")
    remaining = np.arange(n)
    chosen: list[int] = []
    for _ in range(n - 2 * f):
        sub = d[np.ix_(remaining, remaining)]
        best = int(rank_by_krum_score(sub, num_neighbours=max(len(remaining) - f - 2, 1))[0])
        chosen.append(int(remaining[best]))
        remaining = np.delete(remaining, best)
    result: IndexArray = np.sort(np.asarray(chosen, dtype=np.intp))
    return result


def closest_to_median_mean(x: Float64Array, *, count: int) -> Float64Array:
    """Per coordinate, the mean of the ``count`` values closest to that coordinate's median."""
    deviation = np.abs(x - np.median(x, axis=0))
    nearest = np.argsort(deviation, axis=0, kind="stable")[:count]
    # Sorted values before the mean: the result must not depend on the order of equal deviations.
    values = np.sort(np.take_along_axis(x, nearest, axis=0), axis=0)
    result: Float64Array = values.mean(axis=0)
    return result
