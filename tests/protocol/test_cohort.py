"""Cohort sampling, over-provisioning and dropouts; the block's FedAvg partial sums."""

from __future__ import annotations

import numpy as np
import pytest

from bflray.config import load_config
from bflray.errors import ConfigError
from bflray.protocol.cohort import cohort_target, draw_cohort
from bflray.protocol.round import build_plan, merge_results
from bflray.aggregation import fedavg
from bflray.roles import HospitalBlock


def test_cohort_uses_the_target_count_from_an_over_provisioned_selection() -> None:
    c = draw_cohort(seed=1, round_=3, num_hospitals=1000, target=100, over_provision=0.3, dropout_probability=0.1)
    assert len(c.selected) == 130 and len(c.used) == 100
    assert set(c.used) | set(c.late) | set(c.dropped) == set(c.selected)
    assert not set(c.used) & set(c.dropped) and not set(c.late) & set(c.dropped)
    again = draw_cohort(seed=1, round_=3, num_hospitals=1000, target=100, over_provision=0.3, dropout_probability=0.1)
    np.testing.assert_array_equal(c.used, again.used)
    other = draw_cohort(seed=1, round_=4, num_hospitals=1000, target=100, over_provision=0.3, dropout_probability=0.1)
    assert not np.array_equal(c.used, other.used)


def test_dropouts_shrink_the_cohort_instead_of_stalling_it() -> None:
    c = draw_cohort(seed=0, round_=1, num_hospitals=50, target=50, over_provision=0.0, dropout_probability=0.5)
    assert 0 < len(c.used) < 50 and len(c.used) + len(c.dropped) == 50


def test_cohort_target_takes_size_or_fraction_and_refuses_too_many() -> None:
    assert cohort_target(num_hospitals=10, cohort_size=0, cohort_fraction=0.25) == 3
    assert cohort_target(num_hospitals=10, cohort_size=4, cohort_fraction=0.25) == 4
    with pytest.raises(ConfigError, match="cohort_size=11 exceeds federation.hospitals=10"):
        cohort_target(num_hospitals=10, cohort_size=11, cohort_fraction=1.0)


def test_block_partial_sums_equal_fedavg_of_its_trained_hospitals() -> None:
    config = load_config(None, ["federation.hospitals=6", "runtime.backend=inprocess", "metrics.enabled=false"])
    block = HospitalBlock(config, 0, 6)
    params = block.model.init(np.random.default_rng(0))
    plan = build_plan(config, 1, params, np.array([0, 2, 3, 5]))
    full = merge_results([block.train(plan)])
    part = block.train_reduce(plan)
    np.testing.assert_array_equal(full.hospital_ids, [0, 2, 3, 5])
    np.testing.assert_allclose(part.weighted_sum / part.total_weight, fedavg(full.params, full.num_samples), atol=1e-6)
