"""Inner product manipulation (IPM; Xie, Koyejo, Gupta, 2020, "Fall of Empires: Breaking
Byzantine-tolerant SGD by Inner Product Manipulation"): every colluding attacker sends

    Δ = −ε·μ,

μ the mean of the honest deltas and ε = ``scale``, so the aggregate's inner product with the
true direction turns negative once the attackers' weight is large enough.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bflray.attacks.registry import register_attack
from bflray.attacks.base import every_row, honest_statistics


@register_attack("ipm", category="model")
def ipm(
    malicious: np.ndarray, *, honest: np.ndarray, rngs: Sequence[np.random.Generator], scale: float,
    reference_std: float,
    cohort_size: int,
) -> np.ndarray:
    """``−scale·μ`` of the honest deltas, sent by every malicious hospital."""
    mean, _ = honest_statistics(honest, malicious)
    return every_row(-scale * mean, malicious)
