"""Min-max and min-sum (Shejwalkar & Houmansadr, 2021, "Manipulating the Byzantine: Optimizing
Model Poisoning Attacks and Defenses for Federated Learning", NDSS): every colluding attacker
sends Δ = μ + γ·p with p = −σ (against the honest deltas' spread, μ and σ their coordinate-wise
mean and standard deviation) and the largest γ that keeps Δ looking like an honest update:

- min-max: max_i ‖Δ − Δ_i‖ ≤ max_{i,j} ‖Δ_i − Δ_j‖ (no farther from any honest update than
  the two farthest honest ones are from each other);
- min-sum: Σ_i ‖Δ − Δ_i‖² ≤ max_j Σ_i ‖Δ_j − Δ_i‖².

γ is found by bisection on [0, ``scale``·(1 + ‖μ‖/‖σ‖)] to a relative 1e-4.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bflray.aggregation import pairwise_squared_distances
from bflray.attacks.registry import register_attack
from bflray.attacks.base import every_row, honest_statistics


@register_attack("min_max", category="model")
def min_max(
    malicious: np.ndarray, *, honest: np.ndarray, rngs: Sequence[np.random.Generator], scale: float,
    reference_std: float,
    cohort_size: int,
) -> np.ndarray:
    """The min-max update, sent by every malicious hospital."""
    return _optimised(malicious, honest, scale, kind="max")


@register_attack("min_sum", category="model")
def min_sum(
    malicious: np.ndarray, *, honest: np.ndarray, rngs: Sequence[np.random.Generator], scale: float,
    reference_std: float,
    cohort_size: int,
) -> np.ndarray:
    """The min-sum update, sent by every malicious hospital."""
    return _optimised(malicious, honest, scale, kind="sum")


def _optimised(malicious: np.ndarray, honest: np.ndarray, scale: float, *, kind: str) -> np.ndarray:
    mean, std = honest_statistics(honest, malicious)
    if len(honest) < 2 or not np.any(std):
        return every_row(mean, malicious)
    x = np.asarray(honest, dtype=np.float64)
    pairwise = pairwise_squared_distances(x)
    bound = float(pairwise.max()) if kind == "max" else float(pairwise.sum(axis=1).max())
    direction = -std

    def fits(gamma: float) -> bool:
        distances = np.sum((x - (mean + gamma * direction)) ** 2, axis=1)
        return float(distances.max() if kind == "max" else distances.sum()) <= bound

    low, high = 0.0, max(scale, 1e-12) * (1.0 + float(np.linalg.norm(mean)) / float(np.linalg.norm(std)))
    while fits(high) and high < 1e12:
        low, high = high, 2.0 * high
    while high - low > 1e-4 * max(high, 1e-12):
        middle = 0.5 * (low + high)
        low, high = (middle, high) if fits(middle) else (low, middle)
    return every_row(mean + low * direction, malicious)
