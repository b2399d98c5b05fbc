from __future__ import annotations

import json
import math

import dp_accounting
import pytest
from dp_accounting.pld import PLDAccountant
from dp_accounting.rdp import RdpAccountant
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from bflray.errors import ConfigError
from bflray.privacy import BudgetExhausted, Mechanism, PrivacyAccountant, PrivacyBudget

DELTA = 1e-5


def _gaussian_delta(epsilon: float, sigma: float) -> float:
    """Exact δ(ε) of the Gaussian mechanism with sensitivity 1 and noise std σ.

    Balle & Wang 2018, "Improving the Gaussian Mechanism for Differential Privacy:
    Analytical Calibration and Optimal Denoising", Theorem 8.
    """
    return float(norm.cdf(1 / (2 * sigma) - epsilon * sigma) - math.exp(epsilon) * norm.cdf(-1 / (2 * sigma) - epsilon * sigma))


def test_a_fresh_accountant_has_spent_nothing() -> None:
    assert PrivacyAccountant().spent(DELTA) == 0.0


def test_gaussian_rounds_agree_with_dp_accounting_rdp_directly() -> None:
    accountant = PrivacyAccountant()
    for _ in range(30):
        accountant.charge(mechanism="gaussian", noise_multiplier=1.1, sampling_rate=0.1)

    event = dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(0.1, dp_accounting.GaussianDpEvent(1.1)), 30
    )
    assert accountant.spent(DELTA) == pytest.approx(RdpAccountant().compose(event).get_epsilon(DELTA), rel=1e-9)
    assert accountant.charges[0].rounds == 30 and len(accountant.charges) == 1


def test_laplace_rounds_agree_with_dp_accounting_pld_directly() -> None:
    accountant = PrivacyAccountant()
    accountant.charge(mechanism="laplace", laplace_scale=2.0, sampling_rate=1.0, rounds=4)

    event = dp_accounting.SelfComposedDpEvent(dp_accounting.LaplaceDpEvent(2.0), 4)
    assert accountant.spent(DELTA) == pytest.approx(PLDAccountant().compose(event).get_epsilon(DELTA), rel=1e-9)


def test_one_laplace_round_spends_one_over_its_scale() -> None:
    accountant = PrivacyAccountant()
    accountant.charge(mechanism="laplace", laplace_scale=0.5)

    # Pure ε-DP with ε = Δ₁ / b = 2; δ > 0 can only lower it slightly.
    assert accountant.spent(1e-9) == pytest.approx(2.0, abs=1e-3)


def test_one_unsampled_gaussian_round_matches_the_analytic_gaussian_mechanism() -> None:
    sigma = 1.1
    pld = PrivacyAccountant(accounting="pld")
    pld.charge(mechanism="gaussian", noise_multiplier=sigma)
    rdp = PrivacyAccountant()
    rdp.charge(mechanism="gaussian", noise_multiplier=sigma)

    # PLD is near-exact: the δ its ε implies is the target δ, within discretisation.
    assert _gaussian_delta(pld.spent(DELTA), sigma) == pytest.approx(DELTA, rel=0.01)
    # RDP is a valid but looser bound: never below the exact ε, and not far above it.
    assert _gaussian_delta(rdp.spent(DELTA), sigma) <= DELTA
    assert rdp.spent(DELTA) <= 1.15 * pld.spent(DELTA)


_gaussian_charges = st.lists(
    st.tuples(st.sampled_from([0.6, 1.0, 2.5]), st.sampled_from([1.0, 0.25]), st.integers(1, 50)),
    min_size=1,
    max_size=3,
)


@settings(max_examples=8, deadline=None)
@given(_gaussian_charges)
def test_spent_epsilon_never_decreases_as_gaussian_rounds_are_charged(charges: list[tuple[float, float, int]]) -> None:
    accountant = PrivacyAccountant()
    previous = 0.0
    for sigma, rate, rounds in charges:
        accountant.charge(mechanism="gaussian", noise_multiplier=sigma, sampling_rate=rate, rounds=rounds)
        now = accountant.spent(DELTA)
        assert now >= previous
        previous = now


_laplace_charges = st.lists(
    st.tuples(st.sampled_from([1.0, 2.0, 5.0]), st.sampled_from([1.0, 0.3]), st.integers(1, 3)),
    min_size=1,
    max_size=3,
)


@settings(max_examples=8, deadline=None)
@given(_laplace_charges)
def test_spent_epsilon_never_decreases_as_laplace_rounds_are_charged(charges: list[tuple[float, float, int]]) -> None:
    accountant = PrivacyAccountant()
    previous = 0.0
    for scale, rate, rounds in charges:
        accountant.charge(mechanism=Mechanism.LAPLACE, laplace_scale=scale, sampling_rate=rate, rounds=rounds)
        now = accountant.spent(DELTA)
        assert now >= previous
        previous = now


@pytest.mark.parametrize("budget_epsilon", [0.5, 2.0, 2.2, 3.0, 50.0])
def test_would_exceed_agrees_with_actually_charging(budget_epsilon: float) -> None:
    budget = PrivacyBudget(budget_epsilon, DELTA)
    accountant = PrivacyAccountant()
    accountant.charge(mechanism="gaussian", noise_multiplier=1.0, sampling_rate=0.5, rounds=2)
    before = accountant.to_dict()

    predicted = accountant.would_exceed(budget, mechanism="gaussian", noise_multiplier=1.0, sampling_rate=0.5)

    assert accountant.to_dict() == before  # asking does not charge
    accountant.charge(mechanism="gaussian", noise_multiplier=1.0, sampling_rate=0.5)
    assert predicted == (accountant.spent(DELTA) > budget_epsilon)


def test_charge_within_refuses_the_round_that_would_overspend() -> None:
    budget = PrivacyBudget(5.0, DELTA)
    accountant = PrivacyAccountant()
    round_ = 0
    with pytest.raises(BudgetExhausted) as info:
        for round_ in range(100):
            accountant.charge_within(budget, round_=round_, mechanism="gaussian", noise_multiplier=2.0)

    assert info.value.round_ == round_ == accountant.rounds_charged
    assert info.value.epsilon == accountant.spent(DELTA) <= 5.0 < info.value.epsilon_after
    assert info.value.delta == DELTA


def test_state_round_trips_through_json() -> None:
    accountant = PrivacyAccountant(accounting="pld")
    accountant.charge(mechanism="gaussian", noise_multiplier=3.0)
    accountant.charge(mechanism="laplace", laplace_scale=3.0, rounds=2)

    restored = PrivacyAccountant.from_dict(json.loads(json.dumps(accountant.to_dict())))

    assert restored == accountant
    assert restored.spent(DELTA) == accountant.spent(DELTA)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mechanism": "gauss", "noise_multiplier": 1.0}, "mechanism"),
        ({"mechanism": "gaussian"}, "noise_multiplier is required"),
        ({"mechanism": "gaussian", "laplace_scale": 1.0}, "laplace_scale"),
        ({"mechanism": "laplace", "noise_multiplier": 1.0}, "noise_multiplier"),
        ({"mechanism": "gaussian", "noise_multiplier": 0.0}, "noise_multiplier=0.0"),
        ({"mechanism": "gaussian", "noise_multiplier": 1.0, "sampling_rate": 0.0}, "sampling_rate=0.0"),
        ({"mechanism": "gaussian", "noise_multiplier": 1.0, "sampling_rate": 1.5}, "sampling_rate=1.5"),
        ({"mechanism": "gaussian", "noise_multiplier": 1.0, "rounds": 0}, "rounds=0"),
    ],
)
def test_charge_rejects_bad_arguments_naming_them(kwargs: dict[str, object], match: str) -> None:
    accountant = PrivacyAccountant()

    with pytest.raises(ConfigError, match=match):
        accountant.charge(**kwargs)  # type: ignore[arg-type]
    assert accountant.charges == ()


def test_auto_accounting_refuses_to_mix_mechanisms() -> None:
    accountant = PrivacyAccountant()
    accountant.charge(mechanism="gaussian", noise_multiplier=1.0)

    with pytest.raises(ConfigError, match="accounting='pld'"):
        accountant.charge(mechanism="laplace", laplace_scale=1.0)
    assert len(accountant.charges) == 1


def test_rdp_accounting_refuses_sampled_laplace() -> None:
    with pytest.raises(ConfigError, match="accounting='pld'"):
        PrivacyAccountant(accounting="rdp").charge(mechanism="laplace", laplace_scale=1.0, sampling_rate=0.5)


@pytest.mark.parametrize("delta", [0.0, 1.0, -1.0])
def test_spent_rejects_a_bad_delta(delta: float) -> None:
    with pytest.raises(ConfigError, match="delta"):
        PrivacyAccountant().spent(delta)


@pytest.mark.parametrize(
    "snapshot",
    [
        {},
        {"format": "bflray.privacy.accountant/1", "accounting": "moments", "charges": []},
        {"format": "bflray.privacy.accountant/1", "accounting": "auto", "charges": [{"mechanism": "gaussian"}]},
    ],
)
def test_from_dict_rejects_a_malformed_snapshot(snapshot: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        PrivacyAccountant.from_dict(snapshot)
