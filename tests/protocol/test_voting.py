"""FLock's vote rule and the pieces of the flock stages that need no chain."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bflray.chain.flock_reference import Status
from bflray.config import Config
from bflray.config.schema import ExperimentConfig, FederationConfig
from bflray.protocol.round import build_stages
from bflray.protocol.stages.voting import token_summary, vote_rule


@pytest.mark.parametrize(
    ("candidate", "previous", "epsilon", "accept"),
    [
        (0.80, 0.80, 0.05, True),  # equal: accept
        (0.90, 0.80, 0.05, True),  # better: accept
        (0.76, 0.80, 0.05, True),  # exactly (1 − ε)·previous: accept
        (0.7599, 0.80, 0.05, False),  # just below: reject
        (0.50, 0.80, 0.05, False),
        (0.0, 0.0, 0.05, True),  # nothing to lose
        (0.79, 0.80, 0.0, False),  # ε = 0: any drop rejects
        (0.41, 0.80, 0.5, True),
    ],
)
def test_vote_rule_accepts_iff_score_at_least_one_minus_epsilon_times_previous(
    candidate: float, previous: float, epsilon: float, accept: bool
) -> None:
    assert vote_rule(candidate, previous, epsilon) is accept


def test_a_voter_without_validation_data_accepts() -> None:
    assert vote_rule(math.nan, 0.5, 0.05) and vote_rule(0.5, math.nan, 0.05)


def test_token_summary_counts_removed_hospitals_as_holding_nothing() -> None:
    tokens = np.array([70, 60, 5, 40])
    status = np.array([Status.ACTIVE, Status.ACTIVE, Status.REMOVED, Status.ACTIVE])
    malicious = np.array([False, False, True, True])
    out = token_summary(tokens, status, malicious, proposers=np.array([0, 3]), voters=np.array([1, 2]))
    assert out["tokens_honest"] == 65 and out["tokens_malicious"] == 20
    assert out["survival_honest"] == 1.0 and out["survival_malicious"] == 0.5
    assert out["tokens_honest_proposers"] == 70 and out["tokens_malicious_proposers"] == 40
    assert out["tokens_honest_voters"] == 60 and out["tokens_malicious_voters"] == 0
    assert out["tokens_total_malicious"] == 45


def test_the_flock_pipeline_votes_after_aggregating() -> None:
    names = [s.name for s in build_stages(Config(experiment=ExperimentConfig(pipeline="flock")))]
    assert names == ["plan", "train", "attack", "screen", "commit", "aggregate", "vote", "finalize", "evaluate"]
