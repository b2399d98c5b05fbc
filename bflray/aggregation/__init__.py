"""Aggregation rules: ``rule(updates, weights, **keyword_only_params) -> aggregate``, one module each.

``updates`` is N × D (a numpy array or a torch tensor), ``weights`` (N,) finite and
non-negative; the aggregate (D,) comes back in the updates' kind (numpy float64, or a tensor on
the same device and dtype). The maths runs in float64 numpy. A hospital with weight 0 takes no
part in any rule. Selection rules also expose their selection as a pure function on the N × N
matrix that secure aggregation reveals (:func:`select_krum`, :func:`select_multi_krum`,
:func:`select_bulyan`, :func:`select_cosine`). Rules are found by name through
:mod:`bflray.aggregation.registry`.
"""

from bflray.aggregation.bulyan import bulyan, select_bulyan
from bflray.aggregation.centered_clipping import centered_clipping
from bflray.aggregation.cosine_filter import cosine_filter, select_cosine, select_cosine_to_reference
from bflray.aggregation.errors import AggregationError
from bflray.aggregation.fedavg import fedavg
from bflray.aggregation.filtered_trimmed_mean import filtered_trimmed_mean
from bflray.aggregation.geometric_median import geometric_median
from bflray.aggregation.krum import krum, select_krum
from bflray.aggregation.median import median
from bflray.aggregation.multi_krum import multi_krum, select_multi_krum
from bflray.aggregation.norm_bounding import norm_bounding
from bflray.aggregation.pairwise import pairwise_cosine_similarities, pairwise_squared_distances
from bflray.aggregation.registry import (
    AggregationRule,
    RuleInfo,
    SecureCompatibility,
    get_rule,
    register_rule,
    rule_info,
    rule_names,
)
from bflray.aggregation.reputation import reputation_weighted
from bflray.aggregation.stake import stake_weighted
from bflray.aggregation.trimmed_mean import trimmed_mean

__all__ = [
    "AggregationError",
    "AggregationRule",
    "RuleInfo",
    "SecureCompatibility",
    "bulyan",
    "centered_clipping",
    "cosine_filter",
    "fedavg",
    "filtered_trimmed_mean",
    "geometric_median",
    "get_rule",
    "krum",
    "median",
    "multi_krum",
    "norm_bounding",
    "pairwise_cosine_similarities",
    "pairwise_squared_distances",
    "register_rule",
    "reputation_weighted",
    "rule_info",
    "rule_names",
    "select_bulyan",
    "select_cosine",
    "select_cosine_to_reference",
    "select_krum",
    "select_multi_krum",
    "stake_weighted",
    "trimmed_mean",
]
