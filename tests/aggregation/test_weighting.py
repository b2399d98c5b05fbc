"""FedAvg, reputation and stake weighting, and the checks every rule makes on its inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bflray.aggregation import AggregationError, fedavg, median, reputation_weighted, stake_weighted
from bflray.errors import BflrayError


def test_fedavg_is_the_sample_weighted_mean() -> None:
    updates = np.array([[0.0, 2.0], [4.0, 6.0]], dtype=np.float32)

    result = fedavg(updates, np.array([3, 1]))

    assert result.dtype == np.float64
    np.testing.assert_array_equal(result, [1.0, 3.0])


def test_reputation_weighting_multiplies_weights_by_reputation() -> None:
    updates = np.array([[1.0], [3.0], [100.0]])

    result = reputation_weighted(updates, np.array([1.0, 2.0, 5.0]), reputation=np.array([2.0, 1.0, 0.0]))

    assert result[0] == pytest.approx((2 * 1 + 2 * 3) / 4)


def test_stake_weighting_with_equal_weights_weights_by_stake_alone() -> None:
    updates = np.array([[0.0], [10.0]])

    assert stake_weighted(updates, np.ones(2), stake=np.array([3.0, 1.0]))[0] == pytest.approx(2.5)


def test_all_zero_reputation_is_an_error_naming_it() -> None:
    with pytest.raises(AggregationError, match="weights × reputation sum to 0.0"):
        reputation_weighted(np.ones((2, 2)), np.ones(2), reputation=np.zeros(2))


def test_negative_weight_is_rejected_with_its_position_and_value() -> None:
    with pytest.raises(AggregationError, match=r"weights must be finite and non-negative, got weights\[1\]=-2.0"):
        fedavg(np.ones((3, 2)), np.array([1.0, -2.0, 1.0]))


def test_non_finite_weight_is_rejected() -> None:
    with pytest.raises(AggregationError, match="weights must be finite"):
        median(np.ones((2, 2)), np.array([1.0, np.inf]))


def test_zero_total_weight_is_rejected() -> None:
    with pytest.raises(AggregationError, match="weights sum to 0.0"):
        median(np.ones((2, 2)), np.zeros(2))


def test_non_finite_update_is_rejected_naming_its_row() -> None:
    updates = np.ones((4, 3))
    updates[2, 1] = np.nan

    with pytest.raises(AggregationError, match=r"updates at rows \[2\] contain NaN"):
        fedavg(updates, np.ones(4))


def test_weights_of_the_wrong_length_are_rejected() -> None:
    with pytest.raises(AggregationError, match=r"weights must have shape \(3,\), one value per update, got \(2,\)"):
        fedavg(np.ones((3, 2)), np.ones(2))


def test_updates_must_be_a_matrix() -> None:
    with pytest.raises(AggregationError, match=r"non-empty 2-D array .* got shape \(3,\)"):
        fedavg(np.ones(3), np.ones(3))


def test_aggregation_error_is_both_a_bflray_error_and_a_value_error() -> None:
    assert issubclass(AggregationError, BflrayError) and issubclass(AggregationError, ValueError)


def test_integer_tensor_comes_back_as_float64() -> None:
    result = fedavg(torch.tensor([[1, 2], [3, 4]]), torch.tensor([1.0, 1.0]))

    assert result.dtype == torch.float64
    np.testing.assert_array_equal(result.numpy(), [2.0, 3.0])
