"""Messages between the round pipeline and the roles: frozen, picklable, backend-neutral."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RoundPlan:
    """What every hospital needs to take part in a round."""

    round: int
    global_params: np.ndarray
    cohort: np.ndarray
    local_epochs: int
    batch_size: int
    learning_rate: float


@dataclass(frozen=True)
class TrainResult:
    """A block's trained hospitals, in hospital-id order."""

    hospital_ids: np.ndarray
    params: np.ndarray
    num_samples: np.ndarray
    losses: np.ndarray
