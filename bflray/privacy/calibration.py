"""Find the noise that makes a whole run fit a privacy budget.

Given a target (ε, δ), the number of rounds and the sampling rate, the smallest noise whose
composition over all rounds stays within ε is found by dp-accounting's
``calibrate_dp_mechanism``: a root search (Brent's method) over the noise parameter, each
point accounted by a fresh accountant, then nudged so that the returned noise never spends
more than the target. Used to turn a preset's budget into a noise multiplier.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import dp_accounting

from bflray.errors import ConfigError
from bflray.privacy.accountant import Mechanism, _fresh_accountant, make_charge
from bflray.privacy.budget import PrivacyBudget

#: Largest noise parameter searched.
_MAX_NOISE = 2.0**30

#: Smallest noise parameter searched. Below it ε per round is so large that the budget is
#: not a meaningful privacy guarantee, and PLD discretisation would blow up.
_MIN_NOISE = 0.05


def calibrate_gaussian_noise_multiplier(
    budget: PrivacyBudget,
    *,
    rounds: int,
    sampling_rate: float = 1.0,
    accounting: Literal["rdp", "pld"] = "rdp",
    tolerance: float = 1e-4,
) -> float:
    """The smallest σ (within ``tolerance``) whose ``rounds`` Gaussian rounds spend at most ``budget``.

    Parameters
    ----------
    budget:
        Target (ε, δ) for the whole run.
    rounds:
        Rounds in which noise is released.
    sampling_rate:
        q in (0, 1], each hospital's probability of joining a round.
    accounting:
        ``"rdp"`` (fast; what :class:`~bflray.privacy.accountant.PrivacyAccountant` uses for
        Gaussian rounds by default) or ``"pld"`` (tighter, slower). Calibrate with the method
        the run's accountant will use, or the run may stop a round early.
    tolerance:
        Absolute tolerance on σ; the result errs on the private side.
    """
    return _calibrate(budget, Mechanism.GAUSSIAN, rounds=rounds, sampling_rate=sampling_rate,
                      accounting=accounting, tolerance=tolerance)


def calibrate_laplace_scale(
    budget: PrivacyBudget,
    *,
    rounds: int,
    sampling_rate: float = 1.0,
    tolerance: float = 1e-4,
) -> float:
    """The smallest ``laplace_scale`` (b / Δ₁) whose ``rounds`` Laplace rounds spend at most ``budget``.

    Accounted with PLD, as :class:`~bflray.privacy.accountant.PrivacyAccountant` does for
    Laplace rounds. Parameters as for :func:`calibrate_gaussian_noise_multiplier`.
    """
    return _calibrate(budget, Mechanism.LAPLACE, rounds=rounds, sampling_rate=sampling_rate,
                      accounting="pld", tolerance=tolerance)


def _calibrate(
    budget: PrivacyBudget,
    mechanism: Mechanism,
    *,
    rounds: int,
    sampling_rate: float,
    accounting: Literal["rdp", "pld"],
    tolerance: float,
) -> float:
    if accounting not in ("rdp", "pld"):
        raise ConfigError(f"accounting must be 'rdp' or 'pld', got accounting={accounting!r}")
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or not 0 < tolerance < 1:
        raise ConfigError(f"tolerance must satisfy 0 < tolerance < 1, got tolerance={tolerance!r}")
    # Validates rounds and sampling_rate with the accountant's own messages.
    make_charge(mechanism=mechanism, noise_multiplier=1.0 if mechanism is Mechanism.GAUSSIAN else None,
                laplace_scale=1.0 if mechanism is Mechanism.LAPLACE else None,
                sampling_rate=sampling_rate, rounds=rounds)

    def make_event(noise: float) -> Any:
        key = "noise_multiplier" if mechanism is Mechanism.GAUSSIAN else "laplace_scale"
        charge = make_charge(mechanism=mechanism, sampling_rate=sampling_rate, rounds=rounds, **{key: noise})
        return charge.to_event()

    def epsilon_at(noise: float) -> float:
        return float(_fresh_accountant(accounting).compose(make_event(noise)).get_epsilon(budget.delta))

    low, high = _bracket(epsilon_at, budget, mechanism, rounds=rounds, sampling_rate=sampling_rate)
    noise = dp_accounting.calibrate_dp_mechanism(
        lambda: _fresh_accountant(accounting),
        make_event,
        budget.epsilon,
        budget.delta,
        bracket_interval=dp_accounting.ExplicitBracketInterval(low, high),
        tol=tolerance,
    )
    return float(noise)


def _bracket(
    epsilon_at: Callable[[float], float],
    budget: PrivacyBudget,
    mechanism: Mechanism,
    *,
    rounds: int,
    sampling_rate: float,
) -> tuple[float, float]:
    """Noise values ``low < high`` with ε(low) > target >= ε(high), found by halving or doubling from 1.

    Starting at 1 and walking towards the answer avoids accounting very small noise, whose
    privacy loss distributions are large and slow to compose, unless the answer is there.
    """
    noise = 1.0
    if epsilon_at(noise) <= budget.epsilon:
        while True:
            smaller = noise / 2
            if smaller < _MIN_NOISE:
                raise ConfigError(
                    f"budget epsilon={budget.epsilon} at delta={budget.delta} over {rounds} rounds is met even by "
                    f"{mechanism.value} noise {noise}; such a budget gives no meaningful privacy"
                )
            if epsilon_at(smaller) > budget.epsilon:
                return smaller, noise
            noise = smaller
    while noise < _MAX_NOISE:
        larger = noise * 2
        if epsilon_at(larger) <= budget.epsilon:
            return noise, larger
        noise = larger
    raise ConfigError(
        f"no {mechanism.value} noise up to {_MAX_NOISE:g} meets epsilon={budget.epsilon} at delta={budget.delta} "
        f"over {rounds} rounds with sampling_rate={sampling_rate}"
    )
