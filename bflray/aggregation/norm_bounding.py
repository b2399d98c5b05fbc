"""Norm bounding (Sun, Kairouz, Suresh, McMahan, 2019, "Can You Really Backdoor Federated
Learning?").

Every update is scaled down to norm at most M = ``max_norm`` and the results are averaged
with the weights:

    x̄ = Σ_i w_i x_i min(1, M / ‖x_i‖) / Σ_i w_i.

A boosted (scaled-up) malicious update then counts no more than an honest one of norm M.
If the hospitals clip before secret sharing (the SMPC paper's step "norm bounding and privacy
noise"), the aggregation itself is FedAvg; done here, it needs the norms in the clear.
"""

from __future__ import annotations

import numpy as np

from bflray.aggregation._arrays import ArrayInput, Float64Array, Updates, as_per_hospital, as_updates, keep_weighted, restore
from bflray.aggregation._checks import check_positive
from bflray.aggregation.fedavg import weighted_mean


def norm_bounding(updates: Updates, weights: ArrayInput, *, max_norm: float) -> Updates:
    """Weighted mean of ``updates`` (N × D), each first clipped to Euclidean norm ``max_norm``."""
    bound = check_positive("max_norm", max_norm)
    x = as_updates(updates)
    x, w = keep_weighted(x, as_per_hospital("weights", weights, x.shape[0]))
    return restore(weighted_mean(clip_rows(x, bound), w), updates)


def clip_rows(x: Float64Array, max_norm: float) -> Float64Array:
    """Each row scaled by min(1, ``max_norm`` / its norm)."""
    norms = np.linalg.norm(x, axis=1)
    scale = np.minimum(1.0, max_norm / np.maximum(norms, np.finfo(np.float64).tiny))
    clipped: Float64Array = x * scale[:, None]
    return clipped
