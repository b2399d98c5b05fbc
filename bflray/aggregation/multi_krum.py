"""Multi-Krum (Blanchard, El Mhamdi, Guerraoui, Stainer, 2017, "Machine Learning with
Adversaries: Byzantine Tolerant Gradient Descent", section 4).

Score every update once with Krum's score (the sum of squared distances to its n − f − 2
nearest others, f = ``num_byzantine``), keep the m = ``num_selected`` updates with the smallest
scores (m = n − f by default), and return their weighted mean

    x̄ = Σ_{i ∈ S} w_i x_i / Σ_{i ∈ S} w_i.

m = 1 is Krum; m = n is FedAvg. It needs n > 2f + 2 and 1 ≤ m ≤ n. The selection works on
the revealed N × N squared-distance matrix alone (:func:`select_multi_krum`), and the mean
over the selected set is a weighted sum with public weights, so the whole rule runs under
secure aggregation. Hospitals with weight 0 take no part and do not count in n.
"""

from __future__ import annotations

import numpy as np

from bflray.aggregation._arrays import ArrayInput, IndexArray, Updates, as_per_hospital, as_square, as_updates, keep_weighted, restore
from bflray.aggregation._checks import check_int
from bflray.aggregation.errors import AggregationError
from bflray.aggregation.fedavg import weighted_mean
from bflray.aggregation.krum import check_krum_bound, rank_by_krum_score
from bflray.aggregation.pairwise import pairwise_squared_distances


def multi_krum(updates: Updates, weights: ArrayInput, *, num_byzantine: int, num_selected: int | None = None) -> Updates:
    """Weighted mean of the ``num_selected`` updates with the best Krum scores."""
    f = check_int("num_byzantine", num_byzantine, minimum=0)
    x = as_updates(updates)
    x, w = keep_weighted(x, as_per_hospital("weights", weights, x.shape[0]))
    chosen = select_multi_krum(pairwise_squared_distances(x), num_byzantine=f, num_selected=num_selected)
    return restore(weighted_mean(x[chosen], w[chosen]), updates)


def select_multi_krum(sq_distances: ArrayInput, *, num_byzantine: int, num_selected: int | None = None) -> IndexArray:
    """Sorted indices of the ``num_selected`` (default n − f) updates with the best Krum scores."""
    d = as_square("sq_distances", sq_distances)
    n = d.shape[0]
    f = check_int("num_byzantine", num_byzantine, minimum=0)
    check_krum_bound(n, f, rule="multi-Krum")
    m = n - f if num_selected is None else check_int("num_selected", num_selected, minimum=1)
    if m > n:
        raise AggregationError(f"num_selected={m} cannot exceed the number of updates n={n}")
    chosen: IndexArray = np.sort(rank_by_krum_score(d, num_neighbours=n - f - 2)[:m])
    return chosen
