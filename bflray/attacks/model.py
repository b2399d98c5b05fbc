"""Model-poisoning attacks on update deltas ``Δ_i = w_i − w`` (rows: malicious hospitals).

- ``gaussian_noise``: Δ_i is replaced by noise N(0, (s·σ_w)²), σ_w the global model's standard
  deviation (the random-update attacker of FLock, Dong et al., Sec. V);
- ``sign_flip``: Δ_i ← −s·Δ_i, the update pushed the other way (Damaskinos et al., 2018;
  the sign-flipping attack of Li et al., RSA, 2019).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np


class ModelAttack(Protocol):
    def __call__(
        self, deltas: np.ndarray, *, rngs: Sequence[np.random.Generator], scale: float, reference_std: float
    ) -> np.ndarray: ...


def gaussian_noise(
    deltas: np.ndarray, *, rngs: Sequence[np.random.Generator], scale: float, reference_std: float
) -> np.ndarray:
    """Noise of std ``scale · reference_std`` in place of each row; ``rngs`` one per row."""
    if len(rngs) != len(deltas):
        raise ValueError(f"gaussian_noise needs one generator per update, got {len(rngs)} for {len(deltas)}")
    std = scale * (reference_std or 1.0)
    out = np.empty_like(deltas)
    for i, rng in enumerate(rngs):
        out[i] = np.asarray(rng.normal(0.0, std, size=deltas.shape[1]), dtype=deltas.dtype)
    return out


def sign_flip(
    deltas: np.ndarray, *, rngs: Sequence[np.random.Generator], scale: float, reference_std: float
) -> np.ndarray:
    """Each row negated and scaled by ``scale``; draws nothing."""
    flipped: np.ndarray = np.multiply(deltas, -scale, dtype=deltas.dtype)
    return flipped


MODEL_ATTACKS: dict[str, Callable[..., np.ndarray]] = {"random": gaussian_noise, "sign_flip": sign_flip}
