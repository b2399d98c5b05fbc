"""Stake weighting: each hospital's update counts in proportion to the tokens it has staked,
as in stake-based blockchain FL (e.g. FLock's staked participants):

    x̄ = Σ_i w_i s_i x_i / Σ_i w_i s_i,     s_i = ``stake[i]`` ≥ 0.

Pass equal weights to weight by stake alone. With public stakes this is a weighted sum, so it
runs on additive secret shares.
"""

from __future__ import annotations

from bflray.aggregation._arrays import ArrayInput, Updates
from bflray.aggregation.fedavg import scaled_fedavg


def stake_weighted(updates: Updates, weights: ArrayInput, *, stake: ArrayInput) -> Updates:
    """Mean of ``updates`` (N × D) weighted by ``weights`` × ``stake`` (both (N,), non-negative)."""
    return scaled_fedavg(updates, weights, factor_name="stake", factors=stake)
