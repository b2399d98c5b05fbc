"""Reputation weighting (the SMPC paper, Reddy & Hannah, section 2.4, "Reputation-Based
Weighting": Δ_global = Σ_i R_i Δ_i / Σ_i R_i, R_i the on-chain reputation of hospital i).

Combined with the sample weights w_i:

    x̄ = Σ_i w_i r_i x_i / Σ_i w_i r_i,     r_i = ``reputation[i]`` ≥ 0.

Pass equal weights for the paper's formula exactly. With public reputations this is a weighted
sum, so it runs on additive secret shares.
"""

from __future__ import annotations

from bflray.aggregation._arrays import ArrayInput, Updates
from bflray.aggregation.fedavg import scaled_fedavg


def reputation_weighted(updates: Updates, weights: ArrayInput, *, reputation: ArrayInput) -> Updates:
    """Mean of ``updates`` (N × D) weighted by ``weights`` × ``reputation`` (both (N,), non-negative)."""
    return scaled_fedavg(updates, weights, factor_name="reputation", factors=reputation)
