"""Field arithmetic mod 2^61 - 1 agrees with Python's exact integers."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bflray.smpc import field as fp

P = fp.MERSENNE_61
elements = st.lists(st.integers(0, P - 1), min_size=1, max_size=40)


def _arr(values: list[int]) -> np.ndarray:
    return np.array(values, dtype=np.uint64)


@given(elements, elements)
def test_mul_matches_exact_integer_product(a: list[int], b: list[int]) -> None:
    n = min(len(a), len(b))
    out = fp.mul(_arr(a[:n]), _arr(b[:n]))
    assert [int(v) for v in out] == [x * y % P for x, y in zip(a[:n], b[:n], strict=True)]


@given(elements, st.integers(0, 200))
def test_mul_pow2_is_multiplication_by_a_power_of_two(a: list[int], bits: int) -> None:
    assert [int(v) for v in fp.mul_pow2(_arr(a), bits)] == [x * pow(2, bits, P) % P for x in a]


@given(st.lists(st.integers(0, P), min_size=1, max_size=30))
def test_sum_rows_reduces_any_number_of_rows(values: list[int]) -> None:
    column = _arr(values)[:, None]
    assert int(fp.sum_rows(column)[0]) == sum(values) % P


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 4), st.integers(1, 4100), st.integers(1, 3), st.integers(0, 2**32 - 1))
def test_matmul_and_gram_are_exact_over_long_inner_dimensions(m: int, n: int, q: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, P, size=(m, n), dtype=np.uint64)
    b = rng.integers(0, P, size=(n, q), dtype=np.uint64)
    a_obj, b_obj = a.astype(object), b.astype(object)
    assert (fp.matmul(a, b).astype(object) == (a_obj @ b_obj) % P).all()
    assert (fp.gram(a).astype(object) == (a_obj @ a_obj.T) % P).all()


def test_small_prime_field_multiplies_and_sums() -> None:
    p = 2_147_483_647
    a = np.array([p - 1, 12345, 0], dtype=np.uint64)
    assert [int(v) for v in fp.mul(a, a, p)] == [(p - 1) ** 2 % p, 12345**2 % p, 0]
    assert int(fp.sum_rows(a[:, None], p)[0]) == (p - 1 + 12345) % p


@settings(deadline=None)
@given(st.lists(st.tuples(st.integers(0, P), st.integers(0, 2**31 - 1)), min_size=1, max_size=40))
def test_weighted_sum_rows_matches_exact_weighted_sum(rows: list[tuple[int, int]]) -> None:
    values, weights = _arr([v for v, _ in rows])[:, None], np.array([w for _, w in rows])
    assert int(fp.weighted_sum_rows(iter(values), weights, count=1)[0]) == sum(v * w for v, w in rows) % P
