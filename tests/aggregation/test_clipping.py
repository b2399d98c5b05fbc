"""Centered clipping and norm bounding: large updates count for at most the radius."""

from __future__ import annotations

import numpy as np
import pytest

from bflray.aggregation import AggregationError, centered_clipping, fedavg, norm_bounding


def test_centered_clipping_with_a_large_radius_is_fedavg() -> None:
    rng = np.random.default_rng(0)
    updates, weights = rng.normal(size=(5, 3)), rng.uniform(1, 2, size=5)

    result = centered_clipping(updates, weights, center=np.zeros(3), radius=1e6)

    np.testing.assert_allclose(result, fedavg(updates, weights))


def test_centered_clipping_moves_the_centre_at_most_the_radius_times_the_outlier_weight() -> None:
    # Nine updates at the centre and one huge one: only the huge one moves it, by ≤ τ / 10.
    center = np.array([1.0, 2.0])
    updates = np.vstack([np.tile(center, (9, 1)), [[1e8, -1e8]]])

    result = centered_clipping(updates, np.ones(10), center=center, radius=0.5, iterations=1)

    assert np.linalg.norm(result - center) == pytest.approx(0.05)


def test_centered_clipping_iterations_approach_the_cluster() -> None:
    updates = np.full((6, 2), 4.0)

    one = centered_clipping(updates, np.ones(6), center=np.zeros(2), radius=1.0, iterations=1)
    many = centered_clipping(updates, np.ones(6), center=np.zeros(2), radius=1.0, iterations=10)

    assert np.linalg.norm(one - 4.0) > np.linalg.norm(many - 4.0)
    np.testing.assert_allclose(many, [4.0, 4.0])


def test_centered_clipping_rejects_a_center_of_the_wrong_length() -> None:
    with pytest.raises(AggregationError, match=r"center must have shape \(2,\)"):
        centered_clipping(np.zeros((3, 2)), np.ones(3), center=np.zeros(3), radius=1.0)


def test_norm_bounding_leaves_small_updates_alone() -> None:
    updates = np.array([[0.3, 0.4], [0.0, -0.5]])

    np.testing.assert_allclose(norm_bounding(updates, np.array([1.0, 3.0]), max_norm=1.0), fedavg(updates, np.array([1.0, 3.0])))


def test_norm_bounding_scales_a_boosted_update_down_to_the_bound() -> None:
    updates = np.array([[0.0, 1.0], [300.0, 400.0]])

    result = norm_bounding(updates, np.ones(2), max_norm=1.0)

    np.testing.assert_allclose(result, ([0.0, 1.0] + np.array([0.6, 0.8])) / 2)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
def test_norm_bounding_needs_a_positive_bound(bad: float) -> None:
    with pytest.raises(AggregationError, match="max_norm="):
        norm_bounding(np.ones((2, 2)), np.ones(2), max_norm=bad)
