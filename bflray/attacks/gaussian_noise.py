"""Gaussian noise: each malicious delta is replaced by noise N(0, (s·σ_w)²), σ_w the global
model's standard deviation (the random-update attacker of FLock, Dong et al., Sec. V)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bflray.attacks.registry import register_attack


@register_attack("random", category="model")
def gaussian_noise(
    malicious: np.ndarray, *, honest: np.ndarray, rngs: Sequence[np.random.Generator], scale: float,
    reference_std: float,
    cohort_size: int,
) -> np.ndarray:
    """Noise of std ``scale · reference_std`` in place of each row; ``rngs`` one per row."""
    if len(rngs) != len(malicious):
        raise ValueError(f"gaussian_noise needs one generator per update, got {len(rngs)} for {len(malicious)}")
    std = scale * (reference_std or 1.0)
    out = np.empty_like(malicious)
    for i, rng in enumerate(rngs):
        out[i] = np.asarray(rng.normal(0.0, std, size=malicious.shape[1]), dtype=malicious.dtype)
    return out
