"""Cosine filter on the revealed similarity matrix, against a reference, and the SMPC pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from bflray.aggregation import (
    AggregationError,
    cosine_filter,
    filtered_trimmed_mean,
    pairwise_cosine_similarities,
    reputation_weighted,
    select_cosine,
    select_cosine_to_reference,
    trimmed_mean,
)


def _honest_and_flipped(seed: int, n_honest: int = 8, d: int = 6) -> tuple[np.ndarray, int]:
    """Honest updates along a shared direction and one boosted update pointing the other way."""
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=d)
    honest = direction + 0.3 * rng.normal(size=(n_honest, d))
    flipped = -5.0 * direction
    return np.vstack([honest[:3], flipped, honest[3:]]), 3


def test_select_cosine_drops_the_update_pointing_against_the_others() -> None:
    updates, flipped = _honest_and_flipped(0)

    kept = select_cosine(pairwise_cosine_similarities(updates), threshold=0.0)

    assert flipped not in kept and len(kept) == len(updates) - 1


def test_select_cosine_uses_the_median_of_off_diagonal_similarities() -> None:
    similarities = np.array(
        [
            [1.0, 0.9, 0.8, -0.7],
            [0.9, 1.0, 0.7, -0.6],
            [0.8, 0.7, 1.0, 0.1],
            [-0.7, -0.6, 0.1, 1.0],
        ]
    )

    # Medians: 0.8, 0.7, 0.7, −0.6 (the diagonal is never counted).
    np.testing.assert_array_equal(select_cosine(similarities, threshold=0.7), [0, 1, 2])
    np.testing.assert_array_equal(select_cosine(similarities, threshold=0.75), [0])


def test_select_cosine_to_reference_keeps_updates_aligned_with_it() -> None:
    updates = np.array([[1.0, 0.0], [1.0, 1.0], [-1.0, 0.2], [0.0, 0.0]])

    kept = select_cosine_to_reference(updates, np.array([2.0, 0.0]), threshold=0.5)

    np.testing.assert_array_equal(kept, [0, 1])


def test_cosine_filter_is_the_weighted_mean_of_the_kept_updates() -> None:
    updates, flipped = _honest_and_flipped(1)
    weights = np.arange(1.0, 10.0)
    honest = np.delete(np.arange(9), flipped)

    result = cosine_filter(updates, weights)

    np.testing.assert_allclose(result, weights[honest] @ updates[honest] / weights[honest].sum())


def test_cosine_filter_raises_when_no_update_passes() -> None:
    updates = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]])

    with pytest.raises(AggregationError, match="no update reaches the cosine threshold=0.9"):
        cosine_filter(updates, np.ones(3), threshold=0.9)


def test_zero_update_has_similarity_zero_to_everything() -> None:
    similarities = pairwise_cosine_similarities(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]]))

    np.testing.assert_array_equal(similarities[0], [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(np.diag(similarities), [0.0, 1.0, 1.0])


def test_cosine_threshold_outside_minus_one_to_one_is_rejected() -> None:
    with pytest.raises(AggregationError, match=r"threshold=1.5 must lie in \[-1.0, 1.0\]"):
        select_cosine(np.eye(3), threshold=1.5)


def test_filtered_trimmed_mean_drops_a_flipped_direction_update() -> None:
    # Prepare
    updates, flipped = _honest_and_flipped(2)
    weights, reputation = np.ones(9), np.linspace(0.5, 1.0, 9)
    honest = np.delete(np.arange(9), flipped)

    # Execute
    result = filtered_trimmed_mean(updates, weights, reputation=reputation, trim_fraction=0.2)

    # Assert: the same as trimming over the honest updates alone.
    expected = trimmed_mean(updates[honest], reputation[honest], trim_fraction=0.2, weighted=True)
    np.testing.assert_allclose(result, expected)
    assert float(result @ updates[flipped]) < 0


def test_filtered_trimmed_mean_without_trimming_is_reputation_weighting_of_the_kept() -> None:
    updates, flipped = _honest_and_flipped(3)
    weights, reputation = np.full(9, 2.0), np.linspace(0.1, 1.0, 9)
    honest = np.delete(np.arange(9), flipped)

    result = filtered_trimmed_mean(updates, weights, reputation=reputation, trim_fraction=0.0)

    np.testing.assert_allclose(result, reputation_weighted(updates[honest], weights[honest], reputation=reputation[honest]))


def test_filtered_trimmed_mean_ignores_hospitals_with_zero_reputation() -> None:
    updates, _ = _honest_and_flipped(4)
    reputation = np.ones(9)
    reputation[0] = 0.0

    result = filtered_trimmed_mean(updates, np.ones(9), reputation=reputation)

    np.testing.assert_allclose(result, filtered_trimmed_mean(updates[1:], np.ones(8), reputation=np.ones(8)))
