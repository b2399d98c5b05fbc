from __future__ import annotations

import dataclasses
import pickle

import pytest

from bflray.errors import BflrayError, ConfigError
from bflray.privacy import BudgetExhausted, PrivacyBudget


def test_budget_keeps_its_values_and_is_frozen() -> None:
    budget = PrivacyBudget(epsilon=3.0, delta=1e-5)

    assert (budget.epsilon, budget.delta) == (3.0, 1e-5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        budget.epsilon = 4.0  # type: ignore[misc]


@pytest.mark.parametrize("epsilon", [0.0, -1.0, float("inf"), float("nan"), True, "1"])
def test_budget_rejects_a_bad_epsilon_naming_field_and_value(epsilon: object) -> None:
    with pytest.raises(ConfigError, match=r"epsilon=") as info:
        PrivacyBudget(epsilon=epsilon, delta=1e-5)  # type: ignore[arg-type]

    assert repr(epsilon) in str(info.value)


@pytest.mark.parametrize("delta", [0.0, 1.0, -1e-5, 2.0, float("nan")])
def test_budget_rejects_a_bad_delta_naming_field_and_value(delta: float) -> None:
    with pytest.raises(ConfigError, match=r"delta=") as info:
        PrivacyBudget(epsilon=1.0, delta=delta)

    assert repr(delta) in str(info.value)


def test_budget_exhausted_carries_spent_epsilon_delta_and_round_and_pickles() -> None:
    error = BudgetExhausted(epsilon=2.5, delta=1e-5, round_=17, budget_epsilon=3.0, epsilon_after=3.2)

    again = pickle.loads(pickle.dumps(error))

    assert isinstance(again, BflrayError) and isinstance(again, RuntimeError)
    assert (again.epsilon, again.delta, again.round_, again.epsilon_after) == (2.5, 1e-5, 17, 3.2)
    assert "round 17" in str(again) and "2.5" in str(again)
