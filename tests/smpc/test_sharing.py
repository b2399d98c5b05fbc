"""Additive and Shamir shares reconstruct exactly, and too few shares look uniform."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chisquare

from bflray.smpc import (
    MERSENNE_61,
    CryptoRandom,
    ReconstructionError,
    reconstruct_additive,
    reconstruct_shamir,
    share_additive,
    share_shamir,
)

P = MERSENNE_61
secrets_strategy = st.lists(st.integers(0, P - 1), min_size=1, max_size=20)
#: Significance of the uniformity tests; with a fixed key their outcome is deterministic.
ALPHA = 1e-3
SAMPLES = 40_000
BINS = 16  # per share; a pair of shares falls in one of 256 joint cells


def _joint_uniformity_p_value(shares: list[np.ndarray]) -> float:
    cells = np.zeros(SAMPLES, dtype=np.int64)
    for share in shares:
        cells = cells * BINS + (share >> np.uint64(57)).astype(np.int64)  # top 4 of 61 bits
    counts = np.bincount(cells, minlength=BINS ** len(shares))
    return float(chisquare(counts).pvalue)


@settings(deadline=None)
@given(secrets_strategy, st.integers(1, 7))
def test_additive_shares_reconstruct_exactly(values: list[int], num_shares: int) -> None:
    x = np.array(values, dtype=np.uint64)
    shares = share_additive(x, num_shares)
    np.testing.assert_array_equal(reconstruct_additive(shares), x)


@settings(deadline=None)
@given(secrets_strategy, st.integers(1, 6), st.data())
def test_any_threshold_subset_of_shamir_shares_reconstructs_exactly(
    values: list[int], num_shares: int, data: st.DataObject
) -> None:
    threshold = data.draw(st.integers(1, num_shares))
    subset = data.draw(st.lists(st.integers(0, num_shares - 1), min_size=threshold, max_size=threshold, unique=True))
    x = np.array(values, dtype=np.uint64)
    shares = share_shamir(x, threshold=threshold, num_shares=num_shares)
    np.testing.assert_array_equal(reconstruct_shamir({j + 1: shares[j] for j in subset}, threshold=threshold), x)


def test_fewer_than_threshold_shamir_shares_are_refused() -> None:
    shares = share_shamir(np.arange(4, dtype=np.uint64), threshold=3, num_shares=5)
    with pytest.raises(ReconstructionError, match="need 3 shares, got 2"):
        reconstruct_shamir({1: shares[0], 4: shares[3]}, threshold=3)


@pytest.mark.parametrize("secret", [0, 1, P - 1])
def test_any_k_minus_1_additive_shares_are_uniform(secret: int) -> None:
    x = np.full(SAMPLES, secret, dtype=np.uint64)
    shares = share_additive(x, 3, random=CryptoRandom(bytes(range(16))))
    for subset in combinations(range(3), 2):
        assert _joint_uniformity_p_value([shares[j] for j in subset]) > ALPHA, subset


@pytest.mark.parametrize("secret", [0, P - 1])
def test_any_t_minus_1_shamir_shares_are_uniform(secret: int) -> None:
    x = np.full(SAMPLES, secret, dtype=np.uint64)
    shares = share_shamir(x, threshold=3, num_shares=5, random=CryptoRandom(bytes(range(1, 17))))
    for subset in combinations(range(5), 2):
        assert _joint_uniformity_p_value([shares[j] for j in subset]) > ALPHA, subset


def test_uniformity_check_detects_a_leaking_share() -> None:
    # the test's power: the secret itself plus a 1-bit-short mask is visibly non-uniform
    x = np.full(SAMPLES, 0, dtype=np.uint64)
    leaky = CryptoRandom(bytes(16)).elements((SAMPLES,)) >> np.uint64(1)
    assert _joint_uniformity_p_value([x + leaky]) < ALPHA


def test_fixed_key_generator_is_reproducible_and_os_key_is_not() -> None:
    key = bytes(range(16))
    np.testing.assert_array_equal(CryptoRandom(key).elements((8,)), CryptoRandom(key).elements((8,)))
    assert not np.array_equal(CryptoRandom().elements((8,)), CryptoRandom().elements((8,)))
