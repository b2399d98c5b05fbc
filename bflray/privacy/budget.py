"""A privacy budget ``(ε, δ)`` and the error raised when a round would overspend it.

Differential privacy (Dwork, McSherry, Nissim & Smith 2006) bounds how much one participant
can change what is released: a mechanism is (ε, δ)-DP when, for neighbouring inputs, the
probability of any outcome grows by at most a factor ``e^ε`` plus ``δ``. The DP-BFL paper
(Nagar) calls ε the privacy budget or privacy loss: it accumulates over every release, so a
run stops releasing once the next round would take it past the budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bflray.errors import BflrayError, ConfigError


@dataclass(frozen=True)
class PrivacyBudget:
    """The most privacy loss a run may spend: ``epsilon`` at failure probability ``delta``.

    Parameters
    ----------
    epsilon:
        The largest total ε the run may reach; finite and > 0.
    delta:
        The δ at which ε is measured; 0 < δ < 1. For client-level DP, pick δ well below
        one over the number of hospitals.
    """

    epsilon: float
    delta: float

    def __post_init__(self) -> None:
        _check_real("epsilon", self.epsilon)
        _check_real("delta", self.delta)
        if not (math.isfinite(self.epsilon) and self.epsilon > 0):
            raise ConfigError(f"privacy budget epsilon must be finite and > 0, got epsilon={self.epsilon!r}")
        if not 0 < self.delta < 1:
            raise ConfigError(f"privacy budget delta must satisfy 0 < delta < 1, got delta={self.delta!r}")


class BudgetExhausted(BflrayError, RuntimeError):
    """The next round's noisy release would take the spent ε past the budget.

    Attributes
    ----------
    epsilon:
        The ε spent so far (before the refused round), at ``delta``.
    delta:
        The δ the budget is measured at.
    round_:
        The round that was refused.
    budget_epsilon:
        The budget's ε.
    epsilon_after:
        The ε the refused round would have brought the run to.
    """

    def __init__(
        self,
        *,
        epsilon: float,
        delta: float,
        round_: int,
        budget_epsilon: float,
        epsilon_after: float,
    ) -> None:
        self.epsilon = epsilon
        self.delta = delta
        self.round_ = round_
        self.budget_epsilon = budget_epsilon
        self.epsilon_after = epsilon_after
        super().__init__(
            f"privacy budget exhausted at round {round_}: spent epsilon={epsilon:.6g} at delta={delta:.3g}, "
            f"the round would bring it to {epsilon_after:.6g} > budget epsilon={budget_epsilon:.6g}"
        )

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only __init__: rebuild through a helper so the error survives pickling
        # (Ray ships exceptions between processes).
        return (
            _rebuild_budget_exhausted,
            (self.epsilon, self.delta, self.round_, self.budget_epsilon, self.epsilon_after),
        )


def _rebuild_budget_exhausted(
    epsilon: float, delta: float, round_: int, budget_epsilon: float, epsilon_after: float
) -> BudgetExhausted:
    return BudgetExhausted(
        epsilon=epsilon, delta=delta, round_=round_, budget_epsilon=budget_epsilon, epsilon_after=epsilon_after
    )


def _check_real(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"privacy budget {name} must be a real number, got {name}={value!r}")
    if math.isnan(value):
        raise ConfigError(f"privacy budget {name} must not be NaN, got {name}={value!r}")
