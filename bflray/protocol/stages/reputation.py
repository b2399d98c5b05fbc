"""The reputation stage of the smpc pipeline (SMPC paper, Algorithm 2 steps 6-7 and Sec. 2.5):
each participant's performance goes on chain, where the ``Reputation`` contract updates its
reputation and aggregation weight and punishes a degradation (reputation cut, weight cut,
suspension at the strike limit).

A participant's performance is whether its delta agrees with the cohort: 1 when its
``agreement`` (the cosine similarity of its delta to the sum of the others' the filters kept,
from the Gram matrix the aggregation nodes reveal) reaches ``reputation.min_agreement``, else 0. A
hospital that agreed before and does not now has degraded and is punished (a strike; suspended
at ``reputation.max_strikes``); one that keeps disagreeing sees its reputation, and so its weight
in the reputation-weighted sum, decay by α each round. Selection filters do not count: multi-Krum
drops f updates every round, honest ones too.
"""

from __future__ import annotations

import numpy as np

from bflray.protocol.stages.chain_plan import federation_of
from bflray.protocol.state import RoundState, RunContext


def performances(agreement: np.ndarray, *, min_agreement: float) -> np.ndarray:
    """Performance in {0, 1} per participant: its agreement reaches ``min_agreement`` (NaN: 0)."""
    return (np.nan_to_num(np.asarray(agreement, dtype=np.float64), nan=-1.0) >= min_agreement).astype(np.float64)


class ReputationStage:
    name = "reputation"

    def __call__(self, state: RoundState, ctx: RunContext) -> None:
        fed = federation_of(ctx)
        ids = state.require_updates().hospital_ids
        if not len(ids):
            return
        perf = performances(state.hospital_columns["agreement"], min_agreement=ctx.config.reputation.min_agreement)
        state.receipts += fed.update_reputation(state.round, {int(h): float(p) for h, p in zip(ids, perf, strict=True)})
        state.hospital_columns["performance"] = perf
        reputation = np.asarray(fed.reputations([int(h) for h in ids]), dtype=np.float64) / 1e18
        state.hospital_columns["reputation"] = reputation
        state.record["mean_reputation"] = float(reputation.mean())
