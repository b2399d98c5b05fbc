"""Coordinate-wise median and trimmed mean: known values, weighting, limits, bounds."""

from __future__ import annotations

import numpy as np
import pytest

from bflray.aggregation import AggregationError, median, trimmed_mean


def _column(*values: float) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)[:, None]


def test_median_of_odd_count_is_the_middle_value_per_coordinate() -> None:
    updates = np.array([[1.0, 30.0], [2.0, 10.0], [100.0, 20.0]])

    np.testing.assert_array_equal(median(updates, np.ones(3)), [2.0, 20.0])


def test_median_of_even_count_averages_the_two_middle_values() -> None:
    np.testing.assert_array_equal(median(_column(1, 2, 3, 100), np.ones(4)), [2.5])


def test_weighted_median_follows_the_heavy_update() -> None:
    assert median(_column(1, 2, 3), np.array([1.0, 1.0, 5.0]), weighted=True)[0] == 3.0


def test_weighted_median_averages_when_cumulative_weight_lands_on_half() -> None:
    assert median(_column(1, 2, 3), np.array([1.0, 1.0, 2.0]), weighted=True)[0] == 2.5


def test_weighted_median_with_equal_weights_is_the_median() -> None:
    rng = np.random.default_rng(0)
    updates = rng.normal(size=(8, 5))

    np.testing.assert_array_equal(median(updates, np.full(8, 0.1), weighted=True), np.median(updates, axis=0))


def test_trimmed_mean_drops_floor_beta_n_values_from_each_end() -> None:
    values = _column(1, 2, 3, 4, 100)

    assert trimmed_mean(values, np.ones(5), trim_fraction=0.2)[0] == 3.0  # mean of 2, 3, 4
    assert trimmed_mean(values, np.ones(5), trim_fraction=0.1)[0] == 22.0  # ⌊0.5⌋ = 0: plain mean


def test_weighted_trimmed_mean_cuts_fractional_weight_at_the_ends() -> None:
    # W = 5, β W = 0.5 cut from each end: half of 1 and half of 100 stay.
    result = trimmed_mean(_column(1, 2, 3, 4, 100), np.ones(5), trim_fraction=0.1, weighted=True)

    assert result[0] == pytest.approx((0.5 * 1 + 2 + 3 + 4 + 0.5 * 100) / 4)


def test_weighted_trimmed_mean_with_equal_weights_and_integer_cut_is_the_trimmed_mean() -> None:
    rng = np.random.default_rng(1)
    updates = rng.normal(size=(10, 4))

    weighted = trimmed_mean(updates, np.full(10, 3.0), trim_fraction=0.2, weighted=True)

    np.testing.assert_allclose(weighted, trimmed_mean(updates, np.ones(10), trim_fraction=0.2))


def test_weighted_trimmed_mean_tends_to_the_weighted_median() -> None:
    rng = np.random.default_rng(2)
    updates, weights = rng.normal(size=(9, 3)), rng.uniform(0.5, 2.0, size=9)

    nearly_half = trimmed_mean(updates, weights, trim_fraction=0.49999, weighted=True)

    np.testing.assert_allclose(nearly_half, median(updates, weights, weighted=True), atol=1e-3)


def test_trimmed_mean_with_zero_fraction_is_the_unweighted_mean() -> None:
    rng = np.random.default_rng(3)
    updates = rng.normal(size=(6, 2))

    np.testing.assert_allclose(trimmed_mean(updates, np.arange(1.0, 7.0), trim_fraction=0.0), updates.mean(axis=0))


def test_median_ignores_a_minority_of_huge_values() -> None:
    updates = np.vstack([np.linspace(-1, 1, 7)[:, None] * np.ones(3), np.full((3, 3), 1e9)])

    result = median(updates, np.ones(10))

    assert np.all(np.abs(result) <= 1.0)


@pytest.mark.parametrize("bad", [0.5, -0.1, float("nan")])
def test_trim_fraction_outside_zero_to_half_is_rejected(bad: float) -> None:
    with pytest.raises(AggregationError, match="trim_fraction="):
        trimmed_mean(np.zeros((4, 2)), np.ones(4), trim_fraction=bad)
