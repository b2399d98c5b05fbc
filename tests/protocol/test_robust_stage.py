"""The robust aggregate and privacy stages without a chain: secure equals plaintext, filters
drop outliers, refused updates never wrap, and the privacy stage clips and noises."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bflray.config import Config
from bflray.config.schema import AggregationConfig, ExperimentConfig, PrivacyConfig
from bflray.protocol.backend import InProcessBackend
from bflray.protocol.secure import SecureAggregation
from bflray.protocol.stages.privacy import PrivacyStage
from bflray.protocol.stages.robust import RobustAggregateStage, agreement_with_the_rest
from bflray.protocol.state import RoundState, RunContext
from bflray.roles.messages import TrainResult

D = 40


def _context(config: Config, secure: SecureAggregation | None = None) -> RunContext:
    none: Any = None
    return RunContext(
        config=config, backend=InProcessBackend(), ledger=none, store=none, metrics=none, model=none, test_set=none,
        secure=secure,
    )


def _state(params: np.ndarray, base: np.ndarray, samples: np.ndarray | None = None) -> RoundState:
    n = len(params)
    state = RoundState(round=1, global_params=base)
    state.updates = TrainResult(
        hospital_ids=np.arange(n, dtype=np.int64), params=params.astype(np.float32),
        num_samples=np.arange(1, n + 1, dtype=np.int64) if samples is None else samples,
        losses=np.zeros(n), extras={},
    )
    return state


def _cohort(seed: int = 0, n: int = 8, outliers: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=D).astype(np.float32)
    direction = rng.normal(size=D)
    deltas = 0.1 * direction + 0.02 * rng.normal(size=(n, D))
    deltas[:outliers] = -3.0 * direction  # pointing against the honest cohort
    return (base + deltas).astype(np.float32), base


def _config(**aggregation: Any) -> Config:
    return Config(experiment=ExperimentConfig(pipeline="fedavg"), aggregation=AggregationConfig(**aggregation))


@pytest.mark.parametrize("secure", ["additive", "shamir"])
def test_secure_weighted_sum_equals_the_plaintext_one_to_fixed_point_precision(secure: str) -> None:
    params, base = _cohort()
    plain_state, secure_state = _state(params, base), _state(params, base)
    RobustAggregateStage()(plain_state, _context(_config()))
    config = _config(secure=secure, fixed_point_bits=24, fixed_point_bound=4.0)
    nodes = SecureAggregation(config, InProcessBackend(), num_params=D)
    nodes.block_elements = 3 * 8  # several blocks per round
    RobustAggregateStage()(secure_state, _context(config, nodes))
    assert plain_state.candidate is not None and secure_state.candidate is not None
    np.testing.assert_allclose(secure_state.candidate, plain_state.candidate, atol=1e-4)
    assert nodes.bytes_to_nodes > 0 and nodes.bytes_from_nodes > 0


def test_filters_on_shares_drop_the_updates_that_point_against_the_cohort() -> None:
    params, base = _cohort(n=10, outliers=2)
    config = _config(secure="additive", filters=("cosine_filter", "multi_krum"), num_byzantine=2)
    state = _state(params, base)
    RobustAggregateStage()(state, _context(config, SecureAggregation(config, InProcessBackend(), num_params=D)))
    selected = state.hospital_columns["selected"]
    assert not selected[:2].any() and selected[2:].sum() == 6  # multi-Krum keeps n − f of the 8 left
    assert "skipped_filters" not in state.record
    assert np.all(state.hospital_columns["aggregation_weight"][:2] == 0)
    assert state.hospital_columns["agreement"][0] < 0 < state.hospital_columns["agreement"][5]


def test_an_update_beyond_the_fixed_point_bound_is_refused_not_wrapped() -> None:
    params, base = _cohort()
    params[3] = base + 100.0
    config = _config(secure="additive", fixed_point_bound=1.0)
    state = _state(params, base)
    RobustAggregateStage()(state, _context(config, SecureAggregation(config, InProcessBackend(), num_params=D)))
    assert state.record["refused"] == 1 and not state.hospital_columns["selected"][3]
    assert state.candidate is not None and np.abs(state.candidate - base).max() < 1.0


def test_a_plaintext_rule_is_called_with_its_config_keywords() -> None:
    params, base = _cohort(outliers=2)
    config = _config(rule="trimmed_mean", trim_fraction=0.3)
    state = _state(params, base)
    RobustAggregateStage()(state, _context(config))
    direction = np.mean(params[2:] - base, axis=0)
    assert state.candidate is not None
    assert float(np.dot(state.candidate - base, direction)) > 0  # the two flipped updates were trimmed


def test_privacy_stage_clips_every_delta_and_local_noise_is_seeded_per_hospital() -> None:
    params, base = _cohort(n=5)
    params[0] = base + 50.0
    privacy = PrivacyConfig(clip_norm=0.5, mechanism="gaussian", placement="local", noise_multiplier=0.0001)
    config = Config(privacy=privacy)
    first, second = _state(params, base), _state(params, base)
    PrivacyStage()(first, _context(config))
    PrivacyStage()(second, _context(config))
    assert first.updates is not None and second.updates is not None
    norms = np.linalg.norm(first.updates.params.astype(np.float64) - base, axis=1)
    assert np.all(norms <= 0.5 + 1e-3) and first.record["clipped_fraction"] >= 0.2
    np.testing.assert_array_equal(first.updates.params, second.updates.params)


def test_a_filter_that_cannot_run_on_what_is_left_is_skipped_and_recorded() -> None:
    params, base = _cohort(n=8, outliers=2)
    config = _config(filters=("cosine_filter", "multi_krum"), num_byzantine=2)
    state = _state(params, base)
    RobustAggregateStage()(state, _context(config))
    assert state.record["skipped_filters"] == "multi_krum"
    assert state.hospital_columns["selected"].tolist() == [False, False] + [True] * 6


def test_agreement_from_the_gram_matrix_is_the_cosine_to_the_sum_of_the_selected_others() -> None:
    x = np.random.default_rng(7).normal(size=(6, 9))
    members = np.array([True, True, False, True, False, True])
    got = agreement_with_the_rest(x @ x.T, members)
    for i in range(6):
        rest = x[members & (np.arange(6) != i)].sum(axis=0)
        expected = x[i] @ rest / np.linalg.norm(x[i]) / np.linalg.norm(rest)
        assert got[i] == pytest.approx(expected, abs=1e-12)
