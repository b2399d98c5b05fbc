from __future__ import annotations

import numpy as np
import pytest

from bflray.errors import ConfigError, DataError
from bflray.privacy import (
    add_central_gaussian_noise,
    add_laplace_noise,
    add_local_gaussian_noise,
    central_gaussian_noise,
    effective_central_noise_multiplier,
    laplace_noise,
    laplace_scale_for_epsilon,
)
from bflray.seeding import FEDERATION, Purpose, derive_rng


def test_central_noise_is_reproducible_from_the_seed() -> None:
    first = central_gaussian_noise(1000, noise_multiplier=1.0, clip_norm=1.0, seed=7, round_=3)
    again = central_gaussian_noise(1000, noise_multiplier=1.0, clip_norm=1.0, seed=7, round_=3)

    assert np.array_equal(first, again)


def test_central_noise_draws_from_the_federation_privacy_stream() -> None:
    noise = central_gaussian_noise(50, noise_multiplier=2.0, clip_norm=0.5, seed=7, round_=3)

    expected = derive_rng(7, 3, FEDERATION, Purpose.PRIVACY_NOISE).standard_normal(50)
    np.testing.assert_allclose(noise, expected * 1.0)


def test_central_noise_differs_across_rounds_and_seeds() -> None:
    base = central_gaussian_noise(100, noise_multiplier=1.0, clip_norm=1.0, seed=7, round_=3)
    other_round = central_gaussian_noise(100, noise_multiplier=1.0, clip_norm=1.0, seed=7, round_=4)
    other_seed = central_gaussian_noise(100, noise_multiplier=1.0, clip_norm=1.0, seed=8, round_=3)

    assert not np.allclose(base, other_round)
    assert not np.allclose(base, other_seed)


def test_central_noise_std_matches_sigma_times_clip_norm() -> None:
    noise = central_gaussian_noise(200_000, noise_multiplier=1.3, clip_norm=0.7, seed=0, round_=0)

    assert noise.dtype == np.float64
    assert abs(noise.mean()) < 0.01
    assert noise.std() == pytest.approx(1.3 * 0.7, rel=0.01)


def test_add_central_gaussian_noise_adds_to_the_sum() -> None:
    total = np.arange(10, dtype=np.float64)

    noised = add_central_gaussian_noise(total, noise_multiplier=1.0, clip_norm=1.0, seed=1, round_=2)

    noise = central_gaussian_noise(10, noise_multiplier=1.0, clip_norm=1.0, seed=1, round_=2)
    np.testing.assert_allclose(noised, total + noise)


def test_local_noise_is_keyed_by_hospital_not_by_row() -> None:
    updates = np.zeros((3, 64))

    noised = add_local_gaussian_noise(updates, hospitals=[5, 9, 2], noise_multiplier=1.0, clip_norm=1.0, seed=4, round_=1)
    reordered = add_local_gaussian_noise(
        updates, hospitals=[2, 5, 9], noise_multiplier=1.0, clip_norm=1.0, seed=4, round_=1
    )

    np.testing.assert_array_equal(noised[[2, 0, 1]], reordered)
    expected = derive_rng(4, 1, 9, Purpose.PRIVACY_NOISE).standard_normal(64)
    np.testing.assert_allclose(noised[1], expected)
    assert not np.allclose(noised[0], noised[1])
    assert np.all(updates == 0.0)  # not in place by default


def test_local_noise_differs_across_rounds() -> None:
    updates = np.zeros((2, 32))

    one = add_local_gaussian_noise(updates, hospitals=[0, 1], noise_multiplier=1.0, clip_norm=1.0, seed=4, round_=1)
    two = add_local_gaussian_noise(updates, hospitals=[0, 1], noise_multiplier=1.0, clip_norm=1.0, seed=4, round_=2)

    assert not np.allclose(one, two)


def test_local_noise_inplace_adds_into_the_input_with_std_sigma_c() -> None:
    updates = np.ones((40, 5000))

    out = add_local_gaussian_noise(
        updates, hospitals=np.arange(40), noise_multiplier=0.5, clip_norm=2.0, seed=0, round_=0, inplace=True
    )

    assert out is updates
    assert (updates - 1.0).std() == pytest.approx(1.0, rel=0.02)


def test_local_noise_rejects_repeated_or_missing_hospital_ids() -> None:
    with pytest.raises(DataError, match="distinct"):
        add_local_gaussian_noise(np.zeros((2, 3)), hospitals=[1, 1], noise_multiplier=1.0, clip_norm=1.0, seed=0, round_=0)
    with pytest.raises(DataError, match="one id per row"):
        add_local_gaussian_noise(np.zeros((2, 3)), hospitals=[1], noise_multiplier=1.0, clip_norm=1.0, seed=0, round_=0)


def test_laplace_scale_is_laplace_scale_times_l1_clip_norm() -> None:
    noise = laplace_noise(200_000, laplace_scale=0.5, l1_clip_norm=3.0, seed=0, round_=0)

    # For Laplace(0, b): E|x| = b and Var x = 2 b^2.
    assert np.abs(noise).mean() == pytest.approx(1.5, rel=0.01)
    assert noise.std() == pytest.approx(np.sqrt(2) * 1.5, rel=0.02)


def test_laplace_noise_is_reproducible_and_differs_across_rounds_and_hospitals() -> None:
    first = laplace_noise(100, laplace_scale=1.0, l1_clip_norm=1.0, seed=3, round_=0)

    assert np.array_equal(first, laplace_noise(100, laplace_scale=1.0, l1_clip_norm=1.0, seed=3, round_=0))
    assert not np.allclose(first, laplace_noise(100, laplace_scale=1.0, l1_clip_norm=1.0, seed=3, round_=1))
    assert not np.allclose(first, laplace_noise(100, laplace_scale=1.0, l1_clip_norm=1.0, seed=3, round_=0, hospital=4))


def test_add_laplace_noise_uses_scale_sensitivity_over_epsilon() -> None:
    total = np.zeros(100_000)

    noised = add_laplace_noise(total, laplace_scale=laplace_scale_for_epsilon(2.0), l1_clip_norm=1.0, seed=0, round_=0)

    assert np.abs(noised).mean() == pytest.approx(0.5, rel=0.02)  # b = Δ₁/ε = 1/2


def test_effective_central_noise_multiplier_grows_with_sqrt_n() -> None:
    assert effective_central_noise_multiplier(0.5, num_hospitals=16) == pytest.approx(2.0)


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), None])
def test_noise_rejects_a_bad_multiplier_naming_it(bad: object) -> None:
    with pytest.raises(ConfigError, match="noise_multiplier"):
        central_gaussian_noise(3, noise_multiplier=bad, clip_norm=1.0, seed=0, round_=0)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="laplace_scale"):
        laplace_noise(3, laplace_scale=bad, l1_clip_norm=1.0, seed=0, round_=0)  # type: ignore[arg-type]


def test_noise_rejects_a_matrix_where_a_sum_is_expected() -> None:
    with pytest.raises(DataError, match="clipped_sum"):
        add_central_gaussian_noise(np.zeros((2, 2)), noise_multiplier=1.0, clip_norm=1.0, seed=0, round_=0)
