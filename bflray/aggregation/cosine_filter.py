"""Cosine-similarity filtering (the SMPC paper, Reddy & Hannah, section 2.4, "Cosine
Similarity Filtering"; the idea of trusting an update by its direction follows FLTrust,
Cao, Fang, Liu, Gong, 2021, "FLTrust: Byzantine-robust Federated Learning via Trust
Bootstrapping").

The paper defines sim(Δ_i, Δ_j) = Δ_i·Δ_j / (‖Δ_i‖ ‖Δ_j‖) and rejects updates whose similarity
is below a threshold of 0, without saying what each update is compared with. Here the rule is
defined on the pairwise N × N similarity matrix S alone, because that is what secure aggregation
can compute on shares and reveal: update i's score is the median of its similarities to the
others,

    score(i) = median_{j ≠ i} S_ij,

and the updates with score(i) ≥ τ = ``threshold`` are kept (a single update is kept). While
honest updates are the majority and point roughly the same way, an honest update's median
partner is honest, and an update pointing against them scores below 0. The rule returns the
weighted mean of the kept updates.

With a ``reference`` vector (FLTrust's server update on clean data, or the previous global
update) the score is instead cos(x_i, reference). A zero update has no direction: its
similarity to anything is 0. If no update passes, the rule raises rather than guess.
"""

from __future__ import annotations

import numpy as np
import torch

from bflray.aggregation._arrays import (
    ArrayInput,
    Float64Array,
    IndexArray,
    Updates,
    as_per_hospital,
    as_square,
    as_updates,
    as_vector,
    keep_weighted,
    restore,
)
from bflray.aggregation._checks import check_real
from bflray.aggregation.errors import AggregationError
from bflray.aggregation.fedavg import weighted_mean
from bflray.aggregation.pairwise import pairwise_cosine_similarities, unit_rows

# Rows of the similarity matrix scored at once: a block × N copy stays around 32 MiB.
_BLOCK_ELEMENTS = 1 << 22


def cosine_filter(
    updates: Updates,
    weights: ArrayInput,
    *,
    threshold: float = 0.0,
    reference: ArrayInput | None = None,
) -> Updates:
    """Weighted mean of the updates whose cosine score reaches ``threshold``."""
    x = as_updates(updates)
    x, w = keep_weighted(x, as_per_hospital("weights", weights, x.shape[0]))
    kept = select_cosine_updates(x, threshold=threshold, reference=reference)
    return restore(weighted_mean(x[kept], w[kept]), updates)


def select_cosine(similarities: ArrayInput, *, threshold: float = 0.0) -> IndexArray:
    """Sorted indices whose median similarity to the others reaches ``threshold``, from S alone."""
    tau = check_threshold(threshold)
    scores = median_similarity_to_others(as_square("similarities", similarities))
    return _passing(scores, tau)


def select_cosine_to_reference(
    updates: np.ndarray | torch.Tensor, reference: ArrayInput, *, threshold: float = 0.0
) -> IndexArray:
    """Sorted indices of the updates whose cosine with ``reference`` reaches ``threshold``."""
    tau = check_threshold(threshold)
    x = as_updates(updates)
    r = as_vector("reference", reference, x.shape[1])
    units, _ = unit_rows(x)
    norm = float(np.linalg.norm(r))
    scores = units @ (r / norm) if norm > 0 else np.zeros(x.shape[0])
    return _passing(scores, tau)


def select_cosine_updates(x: Float64Array, *, threshold: float, reference: ArrayInput | None) -> IndexArray:
    """The kept rows of ``x``: by the pairwise median score, or against ``reference`` when given."""
    if reference is None:
        return select_cosine(pairwise_cosine_similarities(x), threshold=threshold)
    return select_cosine_to_reference(x, reference, threshold=threshold)


def check_threshold(threshold: float) -> float:
    """A cosine threshold must lie in [−1, 1]."""
    return check_real("threshold", threshold, low=-1.0, high=1.0)


def median_similarity_to_others(similarities: Float64Array) -> Float64Array:
    """Each row's median over its off-diagonal entries (1 for a single update)."""
    n = similarities.shape[0]
    if n == 1:
        return np.ones(1)
    scores = np.empty(n)
    block = max(1, _BLOCK_ELEMENTS // n)
    for start in range(0, n, block):
        stop = min(n, start + block)
        rows = similarities[start:stop].copy()
        # The diagonal entry is pushed past every similarity and dropped after sorting.
        rows[np.arange(stop - start), np.arange(start, stop)] = np.inf
        scores[start:stop] = np.median(np.sort(rows, axis=1)[:, : n - 1], axis=1)
    return scores


def _passing(scores: Float64Array, threshold: float) -> IndexArray:
    kept: IndexArray = np.flatnonzero(scores >= threshold)
    if kept.size == 0:
        raise AggregationError(
            f"no update reaches the cosine threshold={threshold}; the best score is {float(scores.max()):.4g}"
        )
    return kept
