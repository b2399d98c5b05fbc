"""Plain values the contracts take: the FL plan, the stakes, the reputation rule (no web3).

Amounts are integers in the stake token's smallest unit; fractions are fixed point with 18
decimals (:data:`ONE` is 1.0), as the contracts store them. :func:`fixed` converts a float.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass
from decimal import Decimal

__all__ = ["ONE", "Plan", "ReputationParams", "Stakes", "fixed"]

ONE = 10**18
"""Fixed-point one (18 decimals), the contracts' ``ONE``."""


def fixed(value: float | int | str | Decimal) -> int:
    """``value`` in 18-decimal fixed point, rounded to the nearest unit (``fixed(0.3) == 3 * 10**17``)."""
    return int((Decimal(str(value)) * ONE).to_integral_value())


@dataclass(frozen=True)
class Plan:
    """A task's FL plan (``IFederationLedger.Plan``).

    Attributes
    ----------
    model_definition_hash, hyperparameters_hash:
        32-byte hashes of the model definition and the hyperparameters; the first must not be zero.
    epsilon, delta:
        The privacy budget, 18-decimal fixed point (see :func:`fixed`).
    rounds:
        Rounds of the task (> 0).
    cohort_size:
        Proposers drawn per round.
    committee_size:
        Voters drawn per round (> 0).
    """

    model_definition_hash: bytes
    hyperparameters_hash: bytes
    epsilon: int
    delta: int
    rounds: int
    cohort_size: int
    committee_size: int

    def as_tuple(self) -> tuple[bytes, bytes, int, int, int, int, int]:
        """The ABI tuple, in the struct's field order."""
        return astuple(self)  # type: ignore[return-value,unused-ignore]


@dataclass(frozen=True)
class Stakes:
    """``StakeVoting.Stakes``: γ_p, γ_v, the proposer reward and the voting window.

    Attributes
    ----------
    proposer_stake:
        γ_p, staked by each drawn proposer (> 0).
    voter_stake:
        γ_v, staked by each drawn voter (> 0).
    proposer_reward:
        Paid from the pool to each staked proposer of an accepted round (capped by the pool).
    voting_period:
        Seconds (of chain time) votes are taken after the draw completes (> 0).
    """

    proposer_stake: int
    voter_stake: int
    proposer_reward: int
    voting_period: int

    def as_tuple(self) -> tuple[int, int, int, int]:
        """The ABI tuple, in the struct's field order."""
        return astuple(self)  # type: ignore[return-value,unused-ignore]


@dataclass(frozen=True)
class ReputationParams:
    """``Reputation.Params``: the update rule, fixed point except ``max_strikes``.

    ``Rep ← (α·Rep + (1 − α)·p)``; when ``p < (1 − tolerance)·previous p`` the reputation and
    the aggregation weight are cut and a strike counts; ``max_strikes`` strikes suspend.
    """

    alpha: int
    tolerance: int
    reputation_cut: int
    weight_cut: int
    initial_reputation: int
    max_strikes: int

    def as_tuple(self) -> tuple[int, int, int, int, int, int]:
        """The ABI tuple, in the struct's field order."""
        return astuple(self)  # type: ignore[return-value,unused-ignore]
