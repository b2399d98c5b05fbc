"""The call shape every model attack shares.

``attack(malicious, *, honest, rngs, scale, reference_std, cohort_size) -> deltas``: ``malicious`` are the
malicious hospitals' own update deltas ``Δ_i = w_i − w`` (rows), ``honest`` the honest
hospitals' deltas of the same round (what colluding attackers who see the benign updates know,
the strongest setting the robustness literature evaluates; attacks that do not need it ignore
it), ``rngs`` one seeded generator per malicious row, ``scale`` the attack's strength, and
``reference_std`` the global model's standard deviation, ``cohort_size`` how many updates the
round aggregates (honest and malicious). Returns the deltas they send instead.

Colluding attackers (``attack.collude``, the default) see the round's honest deltas; without
collusion each knows only what the malicious hospitals trained themselves, so ``honest`` holds
their own deltas (the partial-knowledge setting of the ALIE and min-max papers).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class ModelAttack(Protocol):
    def __call__(
        self,
        malicious: np.ndarray,
        *,
        honest: np.ndarray,
        rngs: Sequence[np.random.Generator],
        scale: float,
        reference_std: float,
        cohort_size: int,
    ) -> np.ndarray: ...


def honest_statistics(honest: np.ndarray, like: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinate-wise mean and standard deviation of the honest deltas (zeros when there are none)."""
    if len(honest) == 0:
        zeros = np.zeros(like.shape[1])
        return zeros, zeros
    x = np.asarray(honest, dtype=np.float64)
    return x.mean(axis=0), x.std(axis=0)


def every_row(vector: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``vector`` sent by every malicious hospital (colluding attackers send one crafted update)."""
    return np.broadcast_to(vector.astype(like.dtype, copy=False), like.shape).copy()
