"""Messages between the round pipeline and the roles: frozen, picklable, backend-neutral."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bflray.training import LocalTraining


@dataclass(frozen=True)
class RoundPlan:
    """What every hospital needs to take part in a round.

    ``cohort`` (sorted hospital ids) are the hospitals whose updates the round uses;
    ``full_gradient`` is the SVRG full gradient at ``global_params`` (None otherwise).
    """

    round: int
    global_params: np.ndarray
    cohort: np.ndarray
    training: LocalTraining
    dropout: float = 0.0
    full_gradient: np.ndarray | None = None


@dataclass(frozen=True)
class TrainResult:
    """A block's trained hospitals, in hospital-id order.

    ``extras`` holds role-specific per-hospital arrays whose first axis follows
    ``hospital_ids`` (PoR's EDI tuples, for instance).
    """

    hospital_ids: np.ndarray
    params: np.ndarray
    num_samples: np.ndarray
    losses: np.ndarray
    extras: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class PartialAggregate:
    """A block's trained hospitals folded into FedAvg's numerator and denominator, so that
    their stacked states never leave the shard (float64 sum of ``n_k · w_k``).

    ``hospital_ids``, ``num_samples`` and ``losses`` cover every member that trained; those in
    ``rejected_ids`` (a subset, sorted) sent an update with a NaN or an infinite value
    (``rejected_reasons``: ``"nan"`` or ``"inf"``, aligned with ``rejected_ids``) and are in
    neither ``weighted_sum`` nor ``total_weight``.
    """

    weighted_sum: np.ndarray
    total_weight: float
    hospital_ids: np.ndarray
    num_samples: np.ndarray
    losses: np.ndarray
    rejected_ids: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    rejected_reasons: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))


@dataclass(frozen=True)
class GradientSum:
    """A block's ``Σ_k n_k g_k`` at the global point (SVRG's first exchange), float64."""

    gradient_sum: np.ndarray
    num_samples: int
