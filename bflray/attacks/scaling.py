"""Scaling (model replacement; Bagdasaryan et al., 2020, "How To Backdoor Federated Learning"):
Δ_i ← s·Δ_i, a malicious update boosted so that it dominates the average."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bflray.attacks.registry import register_attack


@register_attack("scaling", category="model")
def scaling(
    malicious: np.ndarray, *, honest: np.ndarray, rngs: Sequence[np.random.Generator], scale: float,
    reference_std: float,
    cohort_size: int,
) -> np.ndarray:
    """Each row multiplied by ``scale``."""
    boosted: np.ndarray = np.multiply(malicious, scale, dtype=malicious.dtype)
    return boosted
