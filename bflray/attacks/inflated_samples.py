"""Inflated sample counts (the FedAvg weakness the PoR paper names, Sec. I: FedAvg weights each
update by the sample count its hospital reports, which nobody can check): a malicious
hospital claims ``attack.sample_inflation`` times its real count, so its update, poisoned
or lazy, weighs that much more in the average. Proof of Reasoning weights by rank, not by
claims, and is unaffected."""

from __future__ import annotations

import numpy as np

from bflray.attacks.registry import declare_attack

declare_attack("inflated_samples", category="por", summary="claim attack.sample_inflation × the real sample count")


def inflate_counts(num_samples: np.ndarray, malicious: np.ndarray, factor: float) -> np.ndarray:
    """Reported counts: the malicious rows' multiplied by ``factor`` (rounded, at least 1)."""
    out = np.array(num_samples, dtype=np.int64, copy=True)
    out[malicious] = np.maximum(1, np.round(out[malicious] * factor)).astype(np.int64)
    return out
