"""Krum (Blanchard, El Mhamdi, Guerraoui, Stainer, 2017, "Machine Learning with Adversaries:
Byzantine Tolerant Gradient Descent").

With n updates of which at most f = ``num_byzantine`` are Byzantine, the score of update i is
the sum of its squared distances to its n − f − 2 nearest other updates,

    s(i) = Σ_{j ∈ N_i} ‖x_i − x_j‖²,     N_i = the n − f − 2 closest j ≠ i,

and Krum returns the update with the smallest score. It needs n > 2f + 2. An update far from
the others pays for its distance to at least n − 2f − 1 ≥ 2 honest updates, so it never wins
against an honest cluster.

The selection only needs the N × N matrix of squared distances, which secure aggregation can
reveal instead of the updates: :func:`select_krum` works on that matrix alone. Ties in score
are broken by the total distance to all others, then by index. Hospitals with weight 0 take
no part (and do not count in n); the weights play no other role.
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
from bflray.aggregation.pairwise import pairwise_squared_distances

_BLOCK_ELEMENTS = 1 << 22


def krum(updates: Updates, weights: ArrayInput, *, num_byzantine: int) -> Updates:
    """The update of ``updates`` (N × D) with the smallest Krum score, tolerating ``num_byzantine``."""
    f = check_int("num_byzantine", num_byzantine, minimum=0)
    x = as_updates(updates)
    x, _ = keep_weighted(x, as_per_hospital("weights", weights, x.shape[0]))
    chosen = select_krum(pairwise_squared_distances(x), num_byzantine=f)
    # A copy: x may be the caller's own array, and the aggregate must not alias it.
    return restore(x[chosen].copy(), updates)


def select_krum(sq_distances: ArrayInput, *, num_byzantine: int) -> int:
    """Index of the update with the smallest Krum score, from the N × N squared distances."""
    d = as_square("sq_distances", sq_distances)
    f = check_int("num_byzantine", num_byzantine, minimum=0)
    check_krum_bound(d.shape[0], f, rule="Krum")
    return int(rank_by_krum_score(d, num_neighbours=d.shape[0] - f - 2)[0])


def check_krum_bound(n: int, num_byzantine: int, *, rule: str) -> None:
    """Krum's scores need n − f − 2 ≥ 1 neighbours: n > 2f + 2."""
    if n <= 2 * num_byzantine + 2:
        raise AggregationError(
            f"num_byzantine={num_byzantine} needs n > 2f+2 = {2 * num_byzantine + 2} for {rule}, got n={n}"
        )


def krum_scores(sq_distances: Float64Array, *, num_neighbours: int) -> Float64Array:
    """Each row's sum of its ``num_neighbours`` smallest off-diagonal entries."""
    n = sq_distances.shape[0]
    k = min(num_neighbours, n - 1)
    scores = np.zeros(n)
    if k <= 0:
        return scores
    # Blocks of rows keep the working copy near 32 MiB even for N = 10,000.
    block = max(1, _BLOCK_ELEMENTS // n)
    for start in range(0, n, block):
        stop = min(n, start + block)
        rows = sq_distances[start:stop].copy()
        rows[np.arange(stop - start), np.arange(start, stop)] = np.inf
        nearest = np.partition(rows, k - 1, axis=1)[:, :k]
        # Sorted before summing so a score does not depend on where its neighbours sit in the row.
        scores[start:stop] = np.sort(nearest, axis=1).sum(axis=1)
    return scores


def rank_by_krum_score(sq_distances: Float64Array, *, num_neighbours: int) -> IndexArray:
    """All indices, best Krum score first; ties by total distance to all others, then index."""
    n = sq_distances.shape[0]
    scores = krum_scores(sq_distances, num_neighbours=num_neighbours)
    totals = sq_distances.sum(axis=1)
    order: IndexArray = np.lexsort((np.arange(n), totals, scores))
    return order
