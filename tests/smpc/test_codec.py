"""Fixed-point encoding: exact round trips, negative values, overflow refused with names."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bflray.smpc import MERSENNE_61, EncodingOverflowError, FixedPointCodec, SmpcError
from bflray.smpc import field as fp

CODEC = FixedPointCodec(scale_bits=20, bound=8.0)
values = st.floats(-8.0, 8.0, allow_nan=False, width=32)


def test_negative_values_encode_as_p_minus_magnitude() -> None:
    encoded = CODEC.encode(np.array([-1.0, 1.0, 0.0]))
    assert [int(v) for v in encoded] == [MERSENNE_61 - 2**20, 2**20, 0]


@given(st.lists(st.lists(values, min_size=3, max_size=3), min_size=1, max_size=30))
def test_decoded_field_sum_equals_fixed_point_plaintext_sum_bit_for_bit(rows: list[list[float]]) -> None:
    x = np.array(rows, dtype=np.float32)
    decoded = CODEC.decode(fp.sum_rows(CODEC.encode(x)))
    expected = np.rint(x.astype(np.float64) * 2**20).astype(np.int64).sum(axis=0).astype(np.float64) / 2**20
    np.testing.assert_array_equal(decoded, expected)
    np.testing.assert_array_equal(decoded, CODEC.fixed_point_sum(x))


def test_value_beyond_bound_is_refused_naming_hospital_index_value_and_bound() -> None:
    block = np.zeros((3, 5))
    block[1, 4] = 9.5
    with pytest.raises(EncodingOverflowError, match=r"hospital 42, index \(4,\): value 9.5 exceeds .*bound 8.0"):
        CODEC.encode(block, hospital_ids=[41, 42, 43])


def test_nan_is_refused_rather_than_encoded() -> None:
    with pytest.raises(EncodingOverflowError, match="nan"):
        CODEC.encode(np.array([0.0, np.nan]))


def test_sum_beyond_max_summands_is_refused() -> None:
    codec = FixedPointCodec(scale_bits=40, bound=1000.0)
    assert codec.max_summands == (MERSENNE_61 - 1) // 2 // round(1000.0 * 2**40)
    codec.check_summands(codec.max_summands)
    with pytest.raises(EncodingOverflowError, match=f"max_summands={codec.max_summands}"):
        codec.check_summands(codec.max_summands + 1)


def test_max_summands_bounds_the_worst_case_sum() -> None:
    codec = FixedPointCodec(scale_bits=50, bound=100.0)
    worst = np.full((codec.max_summands, 1), 100.0)
    np.testing.assert_array_equal(codec.decode(fp.sum_rows(codec.encode(worst))), [100.0 * codec.max_summands])


def test_bound_that_cannot_be_encoded_is_refused_at_construction() -> None:
    with pytest.raises(SmpcError, match="above"):
        FixedPointCodec(scale_bits=52, bound=2.0**10)


def test_composite_modulus_is_refused() -> None:
    with pytest.raises(SmpcError, match="modulus"):
        FixedPointCodec(modulus=2**31 + 1)
