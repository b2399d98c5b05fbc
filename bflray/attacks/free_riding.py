"""Free riding: the hospital trains nothing and returns the global model (Δ = 0), collecting
rewards for no contribution (Lin et al., 2019, "Free-riders in Federated Learning")."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bflray.attacks.registry import register_attack


@register_attack("free_riding", category="participation")
def free_riding(
    malicious: np.ndarray, *, honest: np.ndarray, rngs: Sequence[np.random.Generator], scale: float,
    reference_std: float,
    cohort_size: int,
) -> np.ndarray:
    """Zero deltas: the global model sent back unchanged."""
    return np.zeros_like(malicious)
