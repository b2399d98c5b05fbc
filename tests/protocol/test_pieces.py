"""FedAvg, partitioning, packing and seeding."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bflray.aggregation import AggregationError, fedavg
from bflray.data import load_dataset, partition_iid, split_train_test
from bflray.errors import DataError
from bflray.protocol.backend import shard_ranges
from bflray.seeding import Purpose, derive_rng


def test_fedavg_is_the_sample_weighted_mean() -> None:
    updates = np.array([[1.0, 0.0], [3.0, 4.0]])
    np.testing.assert_allclose(fedavg(updates, np.array([1, 3])), [2.5, 3.0])


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 12), st.integers(1, 6), st.randoms(use_true_random=False))
def test_fedavg_is_invariant_to_hospital_order(n: int, d: int, rnd: object) -> None:
    rng = np.random.default_rng(n * 31 + d)
    updates = rng.normal(size=(n, d))
    weights = rng.integers(1, 50, size=n).astype(float)
    perm = rng.permutation(n)
    np.testing.assert_allclose(fedavg(updates, weights), fedavg(updates[perm], weights[perm]), rtol=1e-12)


def test_fedavg_refuses_zero_total_weight() -> None:
    with pytest.raises(AggregationError, match="sum to 0"):
        fedavg(np.ones((2, 3)), np.zeros(2))


def test_partition_is_disjoint_complete_and_repeatable() -> None:
    ds = load_dataset("digits")
    pool, test = split_train_test(ds, test_fraction=0.2, seed=5)
    parts = partition_iid(pool, num_hospitals=13, seed=5)
    again = partition_iid(pool, num_hospitals=13, seed=5)
    joined = np.concatenate(parts)
    assert len(joined) == len(np.unique(joined)) == len(pool)
    assert not set(joined) & set(test)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again, strict=True))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    other = partition_iid(pool, num_hospitals=13, seed=6)
    assert not all(np.array_equal(a, b) for a, b in zip(parts, other, strict=True))


def test_more_hospitals_than_samples_is_a_data_error() -> None:
    with pytest.raises(DataError, match="federation.hospitals=20 exceeds the 10 training samples"):
        partition_iid(np.arange(10), num_hospitals=20, seed=0)


@pytest.mark.parametrize(("n", "per", "cap", "expected"), [
    (10, 3, 99, [(0, 3), (3, 6), (6, 9), (9, 10)]),
    (10, 0, 2, [(0, 5), (5, 10)]),
    (3, 0, 8, [(0, 1), (1, 2), (2, 3)]),
    (5, 1, 1, [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]),
])
def test_shard_ranges_cover_every_hospital_once(n: int, per: int, cap: int, expected: list[tuple[int, int]]) -> None:
    assert shard_ranges(n, hospitals_per_actor=per, capacity=cap) == expected


def test_draws_depend_on_round_hospital_and_purpose() -> None:
    base = derive_rng(1, 2, 3, Purpose.SHUFFLE).integers(1 << 30, size=4)
    assert np.array_equal(base, derive_rng(1, 2, 3, Purpose.SHUFFLE).integers(1 << 30, size=4))
    for other in [(1, 2, 4, Purpose.SHUFFLE), (1, 3, 3, Purpose.SHUFFLE), (1, 2, 3, Purpose.INIT), (2, 2, 3, Purpose.SHUFFLE)]:
        assert not np.array_equal(base, derive_rng(*other).integers(1 << 30, size=4))
