"""Krum, multi-Krum and Bulyan: selection on the revealed distance matrix, robustness, bounds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bflray.aggregation import (
    AggregationError,
    bulyan,
    krum,
    multi_krum,
    pairwise_squared_distances,
    select_bulyan,
    select_krum,
    select_multi_krum,
)


def _cluster_with_outliers(seed: int, n: int, f: int, d: int, *, far: float, colluding: bool) -> tuple[np.ndarray, np.ndarray]:
    """n − f honest updates around 0 and f outliers ``far`` away, shuffled; also the outliers' rows."""
    rng = np.random.default_rng(seed)
    honest = rng.normal(size=(n - f, d))
    direction = rng.normal(size=d)
    direction /= np.linalg.norm(direction)
    spread = np.zeros((f, d)) if colluding else rng.normal(size=(f, d))
    outliers = far * direction + spread
    order = rng.permutation(n)
    updates = np.vstack([honest, outliers])[order]
    outlier_rows = np.flatnonzero(order >= n - f)
    return updates, outlier_rows


outlier_cases = st.integers(0, 3).flatmap(
    lambda f: st.tuples(
        st.just(f),
        st.integers(2 * f + 3, 2 * f + 10),
        st.integers(1, 6),
        st.integers(0, 2**32 - 1),
        st.floats(1e3, 1e6),
        st.booleans(),
    )
)


@settings(max_examples=60, deadline=None)
@given(case=outlier_cases)
def test_krum_and_multi_krum_never_select_a_far_outlier_when_2f_below_n(case: tuple[int, int, int, int, float, bool]) -> None:
    # Prepare
    f, n, d, seed, far, colluding = case
    updates, outlier_rows = _cluster_with_outliers(seed, n, f, d, far=far, colluding=colluding)
    sq = pairwise_squared_distances(updates)

    # Execute
    chosen = select_krum(sq, num_byzantine=f)
    selected = select_multi_krum(sq, num_byzantine=f)

    # Assert
    assert chosen not in outlier_rows
    assert len(selected) == n - f and not set(selected.tolist()) & set(outlier_rows.tolist())
    assert np.linalg.norm(krum(updates, np.ones(n), num_byzantine=f)) < far / 2


@settings(max_examples=30, deadline=None)
@given(
    case=st.integers(0, 2).flatmap(
        lambda f: st.tuples(st.just(f), st.integers(4 * f + 3, 4 * f + 8), st.integers(1, 5), st.integers(0, 2**32 - 1))
    )
)
def test_bulyan_stays_within_the_honest_values_per_coordinate(case: tuple[int, int, int, int]) -> None:
    f, n, d, seed = case
    updates, outlier_rows = _cluster_with_outliers(seed, n, f, d, far=1e4, colluding=False)
    honest = np.delete(updates, outlier_rows, axis=0)

    result = bulyan(updates, np.ones(n), num_byzantine=f)

    # Repeated Krum may let a tight pair of outliers in near the end; the trimming step does not.
    assert np.all(result >= honest.min(axis=0)) and np.all(result <= honest.max(axis=0))


def test_select_krum_works_on_the_distance_matrix_alone() -> None:
    # Points on a line at 0, 1, 2, 3, 50: with f = 1 each scores its 2 nearest others.
    positions = np.array([0.0, 1.0, 2.0, 3.0, 50.0])
    sq = (positions[:, None] - positions[None, :]) ** 2

    # Scores: 0 → 1+4, 1 → 1+1, 2 → 1+1, 3 → 1+4, 50 → 47²+48². Ties go to the smaller total
    # distance to all others: 2 (2310) before 1 (2407), 3 (2223) before 0 (2514).
    assert select_krum(sq, num_byzantine=1) == 2
    np.testing.assert_array_equal(select_multi_krum(sq, num_byzantine=1, num_selected=3), [1, 2, 3])


def test_select_bulyan_picks_n_minus_2f_updates_without_the_outlier_from_the_matrix() -> None:
    positions = np.array([0.0, 0.1, 0.2, 0.3, 0.4, 1.5, 90.0])
    sq = (positions[:, None] - positions[None, :]) ** 2

    selected = select_bulyan(sq, num_byzantine=1)

    assert len(selected) == 5 and 6 not in selected and np.all(np.diff(selected) > 0)


def test_multi_krum_with_all_selected_is_fedavg() -> None:
    rng = np.random.default_rng(0)
    updates, weights = rng.normal(size=(6, 3)), rng.uniform(1, 2, size=6)

    result = multi_krum(updates, weights, num_byzantine=1, num_selected=6)

    np.testing.assert_allclose(result, weights @ updates / weights.sum())


def test_krum_needs_more_than_2f_plus_2_updates() -> None:
    with pytest.raises(AggregationError, match=r"num_byzantine=3 needs n > 2f\+2 = 8 for Krum, got n=5"):
        krum(np.zeros((5, 2)), np.ones(5), num_byzantine=3)


def test_multi_krum_rejects_more_selected_than_updates() -> None:
    with pytest.raises(AggregationError, match="num_selected=9 cannot exceed the number of updates n=5"):
        multi_krum(np.zeros((5, 2)), np.ones(5), num_byzantine=1, num_selected=9)


def test_bulyan_needs_4f_plus_3_updates() -> None:
    with pytest.raises(AggregationError, match=r"num_byzantine=2 needs n ≥ 4f\+3 = 11 for Bulyan, got n=10"):
        bulyan(np.zeros((10, 2)), np.ones(10), num_byzantine=2)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_num_byzantine_must_be_a_non_negative_integer(bad: object) -> None:
    with pytest.raises(AggregationError, match="num_byzantine="):
        krum(np.zeros((7, 2)), np.ones(7), num_byzantine=bad)  # type: ignore[arg-type]


def test_select_krum_rejects_a_non_square_matrix() -> None:
    with pytest.raises(AggregationError, match=r"sq_distances must be a non-empty square matrix, got shape \(3, 4\)"):
        select_krum(np.zeros((3, 4)), num_byzantine=0)
