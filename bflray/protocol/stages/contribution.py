"""The contribution stage of the dp_bfl pipeline (DP-BFL paper, Sec. on incentives: devices are
rewarded in proportion to the quality of what they contributed).

Each participant's contribution is the validation improvement its own update brings: the drop
in the coordinator's validation loss from the global model ``w`` to ``w + Δ_i``, with Δ_i as it
was sent (clipped, and noised when the noise is local), floored at 0. The round pays
``rewards.per_round`` tokens (at most what the pool holds) from the staking contract's reward
pool in proportion to the contributions, as whole tokens by largest remainder; hospitals
withdraw them like any balance.
"""

from __future__ import annotations

import numpy as np

from bflray.models import evaluate
from bflray.protocol.stages.chain_plan import federation_of
from bflray.protocol.state import RoundState, RunContext


def contribution_rewards(contributions: np.ndarray, *, per_round: int, pool: int) -> np.ndarray:
    """Integer rewards in proportion to ``contributions`` (≥ 0) that total exactly
    ``min(per_round, pool)`` when anyone contributed: each gets the floor of its share, and the
    tokens left go one each to the largest remainders (ties to the lower index)."""
    c = np.clip(np.nan_to_num(np.asarray(contributions, dtype=np.float64)), 0.0, None)
    budget = min(int(per_round), int(pool))
    total = float(c.sum())
    if budget <= 0 or total <= 0:
        return np.zeros(len(c), dtype=np.int64)
    exact = budget * c / total
    rewards = np.floor(exact).astype(np.int64)
    left = budget - int(rewards.sum())
    order = np.lexsort((np.arange(len(c)), -(exact - rewards)))
    rewards[order[:left]] += 1
    return rewards


class ContributionStage:
    name = "reward"

    def __call__(self, state: RoundState, ctx: RunContext) -> None:
        fed = federation_of(ctx)
        updates = state.require_updates()
        val = ctx.validation_set
        if val is None:
            raise RuntimeError("the dp_bfl pipeline needs the coordinator's validation set (RunContext.validation_set)")
        _, base_loss = evaluate(ctx.model, state.global_params, val.features, val.labels)
        losses = np.array([evaluate(ctx.model, p, val.features, val.labels)[1] for p in updates.params])
        contributions = np.clip(base_loss - losses, 0.0, None) if len(losses) else np.zeros(0)
        rewards = contribution_rewards(contributions, per_round=ctx.config.rewards.per_round, pool=fed.voting.pool())
        paid = {int(h): int(r) for h, r in zip(updates.hospital_ids, rewards, strict=True) if r > 0}
        if paid:
            state.receipts += fed.reward_contributions(state.round, paid)
        state.hospital_columns["contribution"] = contributions
        state.hospital_columns["reward"] = rewards
        state.record.update(rewards_paid=int(rewards.sum()), reward_pool=int(fed.voting.pool()))
