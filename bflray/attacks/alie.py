"""A little is enough (ALIE; Baruch, Baruch, Goldberg, 2019, "A Little Is Enough: Circumventing
Defenses For Distributed Learning"): every colluding attacker sends

    Δ = μ − z·σ,

μ and σ the coordinate-wise mean and standard deviation of the honest deltas and z = ``scale``.
Each coordinate stays within z standard deviations of the honest ones, so statistics-based
defences (median, trimmed mean, Krum) keep it, while every coordinate is biased the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bflray.attacks.registry import register_attack
from bflray.attacks.base import every_row, honest_statistics


@register_attack("alie", category="model")
def alie(
    malicious: np.ndarray, *, honest: np.ndarray, rngs: Sequence[np.random.Generator], scale: float,
    reference_std: float,
    cohort_size: int,
) -> np.ndarray:
    """``μ − scale·σ`` of the honest deltas, sent by every malicious hospital."""
    mean, std = honest_statistics(honest, malicious)
    return every_row(mean - scale * std, malicious)
