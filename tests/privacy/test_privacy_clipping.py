from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bflray.errors import ConfigError, DataError
from bflray.privacy import clip_l1, clip_l2, row_norms


def test_clip_l2_leaves_no_norm_above_the_bound() -> None:
    updates = np.random.default_rng(0).normal(scale=3.0, size=(50, 200))

    result = clip_l2(updates, clip_norm=1.0)

    assert np.all(np.linalg.norm(result.clipped, axis=1) <= 1.0 * (1 + 1e-12))
    assert result.fraction_clipped == 1.0
    np.testing.assert_allclose(result.norms, np.linalg.norm(updates, axis=1))


def test_clip_l2_keeps_small_updates_bit_for_bit() -> None:
    updates = np.random.default_rng(1).normal(size=(10, 30))
    updates /= np.linalg.norm(updates, axis=1, keepdims=True) * 2.0  # every norm 0.5

    result = clip_l2(updates, clip_norm=1.0)

    assert np.array_equal(result.clipped, updates)
    assert result.fraction_clipped == 0.0


def test_clip_l2_keeps_direction_and_reports_fraction() -> None:
    updates = np.array([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0], [0.0, 10.0]])

    result = clip_l2(updates, clip_norm=1.0)

    np.testing.assert_allclose(result.clipped, [[0.6, 0.8], [0.3, 0.4], [0.0, 0.0], [0.0, 1.0]])
    assert result.fraction_clipped == 0.5


def test_clip_l1_bounds_the_l1_norm() -> None:
    updates = np.random.default_rng(2).laplace(size=(20, 100))

    result = clip_l1(updates, clip_norm=2.0)

    assert np.all(np.abs(result.clipped).sum(axis=1) <= 2.0 * (1 + 1e-12))
    np.testing.assert_allclose(result.norms, np.abs(updates).sum(axis=1))


def test_clip_inplace_overwrites_the_input() -> None:
    updates = np.full((3, 4), 2.0)

    result = clip_l2(updates, clip_norm=1.0, inplace=True)

    assert result.clipped is updates
    np.testing.assert_allclose(np.linalg.norm(updates, axis=1), 1.0)


def test_row_norms_processes_many_rows_in_chunks() -> None:
    updates = np.random.default_rng(3).normal(size=(3000, 700)).astype(np.float32)  # > one 1M-element chunk

    norms = row_norms(updates)

    np.testing.assert_allclose(norms, np.linalg.norm(updates.astype(np.float64), axis=1), rtol=1e-6)


@settings(max_examples=50, deadline=None)
@given(
    arrays(np.float64, st.tuples(st.integers(1, 8), st.integers(1, 16)), elements=st.floats(-1e6, 1e6)),
    st.floats(1e-3, 1e3),
)
def test_clip_l2_never_exceeds_the_bound_and_never_grows_a_row(updates: np.ndarray, clip_norm: float) -> None:
    result = clip_l2(updates, clip_norm=clip_norm)

    after = np.linalg.norm(result.clipped, axis=1)
    assert np.all(after <= clip_norm * (1 + 1e-12))
    assert np.all(after <= np.linalg.norm(updates, axis=1) * (1 + 1e-12))


@pytest.mark.parametrize("clip_norm", [0.0, -1.0, float("nan"), float("inf"), True, "1"])
def test_clip_rejects_a_bad_clip_norm_naming_it(clip_norm: object) -> None:
    with pytest.raises(ConfigError, match="clip_norm"):
        clip_l2(np.ones((2, 2)), clip_norm=clip_norm)  # type: ignore[arg-type]


def test_clip_rejects_non_finite_updates_naming_the_row() -> None:
    updates = np.ones((3, 2))
    updates[1, 0] = np.nan

    with pytest.raises(DataError, match="row 1"):
        clip_l2(updates, clip_norm=1.0)


@pytest.mark.parametrize("updates", [np.ones(3), np.ones((2, 2), dtype=np.int64)])
def test_clip_rejects_updates_that_are_not_a_float_matrix(updates: np.ndarray) -> None:
    with pytest.raises(DataError):
        clip_l2(updates, clip_norm=1.0)


def test_clip_inplace_rejects_a_float32_array() -> None:
    with pytest.raises(DataError, match="float64"):
        clip_l2(np.ones((2, 2), dtype=np.float32), clip_norm=1.0, inplace=True)
