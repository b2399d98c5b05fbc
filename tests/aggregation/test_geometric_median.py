"""Geometric median by smoothed Weiszfeld: collinear, symmetric and weighted points."""

from __future__ import annotations

import numpy as np
import pytest

from bflray.aggregation import AggregationError, geometric_median


def test_geometric_median_of_collinear_points_is_the_middle_point() -> None:
    points = np.array([0.0, 1.0, 2.0, 3.0, 10.0])[:, None] * np.array([[1.0, -2.0, 0.5]])

    result = geometric_median(points, np.ones(5), tolerance=1e-12, max_iterations=1000)

    np.testing.assert_allclose(result, points[2], atol=1e-5)


def test_geometric_median_of_symmetric_points_is_their_centre() -> None:
    centre = np.array([3.0, -1.0])
    square = centre + np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])

    np.testing.assert_allclose(geometric_median(square, np.ones(4)), centre, atol=1e-9)


def test_weighted_geometric_median_of_two_points_is_the_heavier_one() -> None:
    points = np.array([[0.0, 0.0], [1.0, 0.0]])

    result = geometric_median(points, np.array([3.0, 1.0]), tolerance=1e-12, max_iterations=1000)

    np.testing.assert_allclose(result, points[0], atol=1e-5)


def test_geometric_median_resists_a_far_minority() -> None:
    rng = np.random.default_rng(0)
    honest = rng.normal(size=(7, 4))
    updates = np.vstack([honest, np.full((3, 4), 1e6)])

    result = geometric_median(updates, np.ones(10), tolerance=1e-10, max_iterations=1000)

    assert np.linalg.norm(result) < 10.0


@pytest.mark.parametrize(
    ("field", "value"), [("max_iterations", 0), ("tolerance", 0.0), ("smoothing", -1.0), ("tolerance", float("inf"))]
)
def test_geometric_median_rejects_bad_settings(field: str, value: float) -> None:
    with pytest.raises(AggregationError, match=f"{field}="):
        geometric_median(np.zeros((3, 2)), np.ones(3), **{field: value})  # type: ignore[arg-type]
