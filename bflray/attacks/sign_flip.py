"""Sign flipping: Δ_i ← −s·Δ_i, each malicious update pushed the other way (the sign-flipping
attack of Li et al., 2019, "RSA: Byzantine-Robust Stochastic Aggregation Methods")."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bflray.attacks.registry import register_attack


@register_attack("sign_flip", category="model")
def sign_flip(
    malicious: np.ndarray, *, honest: np.ndarray, rngs: Sequence[np.random.Generator], scale: float,
    reference_std: float,
    cohort_size: int,
) -> np.ndarray:
    """Each row negated and scaled by ``scale``; draws nothing."""
    flipped: np.ndarray = np.multiply(malicious, -scale, dtype=malicious.dtype)
    return flipped
