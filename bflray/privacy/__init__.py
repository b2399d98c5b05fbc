"""Client-level differential privacy: clipping, noise, and accounting of the budget spent.

A round stage clips each hospital's update (:func:`clip_l2`, or :func:`clip_l1` for Laplace),
sums the cohort, adds noise keyed by the run seed (:func:`add_central_gaussian_noise`,
:func:`add_local_gaussian_noise`, :func:`add_laplace_noise`), and charges the release to a
:class:`PrivacyAccountant`, which refuses a round that would overspend a
:class:`PrivacyBudget` by raising :class:`BudgetExhausted`.
"""

from __future__ import annotations

from bflray.privacy.accountant import Accounting, Charge, Mechanism, PrivacyAccountant, compute_epsilon, make_charge
from bflray.privacy.budget import BudgetExhausted, PrivacyBudget
from bflray.privacy.calibration import calibrate_gaussian_noise_multiplier, calibrate_laplace_scale
from bflray.privacy.clipping import ClipResult, clip_l1, clip_l2, row_norms
from bflray.privacy.mechanisms import (
    add_central_gaussian_noise,
    add_laplace_noise,
    add_local_gaussian_noise,
    central_gaussian_noise,
    effective_central_noise_multiplier,
    laplace_noise,
    laplace_scale_for_epsilon,
)

__all__ = [
    "Accounting",
    "BudgetExhausted",
    "Charge",
    "ClipResult",
    "Mechanism",
    "PrivacyAccountant",
    "PrivacyBudget",
    "add_central_gaussian_noise",
    "add_laplace_noise",
    "add_local_gaussian_noise",
    "calibrate_gaussian_noise_multiplier",
    "calibrate_laplace_scale",
    "central_gaussian_noise",
    "clip_l1",
    "clip_l2",
    "compute_epsilon",
    "effective_central_noise_multiplier",
    "laplace_noise",
    "laplace_scale_for_epsilon",
    "make_charge",
    "row_norms",
]
