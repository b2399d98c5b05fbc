"""The SMPC paper's plaintext robust pipeline (Reddy & Hannah, section 2.4 and Algorithm 2,
"Robust Aggregation and Reputation Update"): cosine filter, then a reputation-weighted
trimmed mean over the updates that pass.

1. Cosine filter (:mod:`bflray.aggregation.cosine_filter`): keep the updates whose median
   cosine similarity to the others (or, with ``reference``, whose cosine with it) reaches
   ``threshold``; call the kept set S.
2. Reputation-weighted β-trimmed mean over S, β = ``trim_fraction``: along each coordinate,
   sort the values of S, cut β of the total weight W = Σ_{i∈S} w_i r_i from each end, and
   average the remaining (1 − 2β) W of weight (the weighted variant of
   :mod:`bflray.aggregation.trimmed_mean`).

The paper's Algorithm 2 lists "filter by the cosine similarity → apply median aggregation →
perform trimmed mean → weight by reputation". That cannot be applied literally: a coordinate-
wise median leaves a single vector, after which a trimmed mean and a reputation weighting have
nothing left to trim or weigh. It is therefore implemented as the filter followed by one
reputation-weighted trimmed mean, which contains both remaining steps: the median is its
β → 50 % limit (the reputation-weighted median) and reputation weighting is its β = 0 case.
The paper's step 1, "normalize updates", does not change the cosine filter (cosines ignore
scale); bounding norms is a separate rule (:mod:`bflray.aggregation.norm_bounding`) or a
hospital-side step. Hospitals with w_i r_i = 0 take no part.
"""

from __future__ import annotations

from bflray.aggregation._arrays import ArrayInput, Updates, as_per_hospital, as_updates, keep_weighted, restore
from bflray.aggregation.cosine_filter import check_threshold, select_cosine_updates
from bflray.aggregation.trimmed_mean import check_trim_fraction, weighted_trimmed_mean


def filtered_trimmed_mean(
    updates: Updates,
    weights: ArrayInput,
    *,
    reputation: ArrayInput,
    threshold: float = 0.0,
    trim_fraction: float = 0.1,
    reference: ArrayInput | None = None,
) -> Updates:
    """Cosine filter, then the (weights × reputation)-weighted trimmed mean of the kept updates."""
    tau = check_threshold(threshold)
    beta = check_trim_fraction(trim_fraction)
    x = as_updates(updates)
    w = as_per_hospital("weights", weights, x.shape[0])
    r = as_per_hospital("reputation", reputation, x.shape[0])
    x, effective = keep_weighted(x, w * r, name="weights × reputation")
    kept = select_cosine_updates(x, threshold=tau, reference=reference)
    return restore(weighted_trimmed_mean(x[kept], effective[kept], trim_fraction=beta), updates)
