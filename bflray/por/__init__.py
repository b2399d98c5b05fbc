"""Proof of Reasoning (Calo & Lo): EDI transactions, validation, the κ screen, scoring policies,
ranking, and aggregation by rank."""

from bflray.por.edi import EDIError, EDITransaction
from bflray.por.kappa_screen import KAPPA_SCREENS, KappaScreen, screen_kappa
from bflray.por.policies import get_reduction, get_score, register_reduction, register_score
from bflray.por.ranking import Ranking, committee_strata, rank_scores, sample_committees, score_classifiers
from bflray.por.validation import ValidationResult, validate_transactions
from bflray.por.weighting import rank_weights

__all__ = [
    "EDIError",
    "EDITransaction",
    "KAPPA_SCREENS",
    "KappaScreen",
    "Ranking",
    "ValidationResult",
    "committee_strata",
    "get_reduction",
    "get_score",
    "rank_scores",
    "rank_weights",
    "register_reduction",
    "register_score",
    "sample_committees",
    "score_classifiers",
    "screen_kappa",
    "validate_transactions",
]
