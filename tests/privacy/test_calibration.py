from __future__ import annotations

import pytest

from bflray.errors import ConfigError
from bflray.privacy import (
    PrivacyAccountant,
    PrivacyBudget,
    calibrate_gaussian_noise_multiplier,
    calibrate_laplace_scale,
)


def test_calibrated_gaussian_noise_just_fits_the_budget() -> None:
    budget = PrivacyBudget(2.0, 1e-5)

    sigma = calibrate_gaussian_noise_multiplier(budget, rounds=20, tolerance=1e-4)

    fits = PrivacyAccountant()
    fits.charge(mechanism="gaussian", noise_multiplier=sigma, rounds=20)
    tighter = PrivacyAccountant()
    tighter.charge(mechanism="gaussian", noise_multiplier=sigma - 1e-3, rounds=20)
    assert fits.spent(budget.delta) <= budget.epsilon < tighter.spent(budget.delta)


def test_calibrated_laplace_scale_for_one_round_is_about_one_over_epsilon() -> None:
    scale = calibrate_laplace_scale(PrivacyBudget(0.8, 1e-6), rounds=1)

    assert scale == pytest.approx(1.25, rel=0.01)


def test_calibration_rejects_a_budget_met_without_real_noise() -> None:
    with pytest.raises(ConfigError, match="no meaningful privacy"):
        calibrate_gaussian_noise_multiplier(PrivacyBudget(1e4, 1e-5), rounds=1)


def test_calibration_rejects_bad_rounds() -> None:
    with pytest.raises(ConfigError, match="rounds=0"):
        calibrate_gaussian_noise_multiplier(PrivacyBudget(1.0, 1e-5), rounds=0)
