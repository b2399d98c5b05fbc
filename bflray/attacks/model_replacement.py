"""Model replacement (Bagdasaryan et al., 2020, "How To Backdoor Federated Learning", Sec. 4.2):
an attacker who wants the global model to become its own model X sends

    Δ̃ = γ·Δ,   γ = n / m,

n the updates the round averages and m the attackers among them (the paper's γ = n/η with
server learning rate η = 1 and the boost shared by m colluding attackers), so that FedAvg's
average lands on X whatever the honest updates were. Combine it with a data attack
(``attack.kind = "backdoor+model_replacement"``) to plant the backdoor in one round.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bflray.attacks.registry import register_attack


@register_attack("model_replacement", category="model")
def model_replacement(
    malicious: np.ndarray, *, honest: np.ndarray, rngs: Sequence[np.random.Generator], scale: float,
    reference_std: float, cohort_size: int,
) -> np.ndarray:
    """Each row boosted by γ = cohort_size / number of malicious rows; ``scale`` is not used."""
    if len(malicious) == 0:
        return malicious.copy()
    gamma = max(cohort_size, len(malicious)) / len(malicious)
    boosted: np.ndarray = np.multiply(malicious, gamma, dtype=malicious.dtype)
    return boosted
